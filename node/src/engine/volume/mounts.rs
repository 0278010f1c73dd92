//! A container's mounts in the runtime spec, and whether a volume is still empty (copy-up
//! itself is `copy_up.rs`).

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
}
