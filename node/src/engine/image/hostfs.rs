//! The real [`LayerFs`]: device nodes, whiteouts, overlay xattrs and ownership on the host.
//! When the daemon is not root these are skipped (logged), so unprivileged unpacks still
//! produce every regular file, directory and link.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::{AtFlags, AT_FDCWD};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::unistd::{fchownat, Gid, Uid};

use super::LayerFs;

/// Host filesystem operations; privileged ones are no-ops unless the process is root.
#[derive(Debug, Clone)]
pub struct HostLayerFs {
    privileged: bool,
}

impl HostLayerFs {
    /// Privileged operations are performed only when the effective uid is 0.
    pub fn new() -> Self {
        HostLayerFs {
            privileged: nix::unistd::geteuid().is_root(),
        }
    }

    fn skip(&self, what: &str, path: &Path) -> bool {
        if !self.privileged {
            tracing::debug!(path = %path.display(), "not root: skipping {what}");
        }
        !self.privileged
    }
}

impl Default for HostLayerFs {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerFs for HostLayerFs {
    fn whiteout(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        if self.skip("whiteout", path) {
            return Ok(());
        }
        // overlayfs reads a 0/0 character device in a lower layer as "deleted here".
        mknod(path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))?;
        self.lchown(path, uid, gid)
    }

    fn set_opaque(&self, dir: &Path) -> io::Result<()> {
        if self.skip("opaque xattr", dir) {
            return Ok(());
        }
        let path = CString::new(dir.as_os_str().as_bytes())?;
        let name = c"trusted.overlay.opaque";
        let value = b"y";
        // SAFETY: `path` and `name` are NUL-terminated C strings that outlive the call; `value`
        // is a valid buffer of the length passed; lsetxattr does not keep the pointers.
        let rc = unsafe {
            libc::lsetxattr(
                path.as_ptr(),
                name.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn mknod(&self, path: &Path, mode: u32, major: u64, minor: u64) -> io::Result<()> {
        if self.skip("device node", path) {
            return Ok(());
        }
        let kind = SFlag::from_bits_truncate(mode & libc::S_IFMT);
        let perm = Mode::from_bits_truncate(mode & 0o7777);
        mknod(path, kind, perm, makedev(major, minor))?;
        Ok(())
    }

    fn lchown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        if !self.privileged {
            return Ok(());
        }
        let (uid, gid) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
        fchownat(AT_FDCWD, path, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unprivileged_host_fs_skips_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let fs = HostLayerFs { privileged: false };
        let path = dir.path().join("gone");
        fs.whiteout(&path, 0, 0).unwrap();
        fs.mknod(&path, libc::S_IFCHR | 0o666, 1, 3).unwrap();
        fs.set_opaque(dir.path()).unwrap();
        fs.lchown(dir.path(), 12345, 12345).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn privileged_host_fs_sets_the_opaque_xattr_when_root() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP (needs root): privileged_host_fs_sets_the_opaque_xattr_when_root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        if let Err(e) = HostLayerFs::new().set_opaque(dir.path()) {
            // tmpfs before 6.6 and some container filesystems refuse trusted.* xattrs.
            eprintln!("SKIP (no trusted xattrs here: {e}): privileged_host_fs_sets_the_opaque_xattr_when_root");
            return;
        }
        let path = CString::new(dir.path().as_os_str().as_bytes()).unwrap();
        let mut buf = [0u8; 4];
        // SAFETY: NUL-terminated strings and a buffer of the given length, all alive for the call.
        let n = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        assert_eq!(n, 1);
        assert_eq!(buf[0], b'y');
    }
}
