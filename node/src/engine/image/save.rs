//! `docker save`: images written as a `docker save` archive (manifest.json, repositories) that is
//! also an OCI image layout (oci-layout, index.json), from the config blobs and the kept layer
//! tars. Reads the store, changes nothing.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Read, Write};

use serde_json::json;

use super::digest::{digest_hex, sha256_digest};
use super::oci::{CONTAINERD_NAME, OCI_REF_NAME};
use super::{ImageRecord, ImageStore, Reference};
use crate::error::{EngineError, Result};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const TAR_BLOCK: u64 = 512;

/// Images ready to be written as one archive: names resolved, config files read and layer
/// tars opened, so a removal racing the write cannot break the archive half-way.
pub struct SaveArchive {
    images: Vec<SavedImage>,
    /// Every layer of every image once, in order of first use.
    layers: Vec<SavedLayer>,
}

struct SavedImage {
    /// `sha256:<hex>`, the digest of `config`.
    id: String,
    config: Vec<u8>,
    /// Familiar `repo:tag` names written into the archive.
    repo_tags: Vec<String>,
    diff_ids: Vec<String>,
}

struct SavedLayer {
    diff_id: String,
    tar: Box<dyn Read + Send>,
    size: u64,
}

impl ImageStore {
    /// Blocking. Writes the images `names` (resolved as [`ImageStore::resolve`] does) to `out`
    /// as one `docker save` archive; see [`ImageStore::prepare_save`] for the errors that come
    /// before anything is written.
    pub fn save(&self, names: &[String], out: &mut dyn Write) -> Result<()> {
        self.prepare_save(names)?.write_to(out)
    }

    /// Blocking. Resolves every name before touching a file, then reads the config files and
    /// opens the layer tars. NoSuchImage(name) for an unknown name; Conflict for an image whose
    /// layer tar was never kept (stored by an older berth). As moby's exporter: a name with a
    /// tag saves that tag, a name without one every tag of that repository (of any image), an
    /// id the image without tags; names of one image share its entry.
    pub fn prepare_save(&self, names: &[String]) -> Result<SaveArchive> {
        let mut images: Vec<(String, SavedImage)> = Vec::new();
        for name in names {
            for (rec, tags) in self.to_save(name)? {
                add_saved(&mut images, name, rec, tags);
            }
        }
        self.open_saved(images)
    }

    /// The images `name` saves, each with the tags the archive gives it.
    fn to_save(&self, name: &str) -> Result<Vec<(ImageRecord, Vec<String>)>> {
        let repository = Reference::parse(name)
            .ok()
            .filter(|r| r.tag().is_none() && r.digest().is_none() && !name.starts_with("sha256:"))
            .map(|r| r.familiar_name());
        if let Some(repository) = repository {
            let in_repository = |t: &String| {
                t.rsplit_once(':')
                    .is_some_and(|(repo, tag)| repo == repository && !tag.contains('/'))
            };
            let mut found: Vec<(ImageRecord, Vec<String>)> = self
                .list()?
                .into_iter()
                .filter_map(|rec| {
                    let mut tags: Vec<String> = rec
                        .repo_tags
                        .iter()
                        .filter(|t| in_repository(t))
                        .cloned()
                        .collect();
                    tags.sort();
                    (!tags.is_empty()).then_some((rec, tags))
                })
                .collect();
            // moby's order: its references sorted as text.
            found.sort_by(|a, b| a.1.cmp(&b.1));
            if !found.is_empty() {
                return Ok(found);
            }
        }
        // Docker's save names the image as given, without the tag its other commands add.
        let (rec, tag) = self.resolve_tagged(name).map_err(|e| match e {
            EngineError::NoSuchImage(_) => EngineError::NoSuchImage(name.to_string()),
            e => e,
        })?;
        let tags = tag.into_iter().collect();
        Ok(vec![(rec, tags)])
    }
}

/// Adds `rec` with `tags` to the archive's images, merging the tags of an image already there.
fn add_saved(
    images: &mut Vec<(String, SavedImage)>,
    name: &str,
    rec: ImageRecord,
    tags: Vec<String>,
) {
    match images.iter_mut().find(|(_, i)| i.id == rec.id) {
        Some((_, image)) => {
            let new: Vec<String> = tags
                .into_iter()
                .filter(|t| !image.repo_tags.contains(t))
                .collect();
            image.repo_tags.extend(new);
        }
        None => images.push((
            name.to_string(),
            SavedImage {
                id: rec.id,
                config: Vec::new(),
                repo_tags: tags,
                diff_ids: rec.config.rootfs.diff_ids,
            },
        )),
    }
}

impl ImageStore {
    /// Reads the images' config files and opens their layer tars, each layer once.
    fn open_saved(&self, mut images: Vec<(String, SavedImage)>) -> Result<SaveArchive> {
        let mut layers = Vec::new();
        let mut seen = HashSet::new();
        for (name, image) in &mut images {
            let path = self.blob_path(&image.id)?;
            image.config = fs::read(&path)
                .map_err(|e| EngineError::io(format!("read {}", path.display()), e))?;
            for diff_id in &image.diff_ids {
                if seen.insert(diff_id.clone()) {
                    layers.push(self.open_layer_tar(name, diff_id)?);
                }
            }
        }
        Ok(SaveArchive {
            images: images.into_iter().map(|(_, i)| i).collect(),
            layers,
        })
    }

    fn open_layer_tar(&self, name: &str, diff_id: &str) -> Result<SavedLayer> {
        let Some((tar, size)) = self.layer_tar(diff_id)? else {
            return Err(EngineError::Conflict(format!(
                "cannot save image {name}: its layer {diff_id} was stored without its tar \
                 (by an older berth); import or load the image again, then save it"
            )));
        };
        Ok(SavedLayer {
            diff_id: diff_id.to_string(),
            tar,
            size,
        })
    }
}

