//! A tree of records kept in memory as well as in sled, for the records read far more often
//! than written: a list of 1,000 containers reads each one's, and decoding them from sled on
//! every read made the read cost grow with every record. Writes go to sled first (flushed),
//! so memory never holds what the disk does not.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::{de::DeserializeOwned, Serialize};

use super::Records;
use crate::error::{EngineError, Result};

/// One tree's records, on disk and in memory. Clones share the memory copy; a record read is
/// shared too (`Arc`), not copied.
pub struct Cached<T> {
    records: Records,
    memory: Arc<RwLock<Memory<T>>>,
    /// Picks out the records `marked` returns (see `open_marking`).
    mark: fn(&T) -> bool,
    /// Held from the disk write to the memory one, so two writers of a key leave memory as
    /// the disk (readers never wait for a flush).
    writing: Arc<Mutex<()>>,
    /// Counts the writes, each after its memory change (`version`).
    writes: Arc<AtomicU64>,
}

struct Memory<T> {
    all: BTreeMap<String, Arc<T>>,
    /// Keys of the records `mark` picks out.
    marked: BTreeSet<String>,
}

impl<T> Clone for Cached<T> {
    fn clone(&self) -> Self {
        Cached {
            records: self.records.clone(),
            memory: Arc::clone(&self.memory),
            mark: self.mark,
            writing: Arc::clone(&self.writing),
            writes: Arc::clone(&self.writes),
        }
    }
}

fn poisoned() -> EngineError {
    EngineError::Internal("record cache poisoned".into())
}

impl<T: Serialize + DeserializeOwned + Clone> Cached<T> {
    /// Reads every record of `records` into memory.
    pub fn open(records: Records) -> Result<Self> {
        Self::open_marking(records, |_| false)
    }

    /// As `open`, also keeping the keys of the records `mark` picks out, so `marked` finds a
    /// few among thousands without reading them all.
    pub fn open_marking(records: Records, mark: fn(&T) -> bool) -> Result<Self> {
        let all: BTreeMap<String, Arc<T>> = records
            .all::<T>()?
            .into_iter()
            .map(|(k, v)| (k, Arc::new(v)))
            .collect();
        let marked = all
            .iter()
            .filter(|(_, v)| mark(v))
            .map(|(k, _)| k.clone())
            .collect();
        Ok(Cached {
            records,
            memory: Arc::new(RwLock::new(Memory { all, marked })),
            mark,
            writing: Arc::default(),
            writes: Arc::default(),
        })
    }

    /// Writes one record (flushed) and keeps it in memory.
    pub fn put(&self, key: &str, value: &T) -> Result<()> {
        let _w = self.writing.lock().map_err(|_| poisoned())?;
        self.records.put(key, value)?;
        let mut m = self.memory.write().map_err(|_| poisoned())?;
        if (self.mark)(value) {
            m.marked.insert(key.to_string());
        } else {
            m.marked.remove(key);
        }
        m.all.insert(key.to_string(), Arc::new(value.clone()));
        self.writes.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Removes one record.
    pub fn remove(&self, key: &str) -> Result<()> {
        let _w = self.writing.lock().map_err(|_| poisoned())?;
        self.records.remove(key)?;
        let mut m = self.memory.write().map_err(|_| poisoned())?;
        m.all.remove(key);
        m.marked.remove(key);
        self.writes.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Grows with every write, and only after the write shows in memory: what is read after
    /// it is at least as new as it, so a copy made of reads after a `version` is current
    /// while `version` still gives the same.
    pub fn version(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    /// One record; `None` when the key is absent.
    pub fn get(&self, key: &str) -> Result<Option<Arc<T>>> {
        let m = self.memory.read().map_err(|_| poisoned())?;
        Ok(m.all.get(key).cloned())
    }

    /// What `f` makes of the records, in key order, read under the lock.
    pub fn read<R>(&self, f: impl FnOnce(&BTreeMap<String, Arc<T>>) -> R) -> Result<R> {
        let m = self.memory.read().map_err(|_| poisoned())?;
        Ok(f(&m.all))
    }

    /// The records `mark` picks out, in key order.
    pub fn marked(&self) -> Result<Vec<Arc<T>>> {
        let m = self.memory.read().map_err(|_| poisoned())?;
        Ok(m.marked
            .iter()
            .filter_map(|k| m.all.get(k).cloned())
            .collect())
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

    #[test]
    fn the_marked_records_follow_every_write_and_a_reopening() {
        let store = Store::temporary().unwrap();
        let long = |v: &Vec<u32>| v.len() > 1;
        let t = Cached::open_marking(store.records("t").unwrap(), long).unwrap();
        let marked = |t: &Cached<Vec<u32>>| -> Vec<Vec<u32>> {
            t.marked().unwrap().iter().map(|v| (**v).clone()).collect()
        };
        t.put("a", &vec![1, 2]).unwrap();
        t.put("b", &vec![3]).unwrap();
        t.put("c", &vec![4, 5]).unwrap();
        assert_eq!(marked(&t), [vec![1, 2], vec![4, 5]]);
        // A record rewritten without the mark loses it; one gaining it gets it.
        t.put("a", &vec![1]).unwrap();
        t.put("b", &vec![3, 3]).unwrap();
        t.remove("c").unwrap();
        assert_eq!(marked(&t), [vec![3, 3]]);
        let again = Cached::open_marking(store.records("t").unwrap(), long).unwrap();
        assert_eq!(marked(&again), [vec![3, 3]]);
        // Unmarked tables mark nothing.
        let plain: Cached<Vec<u32>> = Cached::open(store.records("t").unwrap()).unwrap();
        assert!(plain.marked().unwrap().is_empty());
    }
}
