//! The free-space guard of a sled database (the Raft store's, and the engine's state store).
//! sled 0.34 does not survive a write failing with ENOSPC: it keeps a global error (every
//! later call fails until it is reopened) and, as its write buffers go out concurrently, a
//! failed one can leave a hole before a later one that made it to disk, which it then reads
//! back as "Read corrupted data" at every reopen, also once space is free (found by
//! `chaos_disk`, about one run in four). So a full disk must never reach sled:
//!
//! - every write asks `check` first, with its size: below `FLOOR` bytes free after it, it is
//!   refused with an error naming the directory and sled is not called. openraft stops the
//!   member on that error, and the swarm's `raft_watch` reopens the store once space is back
//!   (`open` refuses while less than `RESUME` is free); the engine answers the request with
//!   it and takes writes again once `RESUME` is free (`Renew::Yes`);
//! - a check alone races with another writer (a runaway one fills a small disk within
//!   milliseconds, between the check and sled's write): the check also keeps `HEADROOM`
//!   bytes allocated past the end of sled's log file (`fallocate` with KEEP_SIZE, so the
//!   length sled reads is unchanged), where sled's next writes land without needing a block;
//! - what sled already holds unflushed needs room for its other files too: a `RESERVE`-byte
//!   file is kept in the database's directory and removed as soon as the disk is seen below
//!   the floor (by a check, or by the watcher every `WATCH`); from then on the guard refuses
//!   every write (the Raft store until it is reopened; the engine's until the reserve could be
//!   laid down again).
//!
//! Sizes: a follower's log append is at most `MAX_APPEND_BYTES` (256 KiB) of entries, a
//! leader's one proposal (up to 256 transactions, usually far smaller), or a snapshot (checked with twice its size: sled keeps the old one until the new
//! one is written); the engine's records are a few KiB. sled writes in buffers of one segment
//! (512 KiB), a few at once, and may start a new segment for any write: `HEADROOM` (8 MiB,
//! topped up below half) covers a write and the segments in flight; `FLOOR` (4 MiB) leaves
//! room for sled's other files. Values over ~128 KiB go to a file of their own (a blob) and
//! are covered by the floor only.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Bytes that must stay free under the store after a write.
pub const FLOOR: u64 = 4 << 20;

/// Bytes that must be free to open, or (plus the write) to take writes again after the
/// reserve went: more than the reserves released (the Raft store's and the engine's share a
/// data root) give back, so a disk that only holds them does not count as freed.
pub const RESUME: u64 = FLOOR + 2 * RESERVE;

/// Size of the reserve file released for sled's last flush when the disk fills up.
pub const RESERVE: u64 = 4 << 20;

/// The reserve file's name in the database's directory (sled reads only its own files there).
const RESERVE_FILE: &str = "berth-space-reserve";

/// sled 0.34's one log file in its directory.
const SLED_FILE: &str = "db";

/// Bytes kept allocated past the end of sled's file.
pub const HEADROOM: u64 = 8 << 20;

/// Headroom past the end of sled's file that lets a removal go on a full disk (`check_remove`).
pub const REMOVE_HEADROOM: u64 = 2 << 20;

/// How often the watcher looks at the free space.
const WATCH: Duration = Duration::from_millis(100);

/// What the guard does once space is back after it released its reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renew {
    /// Keeps refusing: the owner reopens the database (openraft stops the member anyway).
    No,
    /// Lays the reserve down again and takes writes.
    Yes,
}

/// The guard of one open database; clones share it.
#[derive(Debug, Clone)]
pub struct Space {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// What is guarded, for the messages ("the Raft store").
    what: &'static str,
    renew: Renew,
    dir: PathBuf,
    reserve: PathBuf,
    /// Set once the disk was seen full: the reserve is gone and nothing more is written.
    spent: AtomicBool,
}

/// Bytes available to an unprivileged writer on the filesystem holding `dir`.
pub fn available(dir: &Path) -> std::io::Result<u64> {
    let st = nix::sys::statvfs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok(st.blocks_available().saturating_mul(st.fragment_size()))
}

/// The error for a write (or an open) refused for want of space.
fn full(what: &str, dir: &Path, free: u64, need: u64) -> std::io::Error {
    std::io::Error::new(
        ErrorKind::StorageFull,
        format!(
            "no space left on device for {what} in {}: {free} bytes free, {need} needed \
             (a {FLOOR}-byte floor is kept free); nothing is written until space is freed",
            dir.display()
        ),
    )
}

impl Space {
    /// The guard for the database in `dir` (created if missing), called `what` in messages:
    /// refuses (before sled opens anything) while less than `RESUME` is free, then lays the
    /// reserve down if there is room for it (without one, the floor still keeps writes off a
    /// full disk) and, within a tokio runtime, starts the watcher.
    pub fn open(what: &'static str, dir: &Path, renew: Renew) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let free = available(dir)?;
        if free < RESUME {
            return Err(full(what, dir, free, RESUME));
        }
        let inner = Inner {
            what,
            renew,
            dir: dir.to_path_buf(),
            reserve: dir.join(RESERVE_FILE),
            spent: AtomicBool::new(false),
        };
        inner.lay_reserve(free);
        let space = Self {
            inner: Arc::new(inner),
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(watch(Arc::downgrade(&space.inner)));
        }
        Ok(space)
    }

