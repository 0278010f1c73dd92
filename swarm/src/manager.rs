//! A manager: one member of the Raft group, serving Raft and the swarm calls on the swarm port.
//! Whichever manager leads runs the leader loop (orchestrators, scheduler, reaper, liveness)
//! and the dispatcher; a new leader picks up from the store: nothing else is kept but the
//! recent task failures placement weighs, which it rebuilds from the task history it finds.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use berth_raft::{
    ClusterCommand, ClusterState, NodeAddr, NodeOptions, Object, ObjectKind, RaftConfig, RaftNode,
    Sealer, SharedServer, TlsConfig,
};
use chrono::Utc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::service::Routes;

use crate::ca::{server_tls_optional_client, MANAGER_NAME};
use crate::dispatcher::Liveness;
use crate::error::{SwarmError, SwarmResult, INVALID_UNLOCK_KEY};
use crate::failure_log::FailureLog;
use crate::keys::{KeyError, RaftKeys};
use crate::local::Certs;
use crate::model::{ModelError, RandomIds};
use crate::plan::Plan;
use crate::rpc::SwarmService;
use crate::{allocator, orchestrator, placement, raft_access};

/// A leader that has not heard from a quorum for this long is treated as having none.
const QUORUM_ACK_LIMIT_MS: u64 = 3_000;

/// The pause between two passes of the leader loop.
const PASS_GAP: Duration = Duration::from_millis(20);
/// A leader pass longer than this is logged: it delays every convergence.
const SLOW_PASS: Duration = Duration::from_secs(1);

/// What a manager needs to start.
pub struct ManagerStart {
    /// This node's id.
    pub node_id: String,
    /// Its Raft member id.
    pub raft_id: u64,
    /// The bound swarm port.
    pub listener: TcpListener,
    /// The address others dial.
    pub advertise: String,
    /// Its certificates.
    pub certs: Certs,
    /// Where its Raft store lives.
    pub raft_dir: PathBuf,
    /// The dispatcher heartbeat period.
    pub heartbeat: Duration,
    /// The unlock key, when restarting an autolocked manager (`swarm unlock`).
    pub unlock: Option<crate::keys::UnlockKey>,
}

/// A running manager.
pub struct Manager {
    /// This node's id.
    pub node_id: String,
    /// The Raft member.
    pub raft: Arc<RaftNode>,
    /// The address others dial.
    pub advertise: String,
    /// The cluster CA (PEM).
    pub ca_pem: String,
    /// Node certificates verified against it, remembered a while.
    pub peers: crate::ca::PeerNames,
    /// Heartbeats, while this manager leads.
    pub liveness: Liveness,
    tls: TlsConfig,
    stopping: tokio::sync::watch::Sender<bool>,
    loops: Mutex<Vec<JoinHandle<()>>>,
    /// Wakes the node sessions a commit concerns.
    pub signals: Arc<crate::session_signal::SessionSignals>,
    /// The malformed objects last logged (each pass finds them again; log changes only).
    problems: Mutex<Vec<ModelError>>,
    /// Recent task failures by node, for placement; kept while this manager leads.
    failures: Mutex<FailureLog>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// Starts the Raft member and the swarm service on the swarm port, and the leader loop.
    pub async fn start(s: ManagerStart) -> SwarmResult<Arc<Manager>> {
        let service = SwarmService::default();
        let ca_pem = s.certs.ca_pem.clone();
        let member = raft_access::MemberCell::default();
        let authorize = raft_access::authorizer(ca_pem.clone(), member.clone());
        let shared = SharedServer {
            tls: server_tls_optional_client(&s.certs.cert_pem, &s.certs.key_pem, &ca_pem),
            routes: Routes::new(service.clone()),
            authorize,
        };
        let tls = TlsConfig {
            cert_pem: s.certs.cert_pem.clone(),
            key_pem: s.certs.key_pem.clone(),
            ca_pem: ca_pem.clone(),
            server_name: MANAGER_NAME.to_string(),
        };
        let keys = RaftKeys::beside(&s.raft_dir);
        if !s.raft_dir.exists() {
            keys.forget()
                .map_err(|e| SwarmError::internal("the Raft data key", e))?;
        }
        let data_key = keys.open(s.unlock.as_ref()).map_err(|e| match e {
            KeyError::Locked => SwarmError::Locked,
            KeyError::InvalidKey => SwarmError::InvalidArgument(INVALID_UNLOCK_KEY.into()),
            other => SwarmError::internal("the Raft data key", other),
        })?;
        let raft = RaftNode::start(NodeOptions {
            id: s.raft_id,
            sealer: Sealer::new(&data_key),
            data_dir: s.raft_dir,
            listener: s.listener,
            advertise: NodeAddr::new(s.advertise.clone()),
            tls: tls.clone(),
            config: RaftConfig::default(),
            faults: None,
            shared: Some(shared),
        })
        .await?;
        // The swarm spec's snapshot interval and log kept for slow followers, as they change.
        raft.follow_compaction(Arc::new(|s: &ClusterState| {
            let cluster = s.list(ObjectKind::Cluster).next()?;
            Some(
                crate::model::Cluster::parse(cluster)
                    .ok()?
                    .raft_compaction(),
            )
        }));
        let raft = Arc::new(raft);
        let _ = member.set(Arc::downgrade(&raft));
        let manager = Arc::new(Manager {
            node_id: s.node_id,
            raft,
            advertise: s.advertise,
            peers: crate::ca::PeerNames::new(ca_pem.clone()),
            ca_pem,
            liveness: Liveness::new(s.heartbeat),
            tls,
            stopping: tokio::sync::watch::Sender::new(false),
            loops: Mutex::default(),
            signals: Arc::default(),
            problems: Mutex::default(),
            failures: Mutex::default(),
        });
        service.set_handler(Arc::new(crate::handler::Handler::new(Arc::downgrade(
            &manager,
        ))));
        let leader = tokio::spawn(leader_loop(Arc::downgrade(&manager)));
        let relay = tokio::spawn(crate::session_signal::relay(
            Arc::downgrade(&manager),
            manager.signals.clone(),
        ));
        let locks = tokio::spawn(crate::autolock::key_loop(
            Arc::downgrade(&manager),
            keys,
            data_key,
            s.unlock,
        ));
        manager
            .loops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend([leader, relay, locks]);
        Ok(manager)
    }

