//! Walking a directory tree of an untrusted root (a container's rootfs) by handles: each child
//! is opened `O_PATH|O_NOFOLLOW` under its parent's handle, so a component swapped for a
//! symlink mid-walk is seen as the symlink it now is, never followed out of the root.
//! Iterative, with a depth bound: a container can nest directories far deeper than any stack.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, FileStat, Mode};

use super::inroot;

/// Directory levels walked at most: each holds a descriptor.
pub const MAX_DEPTH: usize = 1024;

/// Calls `visit(handle, stat, path)` for every node below the directory `top` (not `top`
/// itself), parents before children, names in byte order; `path` is `prefix` joined with the
/// node's path under `top`. Nodes removed while the walk runs are skipped.
pub fn walk(
    top: &OwnedFd,
    prefix: &Path,
    visit: &mut dyn FnMut(&OwnedFd, &FileStat, &Path) -> io::Result<()>,
) -> io::Result<()> {
    let mut stack = vec![Level::open(top, prefix)?];
    while let Some(current) = stack.last_mut() {
        let Some(child) = current.names.pop() else {
            stack.pop();
            continue;
        };
        let path = current.prefix.join(&child);
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = match openat(current.dir.as_fd(), child.as_os_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ENOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        let st = fstat(fd.as_fd())?;
        visit(&fd, &st, &path)?;
        if is_dir(&st) {
            if stack.len() >= MAX_DEPTH {
                return Err(io::Error::other(format!(
                    "{} is nested more than {MAX_DEPTH} directories deep",
                    path.display()
                )));
            }
            stack.push(Level::open(&fd, &path)?);
        }
    }
    Ok(())
}

/// Whether `st` describes a directory.
pub fn is_dir(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// One directory being walked: its handle and the names still to visit (last first).
struct Level {
    dir: OwnedFd,
    names: Vec<OsString>,
    prefix: PathBuf,
}

impl Level {
    fn open(handle: &OwnedFd, prefix: &Path) -> io::Result<Level> {
        let dir = inroot::reopen_dir(handle)?;
        let mut names = inroot::list_dir(&dir)?;
        names.sort_unstable_by(|a, b| b.cmp(a));
        Ok(Level {
            dir,
            names,
            prefix: prefix.to_path_buf(),
        })
    }
}

/// Bytes in the files under the directory `dir` as Docker counts them (directories not
/// counted, a hard-linked file once), by handles and without recursion: `dir` may be a
/// container's upper layer or a volume a container filled. Unreadable parts count as empty.
pub fn disk_size(dir: &Path) -> u64 {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let Ok(top) = nix::fcntl::open(dir, flags, Mode::empty()) else {
        return 0;
    };
    let mut total = 0u64;
    let mut linked = std::collections::HashSet::new();
    let _partial = walk(&top, Path::new(""), &mut |_, st, _| {
        let counted = is_dir(st) || (st.st_nlink > 1 && !linked.insert((st.st_dev, st.st_ino)));
        if !counted {
            total = total.saturating_add(u64::try_from(st.st_size).unwrap_or(0));
        }
        Ok(())
    });
    total
}

/// [`disk_size`] on a blocking thread: a tree can be large, and async workers must not wait
/// on a container's files.
pub async fn disk_size_off_worker(dir: PathBuf) -> u64 {
    tokio::task::spawn_blocking(move || disk_size(&dir))
        .await
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_size_counts_files_once_and_no_directories_or_link_targets() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path();
        std::fs::create_dir_all(top.join("a/b")).unwrap();
        std::fs::write(top.join("a/b/f"), vec![0u8; 5000]).unwrap();
        std::fs::hard_link(top.join("a/b/f"), top.join("a/g")).unwrap();
        std::fs::write(top.join("h"), b"abc").unwrap();
        // A symlink counts as its own length, never as what it points at.
        std::os::unix::fs::symlink("/usr/bin", top.join("l")).unwrap();
        assert_eq!(disk_size(top), 5000 + 3 + "/usr/bin".len() as u64);
        assert_eq!(disk_size(&top.join("missing")), 0);
    }
}
