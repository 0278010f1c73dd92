//! A recording [`LayerFs`] for unit tests: privileged operations are written down, not done,
//! so whiteout conversion and ownership are testable without root.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::LayerFs;

/// One privileged operation the unpacker asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FsCall {
    Whiteout {
        path: PathBuf,
        uid: u32,
        gid: u32,
    },
    Opaque {
        dir: PathBuf,
    },
    Mknod {
        path: PathBuf,
        mode: u32,
        major: u64,
        minor: u64,
    },
    Lchown {
        path: PathBuf,
        uid: u32,
        gid: u32,
    },
}

/// Records calls; `fail_at` makes the Nth call (0-based) fail with EPERM.
#[derive(Debug, Default)]
pub(crate) struct FakeLayerFs {
    pub(crate) calls: Mutex<Vec<FsCall>>,
    pub(crate) fail_at: Option<usize>,
}

impl FakeLayerFs {
    fn record(&self, call: FsCall) -> io::Result<()> {
        let mut calls = self
            .calls
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?;
        let n = calls.len();
        calls.push(call);
        if self.fail_at == Some(n) {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        Ok(())
    }

    /// The calls so far, paths made relative to `root` for readable assertions.
    pub(crate) fn calls_under(&self, root: &Path) -> Vec<FsCall> {
        let rel = |p: &PathBuf| {
            p.strip_prefix(root)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| p.clone())
        };
        let calls = self.calls.lock().map(|c| c.clone()).unwrap_or_default();
        calls
            .into_iter()
            .map(|c| match c {
                FsCall::Whiteout { path, uid, gid } => FsCall::Whiteout {
                    path: rel(&path),
                    uid,
                    gid,
                },
                FsCall::Opaque { dir } => FsCall::Opaque { dir: rel(&dir) },
                FsCall::Mknod {
                    path,
                    mode,
                    major,
                    minor,
                } => FsCall::Mknod {
                    path: rel(&path),
                    mode,
                    major,
                    minor,
                },
                FsCall::Lchown { path, uid, gid } => FsCall::Lchown {
                    path: rel(&path),
                    uid,
                    gid,
                },
            })
            .collect()
    }
}

impl LayerFs for FakeLayerFs {
    fn whiteout(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        self.record(FsCall::Whiteout {
            path: path.to_path_buf(),
            uid,
            gid,
        })
    }
    fn set_opaque(&self, dir: &Path) -> io::Result<()> {
        self.record(FsCall::Opaque {
            dir: dir.to_path_buf(),
        })
    }
    fn mknod(&self, path: &Path, mode: u32, major: u64, minor: u64) -> io::Result<()> {
        self.record(FsCall::Mknod {
            path: path.to_path_buf(),
            mode,
            major,
            minor,
        })
    }
    fn lchown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        self.record(FsCall::Lchown {
            path: path.to_path_buf(),
            uid,
            gid,
        })
    }
}
