//! `docker load`: a `docker save` archive (manifest.json; layers as `<id>/layer.tar` or under
//! `blobs/sha256/`) or an OCI image-layout archive (see `oci.rs`). The archive is extracted to
//! scratch space first because its index may come after the layers.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::layer::plain_tar;
use super::progress::{CountingReader, ProgressSink};
use super::scoped::{clean_entry_path, resolve_in_root};
use super::store::remove_path;
use super::unpack::{unpack, Mode};
use super::{null_as_default, ImageConfigFile, ImageRecord, ImageStore, Reference};
use crate::error::{EngineError, Result};

/// Bytes between two `Loading layer` reports.
const LOAD_PROGRESS_STEP: u64 = 512 * 1024;

/// One element of a `docker save` manifest.json.
#[derive(Debug, Deserialize)]
struct SaveManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default, deserialize_with = "null_as_default")]
    repo_tags: Vec<String>,
    #[serde(rename = "Layers", default, deserialize_with = "null_as_default")]
    layers: Vec<String>,
}

impl ImageStore {
    /// Blocking. Loads a `docker save` or OCI image-layout archive (plain or gzip) and returns
    /// Docker's lines: `Loaded image: busybox:latest`, or `Loaded image ID: sha256:...` for an
    /// untagged image. Each layer unpacked reports `Loading layer` bytes to `progress`.
    pub fn load(&self, archive: &mut dyn Read, progress: &ProgressSink) -> Result<Vec<String>> {
        let dir = self.temp_dir("load")?;
        let result = self.load_from(&dir, archive, progress);
        if let Err(e) = remove_path(&dir) {
            tracing::warn!(path = %dir.display(), error = %e, "cannot remove load scratch space");
        }
        result
    }

    fn load_from(
        &self,
        dir: &Path,
        archive: &mut dyn Read,
        progress: &ProgressSink,
    ) -> Result<Vec<String>> {
        let mut tar = tar::Archive::new(plain_tar(archive)?);
        unpack(&mut tar, dir, self.inner.fs.as_ref(), Mode::Archive)?;
        if dir.join("manifest.json").is_file() {
            self.load_docker_save(dir, progress)
        } else if dir.join("index.json").is_file() {
            self.load_oci_layout(dir, progress)
        } else {
            Err(invalid("no manifest.json or index.json in archive"))
        }
    }

    fn load_docker_save(&self, dir: &Path, progress: &ProgressSink) -> Result<Vec<String>> {
        let manifest: Vec<SaveManifest> = serde_json::from_slice(&read_in(dir, "manifest.json")?)
            .map_err(|e| invalid(&format!("manifest.json: {e}")))?;
        let mut lines = Vec::new();
        for entry in manifest {
            let tags = entry
                .repo_tags
                .iter()
                .map(|t| Reference::parse_tag(t).map(|r| r.familiar_tagged()))
                .collect::<Result<Vec<_>>>()?;
            let config = read_in(dir, &entry.config)?;
            let layers = entry
                .layers
                .iter()
                .map(|l| path_in(dir, l))
                .collect::<Result<Vec<_>>>()?;
            let record = self.load_image(&config, &layers, &tags, progress)?;
            lines.extend(loaded_lines(&record, &tags));
        }
        Ok(lines)
    }

    /// Unpacks the layers not present yet (each checked against the config's diff ids, and
    /// kept as a blob) and records the image. `config` is kept byte for byte so the id matches Docker's.
    pub(super) fn load_image(
        &self,
        config: &[u8],
        layers: &[PathBuf],
        tags: &[String],
        progress: &ProgressSink,
    ) -> Result<ImageRecord> {
        let parsed: ImageConfigFile =
            serde_json::from_slice(config).map_err(|e| invalid(&format!("image config: {e}")))?;
        let diff_ids = &parsed.rootfs.diff_ids;
        if diff_ids.len() != layers.len() {
            return Err(invalid(&format!(
                "image config lists {} layers but the manifest has {}",
                diff_ids.len(),
                layers.len()
            )));
        }
        for (diff_id, path) in diff_ids.iter().zip(layers) {
            if self.has_layer(diff_id)? {
                continue;
            }
            let file = File::open(path)
                .map_err(|e| EngineError::io(format!("open {}", path.display()), e))?;
            let total = file.metadata().map_or(0, |m| m.len());
            // Docker's id for a loaded layer: its diff id's first 12 hex digits.
            let id: String = diff_id
                .trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect();
            let sink = progress.clone();
            let mut reader = CountingReader::new(
                file,
                LOAD_PROGRESS_STEP,
                Box::new(move |n| sink.bytes(&id, "Loading layer", n, total)),
            );
            self.unpack_layer(&mut reader, Some(diff_id))?;
        }
        self.commit(config, parsed, tags)
    }
}

/// Docker's report for one loaded image.
pub(super) fn loaded_lines(record: &ImageRecord, tags: &[String]) -> Vec<String> {
    if tags.is_empty() {
        vec![format!("Loaded image ID: {}", record.id)]
    } else {
        tags.iter().map(|t| format!("Loaded image: {t}")).collect()
    }
}

pub(super) fn invalid(msg: &str) -> EngineError {
    EngineError::InvalidArgument(format!("invalid image archive: {msg}"))
}

/// `name` (from the archive's own JSON, so untrusted) resolved inside the extracted archive.
pub(super) fn path_in(dir: &Path, name: &str) -> Result<PathBuf> {
    let rel = clean_entry_path(Path::new(name))?;
    resolve_in_root(dir, &rel, true).map_err(|e| EngineError::io(format!("resolve {name}"), e))
}

/// Reads the file `name` of the extracted archive.
pub(super) fn read_in(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = path_in(dir, name)?;
    fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => invalid(&format!("{name} is missing")),
        _ => EngineError::io(format!("read {}", path.display()), e),
    })
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
