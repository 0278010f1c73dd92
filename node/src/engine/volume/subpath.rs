//! `VolumeOptions.Subpath` (API 1.45): a directory or file inside a volume, mounted alone.
//! Containers write into volumes, so the subpath is hostile input resolved against hostile
//! content: it is opened beneath the volume with no symlink followed at all (moby's
//! `safepath`: `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`), and what was opened, not the path, is
//! mounted (through the descriptor), so a swap after the check changes nothing.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag, OpenHow, ResolveFlag, AT_FDCWD};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fstat, Mode, SFlag};

use crate::error::{EngineError, Result};

/// Opens `subpath` beneath the volume directory `base`, as moby's `safepath.Join`: any symlink
/// on the way, or a path that does not exist, is Docker's "cannot access path" error.
pub fn open(base: &Path, subpath: &str) -> Result<OwnedFd> {
    let shown = base.join(subpath);
    // Go's words for the errno: the C library's, lower case, no number.
    let not_accessible = |e: Errno| {
        let text = std::io::Error::from(e).to_string();
        let text = text.split(" (os error").next().unwrap_or_default();
        let mut chars = text.chars();
        let lower: String = chars
            .next()
            .map(|c| c.to_ascii_lowercase())
            .into_iter()
            .chain(chars)
            .collect();
        EngineError::NotFound(format!("cannot access path {}: {lower}", shown.display()))
    };
    let root = openat(
        AT_FDCWD,
        base,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(not_accessible)?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_MAGICLINKS
                | ResolveFlag::RESOLVE_NO_SYMLINKS,
        );
    match crate::engine::inroot::openat2_scoped(&root, subpath, how) {
        Ok(fd) => Ok(fd),
        Err(Errno::EXDEV) => Err(EngineError::InvalidArgument(format!(
            "path concatenation escapes the base directory, base: {}, subpath: {subpath}",
            base.display()
        ))),
        Err(e) => Err(not_accessible(e)),
    }
}

/// The subpath as an open directory when it is one and empty (for copy-up); else `None`.
pub fn open_empty_dir(base: &Path, subpath: &str) -> Option<OwnedFd> {
    let at = open(base, subpath).ok()?;
    let dir = openat(
        &at,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    // Listed through the handle itself, not the path.
    let mut listing = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd())).ok()?;
    listing.next().is_none().then_some(dir)
}

/// The host mounts made for one start, one per subpath mount, under the container's
/// directory (where the monitor's mount namespace keeps them); detached when dropped. The
/// container holds its own copy by then, so they are needed only while it starts.
#[derive(Debug, Default)]
pub struct SubpathMounts {
    points: Vec<PathBuf>,
}

impl SubpathMounts {
    /// Mounts each `(target, volume directory, subpath)` at `<dir>/<n>`; returns the guard and
    /// each target's mount point, the source the runtime spec binds.
    pub fn make(
        dir: &Path,
        wanted: &[(String, PathBuf, String)],
    ) -> Result<(Self, Vec<(String, PathBuf)>)> {
        let mut made = SubpathMounts::default();
        let mut sources = Vec::new();
        if wanted.is_empty() {
            return Ok((made, sources));
        }
        let io = |what: String, e: std::io::Error| EngineError::io(what, e);
        std::fs::create_dir_all(dir).map_err(|e| io(format!("create {}", dir.display()), e))?;
        for (n, (target, base, subpath)) in wanted.iter().enumerate() {
            let fd = open(base, subpath)?;
            let point = dir.join(n.to_string());
            // A daemon killed mid-start may have left one.
            let _ = umount2(&point, MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(&point).or_else(|_| std::fs::remove_file(&point));
            let is_dir = fstat(&fd)
                .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
                .map_err(|e| io(format!("stat subpath {subpath}"), e.into()))?;
            if is_dir {
                std::fs::create_dir(&point)
            } else {
                std::fs::File::create(&point).map(drop)
            }
            .map_err(|e| io(format!("create {}", point.display()), e))?;
            let source = format!("/proc/self/fd/{}", fd.as_raw_fd());
            mount(
                Some(source.as_str()),
                &point,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| io(format!("mount subpath {subpath}"), e.into()))?;
            made.points.push(point.clone());
            sources.push((target.clone(), point));
        }
        Ok((made, sources))
    }
}

impl Drop for SubpathMounts {
    fn drop(&mut self) {
        for p in &self.points {
            let _ = umount2(p, MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(p).or_else(|_| std::fs::remove_file(p));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subpath_opens_beneath_the_volume_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        std::fs::write(base.join("a/f"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", base.join("out")).unwrap();
        std::os::unix::fs::symlink("a", base.join("inner")).unwrap();
        assert!(open(base, "a/b").is_ok());
        assert!(open(base, "a/f").is_ok());
        for bad in ["out", "inner/b", "missing"] {
            let e = open(base, bad).unwrap_err().to_string();
            assert!(e.starts_with("cannot access path "), "{bad}: {e}");
        }
        let e = open(base, "a/../../x").unwrap_err().to_string();
        assert!(e.contains("escapes the base directory"), "{e}");
    }
}
