//! A container's mounts in the runtime spec, and whether a volume is still empty (copy-up
//! itself is `copy_up.rs`).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{MountKind, MountSpec, Propagation};
use crate::runtime::mount_attrs::{BindPropagation, PropagationType};

/// OCI mount entries for `mounts`; volumes are found under `volumes_root`, a volume's subpath
/// at the mount point `subpaths` gives for its target (`subpath::SubpathMounts`).
pub fn spec_mounts(
    mounts: &[MountSpec],
    volumes_root: &Path,
    subpaths: &[(String, PathBuf)],
) -> Vec<Value> {
    mounts
        .iter()
        .map(|m| match m.kind {
            MountKind::Tmpfs => {
                let mut opts: Vec<String> = vec!["nosuid".into(), "nodev".into()];
                // Docker's tmpfs mounts are `noexec` unless the options say `exec`.
                if !m.options.iter().any(|o| o == "exec" || o == "noexec") {
                    opts.push("noexec".into());
                }
                opts.push(if m.read_only { "ro" } else { "rw" }.into());
                opts.extend(m.options.iter().cloned());
                json!({"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts})
            }
            MountKind::Bind => json!({
                "destination": m.target, "type": "bind", "source": m.source,
                "options": bind_options(m),
            }),
            MountKind::Volume => {
                let source = if m.subpath.is_empty() {
                    super::local::mountpoint(volumes_root, &m.source)
                } else {
                    // Never the whole volume in its place: a missing point fails the start.
                    subpaths
                        .iter()
                        .find(|(target, _)| *target == m.target)
                        .map_or_else(|| PathBuf::from("/nonexistent-subpath"), |(_, p)| p.clone())
                };
                json!({
                    "destination": m.target, "type": "bind", "source": source,
                    "options": bind_options(m),
                })
            }
        })
        .collect()
}

/// A bind's OCI options. libcontainer 0.7 applies neither the propagation of a bind nor the
/// root's `rslave`-style names: the monitor sets each bind's propagation itself
/// (`runtime::mount_fixes`) and the spec's root propagation comes from `root_propagation`.
fn bind_options(m: &MountSpec) -> Vec<&'static str> {
    let mut opts = vec![if m.non_recursive { "bind" } else { "rbind" }];
    opts.push(m.propagation.as_str());
    if m.read_only {
        opts.push("ro");
        if m.read_only_recursive {
            opts.push("rro");
        }
    } else {
        opts.push("rw");
    }
    opts
}

/// The root's propagation in the spec: `shared` when a bind is shared (so that it stays in its
/// source's peer group), else libcontainer's default (`slave`), as moby chooses it.
pub fn root_propagation(mounts: &[MountSpec]) -> Option<&'static str> {
    mounts
        .iter()
        .any(|m| m.kind == MountKind::Bind && m.propagation.is_shared())
        .then_some("shared")
}

/// What the monitor sets on each bind before the start (libcontainer leaves it unset).
pub fn bind_propagation(mounts: &[MountSpec]) -> Vec<BindPropagation> {
    mounts
        .iter()
        .filter(|m| m.kind == MountKind::Bind)
        .map(|m| BindPropagation {
            target: m.target.clone().into(),
            kind: if m.propagation.is_shared() {
                PropagationType::Shared
            } else if m.propagation.is_slave() {
                PropagationType::Slave
            } else {
                PropagationType::Private
            },
            recursive: m.propagation.recursive(),
        })
        .collect()
}

/// moby's rule for a bind of the daemon's root, of a path inside it, or of a directory that
/// holds it (`-v /:/host`): with no propagation named it is `rslave`, so that the daemon's
/// later unmounts there reach the container rather than stay pinned by it; a named one must
/// be `rslave` or `rshared`. "Inside" is moby's test: one path a string prefix of the other.
pub fn daemon_root_propagation(m: &mut MountSpec, root: &str) -> Result<(), String> {
    let related = m.source.starts_with(root) || root.starts_with(m.source.as_str());
    if m.kind != MountKind::Bind || !related {
        return Ok(());
    }
    if !m.propagation_set {
        m.propagation = Propagation::Rslave;
        return Ok(());
    }
    match m.propagation {
        Propagation::Rslave | Propagation::Rshared => Ok(()),
        other => Err(format!(
            "invalid mount config: must use either propagation mode \"rslave\" or \"rshared\" \
             when mount source is within the daemon root, daemon root: {root:?}, bind mount \
             source: {:?}, propagation: {:?}",
            m.source,
            other.as_str()
        )),
    }
}

