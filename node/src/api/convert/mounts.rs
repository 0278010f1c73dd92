//! Docker's three ways of asking for mounts (`HostConfig.Binds` strings, `HostConfig.Mounts`
//! objects, `HostConfig.Tmpfs`) plus `Config.Volumes`, to engine `MountSpec`s, checked as
//! moby's Linux mount parser checks them; and the `Mounts` list of container inspect.

use std::collections::HashMap;
use std::path::Path;

use bollard_stubs::models::{Mount, MountPoint, MountType};

use crate::api::error::ApiError;
use crate::api::ApiVersion;
use crate::engine::volume::{MountKind, MountOrigin, MountSpec, Propagation};

/// API 1.42 added `BindOptions.CreateMountpoint` and refused options of another mount type.
const CREATE_MOUNTPOINT_API: ApiVersion = ApiVersion(1, 42);
/// API 1.44 made read-only binds recursively read-only.
const RECURSIVE_READ_ONLY_API: ApiVersion = ApiVersion(1, 44);
/// API 1.45 added `VolumeOptions.Subpath`.
const SUBPATH_API: ApiVersion = ApiVersion(1, 45);

/// One kind of `-v` mode word; a mode holds at most one of each.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ModeWord {
    ReadWrite,
    Label,
    Propagation,
    Copy,
    Consistency,
}

fn mode_word(word: &str) -> Option<ModeWord> {
    Some(match word {
        "ro" | "rw" => ModeWord::ReadWrite,
        // SELinux relabelling: berth's hosts run without SELinux, where Docker skips it too.
        "z" | "Z" => ModeWord::Label,
        "nocopy" => ModeWord::Copy,
        // Docker Desktop's file sharing modes, which Docker on Linux accepts and ignores.
        "consistent" | "cached" | "delegated" => ModeWord::Consistency,
        w if Propagation::parse(w).is_some() => ModeWord::Propagation,
        _ => return None,
    })
}

/// A `-v` mode Docker accepts: known words, at most one of each kind.
fn valid_mode(mode: &str) -> bool {
    let mut seen = Vec::new();
    mode.is_empty()
        || mode.split(',').all(|w| match mode_word(w) {
            Some(kind) if !seen.contains(&kind) => {
                seen.push(kind);
                true
            }
            _ => false,
        })
}

/// `/path`, `name:/path[:mode]` or `/host:/path[:mode]`, as moby's `ParseMountRaw`.
pub fn parse_bind(spec: &str, version: ApiVersion) -> Result<MountSpec, ApiError> {
    let invalid = || ApiError::bad_request(format!("invalid volume specification: '{spec}'"));
    let parts: Vec<&str> = spec.splitn(4, ':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [""] | ["", ..] => return Err(invalid()),
        [t] => ("", *t, ""),
        // `/dst:ro` names a mode without a source: not a volume.
        [_, m] if valid_mode(m) => return Err(invalid()),
        [s, t] => (*s, *t, ""),
        [s, t, m] => (*s, *t, *m),
        _ => return Err(invalid()),
    };
    if !valid_mode(mode) {
        return Err(ApiError::bad_request(format!("invalid mode: {mode}")));
    }
    let words: Vec<&str> = mode.split(',').filter(|w| !w.is_empty()).collect();
    let mut m = Mount {
        typ: Some(if source.starts_with('/') {
            MountType::BIND
        } else {
            MountType::VOLUME
        }),
        source: Some(source.to_string()),
        target: Some(target.to_string()),
        read_only: Some(words.contains(&"ro")),
        ..Default::default()
    };
    if words.contains(&"nocopy") {
        m.volume_options = Some(bollard_stubs::models::MountVolumeOptions {
            no_copy: Some(true),
            ..Default::default()
        });
    }
    if let Some(p) = words.iter().find_map(|w| Propagation::parse(w)) {
        m.bind_options = Some(bollard_stubs::models::MountBindOptions {
            propagation: p.as_str().parse().ok(),
            ..Default::default()
        });
    }
    // `-v` binds are never checked for a source: a missing one is made, as Docker does.
    let mut out = from_mount_checked(&m, version, false).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid volume specification: '{spec}': {}",
            e.message
        ))
    })?;
    out.create_source = out.kind == MountKind::Bind;
    if !mode.is_empty() {
        out.mode = mode.to_string();
    }
    out.origin = MountOrigin::Binds(spec.to_string());
    Ok(out)
}

