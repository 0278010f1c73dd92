//! `LogStore`: the Raft log, vote, committed log id and purge point in sled. Every write that
//! Raft relies on (vote, committed, appended entries) is flushed to disk before it is reported
//! done: a vote or an acknowledged entry that vanishes after a crash breaks Raft's safety.
//!
//! Flushes go through one group-commit task: openraft appends each client write on its own,
//! so `append` only writes the batch into sled and queues its completion; the task runs one
//! fsync for everything queued meanwhile and then completes the callbacks in order.
//!
//! The committed log id is written without waiting for its flush (openraft's core would stall
//! on it before every apply); the proposer waits for `durable` before it acknowledges a write.
//! The last entries appended are also kept decoded (`Recent`): openraft reads each one back
//! moments later to replicate and to apply it, and decoding it again on every member was a
//! large share of a write's cost.

#![allow(
    clippy::result_large_err,
    reason = "the helpers return openraft's StorageError, which the storage traits require"
)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::io_error;
use crate::codec::{decode, encode};
use crate::error::RaftError;
use crate::network::MAX_APPEND_BYTES;
use crate::seal::Sealer;
use crate::space::Space;
use crate::TypeConfig;

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const PURGED: &[u8] = b"last_purged";

type Result<T> = std::result::Result<T, StorageError<u64>>;

/// Most bytes (encoded) of recent entries kept decoded. Enough that a follower a few seconds
/// behind is sent entries from here: each one read from sled is opened and decoded again
/// (40% of a busy leader's CPU once). Decoded, an entry of JSON documents takes about six
/// times its encoded size: at 16 MiB this cache was 90 MiB of every manager's 236 MiB with
/// 10,000 tasks (1,000 agents, the scale bench).
const RECENT_BYTES: usize = 4 << 20;

/// The last entries appended, decoded, by index. Changed under its lock together with the
/// sled tree, so a reader never sees it disagree with the log.
#[derive(Debug, Default)]
struct Recent {
    entries: BTreeMap<u64, (Entry<TypeConfig>, usize)>,
    bytes: usize,
}

impl Recent {
    fn insert(&mut self, entry: Entry<TypeConfig>, size: usize) {
        self.bytes += size;
        if let Some((_, old)) = self.entries.insert(entry.log_id.index, (entry, size)) {
            self.bytes -= old;
        }
        while self.bytes > RECENT_BYTES {
            match self.entries.pop_first() {
                Some((_, (_, size))) => self.bytes -= size,
                None => break,
            }
        }
    }

    /// Forgets the entries from `index` on (a truncation).
    fn truncate(&mut self, index: u64) {
        for (_, (_, size)) in self.entries.split_off(&index) {
            self.bytes -= size;
        }
    }

    /// Forgets the entries up to `index` (a purge).
    fn purge(&mut self, index: u64) {
        let kept = self.entries.split_off(&index.saturating_add(1));
        for (_, (_, size)) in std::mem::replace(&mut self.entries, kept) {
            self.bytes -= size;
        }
    }
}

