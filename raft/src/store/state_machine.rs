//! `StateMachineStore`: applies committed entries to the in-memory `ClusterState` (through its
//! pure `apply`), publishes watch events, and builds and installs snapshots. The state is
//! persisted as its latest snapshot in sled, not per apply: writing every change to disk
//! three times over (once per replica) was most of the cost of a write. At open the state is
//! the snapshot's; openraft then re-applies the log from the snapshot up to the durable
//! committed index (`LogStore::save_committed`), so no applied write is ever reverted.
//!
//! Releases before this one mirrored every object into the `state_machine` tree; such a
//! mirror is read once at open, turned into a snapshot and removed.

use std::collections::BTreeSet;
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership,
};

use super::io_error;
use crate::codec::{decode, encode};
use crate::command::ClusterResponse;
use crate::error::RaftError;
use crate::objects::Object;
use crate::seal::Sealer;
use crate::space::Space;
use crate::state::ClusterState;
use crate::types::NodeAddr;
use crate::watch::{Event, WatchHub};
use crate::TypeConfig;

// Rows of the old per-apply mirror, read once to migrate it.
const APPLIED: &[u8] = b"m:applied";
const MEMBERSHIP: &[u8] = b"m:membership";
const VERSION: &[u8] = b"m:version";
const RETIRED: &[u8] = b"m:retired";
const OBJECT_PREFIX: &[u8] = b"o:";
const SNAPSHOT_META: &[u8] = b"meta";
const SNAPSHOT_DATA: &[u8] = b"data";

type Result<T> = std::result::Result<T, StorageError<u64>>;
type Membership = StoredMembership<u64, NodeAddr>;

/// What the state machine shares with the node's read and watch API.
#[derive(Debug)]
struct Shared {
    db: sled::Db,
    snapshots: sled::Tree,
    state: RwLock<ClusterState>,
    applied: RwLock<(Option<LogId<u64>>, Membership)>,
    watch: WatchHub,
    snapshot_seq: AtomicU64,
    sealer: Sealer,
    space: Space,
}

/// The sled state machine; clones share everything.
#[derive(Debug, Clone)]
pub struct StateMachineStore {
    shared: Arc<Shared>,
}

impl StateMachineStore {
    pub(crate) fn open(
        db: &sled::Db,
        watch_history: usize,
        sealer: Sealer,
        space: Space,
    ) -> std::result::Result<Self, RaftError> {
        let storage = |source| RaftError::Storage {
            path: "state machine".into(),
            source,
        };
        let snapshots = db.open_tree("snapshot").map_err(storage)?;
        let (state, applied, membership) = match load_snapshot(&snapshots, &sealer)? {
            Some((meta, data)) => {
                let state = ClusterState::from_image(decode("snapshot", &data)?);
                (state, meta.last_log_id, meta.last_membership)
            }
            None => (ClusterState::default(), None, Membership::default()),
        };
        let shared = Shared {
            db: db.clone(),
            snapshots,
            state: RwLock::new(state),
            applied: RwLock::new((applied, membership)),
            watch: WatchHub::new(0, watch_history),
            snapshot_seq: AtomicU64::new(0),
            sealer,
            space,
        };
        let store = Self {
            shared: Arc::new(shared),
        };
        store.migrate_mirror()?;
        let version = store.read().version();
        store.shared.watch.reset(version);
        Ok(store)
    }

