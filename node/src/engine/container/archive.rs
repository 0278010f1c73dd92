//! `cp`: stat, read and write paths inside a container's root filesystem, as tar archives.
//! Paths are resolved inside the rootfs as if it were `/`, so a symlink in the container cannot
//! send a copy to the host's files. A stopped container's rootfs is mounted for the operation.

use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{umount2, MntFlags};

use crate::engine::image::scoped::{clean_entry_path, resolve_in_root};
use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// What Docker's `X-Docker-Container-Path-Stat` header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits, which the docker CLI decodes.
    pub mode: u32,
    /// RFC 3339.
    pub mtime: String,
    pub link_target: String,
}

/// A container's root filesystem, mounted for as long as this lives when the container was
/// not running.
pub struct Rootfs {
    pub root: PathBuf,
    mounted_here: bool,
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        if self.mounted_here {
            let _ = umount2(&self.root, MntFlags::MNT_DETACH);
        }
    }
}

impl Engine {
    /// The container's rootfs, mounting it when the container is not running.
    pub(crate) async fn rootfs(&self, key: &str) -> Result<Rootfs> {
        let handle = self.lookup(key)?;
        let rec = handle.lock().await;
        let dir = self.paths.container_dir(&rec.id);
        let root = dir.join("bundle/rootfs");
        if rec.state.status.is_running() {
            return Ok(Rootfs {
                root,
                mounted_here: false,
            });
        }
        let image = self.images.resolve(&rec.config.image_id)?;
        let layers = self.images.layer_dirs(&image)?;
        crate::runtime::monitor::mount_overlay(
            &root,
            &layers,
            &dir.join("upper"),
            &dir.join("work"),
        )
        .map_err(|source| EngineError::MountFailed {
            target: root.clone(),
            source,
        })?;
        Ok(Rootfs {
            root,
            mounted_here: true,
        })
    }
}

/// Resolves `path` (absolute, inside the container) to a host path under `root`.
pub fn resolve(root: &Path, path: &str) -> Result<PathBuf> {
    if !path.starts_with('/') {
        return Err(EngineError::InvalidArgument(format!(
            "path {path} is not absolute"
        )));
    }
    let rel = clean_entry_path(Path::new(path))?;
    resolve_in_root(root, &rel, false).map_err(|e| EngineError::io(format!("resolve {path}"), e))
}

/// Stats `path` in the container without following a final symlink.
pub fn stat(root: &Path, path: &str) -> Result<PathStat> {
    let host = resolve(root, path)?;
    let md = std::fs::symlink_metadata(&host).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            EngineError::NotFound(format!("Could not find the file {path} in container"))
        }
        _ => EngineError::io(format!("stat {path}"), e),
    })?;
    let link_target = if md.file_type().is_symlink() {
        std::fs::read_link(&host)
            .map(|t| t.display().to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let name = Path::new(path)
        .file_name()
        .map_or_else(|| "/".to_string(), |n| n.to_string_lossy().into_owned());
    let mtime =
        chrono::DateTime::from_timestamp(md.mtime(), u32::try_from(md.mtime_nsec()).unwrap_or(0))
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    Ok(PathStat {
        name,
        size: i64::try_from(md.size()).unwrap_or(i64::MAX),
        mode: go_file_mode(md.mode()),
        mtime,
        link_target,
    })
}

/// Unix `st_mode` to Go's `os.FileMode`.
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut mode = st_mode & 0o777;
    mode |= match st_mode & libc::S_IFMT {
        libc::S_IFDIR => 1 << 31,
        libc::S_IFLNK => 1 << 27,
        libc::S_IFIFO => 1 << 25,
        libc::S_IFSOCK => 1 << 24,
        libc::S_IFBLK => 1 << 26,
        libc::S_IFCHR => (1 << 26) | (1 << 21),
        _ => 0,
    };
    if st_mode & libc::S_ISUID != 0 {
        mode |= 1 << 23;
    }
    if st_mode & libc::S_ISGID != 0 {
        mode |= 1 << 22;
    }
    if st_mode & libc::S_ISVTX != 0 {
        mode |= 1 << 20;
    }
    mode
}

