//! Docker's three ways of asking for mounts (`HostConfig.Binds` strings, `HostConfig.Mounts`
//! objects, `HostConfig.Tmpfs`) plus `Config.Volumes`, to engine `MountSpec`s; and the
//! `Mounts` list of container inspect.

use std::collections::HashMap;
use std::path::Path;

use bollard_stubs::models::{Mount, MountPoint, MountType};

use crate::api::error::ApiError;
use crate::engine::volume::{MountKind, MountSpec};

/// `name:/path[:opts]` or `/host:/path[:opts]`; options `ro`, `rw`, `nocopy` (SELinux and
/// propagation options are accepted and ignored: berth does not relabel or change propagation).
pub fn parse_bind(spec: &str) -> Result<MountSpec, ApiError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, opts) = match parts.as_slice() {
        [t] => ("", *t, ""),
        [s, t] => (*s, *t, ""),
        [s, t, o] => (*s, *t, *o),
        _ => {
            return Err(ApiError::bad_request(format!(
                "invalid volume specification: '{spec}'"
            )))
        }
    };
    if !target.starts_with('/') {
        return Err(ApiError::bad_request(format!(
            "invalid volume specification: '{spec}': invalid mount config: destination must be an absolute path"
        )));
    }
    let mut m = MountSpec {
        kind: if source.starts_with('/') {
            MountKind::Bind
        } else {
            MountKind::Volume
        },
        source: source.to_string(),
        target: target.to_string(),
        create_source: true,
        ..Default::default()
    };
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => m.read_only = true,
            "rw" => m.read_only = false,
            "nocopy" => m.no_copy = true,
            "z" | "Z" | "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
            | "consistent" | "cached" | "delegated" => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid volume specification: '{spec}': invalid mode: {other}"
                )))
            }
        }
    }
    Ok(m)
}

/// One `HostConfig.Mounts` entry.
pub fn from_mount(m: &Mount) -> Result<MountSpec, ApiError> {
    let target = m.target.clone().unwrap_or_default();
    if !target.starts_with('/') {
        return Err(ApiError::bad_request(
            "invalid mount config: Target must be an absolute path",
        ));
    }
    let kind = match m.typ {
        Some(MountType::BIND) => MountKind::Bind,
        Some(MountType::VOLUME) | None => MountKind::Volume,
        Some(MountType::TMPFS) => MountKind::Tmpfs,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "mount type {other} is not supported"
            )))
        }
    };
    let source = m.source.clone().unwrap_or_default();
    if kind == MountKind::Bind && !source.starts_with('/') {
        return Err(ApiError::bad_request(
            "invalid mount config for type \"bind\": invalid mount path",
        ));
    }
    if kind == MountKind::Tmpfs && !source.is_empty() {
        return Err(ApiError::bad_request(
            "invalid mount config for type \"tmpfs\": Source must not be specified",
        ));
    }
    let mut options = Vec::new();
    if let Some(t) = &m.tmpfs_options {
        if let Some(size) = t.size_bytes.filter(|s| *s > 0) {
            options.push(format!("size={size}"));
        }
        if let Some(mode) = t.mode.filter(|m| *m > 0) {
            options.push(format!("mode={mode:o}"));
        }
    }
    Ok(MountSpec {
        kind,
        source,
        target,
        read_only: m.read_only.unwrap_or(false),
        options,
        create_source: false,
        no_copy: m
            .volume_options
            .as_ref()
            .and_then(|v| v.no_copy)
            .unwrap_or(false),
    })
}

/// `HostConfig.Tmpfs`: target → `size=…,mode=…`.
pub fn from_tmpfs(tmpfs: &HashMap<String, String>) -> Vec<MountSpec> {
    let mut out: Vec<MountSpec> = tmpfs
        .iter()
        .map(|(target, opts)| {
            let mut options: Vec<String> = opts
                .split(',')
                .filter(|o| !o.is_empty())
                .map(String::from)
                .collect();
            let read_only = options.iter().any(|o| o == "ro");
            options.retain(|o| o != "ro" && o != "rw");
            MountSpec {
                kind: MountKind::Tmpfs,
                target: target.clone(),
                read_only,
                options,
                ..Default::default()
            }
        })
        .collect();
    out.sort_by(|a, b| a.target.cmp(&b.target));
    out
}