    /// Turns an older release's per-apply mirror into a snapshot and removes it. The mirror was
    /// written on every apply, so it is never older than that release's snapshot.
    fn migrate_mirror(&self) -> std::result::Result<(), RaftError> {
        let storage = |source| RaftError::Storage {
            path: "state machine".into(),
            source,
        };
        let db = &self.shared.db;
        let name: &[u8] = b"state_machine";
        if !db.tree_names().iter().any(|t| t.as_ref() == name) {
            return Ok(());
        }
        let tree = db.open_tree(name).map_err(storage)?;
        let get = |key: &[u8]| tree.get(key).map_err(storage);
        if let Some(bytes) = get(APPLIED)? {
            let applied: Option<LogId<u64>> = decode("applied log id", &bytes)?;
            let membership = match get(MEMBERSHIP)? {
                Some(b) => decode("membership", &b)?,
                None => Membership::default(),
            };
            let version = match get(VERSION)? {
                Some(b) => decode("store version", &b)?,
                None => 0,
            };
            let retired: BTreeSet<u64> = match get(RETIRED)? {
                Some(b) => decode("retired members", &b)?,
                None => BTreeSet::new(),
            };
            let mut objects = Vec::new();
            for item in tree.scan_prefix(OBJECT_PREFIX) {
                let (_, bytes) = item.map_err(storage)?;
                objects.push(decode::<Object>("object", &bytes)?);
            }
            let state = ClusterState::from_parts(version, retired, objects);
            let data = encode(&state.image()).map_err(|e| RaftError::decode("snapshot", e))?;
            let last = applied.map(|id| format!("{}-{}", id.leader_id.term, id.index));
            let meta = SnapshotMeta {
                last_log_id: applied,
                last_membership: membership.clone(),
                snapshot_id: format!("{}-migrated", last.unwrap_or_else(|| "0-0".into())),
            };
            self.save_snapshot_blocking(&meta, &data)?;
            *self.write() = state;
            self.set_applied(applied, membership);
        }
        db.drop_tree(name).map_err(storage)?;
        db.flush().map_err(storage)?;
        Ok(())
    }

