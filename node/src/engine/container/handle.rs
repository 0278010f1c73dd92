//! One live container in the daemon: its record behind an async lock, and a watch channel that
//! tells waiters about exits and removal.

use std::sync::Arc;

use tokio::sync::{watch, Mutex, MutexGuard, OwnedMutexGuard};

use super::types::ContainerRecord;
use crate::error::Result;
use crate::store::Records;

/// What waiters observe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// Counts exits since the daemon started; `next-exit` waits for it to grow.
    pub exits: u64,
    pub running: bool,
    pub exit_code: i64,
    pub removed: bool,
}

/// A container known to the daemon.
pub struct Handle {
    pub id: String,
    rec: Mutex<ContainerRecord>,
    tx: watch::Sender<Change>,
    /// Held while the rootfs is mounted by anyone but the container's monitor (`cp` of a
    /// stopped container) and while the container starts: the two mounts would share one
    /// overlay upper directory. Taken after the record lock, never before.
    mount: Arc<Mutex<()>>,
}

impl Handle {
    /// Wraps a record.
    pub fn new(rec: ContainerRecord) -> Self {
        let change = Change {
            running: rec.state.status.is_running(),
            exit_code: rec.state.exit_code,
            ..Default::default()
        };
        Handle {
            id: rec.id.clone(),
            rec: Mutex::new(rec),
            tx: watch::Sender::new(change),
            mount: Arc::default(),
        }
    }

    /// Locks the record for an operation.
    pub async fn lock(&self) -> MutexGuard<'_, ContainerRecord> {
        self.rec.lock().await
    }

    /// The rootfs mount lock (see the field); the caller holds the record lock.
    pub async fn mount_lock(&self) -> OwnedMutexGuard<()> {
        self.mount.clone().lock_owned().await
    }

    /// A copy of the record.
    pub async fn snapshot(&self) -> ContainerRecord {
        self.rec.lock().await.clone()
    }

    /// Subscribes to changes; the receiver sees the current value first.
    pub fn subscribe(&self) -> watch::Receiver<Change> {
        self.tx.subscribe()
    }

    /// Persists `rec` and tells waiters whether it runs; `exited` bumps the exit counter.
    pub fn publish(&self, rec: &ContainerRecord, records: &Records, exited: bool) -> Result<()> {
        let res = records.put(&rec.id, rec);
        self.tx.send_modify(|c| {
            if exited {
                c.exits += 1;
            }
            c.running = rec.state.status.is_running();
            c.exit_code = rec.state.exit_code;
        });
        res
    }

    /// Tells waiters the container is gone.
    pub fn publish_removed(&self) {
        self.tx.send_modify(|c| {
            c.removed = true;
            c.running = false;
        });
    }
}