/// All mounts of a create request; a target named twice is refused, as Docker does.
pub fn collect(
    binds: Option<&[String]>,
    mounts: Option<&[Mount]>,
    tmpfs: Option<&HashMap<String, String>>,
    volumes: Option<&[String]>,
) -> Result<Vec<MountSpec>, ApiError> {
    let mut out = Vec::new();
    for b in binds.unwrap_or_default() {
        out.push(parse_bind(b)?);
    }
    for m in mounts.unwrap_or_default() {
        out.push(from_mount(m)?);
    }
    if let Some(t) = tmpfs {
        out.extend(from_tmpfs(t));
    }
    let mut seen = std::collections::HashSet::new();
    for m in &out {
        if !seen.insert(m.target.clone()) {
            return Err(ApiError::bad_request(format!(
                "Duplicate mount point: {}",
                m.target
            )));
        }
    }
    let mut anonymous: Vec<&String> = volumes.map(|v| v.iter().collect()).unwrap_or_default();
    anonymous.sort();
    for target in anonymous {
        if !seen.contains(target) {
            out.push(MountSpec {
                kind: MountKind::Volume,
                target: target.clone(),
                ..Default::default()
            });
        }
    }
    Ok(out)
}

/// Container inspect's `Mounts`.
pub fn mount_points(mounts: &[MountSpec], volumes_root: &Path) -> Vec<MountPoint> {
    mounts
        .iter()
        .map(|m| {
            let (typ, name, source, driver) = match m.kind {
                MountKind::Volume => (
                    "volume".to_string(),
                    Some(m.source.clone()),
                    volumes_root
                        .join(&m.source)
                        .join("_data")
                        .display()
                        .to_string(),
                    Some("local".to_string()),
                ),
                MountKind::Bind => ("bind".to_string(), None, m.source.clone(), None),
                MountKind::Tmpfs => ("tmpfs".to_string(), None, String::new(), None),
            };
            MountPoint {
                typ: Some(typ),
                name,
                source: Some(source),
                destination: Some(m.target.clone()),
                driver,
                mode: Some(if m.read_only {
                    "ro".into()
                } else {
                    String::new()
                }),
                rw: Some(!m.read_only),
                propagation: Some(if m.kind == MountKind::Bind {
                    "rprivate".into()
                } else {
                    String::new()
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_tell_volumes_from_host_paths() {
        let v = parse_bind("data:/data").unwrap();
        assert_eq!(
            (v.kind, v.source.as_str(), v.read_only),
            (MountKind::Volume, "data", false)
        );
        let b = parse_bind("/srv/x:/x:ro").unwrap();
        assert_eq!(
            (b.kind, b.read_only, b.create_source),
            (MountKind::Bind, true, true)
        );
        let anon = parse_bind("/anon").unwrap();
        assert_eq!((anon.kind, anon.source.as_str()), (MountKind::Volume, ""));
        assert!(parse_bind("data:relative").is_err());
        assert!(parse_bind("data:/d:sideways").is_err());
    }

    #[test]
    fn duplicate_targets_are_refused_and_config_volumes_are_added_once() {
        let binds = vec!["a:/d".to_string(), "/h:/d".to_string()];
        assert!(collect(Some(&binds), None, None, None).is_err());
        let binds = vec!["a:/d".to_string()];
        let vols = vec!["/e".to_string(), "/d".to_string()];
        let all = collect(Some(&binds), None, None, Some(&vols)).unwrap();
        let targets: Vec<&str> = all.iter().map(|m| m.target.as_str()).collect();
        assert_eq!(targets, vec!["/d", "/e"]);
    }

    #[test]
    fn tmpfs_options_pass_through() {
        let t = from_tmpfs(&HashMap::from([(
            "/scratch".to_string(),
            "size=1m,ro".to_string(),
        )]));
        assert_eq!(t[0].options, vec!["size=1m"]);
        assert!(t[0].read_only);
    }
}
