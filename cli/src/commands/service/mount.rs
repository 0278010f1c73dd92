//! `--mount` values (docker's `MountOpt`): CSV `key=value` fields for bind, volume and tmpfs
//! mounts, with docker's checks and messages. Pure.

use bollard::models::{
    Mount, MountBindOptions, MountBindOptionsPropagationEnum as Propagation, MountTmpfsOptions,
    MountType, MountVolumeOptions, MountVolumeOptionsDriverConfig,
};

use super::parse::csv_fields;
use crate::parse::ram_in_bytes;

/// `--mount type=bind,source=/a,target=/b,readonly` (docker's `MountOpt`).
pub fn parse(s: &str) -> Result<Mount, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("value is empty".into());
    }
    let mut m = Mount {
        typ: Some(MountType::VOLUME),
        ..Default::default()
    };
    for field in csv_fields(s)? {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field.as_str(), None),
        };
        if key.trim() != key {
            return Err(format!(
                "invalid option '{}' in '{field}': option should not have whitespace",
                key.trim()
            ));
        }
        if let Some(v) = value {
            if v.trim().is_empty() {
                return Err(format!("invalid value for '{key}': value is empty"));
            }
            if v.trim() != v {
                return Err(format!(
                    "invalid value for '{key}' in '{field}': value should not have whitespace"
                ));
            }
        }
        let key = key.to_lowercase();
        if value.is_none()
            && !matches!(
                key.as_str(),
                "readonly" | "ro" | "volume-nocopy" | "bind-create-src"
            )
        {
            return Err(format!("invalid field '{field}' must be a key=value pair"));
        }
        mount_field(&mut m, &key, value)?;
    }
    check_mount(&m)?;
    Ok(m)
}

fn mount_field(m: &mut Mount, key: &str, value: Option<&str>) -> Result<(), String> {
    let val = value.unwrap_or_default().to_string();
    match key {
        "type" => {
            let typ = val.to_lowercase().parse();
            m.typ = Some(typ.map_err(|()| format!("invalid mount type: {val}"))?);
        }
        "source" | "src" => m.source = Some(val),
        "target" | "dst" | "destination" => m.target = Some(val),
        "readonly" | "ro" => m.read_only = Some(flag(key, value)?),
        "consistency" => m.consistency = Some(val.to_lowercase()),
        k if k.starts_with("bind-") => bind_field(m, key, value)?,
        k if k.starts_with("volume-") => volume_field(m, key, value)?,
        "tmpfs-size" => {
            let size = ram_in_bytes(&val).map_err(|_| format!("invalid value for {key}: {val}"))?;
            tmpfs_options(m).size_bytes = Some(size);
        }
        "tmpfs-mode" => {
            let mode = i64::from_str_radix(&val, 8);
            tmpfs_options(m).mode =
                Some(mode.map_err(|_| format!("invalid value for {key}: {val}"))?);
        }
        _ => return Err(unknown(key, value)),
    }
    Ok(())
}

fn unknown(key: &str, value: Option<&str>) -> String {
    format!(
        "unknown option '{key}' in '{key}={}'",
        value.unwrap_or_default()
    )
}

/// A boolean field: bare means true; otherwise 1/true/0/false.
fn flag(key: &str, value: Option<&str>) -> Result<bool, String> {
    match value {
        None | Some("1" | "true") => Ok(true),
        Some("0" | "false") => Ok(false),
        Some(v) => Err(format!(
            "invalid value for '{key}': invalid boolean value (\"{v}\"): must be one of \"true\", \"1\", \"false\", or \"0\" (default \"true\")"
        )),
    }
}

