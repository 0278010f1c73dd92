//! `DELETE /images/{name}` with Docker's rules: untag first, delete the image only when no tag
//! is left, refuse (unless forced) when a container uses it or it spans several repositories.

use std::collections::BTreeSet;

use super::{ImageRecord, ImageStore, Reference, RemovedItem};
use crate::engine::short_id;
use crate::error::{EngineError, Result};

impl ImageStore {
    /// Removes `name` as Docker does. A tag of an image with other tags is only untagged.
    /// Otherwise the image is deleted (record, config blob, layers no other image uses) after
    /// removing its tags; when `in_use(image_id)` that is a Conflict, and with `force` the
    /// image is only untagged. By id, tags in several repositories also need `force`.
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<RemovedItem>> {
        self.remove_pruning(name, force, true, in_use)
    }

    /// As [`ImageStore::remove`]; `prune_parents: false` (`noprune`) keeps the untagged build
    /// steps the image was made of.
    pub fn remove_pruning(
        &self,
        name: &str,
        force: bool,
        prune_parents: bool,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<RemovedItem>> {
        let image = self.resolve(name)?;
        let _guard = self.lock()?;
        // Re-read under the lock: a concurrent remove or tag may have changed things.
        let Some(image) = self.get(&image.id)? else {
            return Err(EngineError::NoSuchImage(name.to_string()));
        };
        let id = image.id.as_str();
        let short = short_id(id);
        let named_tag = Reference::parse(name)
            .ok()
            .filter(|r| r.digest().is_none())
            .map(|r| r.familiar_tagged())
            .filter(|t| image.repo_tags.contains(t));
        let mut items = Vec::new();
        if let Some(tag) = named_tag {
            let last = image.repo_tags.len() == 1;
            if last && in_use(id) && !force {
                return Err(EngineError::Conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - \
                     a container is using its referenced image {short}"
                )));
            }
            self.inner.tags.remove(&tag)?;
            items.push(RemovedItem::Untagged(tag));
            // A stopped container may still need the image: forcing only drops the name. An
            // image another was built on stays too, as an intermediate image.
            if !last || in_use(id) || self.has_children(id)? {
                return Ok(items);
            }
        } else {
            if self.has_children(id)? {
                return Err(EngineError::Conflict(format!(
                    "conflict: unable to delete {short} (cannot be forced) - image has dependent child images"
                )));
            }
            let used = in_use(id);
            if !force {
                refuse_delete_by_id(&image.repo_tags, used, short)?;
            }
            for tag in &image.repo_tags {
                self.inner.tags.remove(tag)?;
                items.push(RemovedItem::Untagged(tag.clone()));
            }
            if used {
                return Ok(items);
            }
        }
        // Tags went first, so a crash from here on leaves at worst an untagged image or files
        // that the next open collects.
        self.delete_record(&image)?;
        items.push(RemovedItem::Deleted(image.id.clone()));
        // As dockerd, the build steps the image was made of go with it when nothing else
        // needs them: untagged, unused, and no other child.
        let mut parent = image.parent.clone().filter(|_| prune_parents);
        while let Some(p) = parent {
            let Some(prec) = self.get(&p)? else { break };
            let needed = !prec.repo_tags.is_empty()
                || !prec.repo_digests.is_empty()
                || in_use(&p)
                || self.has_children(&p)?;
            if needed {
                break;
            }
            self.delete_record(&prec)?;
            items.push(RemovedItem::Deleted(prec.id.clone()));
            parent = prec.parent;
        }
        self.forget_missing_cache_entries()?;
        Ok(items)
    }

    /// Deletes an untagged image's record, config blob and the layers no other image uses.
    /// Caller holds the lock.
    pub(super) fn delete_record(&self, image: &ImageRecord) -> Result<()> {
        self.inner.images.remove(&image.id)?;
        self.delete_unused_layers(&image.config.rootfs.diff_ids)?;
        self.remove_blob(&image.id)
    }
}

/// Without force, deleting by id is refused while a container uses the image or when its
/// tags span several repositories (Docker's "soft" conflicts).
fn refuse_delete_by_id(repo_tags: &[String], used: bool, short: &str) -> Result<()> {
    let conflict = |why: &str| {
        Err(EngineError::Conflict(format!(
            "conflict: unable to delete {short} (must be forced) - {why}"
        )))
    };
    if used {
        return conflict("image is being used by a container");
    }
    let repos: BTreeSet<&str> = repo_tags
        .iter()
        .map(|t| t.rsplit_once(':').map_or(t.as_str(), |(r, _)| r))
        .collect();
    if repos.len() > 1 {
        return conflict("image is referenced in multiple repositories");
    }
    Ok(())
}
