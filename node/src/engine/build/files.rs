//! COPY, ADD and WORKDIR applied to a mounted image root: the root (image files, untrusted)
//! is only ever entered through `openat2(RESOLVE_IN_ROOT)` handles. Each copy is written as a
//! tar whose headers carry the owner and mode Docker gives the copies, then placed with the
//! same rooted unpacker `docker cp` uses; sources are read from their own tree the same way.
//! Blocking.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{mkdirat, Mode};
use nix::unistd::{fchownat, Gid, Uid};

use super::sources::resolve_in_tree;
use super::{FileOp, FileSource};
use crate::engine::container::archive::extract_tar;
use crate::engine::inroot::{self, Found};
use crate::error::{EngineError, Result};

/// Applies `ops` to the files under `root`, using `scratch` for the tars in between.
pub fn apply(root: &Path, ops: &[FileOp], scratch: &Path) -> Result<()> {
    for (i, op) in ops.iter().enumerate() {
        match op {
            FileOp::Mkdir { path } => mkdir_p(root, path, 0, 0)?,
            FileOp::Copy {
                source,
                dest,
                chown,
                chmod,
                extract,
                keep_owner,
            } => {
                let owner = match chown {
                    Some(spec) => Some(parse_chown(root, spec)?),
                    None if *keep_owner => None,
                    None => Some((0, 0)),
                };
                let tar = scratch.join(format!("copy-{i}.tar"));
                copy_one(root, source, dest, owner, *chmod, *extract, &tar)?;
                let _ = std::fs::remove_file(&tar);
            }
        }
    }
    Ok(())
}

/// `--chown` as the classic builder reads it: `user[:group]`, each a number or a name looked
/// up in the image's own `/etc/passwd` and `/etc/group`; a lone user is also the group.
pub fn parse_chown(root: &Path, spec: &str) -> Result<(u32, u32)> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (user, group) = match parts.as_slice() {
        [u] => (*u, *u),
        [u, g] => (*u, *g),
        _ => {
            return Err(EngineError::InvalidArgument(format!(
                "invalid chown string format: {spec}"
            )))
        }
    };
    let wrap = |e: String| {
        EngineError::InvalidArgument(format!(
            "unable to convert uid/gid chown string to host mapping: {e}"
        ))
    };
    let uid = lookup(root, "/etc/passwd", user)
        .map_err(wrap)?
        .ok_or_else(|| wrap(format!("can't find uid for user {user}")))?;
    let gid = lookup(root, "/etc/group", group)
        .map_err(wrap)?
        .ok_or_else(|| wrap(format!("can't find gid for group {group}")))?;
    Ok((uid, gid))
}

fn lookup(root: &Path, file: &str, name: &str) -> std::result::Result<Option<u32>, String> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(Some(n));
    }
    let text = match inroot::read_small_file(root, Path::new(file), 4 << 20)
        .map_err(|e| format!("{file}: {e}"))?
    {
        Found::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
        _ => return Ok(None),
    };
    Ok(text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[0] == name)
            .then(|| f[2].parse().ok())
            .flatten()
    }))
}

/// `path` with every symlink of it that exists followed as if `root` were `/` (dockerd's
/// `FollowSymlinkInScope`), so directories are made where the image's links lead, inside it.
fn follow_in_root(anchor: &std::os::fd::OwnedFd, path: &str) -> Result<Vec<String>> {
    let mut todo: Vec<String> = path.split('/').rev().map(str::to_string).collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let candidate = format!("/{}/{part}", done.join("/"));
        let target = match inroot::open_path(anchor, Path::new(&candidate), false) {
            Ok(fd) if inroot::file_type(&fd).is_ok_and(|t| t == nix::sys::stat::SFlag::S_IFLNK) => {
                nix::fcntl::readlinkat(&fd, "").ok()
            }
            _ => None,
        };
        let Some(target) = target else {
            done.push(part);
            continue;
        };
        links += 1;
        if links > 255 {
            return Err(EngineError::InvalidArgument(format!(
                "too many links in {path}"
            )));
        }
        let target = target.to_string_lossy().into_owned();
        if target.starts_with('/') {
            done.clear();
        }
        todo.extend(target.split('/').rev().map(str::to_string));
    }
    Ok(done)
}

