//! `container prune`, `image prune` and `system df`: what can go, what takes space.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::container::ContainerStatus;
use super::tree_walk::disk_size_off_worker;
use super::Engine;
use crate::engine::image::ImageRecord;
use crate::error::Result;

/// Prune filters Docker accepts: `until` (Unix seconds) and `label` (`k`, `k=v`, `label!=`).
#[derive(Debug, Clone, Default)]
pub struct PruneFilter {
    pub until: Option<i64>,
    pub label: Vec<String>,
    pub label_not: Vec<String>,
    /// Images only: `dangling=false` (prune -a) also takes tagged images no container uses.
    pub all_images: bool,
}

impl PruneFilter {
    /// Whether an object created at `created` (Unix seconds) with `labels` is kept.
    pub fn keeps(&self, created: i64, labels: &BTreeMap<String, String>) -> bool {
        if self.until.is_some_and(|u| created >= u) {
            return true;
        }
        let has = |l: &String| match l.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
            None => labels.contains_key(l.as_str()),
        };
        !self.label.iter().all(has) || self.label_not.iter().any(has)
    }
}

/// One line of `system df` for an image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageUsage {
    pub id: String,
    pub tags: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    pub size: i64,
    /// Bytes in layers other images use too.
    pub shared_size: i64,
    pub containers: i64,
}

/// `system df`.
#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    pub layers_size: i64,
    pub images: Vec<ImageUsage>,
    /// (container id, its writable layer's size).
    pub containers: Vec<(String, i64)>,
}

impl Engine {
    /// Removes stopped containers that pass `f`; returns their ids and the bytes freed.
    pub async fn prune_containers(&self, f: &PruneFilter) -> Result<(Vec<String>, u64)> {
        let mut removed = Vec::new();
        let mut freed = 0;
        for h in self.handles() {
            let rec = h.snapshot().await;
            let stopped = matches!(
                rec.state.status,
                ContainerStatus::Exited | ContainerStatus::Created | ContainerStatus::Dead
            );
            let created =
                chrono::DateTime::parse_from_rfc3339(&rec.created).map_or(0, |t| t.timestamp());
            if !stopped || f.keeps(created, &rec.config.labels) {
                continue;
            }
            let size = disk_size_off_worker(self.paths.container_dir(&rec.id).join("upper")).await;
            if self.remove_container(&rec.id, false).await.is_ok() {
                removed.push(rec.id);
                freed += size;
            }
        }
        self.events.emit(
            "container",
            "prune",
            "",
            BTreeMap::from([("reclaimed".to_string(), freed.to_string())]),
        );
        Ok((removed, freed))
    }

    /// Removes dangling images (all unused ones with `all_images`) that no container uses.
    pub async fn prune_images(
        &self,
        f: &PruneFilter,
    ) -> Result<(Vec<super::image::RemovedItem>, u64)> {
        let used = self.used_images().await;
        let mut items = Vec::new();
        let mut freed = 0u64;
        for img in self.images.list()? {
            let dangling = img.repo_tags.is_empty();
            if used.contains_key(&img.id) || !(dangling || f.all_images) {
                continue;
            }
            if f.keeps(img.created, &img.config.config.labels) {
                continue;
            }
            let size = img.size;
            if let Ok(r) = self.remove_image(&img.id, true).await {
                items.extend(r);
                freed += size;
            }
        }
        self.events.emit(
            "image",
            "prune",
            "",
            BTreeMap::from([("reclaimed".to_string(), freed.to_string())]),
        );
        Ok((items, freed))
    }

    /// Containers per image id.
    async fn used_images(&self) -> HashMap<String, i64> {
        let mut used = HashMap::new();
        for h in self.handles() {
            *used.entry(h.snapshot().await.config.image_id).or_insert(0) += 1;
        }
        used
    }

    /// `SizeRw` and `SizeRootFs` of a container: the files of its writable layer, and those
    /// plus its image's.
    pub async fn container_size(&self, rec: &super::container::ContainerRecord) -> (i64, i64) {
        let rw = disk_size_off_worker(self.paths.container_dir(&rec.id).join("upper")).await;
        let image = self
            .images
            .resolve(&rec.config.image_id)
            .map_or(0, |i| i.size);
        let rw = i64::try_from(rw).unwrap_or(i64::MAX);
        (
            rw,
            rw.saturating_add(i64::try_from(image).unwrap_or(i64::MAX)),
        )
    }

    /// Each image's `SharedSize` (the size of its layers other images use too) and the size
    /// of all layers once: what `system df` and `images --shared-size` show.
    pub fn layer_sharing(&self, images: &[ImageRecord]) -> (HashMap<String, i64>, i64) {
        let mut layer_users: HashMap<&String, usize> = HashMap::new();
        for img in images {
            for d in img.config.rootfs.diff_ids.iter().collect::<HashSet<_>>() {
                *layer_users.entry(d).or_insert(0) += 1;
            }
        }
        let layer_size =
            |diff: &str| -> i64 { i64::try_from(self.images.layer_size(diff)).unwrap_or(0) };
        let (mut shared_of, mut total) = (HashMap::new(), 0);
        let mut counted = HashSet::new();
        for img in images {
            let mut shared = 0;
            for d in &img.config.rootfs.diff_ids {
                let s = layer_size(d);
                if layer_users.get(d).copied().unwrap_or(0) > 1 {
                    shared += s;
                }
                if counted.insert(d) {
                    total += s;
                }
            }
            shared_of.insert(img.id.clone(), shared);
        }
        (shared_of, total)
    }

    /// Sizes for `system df`; each container's writable layer is walked only `with_containers`
    /// (the slow part, which `df?type=image` and the build cache's own sums do not need).
    pub async fn disk_usage(&self, with_containers: bool) -> Result<DiskUsage> {
        let used = self.used_images().await;
        let images = self.images.list()?;
        let (shared_of, layers_size) = self.layer_sharing(&images);
        let mut out = DiskUsage {
            layers_size,
            ..DiskUsage::default()
        };
        for img in images {
            let shared = shared_of.get(&img.id).copied().unwrap_or(0);
            out.images.push(ImageUsage {
                containers: used.get(&img.id).copied().unwrap_or(0),
                id: img.id,
                tags: img.repo_tags,
                created: img.created,
                size: i64::try_from(img.size).unwrap_or(i64::MAX),
                shared_size: shared,
            });
        }
        if !with_containers {
            return Ok(out);
        }
        for h in self.handles() {
            let id = h.id.clone();
            let size = disk_size_off_worker(self.paths.container_dir(&id).join("upper")).await;
            out.containers
                .push((id, i64::try_from(size).unwrap_or(i64::MAX)));
        }
        Ok(out)
    }
}
