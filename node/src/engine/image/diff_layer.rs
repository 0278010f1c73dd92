//! A container's changes as a layer (RUN steps, COPY steps, `docker commit`): its overlay upper
//! directory written as a layer tar in Docker's format (an overlay whiteout becomes a
//! `.wh.<name>` entry, an opaque directory a `.wh..wh..opq` one; hard links inside the layer
//! stay links) and stored through the ordinary layer unpack, so the diff id is that tar's.
//! What the runtime made for its own mounts (`/etc/hosts` and friends, empty `/proc`, `/sys`,
//! `/dev`) is left out, as Docker's init layer keeps it out of a commit; so is a directory
//! that is only there because something below it was. The upper directory may hold anything a
//! container wrote: nothing is followed, and only regular files are opened.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{File, Metadata};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::ImageStore;
use crate::error::{EngineError, Result};

/// Files the runtime bind-mounts over; created empty in the upper directory.
const MOUNT_FILES: [&str; 3] = ["etc/hostname", "etc/hosts", "etc/resolv.conf"];
/// Directories the runtime mounts filesystems on.
const MOUNT_DIRS: [&str; 3] = ["proc", "sys", "dev"];

impl ImageStore {
    /// Blocking. Stores the changes in `upper` (over the image layers `lowers`, bottom first)
    /// as a layer; its diff id, or None when nothing changed.
    pub fn layer_from_upper(&self, upper: &Path, lowers: &[PathBuf]) -> Result<Option<String>> {
        let tmp = self.temp_dir("diff")?;
        let result = self.layer_via(&tmp.join("layer.tar"), upper, lowers);
        if let Err(e) = std::fs::remove_dir_all(&tmp) {
            tracing::warn!(dir = %tmp.display(), error = %e, "cannot remove a layer scratch dir");
        }
        result
    }

    fn layer_via(
        &self,
        tar_path: &Path,
        upper: &Path,
        lowers: &[PathBuf],
    ) -> Result<Option<String>> {
        let io = |e| EngineError::io(format!("write layer of {}", upper.display()), e);
        let file = File::create(tar_path).map_err(io)?;
        let mut out = io::BufWriter::new(file);
        let entries = write_diff_tar(upper, lowers, &mut out).map_err(io)?;
        out.flush().map_err(io)?;
        drop(out);
        if entries == 0 {
            return Ok(None);
        }
        let mut file = File::open(tar_path).map_err(io)?;
        Ok(Some(self.unpack_layer(&mut file, None)?.diff_id))
    }
}

/// One entry of the upper directory and what is kept below it.
struct Node {
    rel: String,
    meta: Metadata,
    opaque: bool,
    children: Vec<Node>,
}

/// Writes the layer tar of `upper` to `out`; returns the number of entries (0: no change).
pub fn write_diff_tar(upper: &Path, lowers: &[PathBuf], out: &mut dyn Write) -> io::Result<usize> {
    let nodes = collect(upper, "", lowers)?;
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Complete);
    let mut links = HashMap::new();
    let mut count = 0;
    for node in &nodes {
        count += append(&mut builder, upper, node, &mut links)?;
    }
    if count > 0 {
        builder.finish()?;
    }
    Ok(count)
}

fn collect(upper: &Path, rel: &str, lowers: &[PathBuf]) -> io::Result<Vec<Node>> {
    let dir = upper.join(rel);
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let child = if rel.is_empty() {
            name.to_string_lossy().into_owned()
        } else {
            format!("{rel}/{}", name.to_string_lossy())
        };
        let meta = std::fs::symlink_metadata(upper.join(&child))?;
        let is_mount_file =
            MOUNT_FILES.contains(&child.as_str()) && meta.is_file() && meta.len() == 0;
        if is_mount_file || child.starts_with("dev/") {
            continue;
        }
        let mut node = Node {
            opaque: meta.is_dir() && is_opaque(&upper.join(&child)),
            children: Vec::new(),
            rel: child,
            meta,
        };
        if node.meta.is_dir() {
            node.children = collect(upper, &node.rel, lowers)?;
            let mount_dir = MOUNT_DIRS.contains(&node.rel.as_str());
            let only_a_parent = node.children.is_empty()
                && !node.opaque
                && (mount_dir || same_dir_below(&node, lowers));
            if only_a_parent {
                continue;
            }
        }
        out.push(node);
    }
    Ok(out)
}

/// Whether the image layers already have this directory with the same mode and owner (then
/// the upper copy exists only because of what was changed below it).
fn same_dir_below(node: &Node, lowers: &[PathBuf]) -> bool {
    lowers
        .iter()
        .rev()
        .find_map(|l| std::fs::symlink_metadata(l.join(&node.rel)).ok())
        .is_some_and(|m| {
            m.is_dir()
                && m.mode() == node.meta.mode()
                && m.uid() == node.meta.uid()
                && m.gid() == node.meta.gid()
        })
}

fn is_opaque(dir: &Path) -> bool {
    let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    let name = c"trusted.overlay.opaque";
    let mut value = [0u8; 2];
    // SAFETY: `path` and `name` are NUL-terminated and outlive the call; `value` is a writable
    // buffer of the length passed; lgetxattr keeps no pointer.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    n == 1 && value[0] == b'y'
}

