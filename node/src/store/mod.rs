//! Typed records in sled: one database per daemon under the data root, one tree per kind of
//! object. Every write is flushed before it returns, so a SIGKILL never loses an acknowledged change.
//! Every write first asks the database's free-space guard (`berth_raft::space`): sled 0.34
//! meeting ENOSPC refused every later write until berthd restarted (and could corrupt the
//! database), so on a full disk the write is refused before sled sees it, naming the disk,
//! and writes work again as soon as space is freed. A removal still goes while sled's file
//! has preallocated room past its end (it needs no free block): `rm` and `rmi` free space.

use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

use berth_raft::space::{Renew, Space};

use crate::error::{EngineError, Result};

mod cached;
pub use cached::Cached;

/// The daemon's state database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    space: Option<Space>,
}

/// One tree of JSON records keyed by string.
#[derive(Clone)]
pub struct Records {
    tree: sled::Tree,
    /// `None` for a temporary database (memory only).
    space: Option<Space>,
}

impl Store {
    /// Opens (or creates) the database at `<data_root>/state.db`.
    pub fn open(data_root: &Path) -> Result<Self> {
        let path = data_root.join("state.db");
        let space = Space::open("berthd's state store", &path, Renew::Yes)
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        let db = sled::Config::new().path(&path).cache_capacity(4 * 1024 * 1024).open().map_err(|e| match e {
            sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => EngineError::Internal(format!(
                "another berthd is using the data root {}: stop it or give this one another --data-root",
                data_root.display()
            )),
            other => EngineError::Store(other),
        })?;
        space.preallocate();
        Ok(Store {
            db,
            space: Some(space),
        })
    }

    /// A temporary database, for tests.
    pub fn temporary() -> Result<Self> {
        Ok(Store {
            db: sled::Config::new().temporary(true).open()?,
            space: None,
        })
    }

    /// The tree called `name`.
    pub fn records(&self, name: &str) -> Result<Records> {
        Ok(Records {
            tree: self.db.open_tree(name)?,
            space: self.space.clone(),
        })
    }
}

impl Records {
    /// Refuses a write of `bytes` that would leave the disk below the guard's floor.
    fn room(&self, bytes: usize) -> Result<()> {
        match &self.space {
            Some(space) => space
                .check(bytes as u64)
                .map_err(|e| EngineError::Internal(e.to_string())),
            None => Ok(()),
        }
    }

    /// Reads one record; `None` when the key is absent.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.tree.get(key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|source| {
                EngineError::CorruptRecord {
                    key: key.to_string(),
                    source,
                }
            }),
        }
    }

    /// Writes one record and flushes it to disk.
    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.room(key.len() + bytes.len())?;
        self.tree.insert(key, bytes)?;
        self.tree.flush()?;
        Ok(())
    }

    /// Inserts `key` only if absent; returns false when it was already taken.
    pub fn put_new<T: Serialize>(&self, key: &str, value: &T) -> Result<bool> {
        let bytes = serde_json::to_vec(value).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.room(key.len() + bytes.len())?;
        let swapped = self
            .tree
            .compare_and_swap(key, None as Option<&[u8]>, Some(bytes))?;
        self.tree.flush()?;
        Ok(swapped.is_ok())
    }

    /// Removes one record and flushes.
    pub fn remove(&self, key: &str) -> Result<()> {
        // Also on a full disk (within the preallocated headroom): removing frees space.
        if let Some(space) = &self.space {
            space
                .check_remove()
                .map_err(|e| EngineError::Internal(e.to_string()))?;
        }
        self.tree.remove(key)?;
        self.tree.flush()?;
        Ok(())
    }

    /// Every record, in key order. Corrupt records are reported, not skipped.
    pub fn all<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>> {
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (k, v) = item?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let value =
                serde_json::from_slice(&v).map_err(|source| EngineError::CorruptRecord {
                    key: key.clone(),
                    source,
                })?;
            out.push((key, value));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_new_refuses_a_taken_key() {
        let store = Store::temporary().unwrap();
        let names = store.records("names").unwrap();
        assert!(names.put_new("web", &"id1").unwrap());
        assert!(!names.put_new("web", &"id2").unwrap());
        assert_eq!(names.get::<String>("web").unwrap().as_deref(), Some("id1"));
    }

    #[test]
    fn records_round_trip_and_remove() {
        let store = Store::temporary().unwrap();
        let recs = store.records("c").unwrap();
        recs.put("a", &vec![1, 2]).unwrap();
        assert_eq!(
            recs.all::<Vec<i32>>().unwrap(),
            vec![("a".to_string(), vec![1, 2])]
        );
        recs.remove("a").unwrap();
        assert!(recs.get::<Vec<i32>>("a").unwrap().is_none());
    }

    /// Fills the filesystem of `dir` until ENOSPC; the filler's path.
    fn fill(dir: &Path) -> std::path::PathBuf {
        use std::io::Write;
        let path = dir.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        for chunk in [1usize << 20, 4096, 1] {
            let block = vec![0xa5u8; chunk];
            while matches!(file.write(&block), Ok(n) if n > 0) {}
        }
        path
    }

    #[test]
    fn a_write_on_a_full_disk_is_refused_naming_it_and_writes_work_once_space_is_freed() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        let dir = tempfile::TempDir::new().unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            dir.path(),
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=32m"),
        )
        .unwrap();
        struct Unmount<'a>(&'a Path);
        impl Drop for Unmount<'_> {
            fn drop(&mut self) {
                let _ = nix::mount::umount2(self.0, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let _unmount = Unmount(dir.path());
        let store = Store::open(dir.path()).unwrap();
        let recs = store.records("containers").unwrap();
        recs.put("before", &"x".repeat(4096)).unwrap();
        let filler = fill(dir.path());
        let refused = recs.put("full", &"y".repeat(4096)).unwrap_err().to_string();
        assert!(
            refused.contains("no space left on device") && refused.contains("state.db"),
            "{refused}"
        );
        // A removal still goes (docker rm frees space), into sled's preallocated headroom.
        recs.remove("before").unwrap();
        std::fs::remove_file(filler).unwrap();
        // The same store, not reopened: sled never saw the full disk.
        recs.put("after", &"z".repeat(4096)).unwrap();
        let keys: Vec<String> = recs
            .all::<String>()
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["after"]);
        drop(recs);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let recs = store.records("containers").unwrap();
        assert_eq!(
            recs.get::<String>("after").unwrap().map(|s| s.len()),
            Some(4096)
        );
    }
}
