//! Unpacks a tar stream into a directory: a layer (owners, device nodes, overlayfs whiteouts) or
//! a plain archive (files, dirs, symlinks only). Entry names are untrusted: every path is resolved
//! inside the destination. Does not hash or rename; the caller owns atomicity.

use std::fs::{self, File, FileTimes, OpenOptions, Permissions};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, AT_FDCWD};
use nix::sys::stat::{fchmod, futimens, utimensat, Mode as NixMode, UtimensatFlags};
use nix::sys::time::TimeSpec;
use tar::EntryType;

use super::scoped::{clean_entry_path, resolve_in_root};
use super::LayerFs;
use crate::error::{EngineError, Result};

const WHITEOUT_PREFIX: &str = ".wh.";
const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";

/// What kind of tar is being unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// An image layer: owners, devices and whiteouts are applied through the [`LayerFs`].
    Layer,
    /// A transport archive (`docker save`): regular files, directories and symlinks only.
    Archive,
}

/// What an unpack tells whoever records the stream (the layer's tar-split).
pub(crate) trait UnpackHooks {
    /// The next `len` bytes read are the content of the regular file `target`.
    fn content(&mut self, target: &Path, len: u64) -> Result<()>;
    /// Something an earlier entry made is about to be removed.
    fn replacing(&mut self) -> Result<()>;
}

struct NoHooks;

impl UnpackHooks for NoHooks {
    fn content(&mut self, _: &Path, _: u64) -> Result<()> {
        Ok(())
    }
    fn replacing(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Unpacks every entry of `archive` under `dest` (which must exist) and returns the sum of the
/// regular files' sizes. Does not read past the end-of-archive marker.
pub(crate) fn unpack<R: Read>(
    archive: &mut tar::Archive<R>,
    dest: &Path,
    fs: &dyn LayerFs,
    mode: Mode,
) -> Result<u64> {
    unpack_with(archive, dest, fs, mode, &mut NoHooks)
}

/// As [`unpack`], telling `hooks` where files' content is and what gets replaced.
pub(crate) fn unpack_with<R: Read>(
    archive: &mut tar::Archive<R>,
    dest: &Path,
    fs: &dyn LayerFs,
    mode: Mode,
    hooks: &mut dyn UnpackHooks,
) -> Result<u64> {
    let mut unpacker = Unpacker {
        dest,
        fs,
        mode,
        size: 0,
        dirs: Vec::new(),
        hooks,
    };
    let entries = archive
        .entries()
        .map_err(|e| EngineError::io("read tar", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| EngineError::io("read tar entry", e))?;
        let name = entry
            .path()
            .map_err(|e| EngineError::io("read tar entry name", e))?
            .into_owned();
        unpacker
            .entry(&mut entry, &name)
            .map_err(|e| with_context(e, &name))?;
    }
    finish_dirs(dest, &unpacker.dirs)?;
    Ok(unpacker.size)
}

/// Directory modes and times last: creating entries inside a directory would change its mtime.
/// A later entry may have replaced a directory with a symlink (`x/` then `x -> /etc`), so each
/// is reopened under `dest` without following any symlink and changed through that handle;
/// one that is no longer a directory is skipped, and its bits land nowhere else.
fn finish_dirs(dest: &Path, dirs: &[(PathBuf, u32, u64)]) -> Result<()> {
    let root = crate::engine::inroot::open_root(dest).map_err(io_at(dest))?;
    for (dir, perm, mtime) in dirs {
        let rel = dir.strip_prefix(dest).unwrap_or(Path::new(""));
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
        let fd = match crate::engine::inroot::openat2_scoped(&root, rel, how) {
            Ok(fd) => fd,
            Err(Errno::ELOOP | Errno::ENOTDIR | Errno::ENOENT | Errno::EXDEV) => continue,
            Err(e) => return Err(EngineError::io(dir.display().to_string(), e.into())),
        };
        let secs = libc::time_t::try_from(*mtime).unwrap_or(libc::time_t::MAX);
        let t = TimeSpec::new(secs, 0);
        fchmod(&fd, NixMode::from_bits_truncate(*perm))
            .and_then(|()| futimens(&fd, &t, &t))
            .map_err(|e| EngineError::io(dir.display().to_string(), e.into()))?;
    }
    Ok(())
}

fn with_context(e: EngineError, name: &Path) -> EngineError {
    match e {
        EngineError::Io { context, source } => {
            EngineError::io(format!("unpack {}: {context}", name.display()), source)
        }
        other => other,
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> EngineError + '_ {
    move |e| EngineError::io(path.display().to_string(), e)
}

struct Unpacker<'a> {
    dest: &'a Path,
    fs: &'a dyn LayerFs,
    mode: Mode,
    size: u64,
    /// (path, permission bits, mtime) applied once everything is unpacked.
    dirs: Vec<(PathBuf, u32, u64)>,
    hooks: &'a mut dyn UnpackHooks,
}

/// The parts of a tar header applied to every node.
struct Meta {
    perm: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
}

impl Unpacker<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, name: &Path) -> Result<()> {
        let header = entry.header();
        let kind = header.entry_type();
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            return Ok(());
        }
        let meta = Meta {
            perm: header.mode().map_err(io_at(name))? & 0o7777,
            uid: id32(header.uid().map_err(io_at(name))?, name)?,
            gid: id32(header.gid().map_err(io_at(name))?, name)?,
            mtime: header.mtime().map_err(io_at(name))?,
        };
        let rel = clean_entry_path(name)?;
        let Some(file_name) = rel.file_name().map(|f| f.to_string_lossy().into_owned()) else {
            // "./": the entry describes the root directory itself.
            if kind == EntryType::Directory && self.mode == Mode::Layer {
                self.fs
                    .lchown(self.dest, meta.uid, meta.gid)
                    .map_err(io_at(self.dest))?;
                self.dirs
                    .push((self.dest.to_path_buf(), meta.perm, meta.mtime));
            }
            return Ok(());
        };
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let parent = resolve_in_root(self.dest, parent_rel, true).map_err(io_at(name))?;
        fs::create_dir_all(&parent).map_err(io_at(&parent))?;