    /// Makes a new one-member cluster of this manager (at `swarm init`).
    pub async fn bootstrap(&self, raft_id: u64) -> SwarmResult<()> {
        self.raft
            .initialize(BTreeMap::from([(
                raft_id,
                NodeAddr::new(self.advertise.clone()),
            )]))
            .await?;
        self.wait_leader(Duration::from_secs(10)).await
    }

    /// Waits until some manager leads.
    pub async fn wait_leader(&self, within: Duration) -> SwarmResult<()> {
        let deadline = tokio::time::Instant::now() + within;
        while self.raft.leader().is_none() {
            if tokio::time::Instant::now() >= deadline {
                return Err(SwarmError::Unavailable(
                    "no manager was elected leader in time".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Waits briefly for a leader (an election may be under way); without one, says so and
    /// how many managers answer, instead of letting the request hang.
    pub async fn require_quorum(&self) -> SwarmResult<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while !self.leader_known() {
            if tokio::time::Instant::now() >= deadline {
                return Err(self.no_leader().await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Docker's "no leader" error, with how many managers answer from here: the same words
    /// whether the wait for a leader ran out or a leader that lost its quorum was asked.
    async fn no_leader(&self) -> SwarmError {
        let managers = self.read(crate::dispatcher::manager_addrs);
        let probes = managers
            .iter()
            .filter(|a| **a != self.advertise)
            .map(|a| berth_raft::probe(&self.tls, a, Duration::from_secs(1)));
        let answered = futures_util::future::join_all(probes)
            .await
            .iter()
            .filter(|r| r.is_ok())
            .count();
        SwarmError::Unavailable(format!(
            "The swarm does not have a leader. It's possible that too few managers are \
             online. Make sure more than half of the managers are online. ({} of {} \
             managers reachable from this one, itself included)",
            answered + 1,
            managers.len().max(1)
        ))
    }

    /// Waits until this manager has applied everything committed before the call (the
    /// leader's read index). A follower's copy may lag (just restarted, a slow disk) while
    /// Docker's followers answer from the leader: without this a client could read a version
    /// older than one it read before. Fails as having no leader when the leader cannot be
    /// asked, so a write refused here was certainly never sent.
    pub async fn catch_up(&self) -> SwarmResult<()> {
        match self.raft.read_linearizable(|_| ()).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::debug!("read index refused: {e}");
                Err(self.no_leader().await)
            }
        }
    }

    /// Whether a leader is known that can still commit: a leader must have heard from a
    /// quorum recently (openraft leaders do not step down on their own when cut off).
    pub fn leader_known(&self) -> bool {
        let metrics = self.raft.raft().metrics();
        let m = metrics.borrow();
        // A stopped core's last metrics stay as they were: a leader or follower forever.
        if m.running_state.is_err() {
            return false;
        }
        match m.state {
            openraft::ServerState::Leader => m
                .millis_since_quorum_ack
                .is_some_and(|ms| ms < QUORUM_ACK_LIMIT_MS),
            _ => m.current_leader.is_some(),
        }
    }

    /// Why the Raft core stopped on its own (a storage error, a panic); `None` while it runs
    /// or after `stop`.
    pub fn raft_failed(&self) -> Option<String> {
        let metrics = self.raft.raft().metrics();
        let m = metrics.borrow();
        match &m.running_state {
            Ok(()) | Err(openraft::error::Fatal::Stopped) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// Reads the local copy of the store.
    pub fn read<R>(&self, f: impl FnOnce(&ClusterState) -> R) -> R {
        self.raft.read_stale(f)
    }

    /// Reads this manager's state (as `read`) on a copy, on a blocking thread: for reads of
    /// every task, which would otherwise hold the state's lock (and the writes behind it)
    /// and an async worker (and the node sessions on it) for milliseconds at 10,000s.
    pub async fn read_copy<R: Send + 'static>(
        &self,
        f: impl FnOnce(&ClusterState) -> R + Send + 'static,
    ) -> SwarmResult<R> {
        let state = self.raft.state_copy();
        tokio::task::spawn_blocking(move || f(&state))
            .await
            .map_err(|e| SwarmError::Internal(format!("a read stopped: {e}")))
    }

    /// Reads after everything committed before the call (through the leader).
    pub async fn read_fresh<R>(&self, f: impl FnOnce(&ClusterState) -> R) -> SwarmResult<R> {
        Ok(self.raft.read_linearizable(f).await?)
    }

    /// Commits one transaction (through the leader); a refusal becomes the matching error.
    pub async fn write(&self, cmd: ClusterCommand) -> SwarmResult<Vec<berth_raft::Change>> {
        let applied = self.raft.write(cmd).await?;
        Ok(applied.changes)
    }

    /// Commits independent transactions concurrently; refusals are logged, not returned (the
    /// leader loop retries on its next pass).
    pub async fn write_all(&self, cmds: Vec<ClusterCommand>) {
        if let Err(e) = self.try_write_all(cmds).await {
            tracing::debug!(error = %e, "swarm write refused");
        }
    }

    /// Commits independent transactions concurrently; once all have finished, the first that
    /// may not have been committed (no quorum, a timeout), if any. A transaction the store
    /// refused (the task went meanwhile) is logged, not returned: sending it again changes
    /// nothing. For writes nobody else retries: a node's task report.
    pub async fn try_write_all(&self, cmds: Vec<ClusterCommand>) -> Result<(), SwarmError> {
        let writes = cmds.into_iter().map(|c| self.raft.write(c));
        let mut first = None;
        for result in futures_util::future::join_all(writes).await {
            match result {
                Ok(_) => {}
                Err(e @ berth_raft::RaftError::Apply(_)) => {
                    tracing::debug!(error = %e, "swarm write refused");
                }
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), |e| Err(e.into()))
    }

    /// Logs the malformed objects a pass found, when they differ from the last ones logged,
    /// then commits its transactions.
    pub async fn write_plan(&self, plan: Plan) {
        {
            let mut last = self.problems.lock().unwrap_or_else(PoisonError::into_inner);
            for p in plan.problems.iter().filter(|p| !last.contains(p)) {
                tracing::error!(error = %p, "left alone by the swarm leader");
            }
            if *last != plan.problems {
                *last = plan.problems;
            }
        }
        if !plan.commands.is_empty() {
            self.write_all(plan.commands).await;
        }
    }

    /// The cluster object.
    pub fn cluster(&self) -> Option<Object> {
        self.read(|s| s.list(ObjectKind::Cluster).next().cloned())
    }

    /// The swarm address of the current leader, if one is known.
    pub fn leader_addr(&self) -> Option<String> {
        let leader = self.raft.leader()?;
        let metrics = self.raft.raft().metrics();
        let m = metrics.borrow();
        m.membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
    }

    /// Stops the loops and the Raft member.
    pub async fn stop(self: Arc<Self>) {
        let loops: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.loops.lock().unwrap_or_else(PoisonError::into_inner));
        for l in loops {
            l.abort();
            let _ = l.await;
        }
        self.stopping.send_replace(true);
        let mut raft = self.raft.clone();
        drop(self);
        // Calls in flight hold the manager until they answer; long polls end on `stopping`.
        // The Raft member (and with it the port) can only be stopped once they are gone.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match Arc::try_unwrap(raft) {
                Ok(node) => {
                    if let Err(e) = node.shutdown().await {
                        tracing::warn!(error = %e, "raft shutdown");
                    }
                    return;
                }
                Err(still) if tokio::time::Instant::now() < deadline => {
                    raft = still;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(still) => {
                    tracing::warn!(
                        "a request still holds the manager; stopping Raft without its server"
                    );
                    let _ = still.raft().shutdown().await;
                    return;
                }
            }
        }
    }

    /// Resolves when the manager is stopping (long polls end early).
    pub async fn stopped(&self) {
        let mut rx = self.stopping.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// What the leader writes to converge the cluster: the orchestrator, the allocator, the
/// scheduler and node liveness, each over the whole state.
fn leader_pass(m: &Manager, s: &ClusterState, now: chrono::DateTime<Utc>) -> Plan {
    let mut took = [Duration::ZERO; 5];
    let mut timed = |i: usize, part: &mut dyn FnMut() -> Plan| {
        let start = std::time::Instant::now();
        let plan = part();
        took[i] = start.elapsed();
        plan
    };
    let mut plan = timed(0, &mut || orchestrator::reconcile(s, now, &mut RandomIds));
    plan.extend(timed(1, &mut || orchestrator::reap(s)));
    plan.extend(timed(2, &mut || allocator::allocate(s, now)));
    // After the orchestrator's plan: the tasks it creates are placed in it, not a pass later.
    let placed = timed(3, &mut || {
        let mut failures = m.failures.lock().unwrap_or_else(PoisonError::into_inner);
        placement::place_with_new(s, now, &mut failures, &mut plan)
    });
    plan.extend(placed);
    plan.extend(timed(4, &mut || m.liveness.expire(s)));
    let total: Duration = took.iter().sum();
    tracing::debug!(?total, ?took, commands = plan.commands.len(), "leader pass");
    if total > SLOW_PASS {
        let [reconcile, reap, allocate, place, expire] = took;
        let tasks = s.each(ObjectKind::Task).count();
        tracing::warn!(
            ?total,
            ?reconcile,
            ?reap,
            ?allocate,
            ?place,
            ?expire,
            tasks,
            "the leader's pass took long"
        );
    }
    plan
}

/// While this manager leads: converge services, place tasks, reap removed tasks and mark
/// silent nodes down, one pass per change of the store (or every half second, for restart
/// delays and heartbeats).
async fn leader_loop(manager: Weak<Manager>) {
    let mut leading = false;
    loop {
        let Some(m) = manager.upgrade() else { return };
        if !m.raft.is_leader() {
            leading = false;
            drop(m);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        if !leading {
            m.liveness.lead();
            m.failures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .reset();
            leading = true;
            tracing::info!(node = %m.node_id, "this manager leads the swarm");
        }
        let now = Utc::now();
        // The pass reads every task: on a copy of the state, off the lock and off the async
        // workers, so Raft's heartbeats and the node sessions are not held up by it.
        let (state, mut watcher) = m.raft.snapshot_and_watch();
        let of = m.clone();
        let plan = match tokio::task::spawn_blocking(move || leader_pass(&of, &state, now)).await {
            Ok(plan) => plan,
            Err(e) => {
                tracing::error!(error = %e, "the leader's pass stopped");
                Plan::default()
            }
        };
        if plan.commands.is_empty() {
            m.write_plan(plan).await;
            drop(m);
            let _ = tokio::time::timeout(Duration::from_millis(500), watcher.next()).await;
        } else {
            m.write_plan(plan).await;
            drop(m);
        }
        // Let a burst of changes (task reports arrive in bursts) land before the next pass,
        // which reads every task: fewer, larger passes.
        tokio::time::sleep(PASS_GAP).await;
    }
}
