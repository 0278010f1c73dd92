//! `LogStore`: the Raft log, vote, committed log id and purge point in one append-only file
//! (`wal.rs`) beside the sled database. Every write that Raft relies on (vote, committed,
//! appended entries) is fsynced before it is reported done: a vote or an acknowledged entry
//! that vanishes after a crash breaks Raft's safety.
//!
//! A plain file instead of a sled tree because openraft 0.9 waits for each append's fsync
//! before it does anything else: sled's flush writes its whole page cache (the state
//! machine's rows too) and costs several times an fdatasync of the few records appended.
//! Syncs go through one group-commit task, one fdatasync for every completion queued
//! meanwhile.

#![allow(
    clippy::result_large_err,
    reason = "the helpers return openraft's StorageError, which the storage traits require"
)]

use std::fmt::Debug;
use std::fs::File;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use super::io_error;
use super::wal::Wal;
use crate::codec::{decode, encode};
use crate::TypeConfig;

/// The file's name inside the node's data directory.
const FILE: &str = "raft-log";

/// Where an older release kept the log: sled trees and the keys of its metadata.
const OLD_LOG_TREE: &str = "log";
const OLD_META_TREE: &str = "log_meta";
const OLD_VOTE: &[u8] = b"vote";
const OLD_COMMITTED: &[u8] = b"committed";
const OLD_PURGED: &[u8] = b"last_purged";

type Result<T> = std::result::Result<T, StorageError<u64>>;

/// The Raft log; clones share the file (the log reader is a clone).
#[derive(Debug, Clone)]
pub struct LogStore {
    wal: Arc<Mutex<Wal>>,
    flusher: mpsc::UnboundedSender<Flush>,
    /// Held so the database's lock, taken at open, also guards the log file while any clone
    /// lives: a restarted node in the same process waits for it like for sled.
    _db: sled::Db,
}

/// A completion waiting for the next fsync.
enum Flush {
    Append(LogFlushed<TypeConfig>),
    Wait(oneshot::Sender<std::result::Result<(), String>>),
}

impl std::fmt::Debug for Flush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Append(_) => "Flush::Append",
            Self::Wait(_) => "Flush::Wait",
        })
    }
}

/// Runs until every `LogStore` clone is gone: one fdatasync per group of queued completions.
async fn group_commit(wal: Arc<Mutex<Wal>>, mut queue: mpsc::UnboundedReceiver<Flush>) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        while let Ok(next) = queue.try_recv() {
            group.push(next);
        }
        // The file current now holds every record written before these completions were
        // queued (a rewrite copies them and syncs the copy itself).
        let file: Arc<File> = lock(&wal).file.clone();
        let result = match tokio::task::spawn_blocking(move || file.sync_data()).await {
            Ok(synced) => synced.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        for done in group {
            match done {
                Flush::Append(callback) => {
                    callback.log_io_completed(result.clone().map_err(std::io::Error::other))
                }
                Flush::Wait(tx) => {
                    let _ = tx.send(result.clone());
                }
            }
        }
    }
}

fn lock(wal: &Mutex<Wal>) -> MutexGuard<'_, Wal> {
    wal.lock().unwrap_or_else(PoisonError::into_inner)
}

fn old_meta<T: DeserializeOwned>(meta: &sled::Tree, key: &[u8]) -> std::io::Result<Option<T>> {
    let fail = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    match meta.get(key).map_err(|e| fail(&e))? {
        Some(bytes) => decode("log metadata", &bytes)
            .map(Some)
            .map_err(|e| fail(&e)),
        None => Ok(None),
    }
}

/// Opens the log file under `dir`; the first time, moves an older release's log out of
/// `db` into it (the file appears whole or not at all, and the sled trees go only after).
fn open_wal(dir: &Path, db: &sled::Db) -> std::io::Result<Wal> {
    let path = dir.join(FILE);
    let fail = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let names = db.tree_names();
    let has = |tree: &str| names.iter().any(|name| name.as_ref() == tree.as_bytes());
    if !Wal::exists(&path) {
        let (mut entries, mut vote, mut committed, mut purged) = (Vec::new(), None, None, None);
        if has(OLD_LOG_TREE) {
            let log = db.open_tree(OLD_LOG_TREE).map_err(|e| fail(&e))?;
            let meta = db.open_tree(OLD_META_TREE).map_err(|e| fail(&e))?;
            for item in log.iter() {
                let (_, bytes) = item.map_err(|e| fail(&e))?;
                let entry: Entry<TypeConfig> = decode("log entry", &bytes).map_err(|e| fail(&e))?;
                entries.push((entry.log_id, bytes.to_vec()));
            }
            vote = old_meta(&meta, OLD_VOTE)?;
            committed = old_meta::<Option<LogId<u64>>>(&meta, OLD_COMMITTED)?.flatten();
            purged = old_meta(&meta, OLD_PURGED)?;
        }
        Wal::create(&path, vote, committed, purged, entries)?;
    }
    for old in [OLD_LOG_TREE, OLD_META_TREE] {
        if has(old) {
            db.drop_tree(old).map_err(|e| fail(&e))?;
        }
    }
    Wal::open(&path)
}

