//! Keeping a swarm network's copy on this node while a standalone container is about to use
//! it. A worker fetches the copy at create, start and connect, and the session's sync removes
//! copies no local endpoint uses: between the fetch and the endpoint's record, the copy looked
//! unused, went, and the start failed with `network … not found`. A hold, taken under the
//! changes lock, keeps it; the sync's removal checks holds and endpoints under the same lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::manager::Networks;
use super::types::NetworkRecord;
use crate::error::Result;

/// Network ids held, with how many holds each has.
#[derive(Debug, Default, Clone)]
pub struct CopyHolds(Arc<Mutex<HashMap<String, usize>>>);

impl CopyHolds {
    fn take(&self, id: &str) -> CopyHold {
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.to_string())
            .or_default() += 1;
        CopyHold {
            id: id.to_string(),
            holds: self.clone(),
        }
    }

    fn is_held(&self, id: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(id)
    }
}

/// Keeps one network's copy while it lives.
#[derive(Debug)]
pub struct CopyHold {
    id: String,
    holds: CopyHolds,
}

impl Drop for CopyHold {
    fn drop(&mut self) {
        let mut map = self.holds.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.id);
            }
        }
    }
}

impl Networks {
    /// Holds network `key` when this node has it (`None` when it does not).
    pub async fn hold_network(&self, key: &str) -> Result<Option<CopyHold>> {
        let _g = self.changes.lock().await;
        Ok(self.find(key)?.map(|n| self.holds.take(&n.id)))
    }

    /// Records a swarm network's copy fetched from the managers, and holds it.
    pub async fn keep_fetched_copy(&self, rec: &NetworkRecord) -> Result<CopyHold> {
        let _g = self.changes.lock().await;
        self.ensure_overlay(rec)?;
        Ok(self.holds.take(&rec.id))
    }

    /// Removes the copy of swarm network `id` unless a local endpoint uses it or it is held;
    /// whether it went.
    pub(crate) async fn remove_unused_copy(&self, id: &str) -> Result<bool> {
        let _g = self.changes.lock().await;
        let Some(n) = self.find(id)?.filter(|n| n.vni.is_some()) else {
            return Ok(false);
        };
        if self.holds.is_held(&n.id) || !self.endpoints_on(&n.id)?.is_empty() {
            return Ok(false);
        }
        self.remove_locked(&n).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn copy(id: &str) -> NetworkRecord {
        NetworkRecord {
            id: id.into(),
            name: format!("net-{id}"),
            driver: "overlay".into(),
            subnet: "10.0.9.0/24".into(),
            gateway: "10.0.9.1".into(),
            vni: Some(4097),
            ..NetworkRecord::default()
        }
    }

    #[tokio::test]
    async fn a_held_copy_stays_until_its_last_hold_goes() {
        let store = Store::temporary().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let nets = Networks::open(
            &store,
            crate::network::NetConfig::default(),
            dir.path().into(),
            None,
        )
        .unwrap();
        let first = nets.keep_fetched_copy(&copy("aaa")).await.unwrap();
        let second = nets.hold_network("net-aaa").await.unwrap().unwrap();
        assert!(nets.hold_network("nosuch").await.unwrap().is_none());
        // What the session's sync does with a copy no endpoint uses.
        nets.remove_overlay_copies(|_| true).await;
        assert!(nets.find("aaa").unwrap().is_some(), "held: kept");
        drop(first);
        nets.remove_overlay_copies(|_| true).await;
        assert!(nets.find("aaa").unwrap().is_some(), "still held once");
        drop(second);
        nets.remove_overlay_copies(|_| true).await;
        assert!(
            nets.find("aaa").unwrap().is_none(),
            "unheld and unused: gone"
        );
    }
}
