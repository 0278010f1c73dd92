//! The owner lock: a cluster holds an exclusive `flock` on `<base>/<prefix>.lock` from before
//! it creates anything until after it removed everything, so a sweeper can tell a live
//! cluster (lock held) from the leftovers of a killed run (lock free or file gone).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::ClusterError;

/// An exclusive lock on a lock file.
#[derive(Debug)]
pub struct OwnerLock {
    lock: Flock<File>,
    path: PathBuf,
}

/// Whether the open file is still the one at `path` (not unlinked by a sweeper meanwhile).
fn is_current(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl OwnerLock {
    /// Creates the lock file (it must not exist) and locks it. `Ok(None)` when the name is
    /// taken or a sweeper got in between: pick another prefix.
    pub fn create(path: &Path) -> Result<Option<Self>, ClusterError> {
        let file = match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
            Err(e) => return Err(ClusterError::io("create lock", path)(e)),
        };
        Ok(Self::lock_current(file, path))
    }

    /// Locks an existing lock file whose owner is gone. `None` while its owner lives (or the
    /// file went away meanwhile).
    pub fn claim(path: &Path) -> Option<Self> {
        let file = File::open(path).ok()?;
        Self::lock_current(file, path)
    }

    fn lock_current(file: File, path: &Path) -> Option<Self> {
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).ok()?;
        // Between open and flock another party may have locked, cleaned and unlinked it.
        is_current(&lock, path).then(|| OwnerLock {
            lock,
            path: path.to_path_buf(),
        })
    }

    /// Unlinks the lock file, then unlocks: call once everything the lock guarded is gone.
    pub fn release(self) {
        let _ = std::fs::remove_file(&self.path);
        drop(self.lock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "berth-chaos-lock-{name}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ))
    }

    #[test]
    fn a_held_lock_cannot_be_claimed_and_a_released_one_is_gone() {
        let p = temp_path("held");
        let lock = OwnerLock::create(&p).unwrap().unwrap();
        assert!(OwnerLock::create(&p).unwrap().is_none());
        assert!(OwnerLock::claim(&p).is_none());
        lock.release();
        assert!(!p.exists());
        assert!(OwnerLock::claim(&p).is_none());
    }

    #[test]
    fn an_unheld_lock_file_is_claimed() {
        let p = temp_path("dead");
        std::fs::write(&p, b"").unwrap();
        let claimed = OwnerLock::claim(&p).unwrap();
        claimed.release();
        assert!(!p.exists());
    }
}
