//! The build cache as `system df` and `docker builder prune` see it: the images builds made
//! (they have a parent) that carry no name — intermediate steps under a built image, and the
//! results of builds whose tag moved on.

use std::collections::{HashMap, HashSet};

use crate::engine::image::ImageRecord;
use crate::engine::prune::PruneFilter;
use crate::engine::Engine;
use crate::error::Result;

/// One build cache record, for `system df` (Docker's `BuildCache` item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRecord {
    pub id: String,
    pub parent: Option<String>,
    /// The step's `created_by`.
    pub description: String,
    /// Bytes of the step's own layer (0 for a metadata step).
    pub size: u64,
    pub created: i64,
    /// A container uses the image.
    pub in_use: bool,
    /// An image with a name descends from it (its layer is shared with that image).
    pub shared: bool,
}

impl Engine {
    /// Every build cache record, newest first.
    pub async fn build_cache(&self) -> Result<Vec<CacheRecord>> {
        let used: HashSet<String> = self.handles_images().await;
        let images = self.images.list()?;
        let shared = ancestors_of_named(&images);
        let mut out: Vec<CacheRecord> = images
            .iter()
            .filter(|i| is_cache(i))
            .map(|i| CacheRecord {
                id: i.id.clone(),
                parent: i.parent.clone(),
                description: i
                    .config
                    .history
                    .last()
                    .and_then(|h| h.get("created_by"))
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string(),
                size: own_layer_size(self, i),
                created: i.created,
                in_use: used.contains(&i.id),
                shared: shared.contains(&i.id),
            })
            .collect();
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Removes build cache records no container uses and `filter` does not keep (by creation
    /// time and the image's labels): with `all`, also the steps a named image was built from
    /// (that image stays; its history loses their ids). Returns the removed ids and the bytes
    /// freed.
    pub async fn prune_build_cache(
        &self,
        all: bool,
        filter: &PruneFilter,
    ) -> Result<(Vec<String>, u64)> {
        let used = self.handles_images().await;
        let before = self
            .disk_usage(false)
            .await
            .map(|u| u.layers_size)
            .unwrap_or(0);
        let mut removed = Vec::new();
        let prunable = |i: &ImageRecord| {
            is_cache(i)
                && !used.contains(&i.id)
                && !filter.keeps(i.created, &i.config.config.labels)
        };
        loop {
            let images = self.images.list()?;
            let shared = ancestors_of_named(&images);
            let children = self.images.child_counts()?;
            let doomed: Vec<&ImageRecord> = images
                .iter()
                .filter(|i| prunable(i))
                .filter(|i| all || !shared.contains(&i.id))
                .filter(|i| !children.contains_key(&i.id))
                .collect();
            if doomed.is_empty() {
                if !all {
                    break;
                }
                // Steps under named images: cut them loose from their children first.
                let Some(top) = images.iter().find(|i| prunable(i)) else {
                    break;
                };
                self.images.detach_children(&top.id)?;
                continue;
            }
            for img in doomed {
                for item in self.remove_image(&img.id, false).await.unwrap_or_default() {
                    if let crate::engine::image::RemovedItem::Deleted(id) = item {
                        removed.push(id);
                    }
                }
            }
        }
        let after = self
            .disk_usage(false)
            .await
            .map(|u| u.layers_size)
            .unwrap_or(0);
        Ok((removed, u64::try_from(before - after).unwrap_or(0)))
    }

    async fn handles_images(&self) -> HashSet<String> {
        let mut used = HashSet::new();
        for h in self.handles() {
            used.insert(h.snapshot().await.config.image_id);
        }
        used
    }
}

/// An image a build made that has no name.
fn is_cache(i: &ImageRecord) -> bool {
    i.parent.is_some() && i.repo_tags.is_empty() && i.repo_digests.is_empty()
}

/// The ids every named image descends from.
fn ancestors_of_named(images: &[ImageRecord]) -> HashSet<String> {
    let by_id: HashMap<&str, &ImageRecord> = images.iter().map(|i| (i.id.as_str(), i)).collect();
    let mut out = HashSet::new();
    for img in images
        .iter()
        .filter(|i| !i.repo_tags.is_empty() || !i.repo_digests.is_empty())
    {
        let mut p = img.parent.as_deref();
        while let Some(id) = p {
            if !out.insert(id.to_string()) {
                break;
            }
            p = by_id.get(id).and_then(|r| r.parent.as_deref());
        }
    }
    out
}

/// The size of the layer a step added (its last diff id when its parent has one fewer).
fn own_layer_size(engine: &Engine, img: &ImageRecord) -> u64 {
    let empty = img
        .config
        .history
        .last()
        .and_then(|h| h.get("empty_layer"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    match img.config.rootfs.diff_ids.last() {
        Some(d) if !empty => engine.images.layer_size(d),
        _ => 0,
    }
}
