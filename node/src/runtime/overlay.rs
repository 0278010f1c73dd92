//! Overlay mounts of image layers: a container's root filesystem, a build step's, a stopped
//! container's for `cp`. The layers are given one at a time (`lowerdir+`, Linux 6.8): the
//! `lowerdir=a:b:…` option string of `mount(2)` must fit in one page, ~38 layers of berth's
//! paths, where Docker allows 125. A kernel without `lowerdir+` (or without the new mount
//! API) gets the option string, which holds as many as fit.

use std::ffi::CStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

use super::mount_api::{attach, FsContext};

/// Where an overlay's writes go: its upper and work directories, or nowhere (read-only).
#[derive(Clone, Copy)]
pub enum Writes<'a> {
    /// Writable: `upperdir` and `workdir`.
    To { upper: &'a Path, work: &'a Path },
    /// Read-only: the layers alone.
    Nowhere,
}

/// Mounts at `target` (made if missing) an overlay of `lower`, the image layers bottom first.
pub fn mount_overlay(target: &Path, lower: &[PathBuf], writes: Writes<'_>) -> io::Result<()> {
    std::fs::create_dir_all(target)?;
    match by_layer(target, lower, writes) {
        Err(Fallback::Unsupported) => by_option_string(target, lower, writes),
        Err(Fallback::No(e)) => Err(e),
        Ok(()) => Ok(()),
    }
}

/// `mount_overlay` for the engine, whose error names the mount point.
pub fn mount_layers(
    target: &Path,
    lower: &[PathBuf],
    writes: Writes<'_>,
) -> crate::error::Result<()> {
    mount_overlay(target, lower, writes).map_err(|source| crate::error::EngineError::MountFailed {
        target: target.to_path_buf(),
        source,
    })
}

/// Why the new mount API did not mount it.
enum Fallback {
    /// It, or `lowerdir+`, is not there (an older kernel, or a seccomp filter).
    Unsupported,
    /// It failed.
    No(io::Error),
}

fn by_layer(target: &Path, lower: &[PathBuf], writes: Writes<'_>) -> Result<(), Fallback> {
    let fs = FsContext::open(c"overlay").map_err(|e| match e.raw_os_error() {
        Some(libc::ENOSYS | libc::EPERM) => Fallback::Unsupported,
        _ => Fallback::No(e),
    })?;
    // The uppermost layer first, as in `lowerdir=`.
    for (i, dir) in lower.iter().rev().enumerate() {
        match fs.set(c"lowerdir+", dir.as_os_str().as_bytes()) {
            // An unknown parameter, or a path over the 255 bytes a parameter may hold (the
            // layers' paths are all as long). Later, EINVAL is overlayfs' limit of 500 layers.
            Err(e) if i == 0 && e.raw_os_error() == Some(libc::EINVAL) => {
                return Err(Fallback::Unsupported)
            }
            other => other.map_err(Fallback::No)?,
        }
    }
    let set = |key: &CStr, dir: &Path| fs.set(key, dir.as_os_str().as_bytes());
    let attrs = match writes {
        Writes::To { upper, work } => {
            set(c"upperdir", upper).map_err(Fallback::No)?;
            set(c"workdir", work).map_err(Fallback::No)?;
            0
        }
        Writes::Nowhere => libc::MOUNT_ATTR_RDONLY,
    };
    fs.create().map_err(Fallback::No)?;
    let tree = fs.mount(attrs).map_err(Fallback::No)?;
    attach(&tree, target).map_err(Fallback::No)
}

fn by_option_string(target: &Path, lower: &[PathBuf], writes: Writes<'_>) -> io::Result<()> {
    let lower: Vec<String> = lower
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let mut opts = format!("lowerdir={}", lower.join(":"));
    let flags = match writes {
        Writes::To { upper, work } => {
            opts.push_str(&format!(
                ",upperdir={},workdir={}",
                upper.display(),
                work.display()
            ));
            MsFlags::empty()
        }
        Writes::Nowhere => MsFlags::MS_RDONLY,
    };
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        flags,
        Some(opts.as_str()),
    )
    .map_err(io::Error::from)
}