/// Writes a tar of `path` to `out`: the entry is named by the path's last component (its
/// contents when the path ends in `/.`), symlinks are stored as links.
pub fn write_tar(root: &Path, path: &str, out: &mut dyn Write) -> Result<()> {
    let host = resolve(root, path)?;
    let io_err = |e| EngineError::io(format!("archive {path}"), e);
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let contents_only = path.ends_with("/.");
    let md = std::fs::symlink_metadata(&host).map_err(io_err)?;
    if md.is_dir() {
        let name = if contents_only {
            PathBuf::from(".")
        } else {
            PathBuf::from(host.file_name().unwrap_or_default())
        };
        tar.append_dir_all(&name, &host).map_err(io_err)?;
    } else {
        let name = host.file_name().unwrap_or_default().to_os_string();
        tar.append_path_with_name(&host, name).map_err(io_err)?;
    }
    tar.finish().map_err(io_err)
}

/// Unpacks the tar at `archive` into the directory `path` in the container. Modes are kept;
/// owners too with `keep_owners`, otherwise files belong to root, as with `docker cp`.
pub fn extract_tar(root: &Path, path: &str, archive: &Path, keep_owners: bool) -> Result<()> {
    let dest = resolve_in_root(root, &clean_entry_path(Path::new(path))?, true)
        .map_err(|e| EngineError::io(format!("resolve {path}"), e))?;
    let md = std::fs::metadata(&dest).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            EngineError::NotFound(format!("Could not find the file {path} in container"))
        }
        _ => EngineError::io(format!("stat {path}"), e),
    })?;
    if !md.is_dir() {
        return Err(EngineError::InvalidArgument(format!(
            "extraction point {path} is not a directory"
        )));
    }
    let file = std::fs::File::open(archive).map_err(|e| EngineError::io("open upload", e))?;
    let mut tar = tar::Archive::new(file);
    tar.set_preserve_permissions(true);
    tar.set_preserve_ownerships(keep_owners);
    tar.set_overwrite(true);
    for entry in tar
        .entries()
        .map_err(|e| EngineError::io("read archive", e))?
    {
        let mut entry = entry.map_err(|e| EngineError::io("read archive", e))?;
        // unpack_in refuses entries that would land outside `dest` (`..`, symlinked parents).
        let written = entry
            .unpack_in(&dest)
            .map_err(|e| EngineError::io(format!("extract into {path}"), e))?;
        if written && !keep_owners {
            let rel =
                clean_entry_path(&entry.path().map_err(|e| EngineError::io("entry name", e))?)?;
            let _ = std::os::unix::fs::lchown(dest.join(rel), Some(0), Some(0));
        }
    }
    // Make sure the directory itself keeps a usable mode even if the archive named it.
    let _ = std::fs::set_permissions(
        &dest,
        std::fs::Permissions::from_mode(md.permissions().mode()),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_modes_mark_directories_and_symlinks() {
        assert_eq!(go_file_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(libc::S_IFREG | 0o4755), (1 << 23) | 0o755);
    }

    #[test]
    fn a_symlink_in_the_container_cannot_reach_the_host() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/secret"), "inside").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        let host = resolve(&root, "/escape/secret").unwrap();
        assert!(host.starts_with(&root), "{}", host.display());
        assert_eq!(std::fs::read_to_string(host).unwrap(), "inside");
    }

    #[test]
    fn a_file_round_trips_with_its_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("dst")).unwrap();
        std::fs::write(root.join("src/f"), "data").unwrap();
        std::fs::set_permissions(root.join("src/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        let mut bytes = Vec::new();
        write_tar(&root, "/src/f", &mut bytes).unwrap();
        let archive = tmp.path().join("a.tar");
        std::fs::write(&archive, bytes).unwrap();
        extract_tar(&root, "/dst", &archive, true).unwrap();
        assert_eq!(std::fs::read_to_string(root.join("dst/f")).unwrap(), "data");
        let mode = std::fs::metadata(root.join("dst/f"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o640);
        assert!(matches!(
            stat(&root, "/nope"),
            Err(EngineError::NotFound(_))
        ));
        assert!(matches!(
            extract_tar(&root, "/src/f", &archive, true),
            Err(EngineError::InvalidArgument(_))
        ));
    }
}
