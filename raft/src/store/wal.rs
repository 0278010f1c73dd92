//! The Raft log's file: an append-only sequence of checksummed records (entries, truncations,
//! purges, votes, committed ids) that is replayed at open. It owns the byte format and the
//! rewrite that drops purged records; it knows nothing of openraft's traits (`log.rs`) and
//! never fsyncs on its own except when it replaces the file.
//!
//! A record is `[body length: u32 LE][crc32 of body: u32 LE][body]`, the body one kind byte
//! and its data. A torn or corrupt tail (a crash in the middle of a write) ends the replay and
//! is cut off, so later appends follow the last whole record.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use openraft::{LogId, Vote};

use crate::codec::{decode, encode};

const ENTRY: u8 = 1;
const TRUNCATE: u8 = 2;
const PURGE: u8 = 3;
const VOTE: u8 = 4;
const COMMITTED: u8 = 5;

/// Rewrite the file once purged records take this many bytes and more than the live ones.
const REWRITE_AFTER: u64 = 8 << 20;

/// The log as replayed, plus the open file it continues.
#[derive(Debug)]
pub(super) struct Wal {
    path: PathBuf,
    /// Shared with the flush task, which syncs whichever file is current when it runs.
    pub(super) file: Arc<File>,
    len: u64,
    /// Bytes of records whose entries were purged or truncated, or superseded votes.
    dead: u64,
    /// Encoded entries (`codec::encode` of `Entry`) with their log ids, by index.
    pub(super) entries: BTreeMap<u64, (LogId<u64>, Bytes, u64)>,
    pub(super) vote: Option<Vote<u64>>,
    pub(super) committed: Option<LogId<u64>>,
    pub(super) purged: Option<LogId<u64>>,
}