        if self.mode == Mode::Layer && file_name.starts_with(WHITEOUT_PREFIX) {
            return self.whiteout(&parent, &file_name, &meta);
        }
        let target = parent.join(&file_name);
        self.remove_existing(&target, kind == EntryType::Directory)?;
        self.create(entry, kind, name, &target, &meta)
    }

    fn create<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        kind: EntryType,
        name: &Path,
        target: &Path,
        meta: &Meta,
    ) -> Result<()> {
        match kind {
            EntryType::Directory => {
                if fs::symlink_metadata(target).is_err() {
                    fs::create_dir(target).map_err(io_at(target))?;
                }
                self.chown(target, meta)?;
                self.dirs
                    .push((target.to_path_buf(), meta.perm, meta.mtime));
                Ok(())
            }
            EntryType::Regular | EntryType::Continuous => {
                let mut file = create_file(target)?;
                self.hooks.content(target, entry.size())?;
                self.size += io::copy(entry, &mut file).map_err(io_at(target))?;
                // Owner before mode: chown clears setuid/setgid bits.
                self.chown(target, meta)?;
                file.set_permissions(Permissions::from_mode(meta.perm))
                    .map_err(io_at(target))?;
                let t = SystemTime::UNIX_EPOCH + Duration::from_secs(meta.mtime);
                file.set_times(FileTimes::new().set_accessed(t).set_modified(t))
                    .map_err(io_at(target))
            }
            EntryType::Symlink => {
                let link = link_name(entry, name)?;
                std::os::unix::fs::symlink(&link, target).map_err(io_at(target))?;
                self.chown(target, meta)?;
                set_times(target, meta.mtime).map_err(io_at(target))
            }
            EntryType::Link => {
                let link = link_name(entry, name)?;
                let source = resolve_in_root(self.dest, &clean_entry_path(&link)?, false)
                    .map_err(io_at(&link))?;
                // The link shares the source's inode, so its metadata is already right.
                fs::hard_link(&source, target).map_err(io_at(target))
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                self.node(entry.header(), kind, target, meta)
            }
            other => Err(EngineError::InvalidArgument(format!(
                "unhandled tar entry type {:?} for {}",
                other.as_byte() as char,
                name.display()
            ))),
        }
    }

    /// overlayfs whiteouts: `.wh.<name>` deletes `<name>` from lower layers and `.wh..wh..opq`
    /// hides all of a directory's lower contents; other `.wh..wh.*` names are aufs metadata.
    fn whiteout(&mut self, parent: &Path, file_name: &str, meta: &Meta) -> Result<()> {
        if file_name == WHITEOUT_OPAQUE {
            return self.fs.set_opaque(parent).map_err(io_at(parent));
        }
        if file_name.starts_with(WHITEOUT_META_PREFIX) {
            return Ok(());
        }
        let hidden = &file_name[WHITEOUT_PREFIX.len()..];
        if hidden.is_empty() || hidden == "." || hidden == ".." {
            return Err(EngineError::InvalidArgument(format!(
                "invalid whiteout {file_name}"
            )));
        }
        let target = parent.join(hidden);
        self.remove_existing(&target, false)?;
        self.fs
            .whiteout(&target, meta.uid, meta.gid)
            .map_err(io_at(&target))
    }

    /// Device nodes (through the [`LayerFs`], so possibly skipped when not root) and fifos;
    /// a transport archive has no business carrying either, so they are ignored there.
    fn node(
        &self,
        header: &tar::Header,
        kind: EntryType,
        target: &Path,
        meta: &Meta,
    ) -> Result<()> {
        if self.mode == Mode::Archive {
            return Ok(());
        }
        if kind == EntryType::Fifo {
            let perm = nix::sys::stat::Mode::from_bits_truncate(meta.perm);
            nix::unistd::mkfifo(target, perm)
                .map_err(|e| EngineError::io(target.display().to_string(), e.into()))?;
        } else {
            let major = header.device_major().map_err(io_at(target))?.unwrap_or(0);
            let minor = header.device_minor().map_err(io_at(target))?.unwrap_or(0);
            let type_bits = if kind == EntryType::Char {
                libc::S_IFCHR
            } else {
                libc::S_IFBLK
            };
            self.fs
                .mknod(target, type_bits | meta.perm, major.into(), minor.into())
                .map_err(io_at(target))?;
        }
        if fs::symlink_metadata(target).is_ok() {
            self.chown(target, meta)?;
            fs::set_permissions(target, Permissions::from_mode(meta.perm))
                .map_err(io_at(target))?;
            set_times(target, meta.mtime).map_err(io_at(target))?;
        }
        Ok(())
    }

    /// Docker replaces whatever is at the path, except that a directory over a directory
    /// merges. In a layer, which starts empty, whatever is there an earlier entry made.
    fn remove_existing(&mut self, target: &Path, new_is_dir: bool) -> Result<()> {
        let is_dir = match fs::symlink_metadata(target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(EngineError::io(target.display().to_string(), e)),
            Ok(m) if m.is_dir() && new_is_dir => return Ok(()),
            Ok(m) => m.is_dir(),
        };
        self.hooks.replacing()?;
        if is_dir {
            fs::remove_dir_all(target).map_err(io_at(target))
        } else {
            fs::remove_file(target).map_err(io_at(target))
        }
    }

    fn chown(&self, path: &Path, meta: &Meta) -> Result<()> {
        if self.mode == Mode::Layer {
            self.fs
                .lchown(path, meta.uid, meta.gid)
                .map_err(io_at(path))?;
        }
        Ok(())
    }
}

fn id32(id: u64, name: &Path) -> Result<u32> {
    u32::try_from(id).map_err(|_| {
        EngineError::InvalidArgument(format!("uid/gid {id} out of range for {}", name.display()))
    })
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>, name: &Path) -> Result<PathBuf> {
    match entry.link_name().map_err(io_at(name))? {
        Some(link) if !link.as_os_str().is_empty() => Ok(link.into_owned()),
        _ => Err(EngineError::InvalidArgument(format!(
            "link entry {} has no target",
            name.display()
        ))),
    }
}

fn create_file(target: &Path) -> Result<File> {
    // O_EXCL and O_NOFOLLOW: the path was just cleared, so anything there now is hostile.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(target)
        .map_err(io_at(target))
}

fn set_times(path: &Path, mtime: u64) -> io::Result<()> {
    let secs = libc::time_t::try_from(mtime).unwrap_or(libc::time_t::MAX);
    let t = TimeSpec::new(secs, 0);
    utimensat(AT_FDCWD, path, &t, &t, UtimensatFlags::NoFollowSymlink)?;
    Ok(())
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
