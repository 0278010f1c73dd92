//! `PUT /containers/{id}/archive`: unpacks an uploaded tar into a directory of the container.
//! The destination is opened once (inside the root) and every entry is placed relative to a
//! handle on it: parents are looked up with `RESOLVE_BENEATH` (a symlink may lead elsewhere
//! under the destination, never above it, as tar's `unpack_in`), and each node is made with
//! the `*at` calls on its parent's handle, `O_NOFOLLOW|O_EXCL`. Directory times and modes a
//! later entry could disturb are applied last, through handles opened without following any
//! symlink.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fchmod, fstatat, futimens, mkdirat, mknodat, utimensat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use tar::EntryType;

use super::stat::{check_absolute, lookup_error};
use crate::engine::image::scoped::clean_entry_path;
use crate::engine::inroot;
use crate::error::{EngineError, Result};

/// How an upload lands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Owners from the archive (`copyUIDGID`); otherwise the daemon's user (root).
    pub keep_owners: bool,
    /// `noOverwriteDirNonDir` (the docker CLI's `cp` sets it): an entry that would replace a
    /// directory with a non-directory, or the reverse, fails the upload instead.
    pub no_overwrite_dir_non_dir: bool,
}

/// Unpacks the tar at `archive` into the directory `path` in the container (blocking). Modes
/// are kept; owners too with `keep_owners`, otherwise files belong to the daemon's user (root),
/// as with `docker cp`. Whatever is in an entry's way is replaced.
pub fn extract_tar(root: &Path, path: &str, archive: &Path, keep_owners: bool) -> Result<()> {
    let options = ExtractOptions {
        keep_owners,
        ..ExtractOptions::default()
    };
    extract_tar_with(root, path, archive, options)
}

/// `extract_tar` with all of `PUT /containers/{id}/archive`'s options.
pub fn extract_tar_with(
    root: &Path,
    path: &str,
    archive: &Path,
    options: ExtractOptions,
) -> Result<()> {
    check_absolute(path)?;
    let anchor = inroot::open_root(root).map_err(|e| EngineError::io("open rootfs", e))?;
    let dest =
        inroot::open_path(&anchor, Path::new(path), true).map_err(|e| lookup_error(path, e))?;
    if inroot::file_type(&dest).map_err(|e| EngineError::io(format!("stat {path}"), e))?
        != SFlag::S_IFDIR
    {
        // Docker's words, without the path.
        return Err(EngineError::InvalidArgument(
            "extraction point is not a directory".into(),
        ));
    }
    let file = File::open(archive).map_err(|e| EngineError::io("open upload", e))?;
    let mut unpacker = Unpacker {
        dest,
        dest_path: Path::new(path).to_path_buf(),
        keep_owners: options.keep_owners,
        no_overwrite_dir_non_dir: options.no_overwrite_dir_non_dir,
        dirs: Vec::new(),
    };
    let mut tar = tar::Archive::new(file);
    let entries = tar
        .entries()
        .map_err(|e| EngineError::io("read archive", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| EngineError::io("read archive", e))?;
        let name = entry
            .path()
            .map_err(|e| EngineError::io("read archive entry name", e))?
            .into_owned();
        unpacker.entry(&mut entry, &name).map_err(|e| match e {
            EntryError::Engine(e) => e,
            EntryError::Io(e) => {
                EngineError::io(format!("extract {} into {path}", name.display()), e)
            }
        })?;
    }
    unpacker
        .finish_dirs()
        .map_err(|e| EngineError::io(format!("extract into {path}"), e))
}

enum EntryError {
    Engine(EngineError),
    Io(io::Error),
}

impl From<io::Error> for EntryError {
    fn from(e: io::Error) -> Self {
        EntryError::Io(e)
    }
}

impl From<Errno> for EntryError {
    fn from(e: Errno) -> Self {
        EntryError::Io(e.into())
    }
}

impl From<EngineError> for EntryError {
    fn from(e: EngineError) -> Self {
        EntryError::Engine(e)
    }
}

/// The parts of a tar header applied to every node.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
}

struct Unpacker {
    dest: OwnedFd,
    /// The destination as the container names it, for messages.
    dest_path: PathBuf,
    keep_owners: bool,
    no_overwrite_dir_non_dir: bool,
    /// Directories made or merged: (path under dest, mode, mtime), applied last.
    dirs: Vec<(PathBuf, u32, i64)>,
}