/// One `HostConfig.Mounts` entry, checked as moby's `ParseMountSpec` for a client at `version`.
pub fn from_mount(sent: &Mount, version: ApiVersion) -> Result<MountSpec, ApiError> {
    let mut m = sent.clone();
    if version < CREATE_MOUNTPOINT_API {
        // Options of another type were not checked before 1.42, and CreateMountpoint did not
        // exist: moby clears them for older clients.
        if m.typ != Some(MountType::VOLUME) {
            m.volume_options = None;
        }
        if m.typ != Some(MountType::TMPFS) {
            m.tmpfs_options = None;
        }
        if let Some(b) = m.bind_options.as_mut() {
            b.create_mountpoint = None;
        }
    }
    let mut out = from_mount_checked(&m, version, true)?;
    out.origin = MountOrigin::Mounts(serde_json::to_value(sent).unwrap_or_default());
    Ok(out)
}

fn from_mount_checked(
    m: &Mount,
    version: ApiVersion,
    check_source: bool,
) -> Result<MountSpec, ApiError> {
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
    let type_name = m.typ.unwrap_or(MountType::VOLUME);
    let fail = |what: String| {
        ApiError::bad_request(format!(
            "invalid mount config for type \"{type_name}\": {what}"
        ))
    };
    for (field, set, allowed) in [
        ("BindOptions", m.bind_options.is_some(), MountKind::Bind),
        (
            "VolumeOptions",
            m.volume_options.is_some(),
            MountKind::Volume,
        ),
        ("TmpfsOptions", m.tmpfs_options.is_some(), MountKind::Tmpfs),
    ] {
        if set && kind != allowed {
            return Err(fail(format!("field {field} must not be specified")));
        }
    }
    if m.image_options.is_some() {
        return Err(fail("field ImageOptions must not be specified".into()));
    }
    let target = m.target.clone().unwrap_or_default();
    if target.is_empty() {
        return Err(fail("field Target must not be empty".into()));
    }
    check_absolute(&target).map_err(&fail)?;
    if clean(&target) == "/" {
        return Err(fail(
            "invalid specification: destination can't be '/'".into(),
        ));
    }
    let source = m.source.clone().unwrap_or_default();
    let read_only = m.read_only.unwrap_or(false);
    let mut out = MountSpec {
        kind,
        source,
        target: clean(&target),
        read_only,
        ..Default::default()
    };
    match kind {
        MountKind::Bind => {
            if out.source.is_empty() {
                return Err(fail("field Source must not be empty".into()));
            }
            check_absolute(&out.source).map_err(&fail)?;
            out.source = clean(&out.source);
            let b = m.bind_options.clone().unwrap_or_default();
            if let Some(p) = b.propagation.as_ref() {
                let text = p.to_string();
                if !text.is_empty() {
                    out.propagation = Propagation::parse(&text)
                        .ok_or_else(|| fail(format!("invalid propagation mode: {text}")))?;
                    out.propagation_set = true;
                }
            }
            out.non_recursive = b.non_recursive.unwrap_or(false);
            out.create_source = b.create_mountpoint.unwrap_or(false);
            out.read_only_recursive = read_only_depth(
                read_only,
                b.read_only_non_recursive.unwrap_or(false),
                b.read_only_force_recursive.unwrap_or(false),
                version,
            )?;
            if check_source && !out.create_source && !Path::new(&out.source).exists() {
                return Err(fail(format!(
                    "bind source path does not exist: {}",
                    out.source
                )));
            }
        }
        MountKind::Volume => {
            let v = m.volume_options.clone().unwrap_or_default();
            out.no_copy = v.no_copy.unwrap_or(false);
            if let Some(subpath) = v.subpath.as_deref().filter(|s| !s.is_empty()) {
                if version < SUBPATH_API {
                    return Err(ApiError::bad_request(
                        "VolumeOptions.Subpath needs API v1.45 or newer",
                    ));
                }
                if out.source.is_empty() {
                    return Err(fail(
                        "must not set Subpath when using anonymous volumes".into(),
                    ));
                }
                if !is_local(subpath) {
                    return Err(fail(
                        "subpath must be a relative path within the volume".into(),
                    ));
                }
                out.subpath = subpath.to_string();
            }
            if let Some(d) = v.driver_config.as_ref() {
                let name = d.name.as_deref().unwrap_or("");
                if !matches!(name, "" | "local") {
                    return Err(ApiError::bad_request(format!(
                        "error looking up volume plugin {name}: plugin \"{name}\" not found"
                    )));
                }
                out.volume_options = d.options.clone().unwrap_or_default().into_iter().collect();
            }
            out.volume_labels = v.labels.unwrap_or_default().into_iter().collect();
            // Docker's volumes are recursively read-only at every version.
            out.read_only_recursive = read_only;
            // moby's `setBindModeIfNull` for the local driver (a relabel mode, a no-op here).
            out.mode = "z".into();
        }
        MountKind::Tmpfs => {
            if !out.source.is_empty() {
                return Err(fail("field Source must not be specified".into()));
            }
            out.options = tmpfs_options(m.tmpfs_options.as_ref()).map_err(&fail)?;
        }
    }
    Ok(out)
}

