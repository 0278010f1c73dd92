//! Content-addressed blobs under `blobs/sha256/<hex>`: image config files and uncompressed layer
//! tars. A blob is written under a temp name, hashed as it is written, synced, and renamed only
//! when its digest is the one expected, so a visible blob is always complete and correct. Knows
//! nothing of which image uses which blob.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

use super::digest::{digest_hex, hasher_digest, sha256_digest};
use super::store::{ImageStore, TMP_MARK};
use crate::error::{EngineError, Result};

pub(super) const BLOBS_DIR: &str = "blobs/sha256";
/// Layer tars arrive in tar-block-sized reads; batch them into fewer write calls.
const WRITE_BUFFER: usize = 128 * 1024;

/// A blob being written under a temp name. Dropped without [`BlobWriter::publish`], it
/// removes its temp file.
pub(super) struct BlobWriter {
    file: Option<BufWriter<File>>,
    hasher: Sha256,
    tmp: PathBuf,
    dir: PathBuf,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob already published"))?;
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl BlobWriter {
    /// `sha256:<hex>` of everything written so far.
    pub(super) fn digest(&self) -> String {
        hasher_digest(&self.hasher)
    }

    /// Syncs the blob and makes it visible as `blobs/sha256/<hex of expected>`; InvalidArgument
    /// when what was written does not hash to `expected`. An existing blob of that digest is
    /// identical by construction and is kept.
    pub(super) fn publish(mut self, expected: &str) -> Result<()> {
        let actual = self.digest();
        if actual != expected {
            return Err(EngineError::InvalidArgument(format!(
                "content digest mismatch: expected {expected}, content is {actual}"
            )));
        }
        let path = self.dir.join(digest_hex(expected)?);
        let io = |what: &str, e| EngineError::io(format!("{what} {}", self.tmp.display()), e);
        let file = self.file.take().ok_or_else(|| {
            EngineError::Internal(format!("blob {} published twice", self.tmp.display()))
        })?;
        let file = file
            .into_inner()
            .map_err(|e| io("write blob", e.into_error()))?;
        file.sync_all().map_err(|e| io("sync blob", e))?;
        drop(file);
        if path.exists() {
            return Ok(()); // Drop removes the temp file.
        }
        fs::rename(&self.tmp, &path).map_err(|e| io("publish blob", e))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("sync directory of", e))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // After a successful rename the temp name is gone and this is a no-op.
        if let Err(e) = fs::remove_file(&self.tmp) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %self.tmp.display(), error = %e, "cannot remove unfinished blob");
            }
        }
    }
}

impl ImageStore {
    /// Where the blob `digest` lives (whether or not it exists).
    pub(super) fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.inner.root.join(BLOBS_DIR).join(digest_hex(digest)?))
    }

    /// True when the blob `digest` is stored.
    pub(super) fn has_blob(&self, digest: &str) -> Result<bool> {
        Ok(self.blob_path(digest)?.is_file())
    }

    /// Starts writing a blob whose digest is known only at the end.
    pub(super) fn new_blob(&self) -> Result<BlobWriter> {
        let dir = self.inner.root.join(BLOBS_DIR);
        let tmp = dir.join(format!("blob{TMP_MARK}{:016x}", rand::random::<u64>()));
        let file = File::create(&tmp)
            .map_err(|e| EngineError::io(format!("create {}", tmp.display()), e))?;
        Ok(BlobWriter {
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            hasher: Sha256::new(),
            tmp,
            dir,
        })
    }

    /// Writes `bytes` as a blob unless present and returns its digest.
    pub(super) fn write_blob(&self, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        if self.has_blob(&digest)? {
            return Ok(digest);
        }
        let mut blob = self.new_blob()?;
        blob.write_all(bytes)
            .map_err(|e| EngineError::io(format!("write blob {digest}"), e))?;
        blob.publish(&digest)?;
        Ok(digest)
    }

    /// Deletes a blob; a missing one is fine.
    pub(super) fn remove_blob(&self, digest: &str) -> Result<()> {
        let path = self.blob_path(digest)?;
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(EngineError::io(format!("remove {}", path.display()), e))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, ImageStore) {
        let (dir, _db, images) = crate::engine::image::testutil::fresh_store();
        (dir, images)
    }

    fn blob_names(dir: &tempfile::TempDir) -> Vec<String> {
        fs::read_dir(dir.path().join("image").join(BLOBS_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn a_blob_is_published_under_its_digest_only_when_it_matches() {
        let (dir, images) = setup();
        let digest = images.write_blob(b"hello").unwrap();
        assert_eq!(digest, sha256_digest(b"hello"));
        assert_eq!(
            fs::read(images.blob_path(&digest).unwrap()).unwrap(),
            b"hello"
        );
        let mut blob = images.new_blob().unwrap();
        blob.write_all(b"other").unwrap();
        let err = blob.publish(&digest).unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        assert_eq!(blob_names(&dir), vec![digest[7..].to_string()]);
    }

    #[test]
    fn a_dropped_blob_leaves_nothing() {
        let (dir, images) = setup();
        let mut blob = images.new_blob().unwrap();
        blob.write_all(b"layer").unwrap();
        assert_eq!(blob.digest(), sha256_digest(b"layer"));
        drop(blob);
        assert!(blob_names(&dir).is_empty());
    }
}
