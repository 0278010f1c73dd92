//! A container's mounts in the runtime spec, and Docker's copy-up: a new volume mounted over
//! a directory of the image starts with that directory's content (owners, modes, links kept).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use serde_json::{json, Value};

use super::{MountKind, MountSpec};

/// OCI mount entries for `mounts`; volumes are found under `volumes_root`.
pub fn spec_mounts(mounts: &[MountSpec], volumes_root: &Path) -> Vec<Value> {
    mounts
        .iter()
        .map(|m| {
            let ro = if m.read_only { "ro" } else { "rw" };
            match m.kind {
                MountKind::Tmpfs => {
                    let mut opts = vec!["nosuid".to_string(), "nodev".to_string(), ro.to_string()];
                    opts.extend(m.options.iter().cloned());
                    json!({"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts})
                }
                MountKind::Bind => json!({
                    "destination": m.target, "type": "bind", "source": m.source,
                    "options": ["rbind", "rprivate", ro],
                }),
                MountKind::Volume => json!({
                    "destination": m.target, "type": "bind",
                    "source": super::local::mountpoint(volumes_root, &m.source),
                    "options": ["rbind", "rprivate", ro],
                }),
            }
        })
        .collect()
}

/// Copies the tree at `src` into the (empty) directory `dst`, keeping owners, modes, times
/// and symlinks. Special files are skipped. `dst` itself takes `src`'s owner and mode.
pub fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    let md = std::fs::symlink_metadata(src)?;
    if !md.is_dir() {
        return Ok(());
    }
    std::os::unix::fs::lchown(dst, Some(md.uid()), Some(md.gid()))?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(md.mode() & 0o7777))?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let md = std::fs::symlink_metadata(&from)?;
        let ft = md.file_type();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if ft.is_dir() {
            std::fs::create_dir(&to)?;
            copy_tree(&from, &to)?;
            continue;
        } else if ft.is_file() {
            std::fs::copy(&from, &to)?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(md.mode() & 0o7777))?;
        } else {
            continue;
        }
        std::os::unix::fs::lchown(&to, Some(md.uid()), Some(md.gid()))?;
    }
    Ok(())
}

/// True when `dir` has no entries (or does not exist).
pub fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_binds_and_tmpfs_become_oci_mounts() {
        let mounts = vec![
            MountSpec {
                kind: MountKind::Volume,
                source: "data".into(),
                target: "/data".into(),
                ..Default::default()
            },
            MountSpec {
                kind: MountKind::Bind,
                source: "/srv".into(),
                target: "/b".into(),
                read_only: true,
                ..Default::default()
            },
            MountSpec {
                kind: MountKind::Tmpfs,
                target: "/t".into(),
                options: vec!["size=1m".into()],
                ..Default::default()
            },
        ];
        let m = spec_mounts(&mounts, Path::new("/var/lib/berth/volumes"));
        assert_eq!(m[0]["source"], "/var/lib/berth/volumes/data/_data");
        assert_eq!(m[1]["options"][2], "ro");
        assert_eq!(m[2]["type"], "tmpfs");
        assert!(m[2]["options"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "size=1m"));
    }

    #[test]
    fn copy_up_keeps_modes_and_links() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), "x").unwrap();
        std::fs::set_permissions(src.join("sub/f"), std::fs::Permissions::from_mode(0o604))
            .unwrap();
        std::os::unix::fs::symlink("sub/f", src.join("link")).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        assert!(is_empty_dir(&dst));
        copy_tree(&src, &dst).unwrap();
        assert_eq!(std::fs::read_to_string(dst.join("sub/f")).unwrap(), "x");
        assert_eq!(
            std::fs::metadata(dst.join("sub/f")).unwrap().mode() & 0o777,
            0o604
        );
        assert_eq!(
            std::fs::read_link(dst.join("link")).unwrap(),
            Path::new("sub/f")
        );
    }
}
