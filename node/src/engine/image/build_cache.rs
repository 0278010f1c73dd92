//! The images builds make, as the classic builder keeps them: every step's image is an image
//! of its own whose record names the image it was made from (`parent`), and the sled tree
//! `build-cache` remembers which image a step made from which parent, so the next build of
//! the same step is a cache hit. An untagged image that another image was built on is an
//! "intermediate" image: `docker images` hides it, deleting it is a conflict, deleting its last
//! child takes it too. Intermediate images (and dangling build results) are the build cache
//! that `system df` counts and `/build/prune` removes.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::{ImageConfigFile, ImageRecord, ImageStore};
use crate::error::{EngineError, Result};

fn entry_key(parent: &str, key: &str) -> String {
    // Bounded length whatever the parent: the tree is keyed by a digest of both.
    hex::encode(Sha256::digest(format!("{parent}\n{key}").as_bytes()))
}

impl ImageStore {
    /// Stores the image a build step made from `parent` (empty for `scratch`), its layers
    /// already stored, and remembers it under the step's cache `key` (none when empty, as for
    /// a commit).
    pub fn commit_child(
        &self,
        parent: &str,
        config: &ImageConfigFile,
        key: &str,
    ) -> Result<ImageRecord> {
        // The id is the hash of exactly these bytes, so serialise once and store them as is.
        let bytes = serde_json::to_vec(config).map_err(|e| EngineError::Internal(e.to_string()))?;
        let mut rec = self.commit(&bytes, config.clone(), &[])?;
        if !parent.is_empty() && rec.parent.as_deref() != Some(parent) {
            let _guard = self.lock()?;
            rec.parent = Some(parent.to_string());
            let stored = ImageRecord {
                repo_tags: Vec::new(),
                ..rec.clone()
            };
            self.inner.images.put(&rec.id, &stored)?;
        }
        if !key.is_empty() {
            self.inner
                .build_cache
                .put(&entry_key(parent, key), &rec.id)?;
        }
        Ok(rec)
    }

    /// The image a build made from `parent` with the step `key`, when it still exists.
    pub fn cached_child(&self, parent: &str, key: &str) -> Result<Option<String>> {
        let Some(id) = self
            .inner
            .build_cache
            .get::<String>(&entry_key(parent, key))?
        else {
            return Ok(None);
        };
        Ok(self.get(&id)?.map(|r| r.id))
    }

    /// How many images name each image as their parent.
    pub fn child_counts(&self) -> Result<HashMap<String, usize>> {
        let mut out = HashMap::new();
        for (_, rec) in self.inner.images.all::<ImageRecord>()? {
            if let Some(p) = rec.parent {
                *out.entry(p).or_insert(0) += 1;
            }
        }
        Ok(out)
    }

    /// Whether another image was built on `id`.
    pub(super) fn has_children(&self, id: &str) -> Result<bool> {
        Ok(self.child_counts()?.contains_key(id))
    }

    /// Makes the images built on `id` parentless (their history keeps its entries, without
    /// ids), so `id` can go (`docker builder prune --all`).
    pub fn detach_children(&self, id: &str) -> Result<()> {
        let _guard = self.lock()?;
        for (key, mut rec) in self.inner.images.all::<ImageRecord>()? {
            if rec.parent.as_deref() == Some(id) {
                rec.parent = None;
                rec.repo_tags.clear();
                self.inner.images.put(&key, &rec)?;
            }
        }
        Ok(())
    }

    /// Forgets cache entries whose image is gone (after images were removed).
    pub(super) fn forget_missing_cache_entries(&self) -> Result<()> {
        for (key, id) in self.inner.build_cache.all::<String>()? {
            if self.inner.images.get::<serde_json::Value>(&id)?.is_none() {
                self.inner.build_cache.remove(&key)?;
            }
        }
        Ok(())
    }
}

/// Detaches every mount below `dir`, deepest first (a build step's overlay left by a crash,
/// which would otherwise make its scratch directory impossible to remove).
pub(super) fn unmount_under(dir: &std::path::Path) {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<std::path::PathBuf> = table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(std::path::PathBuf::from)
        .filter(|p| p.starts_with(dir) && p != dir)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        if let Err(e) = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH) {
            tracing::warn!(path = %p.display(), error = %e, "cannot unmount a leftover build mount");
        }
    }
}

/// Whether `img` is an intermediate image: untagged, undigested, with children.
pub fn is_intermediate(img: &ImageRecord, children: &HashMap<String, usize>) -> bool {
    img.repo_tags.is_empty() && img.repo_digests.is_empty() && children.contains_key(&img.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::image::testutil::{fresh_store, TarBuilder};

    #[test]
    fn build_steps_are_children_found_again_by_their_key() {
        let (_dir, _db, images) = fresh_store();
        let tar = TarBuilder::new().file("f", 0o644, b"x").finish();
        let base = images.import(&mut &tar[..], Some("base"), &[]).unwrap();
        let mut cfg = base.config.clone();
        cfg.config.env.push("A=1".into());
        let child = images.commit_child(&base.id, &cfg, "step-key").unwrap();
        assert_eq!(child.parent.as_deref(), Some(base.id.as_str()));
        assert_eq!(
            images.cached_child(&base.id, "step-key").unwrap(),
            Some(child.id.clone())
        );
        assert_eq!(images.cached_child(&base.id, "other").unwrap(), None);
        assert_eq!(
            images.cached_child("sha256:else", "step-key").unwrap(),
            None
        );
        let counts = images.child_counts().unwrap();
        assert_eq!(counts.get(&base.id), Some(&1));
        // Stored again (a cache hit of another build), the parent is kept.
        let again = images.commit_child(&base.id, &cfg, "step-key").unwrap();
        assert_eq!(again.parent, child.parent);
        let rec = images.resolve(&child.id).unwrap();
        assert!(!is_intermediate(&rec, &counts));
        let base_rec = images.resolve("base").unwrap();
        assert!(
            !is_intermediate(&base_rec, &counts),
            "a tagged image is not intermediate"
        );
    }
}