    /// Whether `bytes` more may be written: an error (and the reserve released) when the
    /// disk would go below the floor, or once it has been seen there.
    pub fn check(&self, bytes: u64) -> std::io::Result<()> {
        let inner = &self.inner;
        let need = FLOOR.saturating_add(bytes);
        let free = available(&inner.dir)?;
        if inner.spent.load(Ordering::SeqCst) {
            let back = inner.renew == Renew::Yes && free >= RESUME.saturating_add(bytes);
            if !back || !inner.lay_reserve(free) {
                return Err(full(inner.what, &inner.dir, free, need));
            }
            inner.spent.store(false, Ordering::SeqCst);
            tracing::info!(dir = %inner.dir.display(), free, "space is back for {}", inner.what);
        }
        if free < need {
            inner.release(free);
            return Err(full(inner.what, &inner.dir, free, need));
        }
        if let Err(e) = inner.preallocate(bytes) {
            if e.kind() == ErrorKind::StorageFull {
                inner.release(free);
                return Err(full(inner.what, &inner.dir, free, need));
            }
            tracing::warn!(error = %e, "preallocating the file of {}", inner.what);
        }
        Ok(())
    }

    /// Whether a record's removal may go on a full disk: it is a few bytes that land in the
    /// headroom already allocated past the end of sled's file, so it needs no free block,
    /// and refusing it would keep `docker rm` and `rmi` from freeing the disk. Below
    /// `REMOVE_HEADROOM` left there, as `check(0)`.
    pub fn check_remove(&self) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let ahead = std::fs::metadata(self.inner.dir.join(SLED_FILE))
            .map(|m| m.blocks().saturating_mul(512).saturating_sub(m.len()))
            .unwrap_or(0);
        if ahead >= REMOVE_HEADROOM {
            return Ok(());
        }
        self.check(0)
    }

    /// Allocates the headroom of the database file now (once sled made it, after `open`).
    pub fn preallocate(&self) {
        if let Err(e) = self.inner.preallocate(0) {
            tracing::warn!(error = %e, "preallocating the file of {}", self.inner.what);
        }
    }
}

impl Inner {
    /// Makes sure the blocks past the end of sled's file are allocated for `HEADROOM` plus
    /// `bytes` (KEEP_SIZE: the file's length, which sled reads, does not change): sled's
    /// writes land there, so a disk filled by someone else between this check and sled's
    /// write (a runaway writer fills a small disk in milliseconds) cannot fail them. sled
    /// never punches holes; it cuts its file only when it opens it.
    fn preallocate(&self, bytes: u64) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let path = self.dir.join(SLED_FILE);
        let file = match std::fs::OpenOptions::new().write(true).open(&path) {
            Ok(f) => f,
            // Not made yet (sled creates it when it opens).
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let want = HEADROOM.saturating_add(bytes);
        let ahead = meta.blocks().saturating_mul(512).saturating_sub(meta.len());
        if ahead >= want / 2 + bytes {
            return Ok(());
        }
        let flags = nix::fcntl::FallocateFlags::FALLOC_FL_KEEP_SIZE;
        let (offset, len) = (meta.len(), want);
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return Ok(());
        };
        nix::fcntl::fallocate(&file, flags, offset, len).map_err(std::io::Error::from)
    }

    /// Lays the reserve down (a partial one is completed) if the disk has room for it above
    /// the floor; whether it is in place.
    fn lay_reserve(&self, free: u64) -> bool {
        let held = std::fs::metadata(&self.reserve).map_or(0, |m| m.len());
        if held >= RESERVE {
            return true;
        }
        if free < FLOOR + RESERVE - held {
            tracing::warn!(
                dir = %self.dir.display(),
                free,
                "too little space for the {RESERVE}-byte reserve of {}; going without", self.what
            );
            return false;
        }
        match write_reserve(&self.reserve) {
            Ok(()) => true,
            Err(e) => {
                // Another writer took the space meanwhile: the floor still protects sled.
                let _ = std::fs::remove_file(&self.reserve);
                tracing::warn!(error = %e, "writing the reserve of {}", self.what);
                false
            }
        }
    }

    /// Gives the reserve back to the filesystem, once, for sled's pending flush.
    fn release(&self, free: u64) {
        if self.spent.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::error!(
            dir = %self.dir.display(),
            free,
            "the disk of {} is full: its reserve is released for the last flush; \
             no more writes until space is freed",
            self.what
        );
        if let Err(e) = std::fs::remove_file(&self.reserve) {
            if e.kind() != ErrorKind::NotFound {
                tracing::warn!(error = %e, "removing the reserve of {}", self.what);
            }
        }
    }
}

/// Writes the reserve with real blocks (a sparse file would hold no space).
fn write_reserve(path: &Path) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    // Whole 1 MiB blocks: RESERVE is a multiple of them.
    let block = vec![0u8; 1 << 20];
    for _ in 0..RESERVE >> 20 {
        file.write_all(&block)?;
    }
    file.sync_all()
}

/// Releases the reserve as soon as the disk is below the floor, even with no write coming
/// (sled flushes what it holds every half second); ends with the store.
async fn watch(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(WATCH).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if inner.spent.load(Ordering::SeqCst) {
            // Spent for good, or until a write finds space back (`check`).
            if inner.renew == Renew::No {
                return;
            }
            continue;
        }
        if let Ok(free) = available(&inner.dir) {
            if free < FLOOR {
                inner.release(free);
            }
        }
    }
}
