//! The `local` driver's files: a volume's directory, and the filesystem Docker-style driver
//! options (`type`, `device`, `o`) mount there.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::VolumeRecord;
use crate::error::{EngineError, Result};

/// `<root>/<name>/_data`, what containers mount.
pub fn mountpoint(root: &Path, name: &str) -> PathBuf {
    root.join(name).join("_data")
}

/// Makes the volume's directory (and mounts its filesystem when options say so).
pub fn create(root: &Path, v: &VolumeRecord) -> Result<()> {
    let dir = mountpoint(root, &v.name);
    std::fs::create_dir_all(&dir)
        .map_err(|e| EngineError::io(format!("create volume {}", v.name), e))?;
    ensure_mounted(root, v).inspect_err(|_| {
        // Nothing of a volume that was refused: its directories are empty and unmounted.
        let _ = std::fs::remove_dir(&dir);
        let _ = std::fs::remove_dir(root.join(&v.name));
    })
}

/// Mounts the volume's filesystem (driver options `type`/`device`/`o`) if it is not yet.
pub fn ensure_mounted(root: &Path, v: &VolumeRecord) -> Result<()> {
    let Some(fstype) = v.options.get("type").filter(|t| !t.is_empty()) else {
        return Ok(());
    };
    let dir = mountpoint(root, &v.name);
    if is_mount_point(&dir) {
        return Ok(());
    }
    let device = v
        .options
        .get("device")
        .map_or(fstype.as_str(), String::as_str);
    let data = v.options.get("o").map(String::as_str);
    let flags = if data.is_some_and(|o| o.split(',').any(|x| x == "bind")) {
        MsFlags::MS_BIND
    } else {
        MsFlags::empty()
    };
    mount(Some(device), &dir, Some(fstype.as_str()), flags, data).map_err(|e| {
        EngineError::InvalidArgument(format!(
            "error while mounting volume '{}': failed to mount local volume: mount {device}:{}, data: {}: {}",
            dir.display(),
            dir.display(),
            data.unwrap_or(""),
            crate::error::errno_text(e)
        ))
    })
}

/// Unmounts (if mounted) and deletes the volume's files.
pub fn destroy(root: &Path, name: &str) -> Result<()> {
    let dir = mountpoint(root, name);
    if is_mount_point(&dir) {
        let _ = umount2(&dir, MntFlags::MNT_DETACH);
    }
    match std::fs::remove_dir_all(root.join(name)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(EngineError::io(format!("remove volume {name}"), e)),
    }
}

fn is_mount_point(dir: &Path) -> bool {
    let target = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mounts")
        .map(|m| {
            m.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(target.as_str()))
        })
        .unwrap_or(false)
}

/// Bytes used under the volume's directory (read on a blocking thread).
pub async fn usage(root: &Path, name: &str) -> u64 {
    crate::engine::tree_walk::disk_size_off_worker(mountpoint(root, name)).await
}