fn bind_field(m: &mut Mount, key: &str, value: Option<&str>) -> Result<(), String> {
    let val = value.unwrap_or_default();
    let b = m.bind_options.get_or_insert_with(MountBindOptions::default);
    match key {
        "bind-propagation" => {
            let p: Result<Propagation, _> = val.to_lowercase().parse();
            b.propagation = Some(p.map_err(|_| format!("invalid value for {key}: {val}"))?);
        }
        "bind-nonrecursive" => {
            return Err("bind-nonrecursive is deprecated, use bind-recursive=disabled instead".into())
        }
        "bind-recursive" => match val {
            "enabled" => {}
            "disabled" => b.non_recursive = Some(true),
            "writable" => b.read_only_non_recursive = Some(true),
            "readonly" => b.read_only_force_recursive = Some(true),
            _ => {
                return Err(format!(
                    "invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                ))
            }
        },
        "bind-create-src" => b.create_mountpoint = Some(flag(key, value)?),
        _ => return Err(unknown(key, value)),
    }
    Ok(())
}

fn volume_field(m: &mut Mount, key: &str, value: Option<&str>) -> Result<(), String> {
    let val = value.unwrap_or_default().to_string();
    let opts = volume_options(m);
    match key {
        "volume-subpath" => opts.subpath = Some(val),
        "volume-nocopy" => opts.no_copy = Some(flag(key, value)?),
        "volume-label" | "volume-opt" => {
            let (k, v) = val.split_once('=').unwrap_or((&val, ""));
            if !k.is_empty() {
                let map = if key == "volume-label" {
                    opts.labels.get_or_insert_with(Default::default)
                } else {
                    let driver = opts.driver_config.get_or_insert_with(Default::default);
                    driver.options.get_or_insert_with(Default::default)
                };
                map.insert(k.to_string(), v.to_string());
            }
        }
        "volume-driver" => {
            opts.driver_config.get_or_insert_with(Default::default).name = Some(val);
        }
        _ => return Err(unknown(key, value)),
    }
    Ok(())
}

fn tmpfs_options(m: &mut Mount) -> &mut MountTmpfsOptions {
    m.tmpfs_options
        .get_or_insert_with(MountTmpfsOptions::default)
}

/// The mount's volume options, created as docker creates them (with an empty driver config).
fn volume_options(m: &mut Mount) -> &mut MountVolumeOptions {
    m.volume_options.get_or_insert_with(|| MountVolumeOptions {
        driver_config: Some(MountVolumeOptionsDriverConfig::default()),
        ..Default::default()
    })
}

/// Options of one mount type may not appear on another (docker's `validateExclusiveOptions`).
fn check_mount(m: &Mount) -> Result<(), String> {
    let typ = m.typ.unwrap_or(MountType::VOLUME);
    let mixed = [
        ("bind", m.bind_options.is_some(), MountType::BIND),
        ("volume", m.volume_options.is_some(), MountType::VOLUME),
        ("tmpfs", m.tmpfs_options.is_some(), MountType::TMPFS),
    ];
    for (prefix, present, owner) in mixed {
        if present && typ != owner {
            return Err(format!(
                "cannot mix '{prefix}-*' options with mount type '{typ}'"
            ));
        }
    }
    if let Some(b) = &m.bind_options {
        let read_only = m.read_only.unwrap_or(false);
        if b.read_only_non_recursive == Some(true) && !read_only {
            return Err("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction".into());
        }
        if b.read_only_force_recursive == Some(true) && !read_only {
            return Err("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_mounts_with_flags() {
        let m = parse("type=bind,source=/a,target=/b,readonly,bind-propagation=rshared").unwrap();
        assert_eq!(m.typ, Some(MountType::BIND));
        assert_eq!(m.source.as_deref(), Some("/a"));
        assert_eq!(m.target.as_deref(), Some("/b"));
        assert_eq!(m.read_only, Some(true));
        assert_eq!(
            m.bind_options.unwrap().propagation,
            Some(Propagation::RSHARED)
        );
        let m = parse("type=bind,src=/a,dst=/b,ro=false").unwrap();
        assert_eq!(m.read_only, Some(false));
    }

    #[test]
    fn volume_mounts_default_and_carry_options() {
        let m = parse("source=data,target=/data,volume-label=a=b,volume-driver=local,volume-opt=o=1,volume-nocopy").unwrap();
        assert_eq!(m.typ, Some(MountType::VOLUME));
        let v = m.volume_options.unwrap();
        assert_eq!(v.labels.unwrap()["a"], "b");
        assert_eq!(v.no_copy, Some(true));
        let driver = v.driver_config.unwrap();
        assert_eq!(driver.name.as_deref(), Some("local"));
        assert_eq!(driver.options.unwrap()["o"], "1");
        let v = parse("target=/x,volume-label=k")
            .unwrap()
            .volume_options
            .unwrap();
        assert_eq!(
            v.driver_config,
            Some(MountVolumeOptionsDriverConfig::default())
        );
    }

    #[test]
    fn tmpfs_size_and_octal_mode() {
        let m = parse("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        let t = m.tmpfs_options.unwrap();
        assert_eq!(t.size_bytes, Some(1_048_576));
        assert_eq!(t.mode, Some(0o1770));
    }

    #[test]
    fn bad_mounts_are_refused_with_docker_messages() {
        assert_eq!(parse("").unwrap_err(), "value is empty");
        assert_eq!(
            parse("foo").unwrap_err(),
            "invalid field 'foo' must be a key=value pair"
        );
        assert_eq!(
            parse("type=bind,target=/b,volume-nocopy").unwrap_err(),
            "cannot mix 'volume-*' options with mount type 'bind'"
        );
        assert_eq!(
            parse("target=/b,color=red").unwrap_err(),
            "unknown option 'color' in 'color=red'"
        );
        assert!(parse("target=/b,ro=maybe")
            .unwrap_err()
            .starts_with("invalid value for 'ro': invalid boolean value"));
        assert_eq!(
            parse("target=").unwrap_err(),
            "invalid value for 'target': value is empty"
        );
        assert!(parse("type=floppy,target=/b").is_err());
        assert!(parse("type=bind,source=/a,target=/b,bind-recursive=readonly").is_err());
    }
}