    /// Read access to the applied state; never hold it across an await.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, ClusterState> {
        self.shared
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, ClusterState> {
        self.shared
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The hub watchers subscribe to.
    pub(crate) fn watch_hub(&self) -> &WatchHub {
        &self.shared.watch
    }

    fn applied(&self) -> (Option<LogId<u64>>, Membership) {
        self.shared
            .applied
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_applied(&self, applied: Option<LogId<u64>>, membership: Membership) {
        *self
            .shared
            .applied
            .write()
            .unwrap_or_else(PoisonError::into_inner) = (applied, membership);
    }

    /// The rows of a saved snapshot; its image sealed with this member's key.
    fn snapshot_rows(
        &self,
        meta: &SnapshotMeta<u64, NodeAddr>,
        data: &[u8],
    ) -> std::result::Result<sled::Batch, RaftError> {
        // sled keeps the old snapshot until the new one is written: room for both.
        let size = 2 * data.len() as u64;
        self.shared
            .space
            .check(size)
            .map_err(|e| RaftError::Storage {
                path: "snapshot".into(),
                source: sled::Error::Io(e),
            })?;
        let mut batch = sled::Batch::default();
        let meta = encode(meta).map_err(|e| RaftError::decode("snapshot", e))?;
        batch.insert(SNAPSHOT_META, meta);
        batch.insert(SNAPSHOT_DATA, self.shared.sealer.seal(data.to_vec())?);
        Ok(batch)
    }

    /// `save_snapshot` for the synchronous open path.
    fn save_snapshot_blocking(
        &self,
        meta: &SnapshotMeta<u64, NodeAddr>,
        data: &[u8],
    ) -> std::result::Result<(), RaftError> {
        let storage = |source| RaftError::Storage {
            path: "snapshot".into(),
            source,
        };
        let batch = self.snapshot_rows(meta, data)?;
        self.shared.snapshots.apply_batch(batch).map_err(storage)?;
        self.shared.db.flush().map_err(storage)?;
        Ok(())
    }

    async fn save_snapshot(&self, meta: &SnapshotMeta<u64, NodeAddr>, data: &[u8]) -> Result<()> {
        let write = |e: &dyn std::fmt::Display| {
            let e = std::io::Error::other(e.to_string());
            io_error(StorageIOError::write, &e)
        };
        let batch = self.snapshot_rows(meta, data).map_err(|e| write(&e))?;
        self.shared
            .snapshots
            .apply_batch(batch)
            .map_err(|e| write(&e))?;
        // Durable before openraft purges the log up to it: the snapshot is the only copy then.
        self.shared.db.flush_async().await.map_err(|e| write(&e))?;
        Ok(())
    }
}

/// Builds a snapshot of the applied state.
#[derive(Debug)]
pub struct SnapshotBuilder {
    sm: StateMachineStore,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>> {
        let fail = |e: &dyn std::fmt::Display| {
            io_error(
                StorageIOError::read_state_machine,
                &std::io::Error::other(e.to_string()),
            )
        };
        // Applied position and state are read under the state lock, so they match.
        let (data, (applied, membership)) = {
            let state = self.sm.read();
            (
                encode(&state.image()).map_err(|e| fail(&e))?,
                self.sm.applied(),
            )
        };
        let seq = self.sm.shared.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let last = applied.map(|id| format!("{}-{}", id.leader_id.term, id.index));
        let snapshot_id = format!("{}-{seq}", last.unwrap_or_else(|| "0-0".into()));
        let meta = SnapshotMeta {
            last_log_id: applied,
            last_membership: membership,
            snapshot_id,
        };
        self.sm.save_snapshot(&meta, &data).await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId<u64>>, Membership)> {
        Ok(self.applied())
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<ClusterResponse>>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        // Decoded before anything applies: an entry that cannot be read fails its whole batch,
        // never half of it.
        for entry in &entries {
            if let EntryPayload::Normal(proposal) = &entry.payload {
                proposal
                    .txns()
                    .map_err(|e| io_error(StorageIOError::read_logs, &e))?;
            }
        }
        let (mut applied, mut membership) = self.applied();
        let mut responses = Vec::new();
        let mut state = self.write();
        for entry in entries {
            applied = Some(entry.log_id);
            let results: Vec<ClusterResponse> = match entry.payload {
                EntryPayload::Blank => Vec::new(),
                EntryPayload::Membership(m) => {
                    membership = StoredMembership::new(Some(entry.log_id), m);
                    Vec::new()
                }
                EntryPayload::Normal(proposal) => proposal
                    .txns()
                    .unwrap_or_default()
                    .iter()
                    .map(|cmd| state.apply(cmd))
                    .collect(),
            };
            // Published under the state lock: a reader that saw version N subscribes from N
            // and finds event N + 1 later, never before.
            for response in &results {
                if let ClusterResponse::Applied { version, changes } = response {
                    self.shared.watch.publish(Event {
                        version: *version,
                        changes: changes.clone(),
                    });
                }
            }
            responses.push(results);
        }
        self.set_applied(applied, membership);
        drop(state);
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder { sm: self.clone() }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, NodeAddr>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<()> {
        let fail = |e: &dyn std::fmt::Display| {
            let e = std::io::Error::other(e.to_string());
            io_error(StorageIOError::write, &e)
        };
        let data = snapshot.into_inner();
        let image = decode("snapshot", &data).map_err(|e| fail(&e))?;
        let new_state = ClusterState::from_image(image);
        // The snapshot is the state's only durable copy: saved before it replaces the state.
        self.save_snapshot(meta, &data).await?;
        let mut state = self.write();
        let version = new_state.version();
        *state = new_state;
        self.set_applied(meta.last_log_id, meta.last_membership.clone());
        self.shared.watch.reset(version);
        drop(state);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>> {
        let loaded = load_snapshot(&self.shared.snapshots, &self.shared.sealer)
            .map_err(|e| io_error(StorageIOError::read, &std::io::Error::other(e.to_string())))?;
        Ok(loaded.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

/// A snapshot as saved: its metadata and its encoded state.
type SavedSnapshot = (SnapshotMeta<u64, NodeAddr>, Vec<u8>);

/// The saved snapshot's metadata and data (opened), if there is one.
fn load_snapshot(
    snapshots: &sled::Tree,
    sealer: &Sealer,
) -> std::result::Result<Option<SavedSnapshot>, RaftError> {
    let storage = |source| RaftError::Storage {
        path: "snapshot".into(),
        source,
    };
    let meta = snapshots.get(SNAPSHOT_META).map_err(storage)?;
    let data = snapshots.get(SNAPSHOT_DATA).map_err(storage)?;
    let (Some(meta), Some(data)) = (meta, data) else {
        return Ok(None);
    };
    let data = sealer.open("snapshot", &data)?.into_owned();
    Ok(Some((decode("snapshot metadata", &meta)?, data)))
}
