//! [`ImageStore`]: the image and tag tables in sled; lookups by name or id; commit and garbage
//! collection. Blob files are handled in `blob.rs`, layer files in `layer.rs`, the Docker
//! removal rules in `remove.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use super::blob::BLOBS_DIR;
use super::layer::{layer_meta, LAYERS_DIR};
use super::registry::RegistryConfig;
use super::{HostLayerFs, ImageConfigFile, ImageRecord, LayerFs, Reference};
use crate::error::{EngineError, Result};
use crate::store::{Records, Store};

const TMP_DIR: &str = "tmp";

/// The most layers an image may have: Docker's layer store registers no deeper chain
/// (moby's `maxLayerDepth`), so an image berth made deeper could be neither pulled nor loaded
/// by Docker, and Docker refuses to pull, load, build or commit one.
pub const MAX_LAYERS: usize = 125;
/// Marks an unfinished write; such files and directories are deleted on open.
pub(super) const TMP_MARK: &str = ".tmp-";

/// Images on this node. Cheap to clone; all clones share one store.
#[derive(Clone)]
pub struct ImageStore {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) root: PathBuf,
    /// `sha256:<hex>` → [`ImageRecord`] (its `repo_tags` left empty: the tag table is the truth).
    pub(super) images: Records,
    /// Familiar `repo:tag` → image id.
    pub(super) tags: Records,
    pub(super) fs: Arc<dyn LayerFs>,
    /// Layer diff id → the compressed blobs known to hold it on registries.
    pub(super) remote: Records,
    /// How registries are reached.
    pub(super) registry: RwLock<RegistryConfig>,
    /// `<parent id>/<step key>` → the image a build step made (`build_cache.rs`).
    pub(super) build_cache: Records,
    /// Blob digest → the lock of the pull fetching it, so concurrent pulls fetch a blob once.
    pub(super) fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Serialises changes to the tables and layer deletion, so a layer is never deleted while
    /// an image that needs it is being committed.
    lock: Mutex<()>,
}

impl ImageStore {
    /// Opens the store at `root` (`<data_root>/image`) using `store.records("images")` and
    /// `store.records("image-tags")`; removes what an interrupted write or delete left behind.
    pub fn open(root: &Path, store: &Store) -> Result<Self> {
        Self::open_with(root, store, Arc::new(HostLayerFs::new()))
    }

    /// As [`ImageStore::open`], with the privileged layer operations done by `fs`.
    pub fn open_with(root: &Path, store: &Store, fs: Arc<dyn LayerFs>) -> Result<Self> {
        for dir in [BLOBS_DIR, LAYERS_DIR, TMP_DIR] {
            let path = root.join(dir);
            fs::create_dir_all(&path)
                .map_err(|e| EngineError::io(format!("create {}", path.display()), e))?;
        }
        let inner = Inner {
            root: root.to_path_buf(),
            images: store.records("images")?,
            tags: store.records("image-tags")?,
            fs,
            remote: store.records("image-remote-blobs")?,
            registry: RwLock::new(RegistryConfig::default()),
            build_cache: store.records("build-cache")?,
            fetching: Mutex::new(HashMap::new()),
            lock: Mutex::new(()),
        };
        let this = ImageStore {
            inner: Arc::new(inner),
        };
        this.clean_leftovers()?;
        Ok(this)
    }