fn header_for(meta: &Metadata, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(u64::from(meta.uid()));
    h.set_gid(u64::from(meta.gid()));
    h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    h.set_size(0);
    h
}

/// Appends `node` (and what is below it); returns the entries written.
fn append<W: Write>(
    b: &mut tar::Builder<W>,
    upper: &Path,
    node: &Node,
    links: &mut HashMap<(u64, u64), String>,
) -> io::Result<usize> {
    let ft = node.meta.file_type();
    let path = upper.join(&node.rel);
    if ft.is_char_device() && node.meta.rdev() == 0 {
        // An overlay whiteout: the file is deleted.
        let (parent, name) = node
            .rel
            .rsplit_once('/')
            .map_or(("", node.rel.as_str()), |(p, n)| (p, n));
        let wh = if parent.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{parent}/.wh.{name}")
        };
        let mut h = header_for(&node.meta, tar::EntryType::Regular);
        h.set_mode(0o644);
        b.append_data(&mut h, wh, io::empty())?;
        return Ok(1);
    }
    let mut written = 1;
    if ft.is_dir() {
        let mut h = header_for(&node.meta, tar::EntryType::Directory);
        b.append_data(&mut h, format!("{}/", node.rel), io::empty())?;
        if node.opaque {
            let mut h = header_for(&node.meta, tar::EntryType::Regular);
            h.set_mode(0o644);
            b.append_data(&mut h, format!("{}/.wh..wh..opq", node.rel), io::empty())?;
            written += 1;
        }
        for child in &node.children {
            written += append(b, upper, child, links)?;
        }
        return Ok(written);
    }
    if ft.is_symlink() {
        let mut h = header_for(&node.meta, tar::EntryType::Symlink);
        b.append_link(&mut h, &node.rel, std::fs::read_link(&path)?)?;
        return Ok(1);
    }
    if ft.is_file() {
        let key = (node.meta.dev(), node.meta.ino());
        if node.meta.nlink() > 1 {
            if let Some(first) = links.get(&key) {
                let mut h = header_for(&node.meta, tar::EntryType::Link);
                b.append_link(&mut h, &node.rel, first)?;
                return Ok(1);
            }
            links.insert(key, node.rel.clone());
        }
        // O_NOFOLLOW: it was a regular file when listed; anything swapped in since is refused.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)?;
        let mut h = header_for(&node.meta, tar::EntryType::Regular);
        h.set_size(node.meta.len());
        b.append_data(&mut h, &node.rel, io::Read::take(file, node.meta.len()))?;
        return Ok(1);
    }
    let kind = if ft.is_char_device() {
        tar::EntryType::Char
    } else if ft.is_block_device() {
        tar::EntryType::Block
    } else if ft.is_fifo() {
        tar::EntryType::Fifo
    } else {
        // Sockets have no tar form; Docker leaves them out too.
        return Ok(0);
    };
    let mut h = header_for(&node.meta, kind);
    let dev = node.meta.rdev();
    h.set_device_major(u32::try_from(nix::sys::stat::major(dev)).unwrap_or(0))?;
    h.set_device_minor(u32::try_from(nix::sys::stat::minor(dev)).unwrap_or(0))?;
    b.append_data(&mut h, &node.rel, io::empty())?;
    let _ = written;
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn changes_become_entries_and_runtime_mount_points_do_not() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        std::fs::create_dir_all(lower.join("etc")).unwrap();
        std::fs::create_dir_all(lower.join("usr/bin")).unwrap();
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::create_dir_all(upper.join("usr/bin")).unwrap();
        std::fs::create_dir_all(upper.join("proc")).unwrap();
        std::fs::create_dir_all(upper.join("dev/pts")).unwrap();
        for f in MOUNT_FILES {
            std::fs::write(upper.join(f), "").unwrap();
        }
        let mut out = Vec::new();
        assert_eq!(
            write_diff_tar(&upper, std::slice::from_ref(&lower), &mut out).unwrap(),
            0,
            "only runtime leftovers"
        );
        std::fs::write(upper.join("usr/bin/tool"), "#!").unwrap();
        std::fs::hard_link(upper.join("usr/bin/tool"), upper.join("usr/bin/tool2")).unwrap();
        std::os::unix::fs::symlink("tool", upper.join("usr/bin/t")).unwrap();
        std::fs::create_dir_all(upper.join("app")).unwrap();
        let mut out = Vec::new();
        write_diff_tar(&upper, &[lower], &mut out).unwrap();
        assert_eq!(
            names(&out),
            [
                "app/",
                "usr/",
                "usr/bin/",
                "usr/bin/t",
                "usr/bin/tool",
                "usr/bin/tool2"
            ]
        );
        let mut a = tar::Archive::new(&out[..]);
        let kinds: Vec<tar::EntryType> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().header().entry_type())
            .collect();
        assert_eq!(kinds[3], tar::EntryType::Symlink);
        assert_eq!(kinds[5], tar::EntryType::Link);
    }

    #[test]
    fn whiteouts_become_wh_entries_when_root() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP (needs root): whiteouts_become_wh_entries_when_root");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let upper = tmp.path().join("upper");
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        nix::sys::stat::mknod(
            &upper.join("etc/group"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        let mut out = Vec::new();
        write_diff_tar(&upper, &[], &mut out).unwrap();
        assert_eq!(names(&out), ["etc/", "etc/.wh.group"]);
    }
}
