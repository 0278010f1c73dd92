//! `DELETE /images/{name}` with Docker's rules: untag first, delete the image only when no tag
//! is left, refuse (unless forced) when a container uses it or it spans several repositories.

use std::collections::BTreeSet;

use super::{ImageRecord, ImageStore, Reference, RemovedItem};
use crate::engine::short_id;
use crate::error::{EngineError, Result};

/// A container using an image, as a removal's conflicts name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    pub container: String,
    pub running: bool,
}

/// What tells a removal which container uses an image (by image id): a running one first.
pub type UsedBy<'a> = &'a dyn Fn(&str) -> Option<ImageUser>;

impl ImageStore {
    /// Removes `name` as Docker does. A tag of an image with other tags is only untagged.
    /// Otherwise the image is deleted (record, config blob, layers no other image uses) after
    /// removing its tags; when `in_use(image_id)` names a container that is a Conflict, and
    /// with `force` the image is only untagged, but by id a running container's image is
    /// refused forced or not (moby's hard conflict). By id, tags in several repositories also
    /// need `force`.
    pub fn remove(&self, name: &str, force: bool, in_use: UsedBy<'_>) -> Result<Vec<RemovedItem>> {
        self.remove_pruning(name, force, true, in_use)
    }

    /// As [`ImageStore::remove`]; `prune_parents: false` (`noprune`) keeps the untagged build
    /// steps the image was made of.
    pub fn remove_pruning(
        &self,
        name: &str,
        force: bool,
        prune_parents: bool,
        in_use: UsedBy<'_>,
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
            let user = in_use(id);
            if let Some(u) = user.as_ref().filter(|_| last && !force) {
                return Err(EngineError::Conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - \
                     container {} is using its referenced image {short}",
                    short_id(&u.container)
                )));
            }
            self.inner.tags.remove(&tag)?;
            items.push(RemovedItem::Untagged(tag));
            // A stopped container may still need the image: forcing only drops the name. An
            // image another was built on stays too, as an intermediate image.
            if !last || user.is_some() || self.has_children(id)? {
                return Ok(items);
            }
        } else {
            if self.has_children(id)? {
                return Err(EngineError::Conflict(format!(
                    "conflict: unable to delete {short} (cannot be forced) - image has dependent child images"
                )));
            }
            let user = in_use(id);
            refuse_delete_by_id(&image.repo_tags, user.as_ref(), force, short)?;
            let used = user.is_some();
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
                || in_use(&p).is_some()
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

/// Deleting by id is refused while a running container uses the image, forced or not (moby's
/// hard conflict), and without force while a stopped one does or when its tags span several
/// repositories (the soft ones), in moby's words.
fn refuse_delete_by_id(
    repo_tags: &[String],
    user: Option<&ImageUser>,
    force: bool,
    short: &str,
) -> Result<()> {
    let conflict = |forced: &str, why: String| {
        Err(EngineError::Conflict(format!(
            "conflict: unable to delete {short} ({forced}) - {why}"
        )))
    };
    if let Some(u) = user.filter(|u| u.running) {
        let why = format!(
            "image is being used by running container {}",
            short_id(&u.container)
        );
        return conflict("cannot be forced", why);
    }
    if force {
        return Ok(());
    }
    let repos: BTreeSet<&str> = repo_tags
        .iter()
        .map(|t| t.rsplit_once(':').map_or(t.as_str(), |(r, _)| r))
        .collect();
    if repos.len() > 1 {
        return conflict(
            "must be forced",
            "image is referenced in multiple repositories".into(),
        );
    }
    if let Some(u) = user {
        let why = format!(
            "image is being used by stopped container {}",
            short_id(&u.container)
        );
        return conflict("must be forced", why);
    }
    Ok(())
}