    /// Every image, newest first, with its tags.
    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        let mut tags_by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (tag, id) in self.inner.tags.all::<String>()? {
            tags_by_id.entry(id).or_default().push(tag);
        }
        let mut out: Vec<ImageRecord> = self
            .inner
            .images
            .all::<ImageRecord>()?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        for rec in &mut out {
            rec.repo_tags = tags_by_id.remove(&rec.id).unwrap_or_default();
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Finds an image by `name`, `name:tag`, a full reference, `sha256:<hex>`, or a unique
    /// prefix of the hex id. NoSuchImage(name) when nothing (or more than one id) matches.
    pub fn resolve(&self, name: &str) -> Result<ImageRecord> {
        Ok(self.resolve_tagged(name)?.0)
    }

    /// As [`ImageStore::resolve`], also giving the tag (`repo:tag`) when `name` matched one
    /// rather than an id.
    pub(super) fn resolve_tagged(&self, name: &str) -> Result<(ImageRecord, Option<String>)> {
        // Named as Docker names it: the familiar reference with its tag (`nosuch:latest`).
        let not_found = || {
            EngineError::NoSuchImage(match Reference::parse(name) {
                Ok(r) if r.digest().is_none() && !name.starts_with("sha256:") => {
                    r.familiar_tagged()
                }
                _ => name.to_string(),
            })
        };
        if let Some(hex) = name.strip_prefix("sha256:") {
            let rec = self.find_by_id_prefix(hex)?.ok_or_else(not_found)?;
            return Ok((rec, None));
        }
        if let Ok(reference) = Reference::parse(name) {
            if reference.digest().is_none() {
                let tag = reference.familiar_tagged();
                if let Some(id) = self.inner.tags.get::<String>(&tag)? {
                    if let Some(rec) = self.get(&id)? {
                        return Ok((rec, Some(tag)));
                    }
                }
            }
        }
        let rec = self.find_by_id_prefix(name)?.ok_or_else(not_found)?;
        Ok((rec, None))
    }

    /// Points `repo:tag` (tag default `latest`; `repo` may carry the tag itself) at the image
    /// `source`, moving the tag if it named another image.
    pub fn tag(&self, source: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let image = self.resolve(source)?;
        let reference = match tag.filter(|t| !t.is_empty()) {
            Some(t) => {
                let r = Reference::parse(repo)?;
                if r.tag().is_some() || r.digest().is_some() {
                    return Err(EngineError::InvalidArgument(format!(
                        "invalid repository name: {repo}"
                    )));
                }
                r.with_tag(t)?
            }
            None => Reference::parse_tag(repo)?,
        };
        let _guard = self.lock()?;
        self.inner
            .tags
            .put(&reference.familiar_tagged(), &image.id)?;
        self.mark_tagged(&image.id)
    }

    /// Records that image `id` was just tagged here (Docker's `LastTagTime`); the caller
    /// holds the store's lock.
    pub(super) fn mark_tagged(&self, id: &str) -> Result<()> {
        let Some(mut rec) = self.inner.images.get::<ImageRecord>(id)? else {
            return Ok(());
        };
        rec.last_tag_time = Some(chrono::Utc::now());
        self.inner.images.put(id, &rec)
    }

    /// The image with exactly this id (`sha256:<hex>`), tags filled in.
    pub(super) fn get(&self, id: &str) -> Result<Option<ImageRecord>> {
        let Some(mut rec) = self.inner.images.get::<ImageRecord>(id)? else {
            return Ok(None);
        };
        rec.repo_tags = self.tags_of(id)?;
        Ok(Some(rec))
    }

    /// Tags naming image `id`, sorted.
    pub(super) fn tags_of(&self, id: &str) -> Result<Vec<String>> {
        Ok(self
            .inner
            .tags
            .all::<String>()?
            .into_iter()
            .filter(|(_, v)| v == id)
            .map(|(k, _)| k)
            .collect())
    }

    fn find_by_id_prefix(&self, prefix: &str) -> Result<Option<ImageRecord>> {
        if prefix.is_empty() || prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Ok(None);
        }
        let prefix = prefix.to_ascii_lowercase();
        if prefix.len() == 64 {
            return self.get(&format!("sha256:{prefix}"));
        }
        let ids: Vec<String> = self
            .inner
            .images
            .all::<serde_json::Value>()?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let mut matches = ids.iter().filter(|id| {
            id.strip_prefix("sha256:")
                .is_some_and(|h| h.starts_with(&prefix))
        });
        match (matches.next(), matches.next()) {
            (Some(id), None) => self.get(id),
            _ => Ok(None),
        }
    }