/// A record as read back.
enum Record {
    Entry(u64, LogId<u64>, Bytes),
    Truncate(u64),
    Purge(LogId<u64>),
    Vote(Vote<u64>),
    Committed(Option<LogId<u64>>),
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn frame(body: &[u8]) -> io::Result<Vec<u8>> {
    let len = u32::try_from(body.len()).map_err(|_| invalid("log record over 4 GiB"))?;
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32(body).to_le_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

fn meta_body<T: serde::Serialize>(kind: u8, value: &T) -> io::Result<Vec<u8>> {
    let mut body = vec![kind];
    body.extend_from_slice(&encode(value).map_err(invalid)?);
    Ok(body)
}

fn entry_body(index: u64, log_id: &LogId<u64>, entry: &[u8]) -> io::Result<Vec<u8>> {
    let id = encode(log_id).map_err(invalid)?;
    let id_len = u16::try_from(id.len()).map_err(|_| invalid("log id too long"))?;
    let mut body = Vec::with_capacity(11 + id.len() + entry.len());
    body.push(ENTRY);
    body.extend_from_slice(&index.to_be_bytes());
    body.extend_from_slice(&id_len.to_le_bytes());
    body.extend_from_slice(&id);
    body.extend_from_slice(entry);
    Ok(body)
}

fn parse(body: &[u8]) -> io::Result<Record> {
    let (&kind, rest) = body.split_first().ok_or_else(|| invalid("empty record"))?;
    Ok(match kind {
        ENTRY => {
            let index = rest.get(..8).ok_or_else(|| invalid("short entry"))?;
            let index = u64::from_be_bytes(index.try_into().map_err(invalid)?);
            let id_len = rest.get(8..10).ok_or_else(|| invalid("short entry"))?;
            let id_len = usize::from(u16::from_le_bytes(id_len.try_into().map_err(invalid)?));
            let id = rest
                .get(10..10 + id_len)
                .ok_or_else(|| invalid("short entry"))?;
            let log_id = decode("log id", id).map_err(invalid)?;
            Record::Entry(index, log_id, Bytes::copy_from_slice(&rest[10 + id_len..]))
        }
        TRUNCATE => {
            let index = rest.get(..8).ok_or_else(|| invalid("short truncate"))?;
            Record::Truncate(u64::from_be_bytes(index.try_into().map_err(invalid)?))
        }
        PURGE => Record::Purge(decode("purge point", rest).map_err(invalid)?),
        VOTE => Record::Vote(decode("vote", rest).map_err(invalid)?),
        COMMITTED => Record::Committed(decode("committed log id", rest).map_err(invalid)?),
        other => return Err(invalid(format!("unknown log record kind {other}"))),
    })
}

fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

impl Wal {
    /// Whether a log file exists at `path` (else the caller may migrate an older log into it).
    pub(super) fn exists(path: &Path) -> bool {
        path.exists()
    }

    /// Opens and replays the log at `path`, cutting off a torn tail.
    pub(super) fn open(path: &Path) -> io::Result<Self> {
        let mut bytes = Vec::new();
        File::open(path)?.read_to_end(&mut bytes)?;
        let mut wal = Self {
            path: path.to_owned(),
            file: Arc::new(OpenOptions::new().append(true).open(path)?),
            len: 0,
            dead: 0,
            entries: BTreeMap::new(),
            vote: None,
            committed: None,
            purged: None,
        };
        let mut at = 0usize;
        while let Some(header) = bytes.get(at..at + 8) {
            let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
            let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            let Ok(len) = usize::try_from(len) else { break };
            let Some(body) = bytes.get(at + 8..at + 8 + len) else {
                break;
            };
            if len == 0 || crc32(body) != crc {
                break;
            }
            // A whole record that does not parse was written by a newer release: refuse it
            // rather than cut it off as if it were torn.
            wal.replay(parse(body)?, 8 + len as u64);
            at += 8 + len;
        }
        wal.len = at as u64;
        if wal.len < bytes.len() as u64 {
            tracing::warn!(path = %path.display(), kept = wal.len, "cutting a torn tail off the raft log");
            wal.file.set_len(wal.len)?;
            wal.file.sync_all()?;
        }
        Ok(wal)
    }

    fn replay(&mut self, record: Record, size: u64) {
        match record {
            Record::Entry(index, log_id, bytes) => {
                if let Some((_, _, old)) = self.entries.insert(index, (log_id, bytes, size)) {
                    self.dead += old;
                }
            }
            Record::Truncate(since) => {
                self.drop_entries(self.entries.range(since..).map(|(i, _)| *i).collect(), size)
            }
            Record::Purge(upto) => {
                let gone = self.entries.range(..=upto.index).map(|(i, _)| *i).collect();
                self.purged = Some(upto);
                self.drop_entries(gone, size);
            }
            Record::Vote(vote) => {
                self.vote = Some(vote);
                self.dead += size;
            }
            Record::Committed(committed) => {
                self.committed = committed;
                self.dead += size;
            }
        }
    }

    fn drop_entries(&mut self, indexes: Vec<u64>, size: u64) {
        for index in indexes {
            if let Some((_, _, old)) = self.entries.remove(&index) {
                self.dead += old;
            }
        }
        self.dead += size;
    }

    /// Writes a new, empty log at `path` holding `vote`, `committed`, `purged` and `entries`
    /// (an older store's log being moved here), durably, then opens it.
    pub(super) fn create(
        path: &Path,
        vote: Option<Vote<u64>>,
        committed: Option<LogId<u64>>,
        purged: Option<LogId<u64>>,
        entries: Vec<(LogId<u64>, Vec<u8>)>,
    ) -> io::Result<Self> {
        let mut image = Vec::new();
        if let Some(vote) = &vote {
            image.extend(frame(&meta_body(VOTE, vote)?)?);
        }
        image.extend(frame(&meta_body(COMMITTED, &committed)?)?);
        if let Some(purged) = &purged {
            image.extend(frame(&meta_body(PURGE, purged)?)?);
        }
        for (log_id, bytes) in &entries {
            image.extend(frame(&entry_body(log_id.index, log_id, bytes)?)?);
        }
        Self::replace(path, &image)?;
        Self::open(path)
    }

    /// Puts `image` at `path` atomically: a crash leaves the old file or the new one.
    fn replace(path: &Path, image: &[u8]) -> io::Result<()> {
        let tmp = path.with_extension("tmp");
        let mut file = File::create(&tmp)?;
        file.write_all(image)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(path)
    }

    fn write(&mut self, body: &[u8]) -> io::Result<u64> {
        let record = frame(body)?;
        (&*self.file).write_all(&record)?;
        self.len += record.len() as u64;
        Ok(record.len() as u64)
    }

    /// Appends `entry` (encoded) at its index; not durable until the file is synced.
    pub(super) fn append(&mut self, log_id: LogId<u64>, entry: Bytes) -> io::Result<()> {
        let size = self.write(&entry_body(log_id.index, &log_id, &entry)?)?;
        if let Some((_, _, old)) = self.entries.insert(log_id.index, (log_id, entry, size)) {
            self.dead += old;
        }
        Ok(())
    }

    /// Records a new vote; not durable until the file is synced.
    pub(super) fn save_vote(&mut self, vote: &Vote<u64>) -> io::Result<()> {
        let size = self.write(&meta_body(VOTE, vote)?)?;
        self.dead += size;
        self.vote = Some(*vote);
        Ok(())
    }

    /// Records the committed log id; not durable until the file is synced.
    pub(super) fn save_committed(&mut self, committed: Option<LogId<u64>>) -> io::Result<()> {
        let size = self.write(&meta_body(COMMITTED, &committed)?)?;
        self.dead += size;
        self.committed = committed;
        Ok(())
    }

    /// Removes the entries from `since` on; not durable until the file is synced.
    pub(super) fn truncate(&mut self, since: u64) -> io::Result<()> {
        let mut body = vec![TRUNCATE];
        body.extend_from_slice(&since.to_be_bytes());
        let size = self.write(&body)?;
        let gone = self.entries.range(since..).map(|(i, _)| *i).collect();
        self.drop_entries(gone, size);
        Ok(())
    }

    /// Removes the entries up to `upto`, and rewrites the file when mostly dead. The rewrite
    /// is durable; otherwise the purge is not until the file is synced.
    pub(super) fn purge(&mut self, upto: LogId<u64>) -> io::Result<()> {
        let size = self.write(&meta_body(PURGE, &upto)?)?;
        let gone = self.entries.range(..=upto.index).map(|(i, _)| *i).collect();
        self.purged = Some(upto);
        self.drop_entries(gone, size);
        if self.dead >= REWRITE_AFTER && self.dead > self.len.saturating_sub(self.dead) {
            self.rewrite()?;
        }
        Ok(())
    }

    fn rewrite(&mut self) -> io::Result<()> {
        let entries = self
            .entries
            .values()
            .map(|(id, bytes, _)| (*id, bytes.to_vec()))
            .collect();
        let fresh = Self::create(&self.path, self.vote, self.committed, self.purged, entries)?;
        *self = fresh;
        Ok(())
    }
}

/// CRC-32 (IEEE), enough to tell a torn write from a whole record.
fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0usize;
        let mut c0 = 0u32;
        while i < 256 {
            let mut c = c0;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
            c0 += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[usize::from(crc.to_le_bytes()[0] ^ b)] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(index: u64) -> LogId<u64> {
        LogId::new(openraft::CommittedLeaderId::new(1, 1), index)
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_appends_follow_the_last_whole_record() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("raft-log");
        let mut wal = Wal::create(&path, None, None, None, Vec::new()).unwrap();
        wal.append(id(1), Bytes::from_static(b"one")).unwrap();
        wal.append(id(2), Bytes::from_static(b"two")).unwrap();
        let whole = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&[9, 0, 0, 0, 1, 2])
            .unwrap();
        let mut wal = Wal::open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        wal.append(id(3), Bytes::from_static(b"three")).unwrap();
        let wal = Wal::open(&path).unwrap();
        assert_eq!(wal.entries.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    }

    #[test]
    fn a_purge_that_leaves_the_file_mostly_dead_rewrites_it_with_the_live_records() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("raft-log");
        let mut wal = Wal::create(&path, Some(Vote::new(2, 1)), None, None, Vec::new()).unwrap();
        for i in 1..=10 {
            wal.append(id(i), Bytes::from(vec![b'x'; 1 << 20])).unwrap();
        }
        wal.purge(id(9)).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() < 2 << 20);
        wal.append(id(11), Bytes::from_static(b"after")).unwrap();
        let wal = Wal::open(&path).unwrap();
        assert_eq!(wal.entries.keys().copied().collect::<Vec<_>>(), [10, 11]);
        assert_eq!(wal.purged, Some(id(9)));
        assert_eq!(wal.vote, Some(Vote::new(2, 1)));
    }

    #[test]
    fn truncate_purge_and_votes_replay_in_order() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("raft-log");
        let mut wal = Wal::create(&path, None, None, None, Vec::new()).unwrap();
        for i in 1..=5 {
            wal.append(id(i), Bytes::from(vec![b'x'; 10])).unwrap();
        }
        wal.truncate(4).unwrap();
        wal.append(id(4), Bytes::from_static(b"new four")).unwrap();
        wal.purge(id(2)).unwrap();
        wal.save_vote(&Vote::new(3, 1)).unwrap();
        wal.save_committed(Some(id(3))).unwrap();
        let wal = Wal::open(&path).unwrap();
        assert_eq!(wal.entries.keys().copied().collect::<Vec<_>>(), [3, 4]);
        assert_eq!(&wal.entries[&4].1[..], b"new four");
        assert_eq!(wal.purged, Some(id(2)));
        assert_eq!(wal.vote, Some(Vote::new(3, 1)));
        assert_eq!(wal.committed, Some(id(3)));
    }
}
