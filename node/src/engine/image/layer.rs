//! Unpacked layers under `layers/<diff id hex>/` and their uncompressed tars (a skeleton beside
//! the tree, or a whole blob): unpacking a (possibly compressed) layer tar with its diff id
//! verified, publishing both atomically, sharing them between images, reading the tar back,
//! deleting them when unused. Knows nothing of image records beyond their diff ids.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::digest::digest_hex;
use super::store::{remove_path, ImageStore, TMP_MARK};
use super::tar_split::{self, Recorded, Recorder};
use super::unpack::{unpack_with, Mode};
use super::ImageRecord;
use crate::error::{EngineError, Result};

pub(super) const LAYERS_DIR: &str = "layers";
const META_FILE: &str = "layer.json";
const ROOT_DIR: &str = "root";
/// Enough bytes to tell gzip, zstd, xz and bzip2 apart.
const MAGIC_LEN: usize = 6;

/// `layers/<hex>/layer.json`; its presence (after the rename) marks a complete layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LayerMeta {
    pub(super) diff_id: String,
    /// Bytes of regular-file content.
    pub(super) size: u64,
}

/// Reads a layer's metadata; None when the layer is not (completely) unpacked.
pub(super) fn layer_meta(root: &Path, diff_id: &str) -> Result<Option<LayerMeta>> {
    let path = root
        .join(LAYERS_DIR)
        .join(digest_hex(diff_id)?)
        .join(META_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| EngineError::CorruptRecord {
                    key: path.display().to_string(),
                    source,
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EngineError::io(format!("read {}", path.display()), e)),
    }
}

/// Wraps a stream that may be gzip-compressed (detected by magic) so it reads as plain tar.
pub(crate) fn plain_tar<'a>(mut raw: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    // Read the magic fully: a network body may arrive a byte at a time.
    let mut head = Vec::with_capacity(MAGIC_LEN);
    (&mut raw)
        .take(MAGIC_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| EngineError::io("read tar stream", e))?;
    let unsupported = |what: &str| {
        Err(EngineError::InvalidArgument(format!(
            "{what}-compressed tar streams are not supported"
        )))
    };
    let kind = match head.as_slice() {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => return unsupported("xz"),
        [b'B', b'Z', b'h', ..] => return unsupported("bzip2"),
        _ => Compression::None,
    };
    let whole = io::Cursor::new(head).chain(raw);
    match kind {
        Compression::Gzip => Ok(Box::new(flate2::read::MultiGzDecoder::new(whole))),
        Compression::Zstd => Ok(Box::new(ZstdFrames::new(Box::new(whole))?)),
        Compression::None => Ok(Box::new(whole)),
    }
}

enum Compression {
    None,
    Gzip,
    Zstd,
}

/// A zstd stream of one or more frames (as `zstd` and `pzstd` may write), read as one.
struct ZstdFrames<'a> {
    decoder: Option<Zstd<'a>>,
}

type Zstd<'a> =
    ruzstd::decoding::StreamingDecoder<Box<dyn Read + 'a>, ruzstd::decoding::FrameDecoder>;

impl<'a> ZstdFrames<'a> {
    fn new(source: Box<dyn Read + 'a>) -> Result<Self> {
        let decoder = ruzstd::decoding::StreamingDecoder::new(source)
            .map_err(|e| EngineError::InvalidArgument(format!("invalid zstd stream: {e}")))?;
        Ok(ZstdFrames {
            decoder: Some(decoder),
        })
    }
}

impl Read for ZstdFrames<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(0);
            };
            let n = decoder.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // End of a frame: another may follow.
            let Some(done) = self.decoder.take() else {
                return Ok(0);
            };
            let (mut source, frames) = done.into_parts();
            let mut probe = [0u8; 1];
            if source.read(&mut probe)? == 0 {
                return Ok(0);
            }
            let rest: Box<dyn Read + '_> = Box::new(io::Cursor::new(probe).chain(source));
            let next = ruzstd::decoding::StreamingDecoder::new_with_decoder(rest, frames)
                .map_err(|e| io::Error::other(format!("zstd frame: {e}")))?;
            self.decoder = Some(next);
        }
    }
}

