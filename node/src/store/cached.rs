//! A tree of records kept in memory as well as in sled, for the records read far more often
//! than written: a list of 1,000 containers reads each one's, and decoding them from sled on
//! every read made the read cost grow with every record. Writes go to sled first (flushed),
//! so memory never holds what the disk does not.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::{de::DeserializeOwned, Serialize};

use super::Records;
use crate::error::{EngineError, Result};

/// One tree's records, on disk and in memory. Clones share the memory copy; a record read is
/// shared too (`Arc`), not copied.
pub struct Cached<T> {
    records: Records,
    map: Arc<RwLock<BTreeMap<String, Arc<T>>>>,
    /// Held from the disk write to the memory one, so two writers of a key leave memory as
    /// the disk (readers never wait for a flush).
    writing: Arc<Mutex<()>>,
}

impl<T> Clone for Cached<T> {
    fn clone(&self) -> Self {
        Cached {
            records: self.records.clone(),
            map: Arc::clone(&self.map),
            writing: Arc::clone(&self.writing),
        }
    }
}

fn poisoned() -> EngineError {
    EngineError::Internal("record cache poisoned".into())
}

impl<T: Serialize + DeserializeOwned + Clone> Cached<T> {
    /// Reads every record of `records` into memory.
    pub fn open(records: Records) -> Result<Self> {
        let map = records
            .all::<T>()?
            .into_iter()
            .map(|(k, v)| (k, Arc::new(v)))
            .collect();
        Ok(Cached {
            records,
            map: Arc::new(RwLock::new(map)),
            writing: Arc::default(),
        })
    }

    /// Writes one record (flushed) and keeps it in memory.
    pub fn put(&self, key: &str, value: &T) -> Result<()> {
        let _w = self.writing.lock().map_err(|_| poisoned())?;
        self.records.put(key, value)?;
        self.map
            .write()
            .map_err(|_| poisoned())?
            .insert(key.to_string(), Arc::new(value.clone()));
        Ok(())
    }

    /// Removes one record.
    pub fn remove(&self, key: &str) -> Result<()> {
        let _w = self.writing.lock().map_err(|_| poisoned())?;
        self.records.remove(key)?;
        self.map.write().map_err(|_| poisoned())?.remove(key);
        Ok(())
    }

    /// One record; `None` when the key is absent.
    pub fn get(&self, key: &str) -> Result<Option<Arc<T>>> {
        Ok(self.map.read().map_err(|_| poisoned())?.get(key).cloned())
    }

    /// What `f` makes of the records, in key order, read under the lock.
    pub fn read<R>(&self, f: impl FnOnce(&BTreeMap<String, Arc<T>>) -> R) -> Result<R> {
        let map = self.map.read().map_err(|_| poisoned())?;
        Ok(f(&map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn reads_see_writes_and_a_reopened_table_sees_what_the_disk_has() {
        let store = Store::temporary().unwrap();
        let t: Cached<Vec<u32>> = Cached::open(store.records("t").unwrap()).unwrap();
        t.put("a", &vec![1]).unwrap();
        t.put("b", &vec![2]).unwrap();
        t.put("a", &vec![3]).unwrap();
        t.remove("b").unwrap();
        t.remove("never").unwrap();
        assert_eq!(t.get("a").unwrap().as_deref(), Some(&vec![3]));
        assert_eq!(t.get("b").unwrap(), None);
        let again: Cached<Vec<u32>> = Cached::open(store.records("t").unwrap()).unwrap();
        assert_eq!(
            again.read(|m| m.clone()).unwrap(),
            t.read(|m| m.clone()).unwrap()
        );
        // Clones share the memory copy.
        let other = t.clone();
        other.put("c", &vec![4]).unwrap();
        assert_eq!(t.get("c").unwrap().as_deref(), Some(&vec![4]));
    }
}
