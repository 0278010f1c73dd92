//! `HEAD /containers/{id}/archive`: what a path in the container is, without following a final
//! symlink, as Docker's `X-Docker-Container-Path-Stat` header carries it.

use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::readlinkat;
use nix::sys::stat::fstat;

use crate::engine::inroot;
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

/// Checks that `path` is absolute, as the API requires.
pub(super) fn check_absolute(path: &str) -> Result<()> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(EngineError::InvalidArgument(format!(
            "path {path} is not absolute"
        )))
    }
}

/// Docker follows a final symlink only when the path asks for what is behind it.
pub(super) fn follows_last(path: &str) -> bool {
    path.ends_with('/') || path.ends_with("/.")
}

/// Maps a failed lookup of `path` to Docker's error.
pub(super) fn lookup_error(path: &str, e: std::io::Error) -> EngineError {
    if inroot::is_missing(&e) {
        EngineError::NotFound(format!("Could not find the file {path} in container"))
    } else {
        EngineError::io(format!("stat {path}"), e)
    }
}

/// Stats `path` in the container (blocking).
pub fn stat(root: &Path, path: &str) -> Result<PathStat> {
    check_absolute(path)?;
    let anchor = inroot::open_root(root).map_err(|e| EngineError::io("open rootfs", e))?;
    let fd = inroot::open_path(&anchor, Path::new(path), follows_last(path))
        .map_err(|e| lookup_error(path, e))?;
    let st = fstat(fd.as_fd()).map_err(|e| EngineError::io(format!("stat {path}"), e.into()))?;
    let is_link = st.st_mode & libc::S_IFMT == libc::S_IFLNK;
    let link_target = if is_link {
        readlinkat(fd.as_fd(), "")
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let name = Path::new(path)
        .file_name()
        .map_or_else(|| "/".to_string(), |n| n.to_string_lossy().into_owned());
    let mtime =
        chrono::DateTime::from_timestamp(st.st_mtime, u32::try_from(st.st_mtime_nsec).unwrap_or(0))
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    Ok(PathStat {
        name,
        size: st.st_size,
        mode: go_file_mode(st.st_mode),
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
    fn a_symlink_is_stat_ed_itself_and_its_target_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        let s = stat(&root, "/escape").unwrap();
        assert_eq!(s.link_target, "/etc");
        assert_eq!(s.mode & (1 << 27), 1 << 27);
        let s = stat(&root, "/escape/").unwrap();
        assert_eq!(s.mode & (1 << 31), 1 << 31, "a trailing slash follows");
        assert!(matches!(
            stat(&root, "/nope"),
            Err(EngineError::NotFound(_))
        ));
        assert!(matches!(
            stat(&root, "relative"),
            Err(EngineError::InvalidArgument(_))
        ));
    }
}