impl ImageStore {
    /// Bytes of a layer's file content; 0 when it is not unpacked.
    pub fn layer_size(&self, diff_id: &str) -> u64 {
        layer_meta(&self.inner.root, diff_id)
            .ok()
            .flatten()
            .map_or(0, |m| m.size)
    }

    /// Layer directories for overlayfs, bottom layer first (`layers/<diff id hex>/root`).
    /// Internal error when a layer is missing.
    pub fn layer_dirs(&self, image: &ImageRecord) -> Result<Vec<PathBuf>> {
        image
            .config
            .rootfs
            .diff_ids
            .iter()
            .map(|diff_id| {
                let dir = self.inner.root.join(LAYERS_DIR).join(digest_hex(diff_id)?);
                if !dir.join(META_FILE).is_file() {
                    return Err(EngineError::Internal(format!(
                        "layer {diff_id} of image {} is missing",
                        image.id
                    )));
                }
                Ok(dir.join(ROOT_DIR))
            })
            .collect()
    }

    /// True when the layer with this diff id is unpacked and its tar kept.
    pub(super) fn has_layer(&self, diff_id: &str) -> Result<bool> {
        Ok(layer_meta(&self.inner.root, diff_id)?.is_some() && self.has_tar(diff_id)?)
    }

    /// True when the layer's tar can be read back: a whole blob, or a skeleton beside the tree.
    fn has_tar(&self, diff_id: &str) -> Result<bool> {
        Ok(self.has_blob(diff_id)?
            || self
                .layer_dir(diff_id)?
                .join(tar_split::INDEX_FILE)
                .is_file())
    }

