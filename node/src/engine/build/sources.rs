//! COPY and ADD sources, found and checksummed as the classic builder does: a path or a
//! wildcard pattern inside a tree (the build context, or another image's files for
//! `--from`), every symlink resolved inside that tree, and the checksum that keys the cache
//! (`file:`, `dir:` of everything below, `multi:` of several sources).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::tarsum::{self, EntryHeader};
use crate::engine::inroot;
use crate::error::{EngineError, Result};

/// A tree sources are taken from. Paths are relative, `/`-separated and cleaned.
pub trait SourceTree: Send + Sync {
    /// The tree's directory on the host.
    fn root(&self) -> &Path;
    /// The checksum of the entry at `rel` (already resolved inside the tree).
    fn entry_sum(&self, rel: &str) -> Result<String>;
    /// Whether a missing source is worded as a context miss ("excluded by .dockerignore").
    fn is_context(&self) -> bool;
}

/// One resolved source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The path as matched (before symlinks are followed): its last part names the copy.
    pub rel: String,
    /// `file:<sum>` or `dir:<sum>`.
    pub sum: String,
}

/// Resolves `patterns` (COPY's sources, variables already expanded) in `tree`.
pub fn resolve(tree: &dyn SourceTree, patterns: &[String]) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for pattern in patterns {
        let p = trim_source(pattern);
        if has_wildcards(&p) {
            let mut matched = Vec::new();
            walk(tree.root(), "", &mut |rel, _| {
                if glob_match(&p, rel) {
                    matched.push(rel.to_string());
                }
            })?;
            for rel in matched {
                out.push(resolve_one(tree, &rel)?);
            }
        } else {
            out.push(resolve_one(tree, &p)?);
        }
    }
    if out.is_empty() {
        return Err(EngineError::InvalidArgument(
            "no source files were specified".into(),
        ));
    }
    Ok(out)
}

/// The checksum of several sources together, or of the only one.
pub fn combined_sum(sources: &[Source]) -> String {
    match sources {
        [one] => one.sum.clone(),
        many => tarsum::combine(
            "multi",
            &many.iter().map(|s| s.sum.clone()).collect::<Vec<_>>(),
        ),
    }
}

/// Docker strips a leading `/` and `./`: sources are always relative to the tree.
fn trim_source(p: &str) -> String {
    let p = p.strip_prefix('/').unwrap_or(p);
    p.strip_prefix("./").unwrap_or(p).to_string()
}

fn resolve_one(tree: &dyn SourceTree, rel: &str) -> Result<Source> {
    let not_found = || {
        let why = format!("stat {rel}: file does not exist");
        EngineError::InvalidArgument(if tree.is_context() {
            format!("file not found in build context or excluded by .dockerignore: {why}")
        } else {
            why
        })
    };
    let resolved = resolve_in_tree(tree.root(), rel)?.ok_or_else(not_found)?;
    let host = tree.root().join(&resolved);
    let meta = std::fs::metadata(&host).map_err(|_| not_found())?;
    if !meta.is_dir() {
        let sum = tree.entry_sum(&resolved)?;
        return Ok(Source {
            rel: rel.to_string(),
            sum: format!("file:{sum}"),
        });
    }
    let mut sums = Vec::new();
    if !resolved.is_empty() {
        sums.push(tree.entry_sum(&resolved)?);
    }
    let mut below = Vec::new();
    walk(tree.root(), &resolved, &mut |r, _| {
        below.push(r.to_string())
    })?;
    for r in below {
        sums.push(tree.entry_sum(&r)?);
    }
    sums.sort();
    Ok(Source {
        rel: rel.to_string(),
        sum: tarsum::combine("dir", &sums),
    })
}

/// `rel` with every symlink followed inside `root` (as `FollowSymlinkInScope`), relative to
/// it; `None` when nothing is there.
pub fn resolve_in_tree(root: &Path, rel: &str) -> Result<Option<String>> {
    let io = |e| EngineError::io(format!("resolve {rel}"), e);
    let anchor = inroot::open_root(root).map_err(io)?;
    let rel_path = if rel.is_empty() { "." } else { rel };
    let fd = match inroot::open_path(&anchor, Path::new(rel_path), true) {
        Ok(fd) => fd,
        Err(e) if inroot::is_missing(&e) => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let real = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))
    .map_err(io)?;
    let root_real = std::fs::canonicalize(root).map_err(io)?;
    let inside = real.strip_prefix(&root_real).map_err(|_| {
        EngineError::InvalidArgument(format!("forbidden path outside the build context: {rel}"))
    })?;
    Ok(Some(inside.to_string_lossy().into_owned()))
}

/// Visits every entry below `rel` (not `rel` itself) in lexical order, never following a
/// symlink; `f(relative path, metadata)`.
pub fn walk(root: &Path, rel: &str, f: &mut dyn FnMut(&str, &std::fs::Metadata)) -> Result<()> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let io = |e| EngineError::io(format!("read {}", dir.display()), e);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()
        .map_err(io)?;
    names.sort();
    for name in names {
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let meta = std::fs::symlink_metadata(root.join(&child)).map_err(io)?;
        f(&child, &meta);
        if meta.is_dir() {
            walk(root, &child, f)?;
        }
    }
    Ok(())
}

