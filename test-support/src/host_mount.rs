//! Mounts a test makes on the host, detached (with everything below them) when dropped, so
//! they go even when the test fails.

use std::path::PathBuf;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// A mount made on the host for a test.
pub struct HostMount(pub PathBuf);

impl HostMount {
    /// A 1 MiB tmpfs at `dir` (made if missing).
    pub fn tmpfs(dir: PathBuf) -> Self {
        Self::tmpfs_sized(dir, "1m")
    }

    /// A tmpfs of `size` (tmpfs's `size=` option) at `dir`: room a test needs that the host's
    /// disk may not have, the directory removed with the mount.
    pub fn tmpfs_sized(dir: PathBuf, size: &str) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        mount(
            Some("tmpfs"),
            &dir,
            Some("tmpfs"),
            MsFlags::empty(),
            Some(format!("size={size}").as_str()),
        )
        .unwrap();
        HostMount(dir)
    }

    /// `dir` bound onto itself with `propagation` (`MS_SHARED`: as on a systemd host).
    pub fn bound(dir: PathBuf, propagation: MsFlags) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        mount(
            Some(&dir),
            &dir,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap();
        let guard = HostMount(dir);
        mount(
            None::<&str>,
            &guard.0,
            None::<&str>,
            propagation,
            None::<&str>,
        )
        .unwrap();
        guard
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = umount2(&self.0, MntFlags::MNT_DETACH);
        // Only when empty: the directory may have been there before the mount.
        let _ = std::fs::remove_dir(&self.0);
    }
}
