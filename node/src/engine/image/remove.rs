//! `DELETE /images/{name}` with Docker's rules: untag first, delete the image only when no tag
//! is left, refuse (unless forced) when a container uses it or it spans several repositories.

use std::collections::BTreeSet;

use super::{ImageStore, Reference, RemovedItem};
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
            // A stopped container may still need the image: forcing only drops the name.
            if !last || in_use(id) {
                return Ok(items);
            }
        } else {
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
        self.inner.images.remove(id)?;
        self.delete_unused_layers(&image.config.rootfs.diff_ids)?;
        self.remove_blob(id)?;
        items.push(RemovedItem::Deleted(image.id.clone()));
        Ok(items)
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

/// The 12-hex-digit id Docker prints.
fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}