impl SaveArchive {
    /// Blocking. Writes the archive: `blobs/sha256/` (configs, layer tars, OCI manifests),
    /// `oci-layout`, `index.json`, `manifest.json` and `repositories`. On error the output
    /// has no end-of-archive marker, so a reader sees it as truncated.
    pub fn write_to(self, out: &mut dyn Write) -> Result<()> {
        let mut tar = TarWriter { out };
        tar.dir("blobs/")?;
        tar.dir("blobs/sha256/")?;
        tar.bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        for image in &self.images {
            tar.bytes(&blob_name(&image.id)?, &image.config)?;
        }
        let mut sizes = BTreeMap::new();
        for mut layer in self.layers {
            let name = blob_name(&layer.diff_id)?;
            tar.file(&name, layer.size, &mut layer.tar)?;
            sizes.insert(layer.diff_id, layer.size);
        }
        let mut index = Vec::new();
        let mut manifest = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for image in &self.images {
            let oci = oci_manifest(image, &sizes)?;
            let oci_digest = sha256_digest(&oci);
            tar.bytes(&blob_name(&oci_digest)?, &oci)?;
            index.extend(index_entries(image, &oci_digest, oci.len())?);
            let layers = image
                .diff_ids
                .iter()
                .map(|d| blob_name(d))
                .collect::<Result<Vec<_>>>()?;
            manifest.push(json!({
                "Config": blob_name(&image.id)?,
                // Go's nil list: an image saved by id has no tags.
                "RepoTags": (!image.repo_tags.is_empty()).then_some(&image.repo_tags),
                "Layers": layers,
            }));
            let hex = digest_hex(&image.id)?;
            for tag in &image.repo_tags {
                if let Some((repo, t)) = tag.rsplit_once(':') {
                    repositories
                        .entry(repo.to_string())
                        .or_default()
                        .insert(t.to_string(), hex.to_string());
                }
            }
        }
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index});
        tar.json("index.json", &index)?;
        tar.json("manifest.json", &json!(manifest))?;
        tar.json("repositories", &json!(repositories))?;
        tar.finish()
    }
}

/// The archive path of a blob.
fn blob_name(digest: &str) -> Result<String> {
    Ok(format!("blobs/sha256/{}", digest_hex(digest)?))
}

/// The OCI manifest of an image: its config and layers, by digest and size.
fn oci_manifest(image: &SavedImage, sizes: &BTreeMap<String, u64>) -> Result<Vec<u8>> {
    let layers: Vec<serde_json::Value> = image
        .diff_ids
        .iter()
        .map(|d| json!({"mediaType": OCI_LAYER, "digest": d, "size": sizes.get(d)}))
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": image.id, "size": image.config.len()},
        "layers": layers,
    });
    serde_json::to_vec(&manifest).map_err(|e| EngineError::Internal(e.to_string()))
}

/// index.json entries for an image: one per tag, named as containerd and the OCI spec do, or
/// one unnamed entry for an untagged image.
fn index_entries(image: &SavedImage, digest: &str, size: usize) -> Result<Vec<serde_json::Value>> {
    let entry = |annotations: serde_json::Value| json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": size, "annotations": annotations});
    if image.repo_tags.is_empty() {
        return Ok(vec![entry(json!({}))]);
    }
    image
        .repo_tags
        .iter()
        .map(|tag| {
            let r = Reference::parse_tag(tag)?;
            let t = r.tag().unwrap_or("latest");
            Ok(entry(json!({
                CONTAINERD_NAME: format!("{}:{t}", r.full_name()),
                OCI_REF_NAME: t,
            })))
        })
        .collect()
}

/// Writes tar entries straight to the output. Not `tar::Builder`: its drop writes the
/// end-of-archive marker even after an error, which would make a cut archive look complete.
struct TarWriter<'a> {
    out: &'a mut dyn Write,
}

impl TarWriter<'_> {
    fn dir(&mut self, path: &str) -> Result<()> {
        self.entry(path, tar::EntryType::Directory, 0o755, 0, &mut io::empty())
    }

    fn bytes(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let size = u64::try_from(data.len()).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.file(path, size, &mut &data[..])
    }

    fn json(&mut self, path: &str, value: &serde_json::Value) -> Result<()> {
        let data = serde_json::to_vec(value).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.bytes(path, &data)
    }

    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> Result<()> {
        self.entry(path, tar::EntryType::Regular, 0o644, size, data)
    }

    fn entry(
        &mut self,
        path: &str,
        kind: tar::EntryType,
        mode: u32,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<()> {
        let fail = |e| EngineError::io(format!("write {path} to the archive"), e);
        let mut header = tar::Header::new_ustar();
        header.set_path(path).map_err(fail)?;
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(size);
        header.set_mtime(0);
        header.set_cksum();
        self.out.write_all(header.as_bytes()).map_err(fail)?;
        let copied = io::copy(&mut data.take(size), self.out).map_err(fail)?;
        if copied != size {
            return Err(EngineError::Internal(format!(
                "{path} shrank while it was being saved ({copied} of {size} bytes)"
            )));
        }
        let padding = (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK;
        io::copy(&mut io::repeat(0).take(padding), self.out).map_err(fail)?;
        Ok(())
    }

    /// Two zero blocks end a tar archive.
    fn finish(self) -> Result<()> {
        let fail = |e| EngineError::io("finish the archive", e);
        io::copy(&mut io::repeat(0).take(2 * TAR_BLOCK), self.out).map_err(fail)?;
        self.out.flush().map_err(fail)
    }
}

#[cfg(test)]
#[path = "save_tests.rs"]
mod tests;
