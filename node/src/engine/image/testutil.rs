//! Test helpers: builds small tar streams, including hostile ones the tar crate's own path
//! checks would refuse to write.

use std::path::Path;
use std::sync::Arc;

use tar::{EntryType, Header};

use super::fake::FakeLayerFs;
use super::ImageStore;
use crate::store::Store;

/// Opens the image store under `dir` with a fake layer fs (no root needed).
pub(crate) fn open_store(dir: &Path, db: &Store) -> ImageStore {
    ImageStore::open_with(&dir.join("image"), db, Arc::new(FakeLayerFs::default())).unwrap()
}

/// A fresh store in a temp dir; keep the guard and the db alive as long as the store.
pub(crate) fn fresh_store() -> (tempfile::TempDir, Store, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let db = Store::temporary().unwrap();
    let images = open_store(dir.path(), &db);
    (dir, db, images)
}

/// Owner and mtime every built entry gets.
pub(crate) const UID: u32 = 1000;
pub(crate) const MTIME: u64 = 1_600_000_000;

/// Builds a tar in memory.
pub(crate) struct TarBuilder {
    b: tar::Builder<Vec<u8>>,
}

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(UID.into());
    h.set_gid(UID.into());
    h.set_mtime(MTIME);
    h.set_size(size);
    h
}

impl TarBuilder {
    pub(crate) fn new() -> Self {
        TarBuilder {
            b: tar::Builder::new(Vec::new()),
        }
    }

    pub(crate) fn dir(mut self, path: &str, mode: u32) -> Self {
        let mut h = header(EntryType::Directory, mode, 0);
        self.b.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    pub(crate) fn file(mut self, path: &str, mode: u32, data: &[u8]) -> Self {
        let mut h = header(EntryType::Regular, mode, data.len() as u64);
        self.b.append_data(&mut h, path, data).unwrap();
        self
    }

    pub(crate) fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = header(EntryType::Symlink, 0o777, 0);
        self.b.append_link(&mut h, path, target).unwrap();
        self
    }

    pub(crate) fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut h = header(EntryType::Link, 0o644, 0);
        self.b.append_link(&mut h, path, target).unwrap();
        self
    }

    pub(crate) fn node(
        mut self,
        path: &str,
        kind: EntryType,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Self {
        let mut h = header(kind, mode, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.b.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    /// An entry whose name and link name are written byte for byte, unchecked.
    pub(crate) fn raw(
        mut self,
        name: &str,
        kind: EntryType,
        link: Option<&str>,
        data: &[u8],
    ) -> Self {
        let mut h = header(kind, 0o644, data.len() as u64);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            old.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

/// gzip-compresses `data`.
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}