/// Whether a read-only bind is read-only below too, with moby's checks of the two options.
fn read_only_depth(
    read_only: bool,
    non_recursive: bool,
    force_recursive: bool,
    version: ApiVersion,
) -> Result<bool, ApiError> {
    let conflict = |what: &str| ApiError::bad_request(format!("mount options conflict: {what}"));
    if force_recursive && version < RECURSIVE_READ_ONLY_API {
        return Err(ApiError::bad_request(
            "BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer",
        ));
    }
    if !read_only && non_recursive {
        return Err(conflict("!ReadOnly && BindOptions.ReadOnlyNonRecursive"));
    }
    if !read_only && force_recursive {
        return Err(conflict("!ReadOnly && BindOptions.ReadOnlyForceRecursive"));
    }
    if non_recursive && force_recursive {
        return Err(conflict(
            "ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive",
        ));
    }
    // berth needs `mount_setattr` (Linux 5.12) anyway, so recursive read-only always works.
    Ok(read_only && !non_recursive && (force_recursive || version >= RECURSIVE_READ_ONLY_API))
}

/// `TmpfsOptions` as mount options: size with Docker's suffix, mode in octal, and the
/// `Options` pairs moby allows (`exec`, `noexec`).
fn tmpfs_options(
    t: Option<&bollard_stubs::models::MountTmpfsOptions>,
) -> Result<Vec<String>, String> {
    let mut options = Vec::new();
    let Some(t) = t else {
        return Ok(options);
    };
    if let Some(mode) = t.mode.filter(|m| *m != 0) {
        options.push(format!("mode={mode:o}"));
    }
    if let Some(size) = t.size_bytes.filter(|s| *s != 0) {
        let (n, suffix) = [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)]
            .into_iter()
            .find(|(_, d)| size % d == 0)
            .map_or((size, ""), |(s, d)| (size / d, s));
        options.push(format!("size={n}{suffix}"));
    }
    for opt in t.options.iter().flatten() {
        match opt.as_slice() {
            [k] if matches!(k.as_str(), "exec" | "noexec") => options.push(k.clone()),
            [k, v] if matches!(k.as_str(), "exec" | "noexec") => options.push(format!("{k}={v}")),
            [k] | [k, _] => return Err(format!("invalid option: {k}")),
            _ => return Err("invalid option array length".into()),
        }
    }
    Ok(options)
}

fn check_absolute(p: &str) -> Result<(), String> {
    if p.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "invalid mount path: '{p}' mount path must be absolute"
        ))
    }
}

