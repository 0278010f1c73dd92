//! What berth remembers about images on registries: for each layer (by diff id) the compressed
//! blobs known to hold it and where they were seen, so a push can skip a blob the registry has
//! or mount it from another repository; and each image's `repo@digest` names. Also the in-process
//! lock that makes concurrent pulls fetch a blob once.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::registry::RegistryConfig;
use super::{ImageRecord, ImageStore};
use crate::error::{EngineError, Result};

/// Remote blobs kept per layer; older ones are forgotten first.
const MAX_REMOTE_BLOBS: usize = 16;

/// A compressed (or plain) blob on a registry holding one layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct RemoteBlob {
    /// `sha256:<hex>` of the blob as stored on the registry.
    pub(super) digest: String,
    /// Its size in bytes.
    pub(super) size: u64,
    /// Its layer media type.
    pub(super) media_type: String,
    /// `host[:port]` of the registry.
    pub(super) registry: String,
    /// The repository it was seen in.
    pub(super) repository: String,
}

impl ImageStore {
    /// Sets how registries are reached (from the daemon config).
    pub fn set_registry_config(&self, cfg: RegistryConfig) -> Result<()> {
        *self
            .inner
            .registry
            .write()
            .map_err(|_| EngineError::Internal("registry config lock poisoned".into()))? = cfg;
        Ok(())
    }

    /// How registries are reached.
    pub fn registry_config(&self) -> Result<RegistryConfig> {
        self.inner
            .registry
            .read()
            .map(|c| c.clone())
            .map_err(|_| EngineError::Internal("registry config lock poisoned".into()))
    }

    /// The remote blobs known to hold layer `diff_id`, newest first.
    pub(super) fn remote_blobs(&self, diff_id: &str) -> Result<Vec<RemoteBlob>> {
        Ok(self.inner.remote.get(diff_id)?.unwrap_or_default())
    }

    /// Remembers that `blob` holds layer `diff_id`.
    pub(super) fn remember_blob(&self, diff_id: &str, blob: RemoteBlob) -> Result<()> {
        let _guard = self.lock()?;
        let mut known = self.remote_blobs(diff_id)?;
        known.retain(|b| b != &blob);
        known.insert(0, blob);
        known.truncate(MAX_REMOTE_BLOBS);
        self.inner.remote.put(diff_id, &known)
    }

    /// Forgets the remote blobs of a deleted layer. Caller holds the lock.
    pub(super) fn forget_blobs(&self, diff_id: &str) -> Result<()> {
        self.inner.remote.remove(diff_id)
    }

    /// Adds `repo@digest` to the image `id`'s repo digests, replacing an older digest of the
    /// same repository (a tag that moved).
    pub(super) fn add_repo_digest(&self, id: &str, repo_digest: &str) -> Result<()> {
        let _guard = self.lock()?;
        let Some(mut rec) = self.inner.images.get::<ImageRecord>(id)? else {
            return Ok(());
        };
        let repo = repo_digest.split('@').next().unwrap_or_default();
        rec.repo_digests
            .retain(|d| d.split('@').next() != Some(repo) || d == repo_digest);
        if !rec.repo_digests.iter().any(|d| d == repo_digest) {
            rec.repo_digests.push(repo_digest.to_string());
        }
        rec.repo_digests.sort();
        self.inner.images.put(id, &rec)
    }

    /// Waits until no other pull in this process is fetching blob `digest`, and holds it
    /// until the guard drops.
    pub(super) async fn fetch_lock(&self, digest: &str) -> Result<FetchGuard> {
        let lock = {
            let mut map = self
                .inner
                .fetching
                .lock()
                .map_err(|_| EngineError::Internal("fetch lock map poisoned".into()))?;
            map.entry(digest.to_string()).or_default().clone()
        };
        let guard = lock.clone().lock_owned().await;
        Ok(FetchGuard {
            store: self.clone(),
            digest: digest.to_string(),
            lock,
            _guard: guard,
        })
    }
}

/// Held while a blob is being fetched; removes its map entry when the last waiter is done.
pub(super) struct FetchGuard {
    store: ImageStore,
    digest: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for FetchGuard {
    fn drop(&mut self) {
        if let Ok(mut map) = self.store.inner.fetching.lock() {
            // The map, this guard's Arc and the owned guard's Arc: nobody else waits.
            if Arc::strong_count(&self.lock) <= 3 {
                map.remove(&self.digest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(digest: &str, repo: &str) -> RemoteBlob {
        RemoteBlob {
            digest: digest.into(),
            size: 1,
            media_type: "m".into(),
            registry: "r:5000".into(),
            repository: repo.into(),
        }
    }

    #[test]
    fn remote_blobs_are_remembered_newest_first_without_duplicates() {
        let (_dir, _db, images) = crate::engine::image::testutil::fresh_store();
        images
            .remember_blob("sha256:l", blob("sha256:a", "x"))
            .unwrap();
        images
            .remember_blob("sha256:l", blob("sha256:b", "y"))
            .unwrap();
        images
            .remember_blob("sha256:l", blob("sha256:a", "x"))
            .unwrap();
        let known = images.remote_blobs("sha256:l").unwrap();
        assert_eq!(known, vec![blob("sha256:a", "x"), blob("sha256:b", "y")]);
        let _g = images.lock().unwrap();
        images.forget_blobs("sha256:l").unwrap();
        assert!(images.remote_blobs("sha256:l").unwrap().is_empty());
    }

    #[tokio::test]
    async fn fetch_locks_serialise_one_digest_and_clean_up() {
        let (_dir, _db, images) = crate::engine::image::testutil::fresh_store();
        let g = images.fetch_lock("sha256:a").await.unwrap();
        let other = images.fetch_lock("sha256:b").await.unwrap();
        drop(other);
        let images2 = images.clone();
        let waiter = tokio::spawn(async move { images2.fetch_lock("sha256:a").await.map(drop) });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(g);
        waiter.await.unwrap().unwrap();
        assert!(images.inner.fetching.lock().unwrap().is_empty());
    }
}