/// moby's checks at start: a shared bind needs a source on a shared mount, a slave one a
/// source on a shared or slave mount (else nothing would propagate). A slave bind that only
/// the daemon-root rule made one falls back to private instead, as in moby; the mounts with
/// those changes, if any.
pub fn propagation_at_start(mounts: &[MountSpec]) -> Result<Option<Vec<MountSpec>>, String> {
    let wanted: Vec<usize> = (0..mounts.len())
        .filter(|&i| mounts[i].kind == MountKind::Bind)
        .filter(|&i| mounts[i].propagation.is_shared() || mounts[i].propagation.is_slave())
        .collect();
    if wanted.is_empty() {
        return Ok(None);
    }
    let table = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("read /proc/self/mountinfo: {e}"))?;
    let mut changed: Option<Vec<MountSpec>> = None;
    for i in wanted {
        let m = &mounts[i];
        let source = std::fs::canonicalize(&m.source).map_err(|e| {
            format!(
                "error evaluating symlinks from mount source {:?}: {e}",
                m.source
            )
        })?;
        let on = crate::runtime::mountinfo::containing(&table, &source)
            .ok_or_else(|| format!("could not find the mount of {}", m.source))?;
        let (ok, what) = if m.propagation.is_shared() {
            (on.is_shared(), "a shared mount")
        } else {
            (on.is_shared() || on.is_slave(), "a shared or slave mount")
        };
        if ok {
            continue;
        }
        if m.propagation.is_slave() && !m.propagation_set {
            tracing::warn!(
                source = %m.source,
                "falling back to default propagation for bind source in daemon root"
            );
            let all = changed.get_or_insert_with(|| mounts.to_vec());
            all[i].propagation = Propagation::Rprivate;
            continue;
        }
        return Err(format!(
            "path {} is mounted on {} but it is not {what}",
            m.source,
            on.point.display()
        ));
    }
    Ok(changed)
}

/// True when `dir` has no entries (or does not exist).
pub fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_of_the_daemon_root_are_rslave_or_refused_as_in_moby() {
        let root = "/var/lib/berth";
        let bind = |source: &str, named: Option<Propagation>| MountSpec {
            kind: MountKind::Bind,
            source: source.into(),
            target: "/b".into(),
            propagation: named.unwrap_or_default(),
            propagation_set: named.is_some(),
            ..Default::default()
        };
        // Holding the root, inside it, or (moby's string test) sharing its prefix: rslave.
        for source in [
            "/",
            "/var",
            "/var/lib/berth",
            "/var/lib/berth/volumes/x/_data",
        ] {
            let mut m = bind(source, None);
            daemon_root_propagation(&mut m, root).unwrap();
            assert_eq!(m.propagation, Propagation::Rslave, "{source}");
        }
        // Elsewhere, or not a bind: as it was.
        let mut m = bind("/srv", None);
        daemon_root_propagation(&mut m, root).unwrap();
        assert_eq!(m.propagation, Propagation::Rprivate);
        let mut v = MountSpec {
            kind: MountKind::Volume,
            source: "/".into(),
            ..Default::default()
        };
        daemon_root_propagation(&mut v, root).unwrap();
        assert_eq!(v.propagation, Propagation::Rprivate);
        // Named: rslave and rshared stay, the others are refused.
        for p in [Propagation::Rslave, Propagation::Rshared] {
            let mut m = bind("/", Some(p));
            daemon_root_propagation(&mut m, root).unwrap();
            assert_eq!(m.propagation, p);
        }
        let e = daemon_root_propagation(&mut bind("/var", Some(Propagation::Private)), root)
            .unwrap_err();
        assert_eq!(
            e,
            "invalid mount config: must use either propagation mode \"rslave\" or \"rshared\" \
             when mount source is within the daemon root, daemon root: \"/var/lib/berth\", bind \
             mount source: \"/var\", propagation: \"private\""
        );
    }

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
        let m = spec_mounts(&mounts, Path::new("/var/lib/berth/volumes"), &[]);
        assert_eq!(m[0]["source"], "/var/lib/berth/volumes/data/_data");
        assert_eq!(m[1]["options"], json!(["rbind", "rprivate", "ro"]));
        assert_eq!(m[2]["type"], "tmpfs");
        assert!(m[2]["options"]
            .as_array()
            .unwrap()
            .contains(&json!("noexec")));
        assert!(m[2]["options"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "size=1m"));
    }
}
