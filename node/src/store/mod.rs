//! Typed records in sled: one database per daemon under the data root, one tree per kind of
//! object. Every write is flushed before it returns, so a SIGKILL never loses an acknowledged change.

use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

use crate::error::{EngineError, Result};

/// The daemon's state database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
}

/// One tree of JSON records keyed by string.
#[derive(Clone)]
pub struct Records {
    tree: sled::Tree,
}

impl Store {
    /// Opens (or creates) the database at `<data_root>/state.db`.
    pub fn open(data_root: &Path) -> Result<Self> {
        let path = data_root.join("state.db");
        let db = sled::Config::new().path(&path).cache_capacity(4 * 1024 * 1024).open().map_err(|e| match e {
            sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => EngineError::Internal(format!(
                "another berthd is using the data root {}: stop it or give this one another --data-root",
                data_root.display()
            )),
            other => EngineError::Store(other),
        })?;
        Ok(Store { db })
    }

    /// A temporary database, for tests.
    pub fn temporary() -> Result<Self> {
        Ok(Store {
            db: sled::Config::new().temporary(true).open()?,
        })
    }

    /// The tree called `name`.
    pub fn records(&self, name: &str) -> Result<Records> {
        Ok(Records {
            tree: self.db.open_tree(name)?,
        })
    }
}

impl Records {
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
        self.tree.insert(key, bytes)?;
        self.tree.flush()?;
        Ok(())
    }

    /// Inserts `key` only if absent; returns false when it was already taken.
    pub fn put_new<T: Serialize>(&self, key: &str, value: &T) -> Result<bool> {
        let bytes = serde_json::to_vec(value).map_err(|e| EngineError::Internal(e.to_string()))?;
        let swapped = self
            .tree
            .compare_and_swap(key, None as Option<&[u8]>, Some(bytes))?;
        self.tree.flush()?;
        Ok(swapped.is_ok())
    }

    /// Removes one record and flushes.
    pub fn remove(&self, key: &str) -> Result<()> {
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
}
