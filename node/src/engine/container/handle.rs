//! One live container in the daemon: its record behind an async lock, and a watch channel that
//! tells waiters about exits and removal. The record is shared copy-on-write: readers (list,
//! inspect) take the current version without copying it, and an operation holding the lock
//! copies it only when such a reader still holds the old one.

use std::ops::{Deref, DerefMut};
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
    rec: Mutex<Arc<ContainerRecord>>,
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
            rec: Mutex::new(Arc::new(rec)),
            tx: watch::Sender::new(change),
            mount: Arc::default(),
        }
    }

    /// Locks the record for an operation.
    pub async fn lock(&self) -> RecordGuard<'_> {
        RecordGuard(self.rec.lock().await)
    }

    /// The rootfs mount lock (see the field); the caller holds the record lock.
    pub async fn mount_lock(&self) -> OwnedMutexGuard<()> {
        self.mount.clone().lock_owned().await
    }

    /// A copy of the record.
    pub async fn snapshot(&self) -> ContainerRecord {
        ContainerRecord::clone(&**self.rec.lock().await)
    }

    /// The record as it is now, shared: listing a thousand containers copied a thousand
    /// records of a few kilobytes each.
    pub async fn shared(&self) -> Arc<ContainerRecord> {
        Arc::clone(&*self.rec.lock().await)
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

/// The locked record of an operation; writing through it copies the record first only while a
/// reader still holds the version it shared.
pub struct RecordGuard<'a>(MutexGuard<'a, Arc<ContainerRecord>>);

impl Deref for RecordGuard<'_> {
    type Target = ContainerRecord;

    fn deref(&self) -> &ContainerRecord {
        &self.0
    }
}

impl DerefMut for RecordGuard<'_> {
    fn deref_mut(&mut self) -> &mut ContainerRecord {
        Arc::make_mut(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_shared_record_keeps_its_version_while_the_operation_writes_a_new_one() {
        let h = Handle::new(ContainerRecord {
            id: "c1".into(),
            name: "before".into(),
            ..Default::default()
        });
        let old = h.shared().await;
        h.lock().await.name = "after".into();
        assert_eq!(old.name, "before");
        assert_eq!(h.shared().await.name, "after");
        assert_eq!(h.snapshot().await.name, "after");
        // With no reader holding it, a write changes the shared version in place.
        let before = Arc::as_ptr(&h.shared().await);
        h.lock().await.name = "again".into();
        assert_eq!(Arc::as_ptr(&h.shared().await), before);
    }
}