/// `mkdir -p` of an absolute path inside `root`; directories made are `uid:gid`, 0755.
pub fn mkdir_p(root: &Path, path: &str, uid: u32, gid: u32) -> Result<()> {
    let anchor = inroot::open_root(root).map_err(|e| EngineError::io("open root", e))?;
    let mut prefix = String::new();
    for part in follow_in_root(&anchor, path)? {
        let part = part.as_str();
        let parent = if prefix.is_empty() {
            ".".to_string()
        } else {
            prefix.clone()
        };
        prefix = format!("{prefix}/{part}");
        let io = |e: Errno| EngineError::io(format!("mkdir {prefix}"), e.into());
        match inroot::open_path(&anchor, Path::new(&prefix), true) {
            Ok(fd)
                if inroot::file_type(&fd).map_err(|e| EngineError::io(prefix.clone(), e))?
                    == nix::sys::stat::SFlag::S_IFDIR =>
            {
                continue
            }
            Ok(_) => {
                return Err(EngineError::InvalidArgument(format!(
                    "{prefix} is not a directory"
                )))
            }
            Err(e) if inroot::is_missing(&e) => {}
            Err(e) => return Err(EngineError::io(prefix.clone(), e)),
        }
        let dir = inroot::open_at(
            &anchor,
            Path::new(&parent),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .map_err(|e| EngineError::io(format!("open {parent}"), e))?;
        match mkdirat(dir.as_fd(), part, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(io(e)),
        }
        fchownat(
            dir.as_fd(),
            part,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(io)?;
    }
    Ok(())
}

fn copy_one(
    root: &Path,
    source: &FileSource,
    dest: &str,
    owner: Option<(u32, u32)>,
    chmod: Option<u32>,
    extract: bool,
    tar: &Path,
) -> Result<()> {
    let (uid, gid) = owner.unwrap_or((0, 0));
    let into_dir = dest.ends_with('/') || is_dir_in_root(root, dest);
    match source {
        FileSource::Inline { name, content } => {
            let (dir, file) = place(dest, name, into_dir);
            let mut b = tar::Builder::new(BufWriter::new(create(tar)?));
            let mut h = tar::Header::new_gnu();
            h.set_mode(chmod.unwrap_or(0o644));
            h.set_uid(u64::from(uid));
            h.set_gid(u64::from(gid));
            h.set_mtime(0);
            h.set_size(content.len() as u64);
            b.append_data(&mut h, &file, content.as_bytes())
                .map_err(|e| EngineError::io("write copy", e))?;
            finish(b)?;
            mkdir_p(root, &dir, uid, gid)?;
            extract_tar(root, &dir, tar, true)
        }
        FileSource::Tree {
            root: src_root,
            rel,
        } => {
            let not_found =
                || EngineError::InvalidArgument(format!("stat {rel}: file does not exist"));
            let resolved = resolve_in_tree(src_root, rel)?.ok_or_else(not_found)?;
            let host = src_root.join(&resolved);
            let meta = std::fs::metadata(&host).map_err(|_| not_found())?;
            if meta.is_dir() {
                let mut b = tar::Builder::new(BufWriter::new(create(tar)?));
                add_tree(&mut b, src_root, &resolved, "", owner, chmod)?;
                finish(b)?;
                mkdir_p(root, dest, uid, gid)?;
                return extract_tar(root, dest, tar, true);
            }
            if extract {
                if let Some(()) = decompress_archive(&host, tar)? {
                    mkdir_p(root, dest, 0, 0)?;
                    return extract_tar(root, dest, tar, true);
                }
            }
            let base = rel.rsplit('/').next().unwrap_or(rel);
            let (dir, file) = place(dest, base, into_dir);
            let mut b = tar::Builder::new(BufWriter::new(create(tar)?));
            append_entry(&mut b, &host, &file, &meta, owner, chmod)?;
            finish(b)?;
            mkdir_p(root, &dir, uid, gid)?;
            extract_tar(root, &dir, tar, true)
        }
    }
}

/// The directory a file goes into and its name there.
fn place(dest: &str, name: &str, into_dir: bool) -> (String, String) {
    if into_dir {
        let dir = dest.trim_end_matches('/');
        return (
            if dir.is_empty() {
                "/".into()
            } else {
                dir.to_string()
            },
            name.to_string(),
        );
    }
    match dest.rsplit_once('/') {
        Some((dir, file)) => (
            if dir.is_empty() {
                "/".into()
            } else {
                dir.to_string()
            },
            file.to_string(),
        ),
        None => ("/".into(), dest.to_string()),
    }
}

fn is_dir_in_root(root: &Path, path: &str) -> bool {
    inroot::open_root(root)
        .and_then(|a| inroot::open_path(&a, Path::new(path), true))
        .and_then(inroot::file_type)
        .is_ok_and(|t| t == nix::sys::stat::SFlag::S_IFDIR)
}

fn create(path: &Path) -> Result<File> {
    File::create(path).map_err(|e| EngineError::io(format!("create {}", path.display()), e))
}

fn finish<W: Write>(b: tar::Builder<W>) -> Result<()> {
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(|e| EngineError::io("write copy", e))
}

/// Everything below `rel` in `src_root`, named under `prefix`, never following a symlink.
fn add_tree<W: Write>(
    b: &mut tar::Builder<W>,
    src_root: &Path,
    rel: &str,
    prefix: &str,
    owner: Option<(u32, u32)>,
    chmod: Option<u32>,
) -> Result<()> {
    let mut entries = Vec::new();
    super::sources::walk(src_root, rel, &mut |r, _| entries.push(r.to_string()))?;
    for r in entries {
        let inside = if rel.is_empty() {
            r.as_str()
        } else {
            &r[rel.len() + 1..]
        };
        let name = format!("{prefix}{inside}");
        let host = src_root.join(&r);
        let meta = std::fs::symlink_metadata(&host).map_err(|e| EngineError::io(r.clone(), e))?;
        append_entry(b, &host, &name, &meta, owner, chmod)?;
    }
    Ok(())
}

/// One source entry: owner as given (or its own), mode as `--chmod` says (or its own).
fn append_entry<W: Write>(
    b: &mut tar::Builder<W>,
    host: &Path,
    name: &str,
    meta: &std::fs::Metadata,
    owner: Option<(u32, u32)>,
    chmod: Option<u32>,
) -> Result<()> {
    let io = |e| EngineError::io(format!("copy {name}"), e);
    let ft = meta.file_type();
    let mut h = tar::Header::new_gnu();
    let (uid, gid) = owner.unwrap_or((meta.uid(), meta.gid()));
    h.set_uid(u64::from(uid));
    h.set_gid(u64::from(gid));
    h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    h.set_mode(match chmod {
        Some(m) if !ft.is_symlink() => m,
        _ => meta.mode() & 0o7777,
    });
    h.set_size(0);
    if ft.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        b.append_data(&mut h, format!("{name}/"), io::empty())
            .map_err(io)
    } else if ft.is_symlink() {
        h.set_entry_type(tar::EntryType::Symlink);
        let target = std::fs::read_link(host).map_err(io)?;
        b.append_link(&mut h, name, target).map_err(io)
    } else if ft.is_file() {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(host)
            .map_err(io)?;
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(meta.len());
        b.append_data(&mut h, name, f.take(meta.len())).map_err(io)
    } else {
        // Devices, FIFOs and sockets of an image are not copied (Docker's copy skips them too).
        Ok(())
    }
}

/// ADD's local archive rule: a tar (plain, gzip or zstd) is written out decompressed to
/// `out` for extraction; anything else is None (copied as a file).
fn decompress_archive(host: &Path, out: &Path) -> Result<Option<()>> {
    let io = |e| EngineError::io(format!("read {}", host.display()), e);
    // dockerd's isArchivePath: decompressed, the first tar header must read.
    let is_tar = crate::engine::image::plain_tar(File::open(host).map_err(io)?)
        .ok()
        .and_then(|plain| {
            let mut a = tar::Archive::new(plain);
            let first = a.entries().ok()?.next()?;
            first.ok().map(|_| ())
        })
        .is_some();
    if !is_tar {
        return Ok(None);
    }
    let mut plain = crate::engine::image::plain_tar(File::open(host).map_err(io)?)?;
    let mut w = BufWriter::new(create(out)?);
    std::io::copy(&mut plain, &mut w).map_err(io)?;
    w.flush().map_err(io)?;
    Ok(Some(()))
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
