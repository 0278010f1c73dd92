//! The watch over a manager's Raft member. openraft stops its core for good on a storage
//! error (a log write on a full disk fails), leaving a member that neither votes nor applies
//! while the daemon runs on, serving an ever older copy of the store. The watch restarts the
//! manager from its data, as a daemon restart would (trying less and less often while the
//! disk is still full); the node's agent keeps its session meanwhile. Until the member runs
//! again the node answers as a manager without a leader (`Manager::leader_known`).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::bootstrap::bind;
use crate::error::{SwarmError, SwarmResult};
use crate::manager::{Manager, ManagerStart};
use crate::swarm::{Member, Swarm};

/// How often the member is looked at (and half the first pause between restart attempts).
const CHECK: Duration = Duration::from_secs(1);

/// The longest pause between two restart attempts.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Watches `manager` while it is the member's manager, and the one started in its place
/// after a failure; ends when the manager is replaced otherwise or stopped.
pub(crate) async fn raft_watch(swarm: Weak<Swarm>, mut manager: Weak<Manager>) {
    loop {
        tokio::time::sleep(CHECK).await;
        let (Some(s), Some(m)) = (swarm.upgrade(), manager.upgrade()) else {
            return;
        };
        let Some(error) = m.raft_failed() else {
            continue;
        };
        tracing::error!(%error, "the Raft member stopped; restarting the manager from its data");
        match s.stop_failed_manager(m).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "stopping the failed manager");
                return;
            }
        }
        drop(s);
        // Until a new manager runs, or the membership changed under us; the pause doubles up
        // to a minute, as a store that will not open (still full, or damaged) logs each try.
        let mut pause = CHECK * 2;
        loop {
            let Some(s) = swarm.upgrade() else { return };
            match s.start_manager_again().await {
                Ok(Some(new)) => {
                    manager = Arc::downgrade(&new);
                    break;
                }
                Ok(None) => return,
                Err(e) => tracing::warn!(error = %e, "restarting the manager; trying again"),
            }
            drop(s);
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

impl Swarm {
    /// Replaces the membership by one without `failed` (same state and agent) and stops it;
    /// `false` when `failed` is no longer the member's manager (leave, demotion, renewal).
    async fn stop_failed_manager(&self, failed: Arc<Manager>) -> SwarmResult<bool> {
        let _guard = self.lifecycle.lock().await;
        let Some(member) = self.member() else {
            return Ok(false);
        };
        if !member
            .manager
            .as_ref()
            .is_some_and(|m| Arc::ptr_eq(m, &failed))
        {
            return Ok(false);
        }
        self.replace_manager(&member, None).await;
        drop(member);
        // The last holder: the member no longer has it, the watch dropped its upgrade.
        failed.stop().await;
        Ok(true)
    }

    /// Starts the manager of a membership whose manager failed (see `stop_failed_manager`);
    /// `Ok(None)` when there is nothing to do any more.
    async fn start_manager_again(&self) -> SwarmResult<Option<Arc<Manager>>> {
        let _guard = self.lifecycle.lock().await;
        let Some(member) = self.member() else {
            return Ok(None);
        };
        let local = member.local();
        let Some(raft_id) = local.raft_id.filter(|_| local.manager) else {
            return Ok(None);
        };
        if member.manager.is_some() {
            return Ok(None);
        }
        let (_, certs) = self
            .dir
            .load()
            .map_err(|e| SwarmError::internal("read swarm state", e))?
            .ok_or(SwarmError::NotInSwarm)?;
        let listener = bind(&local.listen_addr).await?;
        let started = Manager::start(ManagerStart {
            node_id: local.node_id.clone(),
            raft_id,
            listener,
            advertise: local.advertise_addr.clone(),
            certs,
            raft_dir: self.dir.raft_dir(),
            heartbeat: self.heartbeat,
            unlock: None,
        })
        .await;
        match started {
            Ok(m) => {
                tracing::info!("the manager runs again");
                self.replace_manager(&member, Some(Arc::clone(&m))).await;
                Ok(Some(m))
            }
            // The key is not kept: as after a daemon restart, the node waits for `swarm unlock`.
            Err(SwarmError::Locked) => {
                tracing::warn!("this manager is autolocked: it takes part in the swarm again after `swarm unlock`");
                if let Some(agent) = member.agent.lock().await.take() {
                    agent.stop().await;
                }
                self.set_member(None);
                self.locked.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Sets a membership like `member` (its state and agent) with `manager`.
    async fn replace_manager(&self, member: &Member, manager: Option<Arc<Manager>>) {
        let agent = member.agent.lock().await.take();
        self.set_member(Some(Arc::new(Member {
            state: Mutex::new(member.local()),
            manager,
            agent: tokio::sync::Mutex::new(agent),
        })));
    }
}
