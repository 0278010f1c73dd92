//! Path handling for untrusted archive entries: names are cleaned lexically and resolved inside
//! a root as if it were `/` (what a chroot would do), so no entry or symlink can reach outside.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::error::{EngineError, Result};

/// Symlinks followed per lookup before giving up, like the kernel's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// Turns an entry name into a relative path: leading `/` and `.` are dropped and `..` pops a
/// component. InvalidArgument when `..` would climb above the root (a breakout attempt).
pub(crate) fn clean_entry_path(name: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                if !out.pop() {
                    return Err(EngineError::InvalidArgument(format!(
                        "archive entry {} escapes the root",
                        name.display()
                    )));
                }
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

/// Resolves the clean relative path `rel` inside `root`, following symlinks found on the way
/// as if `root` were `/`. The last component is followed only when `follow_last`. The result
/// is always under `root`; parts that do not exist yet are kept as they are.
pub(crate) fn resolve_in_root(root: &Path, rel: &Path, follow_last: bool) -> io::Result<PathBuf> {
    let mut resolved = PathBuf::new();
    let mut pending: VecDeque<OsString> = rel.iter().map(|c| c.to_os_string()).collect();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        if part == "." || part.is_empty() || part == "/" {
            continue;
        }
        let candidate = resolved.join(&part);
        if pending.is_empty() && !follow_last {
            resolved = candidate;
            break;
        }
        let host = root.join(&candidate);
        match fs::symlink_metadata(&host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = fs::read_link(&host)?;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                let mut next: VecDeque<OsString> = target
                    .components()
                    .filter_map(|c| match c {
                        Component::Normal(p) => Some(p.to_os_string()),
                        Component::ParentDir => Some(OsString::from("..")),
                        _ => None,
                    })
                    .collect();
                next.extend(pending.drain(..));
                pending = next;
            }
            _ => resolved = candidate,
        }
    }
    Ok(root.join(resolved))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn clean_drops_leading_slash_and_rejects_breakout() {
        assert_eq!(
            clean_entry_path(Path::new("/etc/passwd")).unwrap(),
            PathBuf::from("etc/passwd")
        );
        assert_eq!(
            clean_entry_path(Path::new("./a/../b/")).unwrap(),
            PathBuf::from("b")
        );
        assert_eq!(clean_entry_path(Path::new("./")).unwrap(), PathBuf::new());
        assert!(clean_entry_path(Path::new("../x")).is_err());
        assert!(clean_entry_path(Path::new("a/../../x")).is_err());
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        symlink("/usr/lib", root.join("lib")).unwrap();
        symlink("../../../../etc", root.join("usr/evil")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        let got = resolve_in_root(root, Path::new("lib/x"), true).unwrap();
        assert_eq!(got, root.join("usr/lib/x"));
        let got = resolve_in_root(root, Path::new("usr/evil/passwd"), true).unwrap();
        assert_eq!(got, root.join("etc/passwd"));
        let got = resolve_in_root(root, Path::new("lib"), false).unwrap();
        assert_eq!(got, root.join("lib"));
        assert!(resolve_in_root(root, Path::new("loop/x"), true).is_err());
    }
}
