//! The build context: the client's tar (plain, gzip or zstd), which is untrusted. It is
//! written to a scratch directory once while every entry's checksum is taken from its header
//! and content (dockerd's tarsum), then unpacked with the layer unpacker's archive rules (no
//! device nodes, no owners applied, every name resolved inside the directory), with limits on
//! its size and entry count. The Dockerfile and `.dockerignore` are read inside the directory;
//! as dockerd, the two are dropped from the context when `.dockerignore` names them.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::sources::{resolve_in_tree, ContextTree};
use super::tarsum::{self, EntryHeader};
use crate::engine::image::unpack::{unpack, Mode};
use crate::engine::image::{plain_tar, HostLayerFs};
use crate::engine::inroot::{self, Found};
use crate::error::{EngineError, Result};

/// Bounds on what a client may send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Uncompressed tar bytes.
    pub max_bytes: u64,
    /// Entries in the tar.
    pub max_entries: usize,
    /// Bytes of the Dockerfile and of `.dockerignore`.
    pub max_file: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 16 << 30,
            max_entries: 1_000_000,
            max_file: 16 << 20,
        }
    }
}

/// An extracted context; its directory is removed when this is dropped.
pub struct Context {
    /// The scratch directory holding `root/`.
    dir: PathBuf,
    pub tree: ContextTree,
    /// The Dockerfile's text.
    pub dockerfile: String,
}

impl Drop for Context {
    fn drop(&mut self) {
        super::scratch::remove_dir(std::mem::take(&mut self.dir), "build context");
    }
}

/// Blocking. Reads the context from `input` into `dir` (which the context then owns and
/// removes) and reads the Dockerfile at `dockerfile` (a path inside the context).
pub fn extract(
    input: &mut dyn Read,
    dir: PathBuf,
    dockerfile: &str,
    limits: Limits,
) -> Result<Context> {
    let root = dir.join("root");
    std::fs::create_dir_all(&root)
        .map_err(|e| EngineError::io(format!("create {}", root.display()), e))?;
    let mut ctx = Context {
        dir,
        tree: ContextTree {
            root,
            sums: HashMap::new(),
        },
        dockerfile: String::new(),
    };
    let tar_path = ctx.dir.join("context.tar");
    ctx.tree.sums = copy_and_sum(input, &tar_path, limits)?;
    let file = File::open(&tar_path).map_err(|e| EngineError::io("open context", e))?;
    unpack(
        &mut tar::Archive::new(io::BufReader::new(file)),
        &ctx.tree.root,
        &HostLayerFs::new(),
        Mode::Archive,
    )?;
    let _ = std::fs::remove_file(&tar_path);
    ctx.dockerfile = read_dockerfile(&ctx.tree.root, dockerfile, limits.max_file)?;
    drop_ignored_build_files(&ctx.tree.root, dockerfile, limits.max_file)?;
    Ok(ctx)
}

/// Writes the decompressed tar to `dest` and returns every entry's checksum by cleaned name
/// (the first entry of a name wins, as dockerd looks them up).
fn copy_and_sum(
    input: &mut dyn Read,
    dest: &Path,
    limits: Limits,
) -> Result<HashMap<String, String>> {
    let too_big = || {
        EngineError::InvalidArgument(format!(
            "build context larger than {} bytes",
            limits.max_bytes
        ))
    };
    let file = File::create(dest).map_err(|e| EngineError::io("create context copy", e))?;
    let mut out = BufWriter::new(file);
    let plain = plain_tar(input)?;
    let mut limited = Limited {
        inner: plain,
        left: limits.max_bytes,
    };
    let mut sums = HashMap::new();
    {
        let mut tee = Tee {
            inner: &mut limited,
            sink: &mut out,
        };
        let mut archive = tar::Archive::new(&mut tee);
        let entries = archive.entries().map_err(|e| context_error(e, &too_big))?;
        for (n, entry) in entries.enumerate() {
            if n >= limits.max_entries {
                return Err(EngineError::InvalidArgument(format!(
                    "build context has more than {} entries",
                    limits.max_entries
                )));
            }
            let mut entry = entry.map_err(|e| context_error(e, &too_big))?;
            let (key, header) = entry_header(&mut entry).map_err(|e| context_error(e, &too_big))?;
            let mut h = header.hasher();
            io::copy(&mut entry, &mut h).map_err(|e| context_error(e, &too_big))?;
            sums.entry(key).or_insert_with(|| tarsum::finish(h));
        }
        // The rest of the stream (end-of-archive blocks) goes to the copy too.
        io::copy(&mut archive.into_inner(), &mut io::sink())
            .map_err(|e| context_error(e, &too_big))?;
    }
    out.flush()
        .map_err(|e| EngineError::io("write context copy", e))?;
    Ok(sums)
}