    pub(super) fn lock(&self) -> Result<MutexGuard<'_, ()>> {
        self.inner
            .lock
            .lock()
            .map_err(|_| EngineError::Internal("image store lock poisoned".into()))
    }

    /// Stores `config_bytes` as a blob and records the image, whose layers must all be
    /// unpacked already, then points each of `tags` (familiar `repo:tag`) at it.
    pub(super) fn commit(
        &self,
        config_bytes: &[u8],
        config: ImageConfigFile,
        tags: &[String],
    ) -> Result<ImageRecord> {
        let layers = config.rootfs.diff_ids.len();
        if layers > MAX_LAYERS {
            // Docker's words (its status too: a 500 from its layer store), and why.
            return Err(EngineError::Internal(format!(
                "max depth exceeded: an image has at most {MAX_LAYERS} layers, this one would have {layers}"
            )));
        }
        let id = self.write_blob(config_bytes)?;
        let _guard = self.lock()?;
        let mut size = 0u64;
        for diff_id in &config.rootfs.diff_ids {
            let meta = layer_meta(&self.inner.root, diff_id)?.ok_or_else(|| {
                EngineError::Internal(format!(
                    "layer {diff_id} was removed while image {id} was being stored; retry"
                ))
            })?;
            size += meta.size;
        }
        let created = config
            .created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map_or(0, |t| t.timestamp());
        // The same config stored again keeps what is known about it.
        let (repo_digests, parent, last_tag_time) = self
            .inner
            .images
            .get::<ImageRecord>(&id)?
            .map(|r| (r.repo_digests, r.parent, r.last_tag_time))
            .unwrap_or_default();
        let record = ImageRecord {
            id: id.clone(),
            repo_tags: Vec::new(),
            repo_digests,
            created,
            size,
            config,
            parent,
            last_tag_time,
        };
        self.inner.images.put(&id, &record)?;
        for tag in tags {
            self.inner.tags.put(tag, &id)?;
        }
        let repo_tags = self.tags_of(&id)?;
        Ok(ImageRecord {
            repo_tags,
            ..record
        })
    }

    /// A fresh directory under `tmp/` for unpacking an archive; the caller removes it.
    pub(crate) fn temp_dir(&self, what: &str) -> Result<PathBuf> {
        let path = self
            .inner
            .root
            .join(TMP_DIR)
            .join(format!("{what}-{:016x}", rand::random::<u64>()));
        fs::create_dir(&path)
            .map_err(|e| EngineError::io(format!("create {}", path.display()), e))?;
        Ok(path)
    }

    /// Removes unfinished writes, archive scratch space, and config blobs, layer blobs and
    /// layers no image uses (left by a crash between deleting a record and its files, or
    /// between publishing a layer and committing its image). Runs before any other use.
    fn clean_leftovers(&self) -> Result<()> {
        let root = &self.inner.root;
        // A build step's overlay may still be mounted there after a crash.
        super::build_cache::unmount_under(&root.join(TMP_DIR));
        let images = self.inner.images.all::<ImageRecord>()?;
        let used_layers: HashSet<String> = images
            .iter()
            .flat_map(|(_, r)| r.config.rootfs.diff_ids.iter())
            .filter_map(|d| d.strip_prefix("sha256:").map(str::to_string))
            .collect();
        // Blobs are config files (named by image id) and layer tars (named by diff id).
        let mut used_blobs = used_layers.clone();
        used_blobs.extend(
            images
                .iter()
                .filter_map(|(id, _)| id.strip_prefix("sha256:").map(str::to_string)),
        );
        let mut doomed = Vec::new();
        for (dir, used) in [
            (BLOBS_DIR, &used_blobs),
            (LAYERS_DIR, &used_layers),
            (TMP_DIR, &HashSet::new()),
        ] {
            let dir = root.join(dir);
            for entry in fs::read_dir(&dir)
                .map_err(|e| EngineError::io(format!("read {}", dir.display()), e))?
            {
                let entry =
                    entry.map_err(|e| EngineError::io(format!("read {}", dir.display()), e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !used.contains(&name) {
                    doomed.push(entry.path());
                }
            }
        }
        for path in doomed {
            tracing::info!(path = %path.display(), "removing leftover image data");
            remove_path(&path)?;
        }
        Ok(())
    }
}

/// Removes a file or a whole tree, even one with read-only directories (as unpacked layers
/// have) when not root.
pub(super) fn remove_path(path: &Path) -> Result<()> {
    let io = |e| EngineError::io(format!("remove {}", path.display()), e);
    let meta = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other.map_err(io)?,
    };
    if !meta.is_dir() {
        return fs::remove_file(path).map_err(io);
    }
    if fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    make_writable(path).map_err(io)?;
    fs::remove_dir_all(path).map_err(io)
}

fn make_writable(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_writable(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