/// Go's `filepath.IsLocal`: relative, not empty, and never above where it starts.
fn is_local(p: &str) -> bool {
    if p.is_empty() || p.starts_with('/') {
        return false;
    }
    let mut depth = 0usize;
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

/// Go's `path.Clean` for an absolute path: no empty, `.` or `..` parts.
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `HostConfig.Tmpfs`: target → `size=…,mode=…`; the target must be absolute and not `/`.
pub fn from_tmpfs(tmpfs: &HashMap<String, String>) -> Result<Vec<MountSpec>, ApiError> {
    let mut out: Vec<MountSpec> = tmpfs
        .iter()
        .map(|(target, opts)| {
            check_absolute(target).map_err(ApiError::bad_request)?;
            if clean(target) == "/" {
                return Err(ApiError::bad_request(
                    "invalid specification: destination can't be '/'",
                ));
            }
            let mut options: Vec<String> = opts
                .split(',')
                .filter(|o| !o.is_empty())
                .map(String::from)
                .collect();
            let read_only = options.iter().any(|o| o == "ro");
            options.retain(|o| o != "ro" && o != "rw");
            Ok(MountSpec {
                kind: MountKind::Tmpfs,
                target: clean(target),
                read_only,
                options,
                origin: MountOrigin::TmpfsEntry {
                    target: target.clone(),
                    options: opts.clone(),
                },
                ..Default::default()
            })
        })
        .collect::<Result<_, ApiError>>()?;
    out.sort_by(|a, b| a.target.cmp(&b.target));
    Ok(out)
}

/// All mounts of a create request; a target named twice is refused, as Docker does.
pub fn collect(
    binds: Option<&[String]>,
    mounts: Option<&[Mount]>,
    tmpfs: Option<&HashMap<String, String>>,
    volumes: Option<&[String]>,
    version: ApiVersion,
) -> Result<Vec<MountSpec>, ApiError> {
    let mut out = Vec::new();
    for b in binds.unwrap_or_default() {
        out.push(parse_bind(b, version)?);
    }
    for m in mounts.unwrap_or_default() {
        out.push(from_mount(m, version)?);
    }
    if let Some(t) = tmpfs {
        out.extend(from_tmpfs(t)?);
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

/// The three mount fields of inspect's `HostConfig`.
#[derive(Debug, Default, PartialEq)]
pub struct HostConfigMounts {
    pub binds: Option<Vec<String>>,
    pub mounts: Option<Vec<Mount>>,
    pub tmpfs: Option<HashMap<String, String>>,
}

/// Inspect's `HostConfig.Binds`, `HostConfig.Mounts` and `HostConfig.Tmpfs`: each as sent,
/// `None` when it had none (Go's nil). Records older than `MountOrigin` show their tmpfs
/// mounts in `Tmpfs`, as before.
pub fn host_config_echo(mounts: &[MountSpec]) -> HostConfigMounts {
    let mut binds = Vec::new();
    let mut objects = Vec::new();
    let mut tmpfs = HashMap::new();
    for m in mounts {
        match &m.origin {
            MountOrigin::Binds(text) => binds.push(text.clone()),
            MountOrigin::Mounts(sent) => {
                objects.extend(serde_json::from_value::<Mount>(sent.clone()).ok());
            }
            MountOrigin::Tmpfs(opts) => {
                tmpfs.insert(m.target.clone(), opts.clone());
            }
            MountOrigin::TmpfsEntry { target, options } => {
                tmpfs.insert(target.clone(), options.clone());
            }
            MountOrigin::Config if m.kind == MountKind::Tmpfs => {
                tmpfs.insert(m.target.clone(), m.options.join(","));
            }
            MountOrigin::Config | MountOrigin::VolumesFrom => {}
        }
    }
    HostConfigMounts {
        binds: (!binds.is_empty()).then_some(binds),
        mounts: (!objects.is_empty()).then_some(objects),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
    }
}

/// Inspect's `Config.Volumes`: the ones asked for in `Config.Volumes` and the image's, which
/// Docker merges into the container's config.
pub fn config_volumes(mounts: &[MountSpec]) -> Option<Vec<String>> {
    let v: Vec<String> = mounts
        .iter()
        .filter(|m| m.origin == MountOrigin::Config && m.kind == MountKind::Volume)
        .map(|m| m.target.clone())
        .collect();
    (!v.is_empty()).then_some(v)
}

/// Container inspect's `Mounts` (moby's mount points: without `HostConfig.Tmpfs`).
pub fn mount_points(mounts: &[MountSpec], volumes_root: &Path) -> Vec<MountPoint> {
    mounts
        .iter()
        .filter(|m| !m.origin.is_host_config_tmpfs())
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
                mode: Some(m.mode.clone()),
                rw: Some(!m.read_only),
                propagation: Some(if m.kind == MountKind::Bind {
                    m.propagation.as_str().into()
                } else {
                    String::new()
                }),
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "mounts_tests.rs"]
mod tests;
