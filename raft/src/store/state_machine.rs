//! `StateMachineStore`: applies committed entries to the in-memory `ClusterState` (through its
//! pure `apply`), mirrors every change into sled in one atomic batch per apply call, publishes
//! watch events, and builds and installs snapshots. The sled mirror is not fsynced per apply:
//! the log holds every applied entry until a snapshot covers it, and a snapshot is only taken
//! after a flush of the whole database.

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
use crate::command::{Action, ClusterResponse};
use crate::error::RaftError;
use crate::objects::Object;
use crate::state::ClusterState;
use crate::types::NodeAddr;
use crate::watch::{Event, WatchHub};
use crate::TypeConfig;

const APPLIED: &[u8] = b"m:applied";
const MEMBERSHIP: &[u8] = b"m:membership";
const VERSION: &[u8] = b"m:version";
const RETIRED: &[u8] = b"m:retired";
const OBJECT_PREFIX: &[u8] = b"o:";
const SNAPSHOT_META: &[u8] = b"meta";
const SNAPSHOT_DATA: &[u8] = b"data";

type Result<T> = std::result::Result<T, StorageError<u64>>;
type Membership = StoredMembership<u64, NodeAddr>;

fn object_key(object: &Object) -> Vec<u8> {
    let mut key = OBJECT_PREFIX.to_vec();
    key.extend_from_slice(object.kind().to_string().as_bytes());
    key.push(b'/');
    key.extend_from_slice(object.id.as_bytes());
    key
}

/// What the state machine shares with the node's read and watch API.
#[derive(Debug)]
struct Shared {
    db: sled::Db,
    tree: sled::Tree,
    snapshots: sled::Tree,
    state: RwLock<ClusterState>,
    applied: RwLock<(Option<LogId<u64>>, Membership)>,
    watch: WatchHub,
    snapshot_seq: AtomicU64,
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
    ) -> std::result::Result<Self, RaftError> {
        let storage = |source| RaftError::Storage {
            path: "state machine".into(),
            source,
        };
        let tree = db.open_tree("state_machine").map_err(storage)?;
        let snapshots = db.open_tree("snapshot").map_err(storage)?;
        let get = |key: &[u8]| tree.get(key).map_err(storage);
        let applied = match get(APPLIED)? {
            Some(b) => decode("applied log id", &b)?,
            None => None,
        };
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
        let shared = Shared {
            db: db.clone(),
            tree,
            snapshots,
            state: RwLock::new(state),
            applied: RwLock::new((applied, membership)),
            watch: WatchHub::new(version, watch_history),
            snapshot_seq: AtomicU64::new(0),
        };
        Ok(Self {
            shared: Arc::new(shared),
        })
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

    fn put_meta(
        batch: &mut sled::Batch,
        state: &ClusterState,
        applied: &Option<LogId<u64>>,
        membership: &Membership,
    ) -> std::result::Result<(), serde_json::Error> {
        batch.insert(APPLIED, encode(applied)?);
        batch.insert(MEMBERSHIP, encode(membership)?);
        batch.insert(VERSION, encode(&state.version())?);
        batch.insert(RETIRED, encode(state.retired_members())?);
        Ok(())
    }

    fn load_snapshot(&self) -> std::result::Result<Option<Snapshot<TypeConfig>>, RaftError> {
        let storage = |source| RaftError::Storage {
            path: "snapshot".into(),
            source,
        };
        let meta = self.shared.snapshots.get(SNAPSHOT_META).map_err(storage)?;
        let data = self.shared.snapshots.get(SNAPSHOT_DATA).map_err(storage)?;
        let (Some(meta), Some(data)) = (meta, data) else {
            return Ok(None);
        };
        let meta = decode("snapshot metadata", &meta)?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data.to_vec())),
        }))
    }

    async fn save_snapshot(&self, meta: &SnapshotMeta<u64, NodeAddr>, data: &[u8]) -> Result<()> {
        let write = |e: &dyn std::fmt::Display| {
            let e = std::io::Error::other(e.to_string());
            io_error(StorageIOError::write, &e)
        };
        let mut batch = sled::Batch::default();
        batch.insert(SNAPSHOT_META, encode(meta).map_err(|e| write(&e))?);
        batch.insert(SNAPSHOT_DATA, data);
        self.shared
            .snapshots
            .apply_batch(batch)
            .map_err(|e| write(&e))?;
        // Flushes the state machine rows too: the log may be purged up to this snapshot next.
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
        let write = StorageIOError::write_state_machine;
        let (mut applied, mut membership) = self.applied();
        let mut batch = sled::Batch::default();
        let mut responses = Vec::new();
        let mut state = self.write();
        let mut events = Vec::new();
        for entry in entries {
            applied = Some(entry.log_id);
            let results = match entry.payload {
                EntryPayload::Blank => Vec::new(),
                EntryPayload::Membership(m) => {
                    membership = StoredMembership::new(Some(entry.log_id), m);
                    Vec::new()
                }
                EntryPayload::Normal(proposal) => {
                    proposal.txns.iter().map(|cmd| state.apply(cmd)).collect()
                }
            };
            for response in &results {
                let ClusterResponse::Applied { version, changes } = response else {
                    continue;
                };
                for change in changes {
                    let key = object_key(&change.object);
                    if change.action == Action::Delete {
                        batch.remove(key);
                    } else {
                        let bytes = encode(&change.object).map_err(|e| io_error(write, &e))?;
                        batch.insert(key, bytes);
                    }
                }
                events.push(Event {
                    version: *version,
                    changes: changes.clone(),
                });
            }
            responses.push(results);
        }
        Self::put_meta(&mut batch, &state, &applied, &membership)
            .map_err(|e| io_error(write, &e))?;
        self.shared
            .tree
            .apply_batch(batch)
            .map_err(|e| io_error(write, &e))?;
        self.set_applied(applied, membership);
        // Published under the state lock: a reader that saw version N subscribes from N and
        // finds event N + 1 later, never before.
        for event in events {
            self.shared.watch.publish(event);
        }
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
        // One batch replaces every row, so a crash leaves the old state or the new, not a mix.
        let mut batch = sled::Batch::default();
        for item in self.shared.tree.scan_prefix(OBJECT_PREFIX) {
            let (key, _) = item.map_err(|e| fail(&e))?;
            batch.remove(key);
        }
        for object in new_state.list_all() {
            batch.insert(object_key(object), encode(object).map_err(|e| fail(&e))?);
        }
        Self::put_meta(
            &mut batch,
            &new_state,
            &meta.last_log_id,
            &meta.last_membership,
        )
        .map_err(|e| fail(&e))?;
        self.shared.tree.apply_batch(batch).map_err(|e| fail(&e))?;
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
        self.load_snapshot()
            .map_err(|e| io_error(StorageIOError::read, &std::io::Error::other(e.to_string())))
    }
}