/// The Raft log in sled; clones share the database (the log reader is a clone).
#[derive(Debug, Clone)]
pub struct LogStore {
    log: sled::Tree,
    meta: sled::Tree,
    recent: Arc<Mutex<Recent>>,
    flusher: mpsc::UnboundedSender<Flush>,
    sealer: Sealer,
    space: Space,
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

/// Runs until every `LogStore` clone is gone: one fsync per group of queued completions.
async fn group_commit(db: sled::Db, mut queue: mpsc::UnboundedReceiver<Flush>) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        while let Ok(next) = queue.try_recv() {
            group.push(next);
        }
        let result = db
            .flush_async()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
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

fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl LogStore {
    /// Opens the log trees and starts the group-commit task (needs a tokio runtime).
    pub(crate) fn new(
        db: &sled::Db,
        sealer: Sealer,
        space: Space,
    ) -> std::result::Result<Self, sled::Error> {
        let (flusher, queue) = mpsc::unbounded_channel();
        tokio::spawn(group_commit(db.clone(), queue));
        Ok(Self {
            log: db.open_tree("log")?,
            meta: db.open_tree("log_meta")?,
            recent: Arc::default(),
            flusher,
            sealer,
            space,
        })
    }

    fn recent(&self) -> MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until everything written to the log so far (commit ids included) is on disk.
    pub(crate) async fn durable(&self) -> Result<()> {
        self.flush(StorageIOError::write).await
    }

    /// Waits until everything written so far is on disk.
    async fn flush(&self, make: fn(openraft::AnyError) -> StorageIOError<u64>) -> Result<()> {
        let gone = || io_error(make, &std::io::Error::other("log flusher stopped"));
        let (tx, rx) = oneshot::channel();
        self.flusher.send(Flush::Wait(tx)).map_err(|_| gone())?;
        let flushed = rx.await.map_err(|_| gone())?;
        flushed.map_err(|e| io_error(make, &std::io::Error::other(e)))
    }

    /// A stored entry, opened with this member's key and decoded.
    fn decode_entry(&self, stored: &[u8]) -> std::result::Result<Entry<TypeConfig>, RaftError> {
        decode("log entry", &self.sealer.open("log entry", stored)?)
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        let read = StorageIOError::read;
        match self.meta.get(key).map_err(|e| io_error(read, &e))? {
            Some(bytes) => Ok(Some(
                decode("log metadata", &bytes).map_err(|e| io_error(read, &e))?,
            )),
            None => Ok(None),
        }
    }

    fn put_meta<T: Serialize>(&self, key: &[u8], value: &T) -> Result<()> {
        let write = StorageIOError::write;
        let bytes = encode(value).map_err(|e| io_error(write, &e))?;
        self.space
            .check(bytes.len() as u64)
            .map_err(|e| io_error(write, &e))?;
        self.meta
            .insert(key, bytes)
            .map_err(|e| io_error(write, &e))?;
        Ok(())
    }

    fn last_log_id(&self) -> Result<Option<LogId<u64>>> {
        let read = StorageIOError::read_logs;
        let Some((_, bytes)) = self.log.last().map_err(|e| io_error(read, &e))? else {
            return Ok(None);
        };
        let entry: Entry<TypeConfig> = self.decode_entry(&bytes).map_err(|e| io_error(read, &e))?;
        Ok(Some(entry.log_id))
    }

    /// Removes the entries with indexes in `range` (a key range of the log tree).
    fn remove_range(&self, range: (Bound<[u8; 8]>, Bound<[u8; 8]>)) -> Result<()> {
        let write = StorageIOError::write_logs;
        self.space.check(0).map_err(|e| io_error(write, &e))?;
        let mut batch = sled::Batch::default();
        for item in self.log.range(range) {
            let (k, _) = item.map_err(|e| io_error(write, &e))?;
            batch.remove(k);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| io_error(write, &e))?;
        Ok(())
    }
}

impl LogStore {
    /// The entries with indexes in `range`; with `max_bytes`, only the first ones whose stored
    /// size fits in it (always at least one).
    fn read_entries<RB: RangeBounds<u64>>(
        &self,
        range: RB,
        max_bytes: Option<usize>,
    ) -> Result<Vec<Entry<TypeConfig>>> {
        let read = StorageIOError::read_logs;
        let start = match range.start_bound() {
            Bound::Included(i) => Bound::Included(key(*i)),
            Bound::Excluded(i) => Bound::Excluded(key(*i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Bound::Included(key(*i)),
            Bound::Excluded(i) => Bound::Excluded(key(*i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut entries = Vec::new();
        let mut bytes_read = 0;
        // Under the lock, so a truncation cannot slip between the tree and the cache.
        let recent = self.recent();
        for item in self.log.range((start, end)) {
            let (key, bytes) = item.map_err(|e| io_error(read, &e))?;
            bytes_read += bytes.len();
            if max_bytes.is_some_and(|max| bytes_read > max) && !entries.is_empty() {
                break;
            }
            let index = key
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|e| io_error(read, &e))?;
            match recent.entries.get(&index) {
                Some((entry, _)) => entries.push(entry.clone()),
                None => entries.push(self.decode_entry(&bytes).map_err(|e| io_error(read, &e))?),
            }
        }
        Ok(entries)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>> {
        self.read_entries(range, None)
    }

    /// What replication sends in one AppendEntries: cut by size, not only by count. Entries
    /// carry up to 256 transactions each; a new leader probing a follower's log sends a batch
    /// from the middle of its log, and building that batch whole only to have the transport
    /// refuse it cost the first write after a failover up to a second with a long log.
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry<TypeConfig>>> {
        // Headroom for the request around the entries (vote, previous log id, commit).
        self.read_entries(start..end, Some(MAX_APPEND_BYTES - (64 << 10)))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogId<u64>> = self.get_meta(PURGED)?;
        let last_log_id = self.last_log_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<()> {
        self.put_meta(VOTE, vote)?;
        self.flush(StorageIOError::write_vote).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>> {
        self.get_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<()> {
        // Not flushed here: openraft's core would wait for it before every apply. An
        // acknowledged write waited for `durable`; a commit id lost in a crash only makes this
        // member re-apply less at start-up, until the leader tells it the commit again.
        self.put_meta(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>> {
        Ok(self.get_meta::<Option<LogId<u64>>>(COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let write = StorageIOError::write_logs;
        let mut batch = sled::Batch::default();
        let mut decoded = Vec::new();
        let mut total = 0u64;
        for entry in entries {
            let plain = encode(&entry).map_err(|e| io_error(write, &e))?;
            let bytes = self.sealer.seal(plain).map_err(|e| io_error(write, &e))?;
            let size = bytes.len();
            total += size as u64;
            batch.insert(&key(entry.log_id.index), bytes);
            decoded.push((size, entry));
        }
        self.space.check(total).map_err(|e| io_error(write, &e))?;
        {
            let mut recent = self.recent();
            self.log
                .apply_batch(batch)
                .map_err(|e| io_error(write, &e))?;
            for (size, entry) in decoded {
                recent.insert(entry, size);
            }
        }
        // Raft counts this node's copy toward a quorum once the callback fires: only after fsync.
        self.flusher
            .send(Flush::Append(callback))
            .map_err(|_| io_error(write, &std::io::Error::other("log flusher stopped")))?;
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<()> {
        // Refused before the decoded copy changes: it must keep agreeing with the tree.
        let write = StorageIOError::write_logs;
        self.space.check(0).map_err(|e| io_error(write, &e))?;
        self.recent().truncate(log_id.index);
        self.remove_range((Bound::Included(key(log_id.index)), Bound::Unbounded))?;
        self.flush(StorageIOError::write_logs).await
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<()> {
        // The purge point is written first so a crash half-way never shows a log with a hole.
        self.put_meta(PURGED, &log_id)?;
        self.recent().purge(log_id.index);
        self.remove_range((Bound::Unbounded, Bound::Included(key(log_id.index))))?;
        self.flush(StorageIOError::write_logs).await
    }
}