fn context_error(e: io::Error, too_big: &dyn Fn() -> EngineError) -> EngineError {
    if e.kind() == io::ErrorKind::FileTooLarge {
        return too_big();
    }
    EngineError::InvalidArgument(format!("invalid build context: {e}"))
}

/// The tarsum name (`path.Join(".", path.Join("/", name))`) and header fields of an entry.
fn entry_header<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<(String, EntryHeader)> {
    let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
    let h = entry.header();
    let mut typeflag = h.entry_type().as_byte();
    if typeflag == 0 {
        // Go's reader turns the old regular-file flag into a file or, by name, a directory.
        typeflag = if name.ends_with('/') { b'5' } else { b'0' };
    }
    let mut header = EntryHeader {
        // Go reads an empty numeric field as 0.
        mode: u64::from(h.mode().unwrap_or(0)),
        uid: h.uid().unwrap_or(0),
        gid: h.gid().unwrap_or(0),
        size: entry.size(),
        typeflag,
        linkname: entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default(),
        devmajor: u64::from(h.device_major().ok().flatten().unwrap_or(0)),
        devminor: u64::from(h.device_minor().ok().flatten().unwrap_or(0)),
        ..Default::default()
    };
    if let Ok(Some(exts)) = entry.pax_extensions() {
        for ext in exts.flatten() {
            if let Some(attr) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                header
                    .xattrs
                    .push((attr.to_string(), ext.value_bytes().to_vec()));
            }
        }
    }
    let key = berth_dockerignore::clean(&format!("/{name}"));
    let key = key.trim_start_matches('/').to_string();
    header.name = name;
    Ok((if key.is_empty() { ".".into() } else { key }, header))
}

fn read_dockerfile(root: &Path, name: &str, limit: u64) -> Result<String> {
    let read = |n: &str| -> Result<Option<Vec<u8>>> {
        match inroot::read_small_file(root, Path::new(n), limit) {
            Ok(Found::Bytes(bytes)) => Ok(Some(bytes)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Err(EngineError::InvalidArgument(
                format!("the Dockerfile ({n}) is larger than {limit} bytes"),
            )),
            Err(e) => Err(EngineError::io(format!("read {n}"), e)),
        }
    };
    let mut bytes = read(name)?;
    // Docker's fallback for the default name.
    if bytes.is_none() && name == "Dockerfile" {
        bytes = read("dockerfile")?;
    }
    let bytes = bytes.ok_or_else(|| {
        EngineError::InvalidArgument(format!("Cannot locate specified Dockerfile: {name}"))
    })?;
    if bytes.is_empty() {
        return Err(EngineError::InvalidArgument(format!(
            "the Dockerfile ({name}) cannot be empty"
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| EngineError::InvalidArgument(format!("the Dockerfile ({name}) is not UTF-8")))
}

/// dockerd's `removeDockerfile`: `.dockerignore` and the Dockerfile leave the context when
/// `.dockerignore` excludes them (the CLI sends them anyway, so the daemon can read them).
fn drop_ignored_build_files(root: &Path, dockerfile: &str, limit: u64) -> Result<()> {
    let text = match inroot::read_small_file(root, Path::new(".dockerignore"), limit)
        .map_err(|e| EngineError::io("read .dockerignore", e))?
    {
        Found::Bytes(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => return Ok(()),
    };
    let matcher = berth_dockerignore::Matcher::new(&berth_dockerignore::read_patterns(&text))
        .map_err(|e| EngineError::InvalidArgument(format!("error reading .dockerignore: {e}")))?;
    for name in [".dockerignore", dockerfile] {
        if !matcher.matches_or_parent_matches(name) {
            continue;
        }
        if let Some(rel) = resolve_in_tree(root, name)?.filter(|r| !r.is_empty()) {
            let path = root.join(rel);
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if let Err(e) = removed {
                tracing::warn!(file = name, error = %e, "cannot remove an ignored build file");
            }
        }
    }
    Ok(())
}

/// A reader that fails with `FileTooLarge` once more than `left` bytes were read.
struct Limited<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self
            .left
            .checked_sub(n as u64)
            .ok_or_else(|| io::Error::from(io::ErrorKind::FileTooLarge))?;
        Ok(n)
    }
}

/// Copies what is read into `sink`.
struct Tee<'a> {
    inner: &'a mut dyn Read,
    sink: &'a mut dyn Write,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.write_all(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
#[path = "context_tests.rs"]
mod tests;