    pub(super) fn layer_dir(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self.inner.root.join(LAYERS_DIR).join(digest_hex(diff_id)?))
    }

    /// The layer's uncompressed tar and its size; None when it was stored without one (by a
    /// berth before layer tars were kept). A tar put back from its skeleton fails its last read
    /// unless it hashes to `diff_id`. Blocking.
    pub(super) fn layer_tar(&self, diff_id: &str) -> Result<Option<(Box<dyn Read + Send>, u64)>> {
        let path = self.blob_path(diff_id)?;
        match File::open(&path) {
            Ok(file) => {
                let size = file
                    .metadata()
                    .map_err(|e| EngineError::io(format!("stat {}", path.display()), e))?
                    .len();
                return Ok(Some((Box::new(file), size)));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::io(format!("open {}", path.display()), e)),
        }
        let dir = self.layer_dir(diff_id)?;
        Ok(tar_split::open(&dir, &dir.join(ROOT_DIR), diff_id)?
            .map(|(tar, size)| (Box::new(tar) as Box<dyn Read + Send>, size)))
    }

    /// Unpacks a plain or gzip layer tar; the diff id (sha256 of the uncompressed stream) must
    /// equal `expected` when given. The tree is built under a temp name, synced, then renamed,
    /// so a crash never leaves a partial layer that looks complete.
    pub(super) fn unpack_layer(
        &self,
        raw: &mut dyn Read,
        expected: Option<&str>,
    ) -> Result<LayerMeta> {
        if let Some(diff_id) = expected {
            if let Some(meta) = layer_meta(&self.inner.root, diff_id)? {
                if !self.has_tar(diff_id)? {
                    // Unpacked before berth kept layer tars: keep this copy so `save` works.
                    self.write_layer_blob(raw, diff_id)?;
                }
                return Ok(meta);
            }
        }
        let layers = self.inner.root.join(LAYERS_DIR);
        let stem = match expected {
            Some(d) => digest_hex(d)?.to_string(),
            None => "import".to_string(),
        };
        let tmp = layers.join(format!("{stem}{TMP_MARK}{:016x}", rand::random::<u64>()));
        let result = self.unpack_into(&tmp, raw, expected);
        if result.is_err() {
            if let Err(e) = remove_path(&tmp) {
                tracing::warn!(path = %tmp.display(), error = %e, "cannot remove partial layer");
            }
        }
        result
    }

    fn unpack_into(
        &self,
        tmp: &Path,
        raw: &mut dyn Read,
        expected: Option<&str>,
    ) -> Result<LayerMeta> {
        let io = |what: &str, e| EngineError::io(format!("{what} {}", tmp.display()), e);
        let root = tmp.join(ROOT_DIR);
        fs::create_dir_all(&root).map_err(|e| io("create", e))?;
        // The uncompressed stream is recorded while it is unpacked: `save` and `push` need the
        // tar itself, since a tree cannot be re-packed into bytes that hash to the same diff id.
        let recorder = Recorder::new(tmp, &root, self.new_blob()?)?;
        let size = {
            let mut archive = tar::Archive::new(recorder.reader(plain_tar(raw)?));
            let size = unpack_with(
                &mut archive,
                &root,
                self.inner.fs.as_ref(),
                Mode::Layer,
                &mut recorder.hooks(),
            )?;
            // Trailing tar padding counts towards the diff id, so it is recorded too.
            std::io::copy(&mut archive.into_inner(), &mut std::io::sink())
                .map_err(|e| io("read layer for", e))?;
            size
        };
        let diff_id = recorder.digest();
        if let Some(want) = expected {
            if want != diff_id {
                return Err(EngineError::InvalidArgument(format!(
                    "layer digest mismatch: config says {want}, content is {diff_id}"
                )));
            }
        }
        let recorded = recorder.finish()?;
        let meta = LayerMeta {
            diff_id: diff_id.clone(),
            size,
        };
        let json = serde_json::to_vec(&meta).map_err(|e| EngineError::Internal(e.to_string()))?;
        fs::write(tmp.join(META_FILE), json).map_err(|e| io("write meta in", e))?;
        // One syncfs instead of an fsync per file: the whole tree is durable before the rename
        // makes it visible.
        let dir = File::open(tmp).map_err(|e| io("open", e))?;
        nix::unistd::syncfs(&dir).map_err(|e| io("syncfs", e.into()))?;
        // Blob before layer: a crash in between leaves a blob no image uses (collected on
        // open), never a new layer without its tar.
        if let Recorded::Whole(blob) = recorded {
            blob.publish(&diff_id)?;
        }
        publish_dir(tmp, &tmp.with_file_name(digest_hex(&diff_id)?))?;
        Ok(meta)
    }

    /// Deletes the layers in `diff_ids`, and their tars, that no remaining image uses. Caller
    /// holds the lock.
    pub(super) fn delete_unused_layers(&self, diff_ids: &[String]) -> Result<()> {
        let mut used = HashSet::new();
        for (_, rec) in self.inner.images.all::<ImageRecord>()? {
            used.extend(rec.config.rootfs.diff_ids);
        }
        let layers = self.inner.root.join(LAYERS_DIR);
        for diff_id in diff_ids.iter().filter(|d| !used.contains(*d)) {
            let dir = layers.join(digest_hex(diff_id)?);
            if dir.exists() {
                // Rename first so a crash mid-delete leaves a temp name, never a half layer.
                let doomed =
                    layers.join(format!("deleted{TMP_MARK}{:016x}", rand::random::<u64>()));
                fs::rename(&dir, &doomed)
                    .map_err(|e| EngineError::io(format!("rename {}", dir.display()), e))?;
                remove_path(&doomed)?;
            }
            // A crash before this leaves a blob no image uses, which the next open collects.
            self.remove_blob(diff_id)?;
            self.forget_blobs(diff_id)?;
        }
        Ok(())
    }

    /// Stores a layer's uncompressed tar (from plain or gzip `raw`) without unpacking it; the
    /// content must hash to `diff_id`.
    fn write_layer_blob(&self, raw: &mut dyn Read, diff_id: &str) -> Result<()> {
        let mut blob = self.new_blob()?;
        io::copy(&mut plain_tar(raw)?, &mut blob)
            .map_err(|e| EngineError::io(format!("copy layer {diff_id}"), e))?;
        blob.publish(diff_id)
    }
}

/// Renames the synced layer tree `tmp` to `final_dir` and syncs their directory.
fn publish_dir(tmp: &Path, final_dir: &Path) -> Result<()> {
    let io = |what: &str, e| EngineError::io(format!("{what} {}", tmp.display()), e);
    match fs::rename(tmp, final_dir) {
        Ok(()) => {
            let parent = final_dir.parent().unwrap_or(Path::new("/"));
            File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("sync parent of", e))
        }
        // Someone else published the same layer first: theirs is identical, keep it.
        Err(_) if final_dir.join(META_FILE).is_file() => remove_path(tmp),
        Err(e) => Err(io("publish", e)),
    }
}
