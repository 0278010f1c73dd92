//! `GET /containers/{id}/archive` and `export`: a tar of a path in the container. The tree is
//! walked by handles (`engine::tree_walk`), so a component swapped for a symlink mid-walk is
//! archived as the symlink it now is, never followed out of the root. Only regular files are read, exactly as many bytes as the
//! header says (a file truncated meanwhile is padded), so the archive stays well-formed.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::readlinkat;
use nix::sys::stat::{fstat, FileStat};
use tar::{EntryType, Header};

use super::stat::{check_absolute, follows_last, lookup_error};
use crate::engine::{inroot, tree_walk};
use crate::error::{EngineError, Result};

/// Writes a tar of `path` to `out` (blocking): the entry is named by the path's last component
/// (its contents, as `./…`, when the path ends in `/.`); symlinks are stored as links.
pub fn write_tar(root: &Path, path: &str, out: &mut dyn Write) -> Result<()> {
    check_absolute(path)?;
    let anchor = inroot::open_root(root).map_err(|e| EngineError::io("open rootfs", e))?;
    let top = inroot::open_path(&anchor, Path::new(path), follows_last(path))
        .map_err(|e| lookup_error(path, e))?;
    let name = if path.ends_with("/.") {
        PathBuf::from(".")
    } else {
        Path::new(path)
            .file_name()
            .map_or_else(|| PathBuf::from("."), PathBuf::from)
    };
    let mut walk = Walk::new(out);
    walk.tree(top, &name, true)
        .and_then(|()| walk.tar.finish())
        .map_err(|e| EngineError::io(format!("archive {path}"), e))
}

/// Writes the whole root filesystem as `docker export` does (blocking): entries named from the
/// root without a leading `./`, and no entry for the root itself.
pub fn write_export(root: &Path, out: &mut dyn Write) -> Result<()> {
    let anchor = inroot::open_root(root).map_err(|e| EngineError::io("open rootfs", e))?;
    let mut walk = Walk::new(out);
    walk.tree(anchor, Path::new(""), false)
        .and_then(|()| walk.tar.finish())
        .map_err(|e| EngineError::io("export", e))
}

struct Walk<'a> {
    tar: tar::Builder<&'a mut dyn Write>,
    /// Regular files with several links, by (device, inode): later ones become hard links.
    seen: HashMap<(u64, u64), PathBuf>,
}

impl<'a> Walk<'a> {
    fn new(out: &'a mut dyn Write) -> Self {
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        Walk {
            tar,
            seen: HashMap::new(),
        }
    }

    /// Archives the node `top` under `name`, and everything below it when it is a directory.
    fn tree(&mut self, top: OwnedFd, name: &Path, include_top: bool) -> io::Result<()> {
        let st = fstat(top.as_fd())?;
        if include_top {
            self.node(&top, &st, name)?;
        }
        if !tree_walk::is_dir(&st) {
            return Ok(());
        }
        tree_walk::walk(&top, name, &mut |fd, st, path| self.node(fd, st, path))
    }

    /// One entry: its header from `st`, and for a regular file exactly `st_size` bytes.
    fn node(&mut self, fd: &OwnedFd, st: &FileStat, name: &Path) -> io::Result<()> {
        let mut h = Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
        h.set_size(0);
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                h.set_entry_type(EntryType::Directory);
                // Named with a trailing slash, as Docker's archives name directories.
                let mut dir = name.as_os_str().to_owned();
                dir.push("/");
                self.tar.append_data(&mut h, dir, io::empty())
            }
            libc::S_IFLNK => {
                h.set_entry_type(EntryType::Symlink);
                let target = readlinkat(fd.as_fd(), "")?;
                self.tar.append_link(&mut h, name, target)
            }
            libc::S_IFREG => self.regular(fd, st, name, h),
            libc::S_IFIFO | libc::S_IFCHR | libc::S_IFBLK => {
                h.set_entry_type(match st.st_mode & libc::S_IFMT {
                    libc::S_IFIFO => EntryType::Fifo,
                    libc::S_IFCHR => EntryType::Char,
                    _ => EntryType::Block,
                });
                h.set_device_major(libc::major(st.st_rdev))?;
                h.set_device_minor(libc::minor(st.st_rdev))?;
                self.tar.append_data(&mut h, name, io::empty())
            }
            // Sockets have no tar form; Docker leaves them out too.
            _ => Ok(()),
        }
    }

    fn regular(
        &mut self,
        fd: &OwnedFd,
        st: &FileStat,
        name: &Path,
        mut h: Header,
    ) -> io::Result<()> {
        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.seen.get(&key) {
                h.set_entry_type(EntryType::Link);
                let first = first.clone();
                return self.tar.append_link(&mut h, name, first);
            }
            self.seen.insert(key, name.to_path_buf());
        }
        let size = u64::try_from(st.st_size).unwrap_or(0);
        h.set_entry_type(EntryType::Regular);
        h.set_size(size);
        let file = inroot::reopen_for_read(fd)?;
        // The container may grow or shrink the file while it is read: the header's size wins.
        let data = file.take(size).chain(io::repeat(0)).take(size);
        self.tar.append_data(&mut h, name, data)
    }
}