fn has_wildcards(p: &str) -> bool {
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Go's `filepath.Match`: `*` and `?` never match `/`, `[...]` classes with ranges and `^`,
/// `\` escapes. A malformed pattern matches nothing.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches_at(&p, &n)
}

fn matches_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len())
            .take_while(|&i| i == 0 || n[i - 1] != '/')
            .any(|i| matches_at(&p[1..], &n[i..])),
        Some('?') => n.first().is_some_and(|&c| c != '/') && matches_at(&p[1..], &n[1..]),
        Some('[') => {
            let Some((ok, used)) = n.first().and_then(|&c| class(&p[1..], c)) else {
                return false;
            };
            ok && matches_at(&p[1 + used..], &n[1..])
        }
        Some('\\') => match p.get(1) {
            Some(&c) => n.first() == Some(&c) && matches_at(&p[2..], &n[1..]),
            None => false,
        },
        Some(&c) => n.first() == Some(&c) && matches_at(&p[1..], &n[1..]),
    }
}

/// Whether `c` is in the class starting after `[`; with the pattern characters consumed
/// (through `]`). None when the class is malformed.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    if c == '/' {
        return Some((false, p.iter().position(|&x| x == ']')? + 1));
    }
    let mut i = 0;
    let negate = p.first() == Some(&'^');
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let mut lo = *p.get(i)?;
        if lo == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        if lo == '\\' {
            i += 1;
            lo = *p.get(i)?;
        }
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&x| x != ']') {
            hi = p[i + 1];
            i += 2;
            if hi == '\\' {
                hi = *p.get(i)?;
                i += 1;
            }
        }
        if lo <= c && c <= hi {
            hit = true;
        }
    }
    Some((hit != negate, i))
}

/// The build context: files berthd extracted, with the checksums of the tar entries they came
/// from (names cleaned as tarsum cleans them).
pub struct ContextTree {
    pub root: PathBuf,
    pub sums: HashMap<String, String>,
}

impl SourceTree for ContextTree {
    fn root(&self) -> &Path {
        &self.root
    }

    fn entry_sum(&self, rel: &str) -> Result<String> {
        // An entry the client sent no header for (a parent it left out) is hashed by name, as
        // dockerd does.
        Ok(self
            .sums
            .get(rel)
            .cloned()
            .unwrap_or_else(|| rel.to_string()))
    }

    fn is_context(&self) -> bool {
        true
    }
}

/// Files on disk (another image's, for COPY --from), checksummed from their metadata as
/// dockerd's lazy source does: Go's tar header of the file, names of its owners included.
pub struct DiskTree {
    pub root: PathBuf,
}

impl SourceTree for DiskTree {
    fn root(&self) -> &Path {
        &self.root
    }

    fn entry_sum(&self, rel: &str) -> Result<String> {
        disk_sum(&self.root, rel)
    }

    fn is_context(&self) -> bool {
        false
    }
}

/// The lazy source's checksum of the entry `rel` under `root`.
pub fn disk_sum(root: &Path, rel: &str) -> Result<String> {
    let path = root.join(rel);
    let io = |e| EngineError::io(format!("checksum {rel}"), e);
    let meta = std::fs::symlink_metadata(&path).map_err(io)?;
    let ft = meta.file_type();
    let mut header = EntryHeader {
        name: rel.to_string(),
        mode: tarsum::go_header_mode(meta.mode()),
        uid: u64::from(meta.uid()),
        gid: u64::from(meta.gid()),
        uname: account_name("/etc/passwd", meta.uid()),
        gname: account_name("/etc/group", meta.gid()),
        ..Default::default()
    };
    use std::os::unix::fs::FileTypeExt;
    header.typeflag = if ft.is_dir() {
        header.name.push('/');
        b'5'
    } else if ft.is_symlink() {
        header.linkname = std::fs::read_link(&path)
            .map_err(io)?
            .to_string_lossy()
            .into_owned();
        b'2'
    } else if ft.is_char_device() || ft.is_block_device() {
        let dev = meta.rdev();
        header.devmajor = nix::sys::stat::major(dev);
        header.devminor = nix::sys::stat::minor(dev);
        if ft.is_char_device() {
            b'3'
        } else {
            b'4'
        }
    } else if ft.is_fifo() {
        b'6'
    } else {
        header.size = meta.len();
        b'0'
    };
    let mut h = header.hasher();
    if ft.is_file() && meta.len() > 0 {
        let mut f = std::fs::File::open(&path).map_err(io)?;
        std::io::copy(&mut f, &mut h).map_err(io)?;
    }
    Ok(tarsum::finish(h))
}

/// The name of `id` in the daemon host's account file (Go's tar header lookup), or empty.
fn account_name(file: &str, id: u32) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split(':');
            let name = parts.next()?;
            let num = parts.nth(1)?.parse::<u32>().ok()?;
            (num == id).then(|| name.to_string())
        })
        .next()
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "sources_tests.rs"]
mod tests;