impl LogStore {
    /// Opens the log under `dir` (whose sled database `db` is) and starts the group-commit
    /// task (needs a tokio runtime).
    pub(crate) fn open(dir: &Path, db: &sled::Db) -> std::io::Result<Self> {
        let wal = Arc::new(Mutex::new(open_wal(dir, db)?));
        let (flusher, queue) = mpsc::unbounded_channel();
        tokio::spawn(group_commit(wal.clone(), queue));
        Ok(Self {
            wal,
            flusher,
            _db: db.clone(),
        })
    }

    fn wal(&self) -> MutexGuard<'_, Wal> {
        lock(&self.wal)
    }

    /// Runs `change` on the log, then waits until it is on disk.
    async fn durably(
        &self,
        make: fn(openraft::AnyError) -> StorageIOError<u64>,
        change: impl FnOnce(&mut Wal) -> std::io::Result<()>,
    ) -> Result<()> {
        change(&mut self.wal()).map_err(|e| io_error(make, &e))?;
        self.synced(make).await
    }

    /// Waits until everything written so far is on disk.
    async fn synced(&self, make: fn(openraft::AnyError) -> StorageIOError<u64>) -> Result<()> {
        let gone = || io_error(make, &std::io::Error::other("log flusher stopped"));
        let (tx, rx) = oneshot::channel();
        self.flusher.send(Flush::Wait(tx)).map_err(|_| gone())?;
        let flushed = rx.await.map_err(|_| gone())?;
        flushed.map_err(|e| io_error(make, &std::io::Error::other(e)))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>> {
        let range = (range.start_bound().cloned(), range.end_bound().cloned());
        let encoded: Vec<Bytes> = {
            let wal = self.wal();
            wal.entries
                .range(range)
                .map(|(_, (_, b, _))| b.clone())
                .collect()
        };
        let read = StorageIOError::read_logs;
        encoded
            .iter()
            .map(|bytes| decode("log entry", bytes).map_err(|e| io_error(read, &e)))
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>> {
        let wal = self.wal();
        let last = wal.entries.last_key_value().map(|(_, (id, _, _))| *id);
        Ok(LogState {
            last_purged_log_id: wal.purged,
            last_log_id: last.or(wal.purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<()> {
        self.durably(StorageIOError::write_vote, |wal| wal.save_vote(vote))
            .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>> {
        Ok(self.wal().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<()> {
        self.durably(StorageIOError::write, |wal| wal.save_committed(committed))
            .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>> {
        Ok(self.wal().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let write = StorageIOError::write_logs;
        // Encoded before the lock: the reader and the flush task need it meanwhile.
        let mut encoded = Vec::new();
        for entry in entries {
            let bytes = encode(&entry).map_err(|e| io_error(write, &e))?;
            encoded.push((entry.log_id, Bytes::from(bytes)));
        }
        {
            let mut wal = self.wal();
            for (log_id, bytes) in encoded {
                wal.append(log_id, bytes).map_err(|e| io_error(write, &e))?;
            }
        }
        // Raft counts this node's copy toward a quorum once the callback fires: only after fsync.
        self.flusher
            .send(Flush::Append(callback))
            .map_err(|_| io_error(write, &std::io::Error::other("log flusher stopped")))?;
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<()> {
        self.durably(StorageIOError::write_logs, |wal| wal.truncate(log_id.index))
            .await
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<()> {
        let write = StorageIOError::write_logs;
        // A purge may rewrite the whole file and sync it: off the async threads.
        let wal = self.wal.clone();
        tokio::task::spawn_blocking(move || lock(&wal).purge(log_id))
            .await
            .map_err(|e| io_error(write, &std::io::Error::other(e.to_string())))?
            .map_err(|e| io_error(write, &e))?;
        self.synced(write).await
    }
}