impl Unpacker {
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        name: &Path,
    ) -> std::result::Result<(), EntryError> {
        let header = entry.header();
        let kind = header.entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader | EntryType::XHeader | EntryType::GNULongName
        ) || kind == EntryType::GNULongLink
        {
            return Ok(());
        }
        // Owners are read only when kept (the docker CLI may leave them blank otherwise); a
        // blank or garbled time is the epoch, as tar's own unpacker takes it.
        let (uid, gid) = if self.keep_owners {
            (id32(header.uid()?)?, id32(header.gid()?)?)
        } else {
            (0, 0)
        };
        let meta = Meta {
            mode: header.mode()? & 0o7777,
            uid,
            gid,
            mtime: i64::try_from(header.mtime().unwrap_or(0)).unwrap_or(i64::MAX),
        };
        let rel = clean_entry_path(name)?;
        let Some(leaf) = rel.file_name().map(|f| f.to_os_string()) else {
            // "./": the destination itself keeps its own mode and owner, as Docker's.
            return Ok(());
        };
        let parent = self.parent_dir(rel.parent().unwrap_or(Path::new("")))?;
        let leaf = Path::new(&leaf);
        if kind != EntryType::Directory || !is_dir_at(&parent, leaf) {
            if self.no_overwrite_dir_non_dir {
                self.refuse_kind_change(&parent, leaf, kind == EntryType::Directory, &rel)?;
            }
            remove_at(&parent, leaf)?;
        }
        match kind {
            EntryType::Directory => {
                match mkdirat(parent.as_fd(), leaf, Mode::from_bits_truncate(0o700)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                let dir = open_nofollow(&parent, leaf, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
                self.own(&dir, &meta)?;
                self.dirs.push((rel.clone(), meta.mode, meta.mtime));
            }
            EntryType::Regular | EntryType::Continuous => {
                let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
                let fd = openat(
                    parent.as_fd(),
                    leaf,
                    flags | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )?;
                let mut file = File::from(fd);
                io::copy(entry, &mut file)?;
                self.own(&file, &meta)?;
                fchmod(file.as_fd(), Mode::from_bits_truncate(meta.mode))?;
                let t = TimeSpec::new(meta.mtime, 0);
                futimens(file.as_fd(), &t, &t)?;
            }
            EntryType::Symlink => {
                let target = entry.link_name()?.ok_or_else(|| no_target(name))?;
                symlinkat(target.as_ref(), parent.as_fd(), leaf)?;
                let (uid, gid) = self.owner(&meta);
                fchownat(
                    parent.as_fd(),
                    leaf,
                    Some(uid),
                    Some(gid),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
                set_times_at(&parent, leaf, meta.mtime)?;
            }
            EntryType::Link => {
                let target = entry.link_name()?.ok_or_else(|| no_target(name))?;
                let source = beneath(
                    &self.dest,
                    &clean_entry_path(&target)?,
                    OFlag::O_PATH | OFlag::O_NOFOLLOW,
                )?;
                linkat(
                    source.as_fd(),
                    "",
                    parent.as_fd(),
                    leaf,
                    AtFlags::AT_EMPTY_PATH,
                )?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let kind_bits = match kind {
                    EntryType::Char => SFlag::S_IFCHR,
                    EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let major = u64::from(header.device_major()?.unwrap_or(0));
                let minor = u64::from(header.device_minor()?.unwrap_or(0));
                let dev = libc::makedev(
                    u32::try_from(major).unwrap_or(0),
                    u32::try_from(minor).unwrap_or(0),
                );
                mknodat(
                    parent.as_fd(),
                    leaf,
                    kind_bits,
                    Mode::from_bits_truncate(meta.mode),
                    dev,
                )?;
                let (uid, gid) = self.owner(&meta);
                fchownat(
                    parent.as_fd(),
                    leaf,
                    Some(uid),
                    Some(gid),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
                set_times_at(&parent, leaf, meta.mtime)?;
            }
            other => {
                return Err(EngineError::InvalidArgument(format!(
                    "unhandled tar entry type {:?} for {}",
                    other.as_byte() as char,
                    name.display()
                ))
                .into())
            }
        }
        Ok(())
    }

    /// The directory `rel` under the destination, made (0755, root) where missing.
    fn parent_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
        match beneath(&self.dest, rel, dir_flags) {
            Ok(fd) => return Ok(fd),
            Err(e) if !inroot::is_missing(&e) => return Err(e),
            Err(_) => {}
        }
        let mut cur = self.dest.try_clone()?;
        let mut walked = PathBuf::new();
        for part in rel.components() {
            let Component::Normal(part) = part else {
                continue;
            };
            walked.push(part);
            match mkdirat(cur.as_fd(), part, Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e.into()),
            }
            cur = beneath(&self.dest, &walked, dir_flags)?;
        }
        Ok(cur)
    }

    fn owner(&self, meta: &Meta) -> (Uid, Gid) {
        if self.keep_owners {
            (Uid::from_raw(meta.uid), Gid::from_raw(meta.gid))
        } else {
            (Uid::effective(), Gid::effective())
        }
    }

    fn own(&self, fd: &impl AsFd, meta: &Meta) -> io::Result<()> {
        let (uid, gid) = self.owner(meta);
        Ok(fchown(fd.as_fd(), Some(uid), Some(gid))?)
    }

    /// Modes and times of the directories, deepest first (creating entries inside a directory
    /// changes its mtime). A directory replaced by something else since is skipped: it is
    /// reopened without following any symlink, so its bits can only land on itself.
    fn finish_dirs(&mut self) -> io::Result<()> {
        for (rel, mode, mtime) in self.dirs.iter().rev() {
            let how = OpenHow::new()
                .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
                .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
            let Ok(dir) =
                crate::engine::inroot::openat2_scoped(self.dest.as_fd(), rel.as_path(), how)
            else {
                continue;
            };
            fchmod(dir.as_fd(), Mode::from_bits_truncate(*mode))?;
            let t = TimeSpec::new(*mtime, 0);
            futimens(dir.as_fd(), &t, &t)?;
        }
        Ok(())
    }
}

/// `rel` under `dir`, never above it (`RESOLVE_BENEATH`), no magic links.
fn beneath(dir: &OwnedFd, rel: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    Ok(crate::engine::inroot::openat2_scoped(
        dir.as_fd(),
        rel,
        how,
    )?)
}

fn open_nofollow(parent: &OwnedFd, leaf: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    Ok(openat(
        parent.as_fd(),
        leaf,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?)
}

impl Unpacker {
    /// With `noOverwriteDirNonDir`: Docker's error when the entry would replace a directory
    /// with a non-directory or the reverse (a symlink is a non-directory, as `lstat` sees it).
    fn refuse_kind_change(
        &self,
        parent: &OwnedFd,
        leaf: &Path,
        entry_is_dir: bool,
        rel: &Path,
    ) -> std::result::Result<(), EntryError> {
        let existing_is_dir = match fstatat(parent.as_fd(), leaf, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st.st_mode & libc::S_IFMT == libc::S_IFDIR,
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if existing_is_dir == entry_is_dir {
            return Ok(());
        }
        let at = self.dest_path.join(rel);
        let (was, new) = if existing_is_dir {
            ("directory", "non-directory")
        } else {
            ("non-directory", "directory")
        };
        // Docker's words and status (a plain error: 500).
        Err(EntryError::Engine(EngineError::Internal(format!(
            "cannot overwrite {was} {at:?} with {new} {at:?}"
        ))))
    }
}

fn is_dir_at(parent: &OwnedFd, leaf: &Path) -> bool {
    fstatat(parent.as_fd(), leaf, AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// Docker replaces whatever is at the path (a directory with everything in it).
fn remove_at(parent: &OwnedFd, leaf: &Path) -> io::Result<()> {
    match unlinkat(parent.as_fd(), leaf, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EISDIR) => remove_tree_at(parent, leaf),
        Err(e) => Err(e.into()),
    }
}

/// Unlink calls a directory removal may make: a container adding files as fast as they go
/// could otherwise keep berthd here for ever.
const REMOVE_BUDGET: usize = 1_000_000;

/// Removes the directory `leaf` of `parent` and its contents, by handles (iteratively: a
/// container can nest directories deeper than any stack).
fn remove_tree_at(parent: &OwnedFd, leaf: &Path) -> io::Result<()> {
    let mut stack: Vec<(Rc<OwnedFd>, PathBuf)> =
        vec![(Rc::new(parent.try_clone()?), leaf.to_path_buf())];
    let mut budget = REMOVE_BUDGET;
    while let Some((dir_parent, name)) = stack.pop() {
        budget = budget
            .checked_sub(1)
            .ok_or_else(|| io::Error::other("directory keeps changing while it is removed"))?;
        match unlinkat(dir_parent.as_fd(), name.as_path(), UnlinkatFlags::RemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => continue,
            Err(Errno::ENOTEMPTY | Errno::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let dir = Rc::new(open_nofollow(
            &dir_parent,
            &name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        )?);
        let mut subdirs = Vec::new();
        for name in inroot::list_dir(&dir)? {
            budget = budget.saturating_sub(1);
            let child = PathBuf::from(name);
            match unlinkat(dir.as_fd(), child.as_path(), UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(Errno::EISDIR) => subdirs.push(child),
                Err(e) => return Err(e.into()),
            }
        }
        // Come back to this directory once its subdirectories are gone.
        stack.push((dir_parent, name));
        stack.extend(subdirs.into_iter().map(|c| (dir.clone(), c)));
    }
    Ok(())
}

fn set_times_at(parent: &OwnedFd, leaf: &Path, mtime: i64) -> io::Result<()> {
    let t = TimeSpec::new(mtime, 0);
    Ok(utimensat(
        parent.as_fd(),
        leaf,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )?)
}

fn id32(id: u64) -> io::Result<u32> {
    u32::try_from(id).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("uid/gid {id} out of range"),
        )
    })
}

fn no_target(name: &Path) -> EntryError {
    EntryError::Engine(EngineError::InvalidArgument(format!(
        "link entry {} has no target",
        name.display()
    )))
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;
