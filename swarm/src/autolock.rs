//! Autolock: every manager keeps its Raft data key wrapped as the cluster says (with the
//! swarm's unlock key while `EncryptionConfig.AutoLockManagers` is on, else with a key file),
//! and a manager that restarts autolocked stays locked — no Raft member, no agent, every
//! swarm call answered with Docker's "Swarm is encrypted…" — until `swarm unlock` gives the key.

use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use berth_raft::{DataKey, ObjectKind};

use crate::error::{SwarmError, SwarmResult, INVALID_UNLOCK_KEY};
use crate::keys::{RaftKeys, UnlockKey};
use crate::manager::Manager;
use crate::model::Cluster;
use crate::swarm::Swarm;

/// Follows the cluster's unlock key: re-wraps this manager's data key whenever autolock is
/// turned on or off or the key rotates (also at start, for changes made while it was down).
pub(crate) async fn key_loop(
    manager: Weak<Manager>,
    keys: RaftKeys,
    data_key: DataKey,
    unlocked_with: Option<UnlockKey>,
) {
    // What the data key is wrapped with now: `Some(None)` a key file, `Some(Some(key))` the
    // unlock key; `None` unknown (autolocked by a key this run never saw).
    let mut current: Option<Option<String>> = if keys.is_autolocked() {
        unlocked_with.map(|k| Some(k.text()))
    } else {
        Some(None)
    };
    loop {
        let Some(m) = manager.upgrade() else { return };
        let (wanted, mut watcher) = m.raft.read_and_watch(|s| {
            let cluster = s.list(ObjectKind::Cluster).next()?;
            Cluster::parse(cluster).ok().map(|c| c.status.unlock_key)
        });
        drop(m);
        if let Some(wanted) = wanted.filter(|w| current.as_ref() != Some(w)) {
            let lock = wanted.as_deref().map(UnlockKey::parse);
            match lock {
                Some(None) => tracing::error!("the cluster's unlock key is malformed"),
                Some(Some(key)) => match keys.wrap(&data_key, Some(&key)) {
                    Ok(()) => current = Some(wanted),
                    Err(e) => tracing::error!(error = %e, "autolock: wrapping the Raft data key"),
                },
                None => match keys.wrap(&data_key, None) {
                    Ok(()) => current = Some(None),
                    Err(e) => {
                        tracing::error!(error = %e, "autolock off: wrapping the Raft data key")
                    }
                },
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), watcher.next()).await;
    }
}

impl Swarm {
    /// Whether this node is an autolocked manager waiting for `swarm unlock`.
    pub fn is_locked(&self) -> bool {
        self.locked.load(Ordering::SeqCst)
    }

    /// `POST /swarm/unlock`: opens the store with `key` and takes part in the swarm again.
    pub async fn unlock(&self, key: &str) -> SwarmResult<()> {
        let _guard = self.lifecycle.lock().await;
        if !self.is_locked() {
            return Err(match self.member() {
                Some(_) => SwarmError::Conflict("swarm is not locked".into()),
                None => SwarmError::NotInSwarmToLeave,
            });
        }
        let key = UnlockKey::parse(key)
            .ok_or_else(|| SwarmError::InvalidArgument(INVALID_UNLOCK_KEY.into()))?;
        self.rejoin(Some(key)).await?;
        self.locked.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// `swarm leave` on a locked manager: only forced, and then the state is forgotten.
    pub(crate) fn leave_locked(&self, force: bool) -> SwarmResult<()> {
        if !force {
            return Err(SwarmError::Locked);
        }
        self.dir
            .erase()
            .map_err(|e| SwarmError::internal("remove swarm state", e))?;
        self.locked.store(false, Ordering::SeqCst);
        Ok(())
    }
}
