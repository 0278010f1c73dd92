//! OCI image-layout archives: index.json → (nested indexes →) manifest → config + layers, all
//! under `blobs/sha256/`. Names come from the `io.containerd.image.name` or
//! `org.opencontainers.image.ref.name` annotations.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::digest::{digest_hex, sha256_digest};
use super::import::go_arch;
use super::load::{invalid, loaded_lines, path_in, read_in};
use super::{ImageStore, Reference};
use crate::error::Result;

/// Annotation with the full image name, as containerd (and `docker save`) writes it.
pub(super) const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// Annotation with the OCI reference name (for `docker save`, the tag).
pub(super) const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Indexes may nest (a multi-platform index inside the layout's index); bound the recursion.
const MAX_DEPTH: usize = 4;

#[derive(Debug, Clone, Deserialize)]
struct Descriptor {
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

/// An index or a manifest; which one it is shows by which list is present.
#[derive(Debug, Deserialize)]
struct Blob {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

impl ImageStore {
    /// Loads every image the layout's index.json names.
    pub(super) fn load_oci_layout(
        &self,
        dir: &Path,
        progress: &super::progress::ProgressSink,
    ) -> Result<Vec<String>> {
        let index: Blob = serde_json::from_slice(&read_in(dir, "index.json")?)
            .map_err(|e| invalid(&format!("index.json: {e}")))?;
        let mut lines = Vec::new();
        for desc in index.manifests.unwrap_or_default() {
            let tags = match image_name(&desc.annotations) {
                Some(name) => vec![Reference::parse_tag(&name)?.familiar_tagged()],
                None => Vec::new(),
            };
            let record = self.load_oci_manifest(dir, &desc, 0, &tags, progress)?;
            lines.extend(loaded_lines(&record, &tags));
        }
        if lines.is_empty() {
            return Err(invalid("index.json names no images"));
        }
        Ok(lines)
    }

    fn load_oci_manifest(
        &self,
        dir: &Path,
        desc: &Descriptor,
        depth: usize,
        tags: &[String],
        progress: &super::progress::ProgressSink,
    ) -> Result<super::ImageRecord> {
        if depth > MAX_DEPTH {
            return Err(invalid("image indexes nested too deeply"));
        }
        let blob: Blob = serde_json::from_slice(&read_blob(dir, &desc.digest)?)
            .map_err(|e| invalid(&format!("manifest {}: {e}", desc.digest)))?;
        if let Some(manifests) = blob.manifests {
            let chosen =
                pick_platform(&manifests).ok_or_else(|| invalid("image index has no manifests"))?;
            return self.load_oci_manifest(dir, chosen, depth + 1, tags, progress);
        }
        let config_desc = blob
            .config
            .ok_or_else(|| invalid(&format!("manifest {} has no config", desc.digest)))?;
        let config = read_blob(dir, &config_desc.digest)?;
        let layers = blob
            .layers
            .iter()
            .map(|l| path_in(dir, &format!("blobs/sha256/{}", digest_hex(&l.digest)?)))
            .collect::<Result<Vec<_>>>()?;
        self.load_image(&config, &layers, tags, progress)
    }
}

/// Reads a blob and checks it hashes to its name, so the chain index → manifest → config is
/// as trustworthy as the digests that name it.
fn read_blob(dir: &Path, digest: &str) -> Result<Vec<u8>> {
    let bytes = read_in(dir, &format!("blobs/sha256/{}", digest_hex(digest)?))?;
    if sha256_digest(&bytes) != digest {
        return Err(invalid(&format!("blob {digest} does not match its digest")));
    }
    Ok(bytes)
}

/// containerd's full name wins; the OCI ref name counts only when it is a full reference
/// (the spec also allows a bare tag like `1.0`, which names no repository).
fn image_name(annotations: &BTreeMap<String, String>) -> Option<String> {
    if let Some(name) = annotations.get(CONTAINERD_NAME) {
        return Some(name.clone());
    }
    annotations
        .get(OCI_REF_NAME)
        .filter(|n| n.contains([':', '/']))
        .cloned()
}

/// This machine's linux/<arch> entry, else the only entry, else the first without a platform.
fn pick_platform(manifests: &[Descriptor]) -> Option<&Descriptor> {
    let native = manifests.iter().find(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.os == "linux" && p.architecture == go_arch())
    });
    native
        .or_else(|| (manifests.len() == 1).then(|| &manifests[0]))
        .or_else(|| manifests.iter().find(|d| d.platform.is_none()))
}
