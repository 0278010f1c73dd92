//! `HostConfig` → `RuntimeSettings`: namespaces, devices, limits, sysctls, cgroup placement,
//! runtime and logging, checked with Docker's messages. What needs the host or other
//! containers (device nodes, `container:` targets, `--volumes-from`) is resolved by the engine.

use bollard_stubs::models::HostConfig;

use crate::api::error::ApiError;
use crate::engine::container::log_config::LogSettings;
use crate::engine::container::settings::{
    BlkioThrottle, DeviceMapping, DeviceRule, NamespaceMode, RuntimeSettings, ThrottleDevice,
    Ulimit, WeightDevice, ULIMIT_NAMES,
};
use crate::engine::container::types::HostSettings;

/// The settings `h` asks for.
pub fn runtime_settings(h: &HostConfig) -> Result<RuntimeSettings, ApiError> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    Ok(RuntimeSettings {
        daemon_cgroup_parent: String::new(),
        cgroup_parent: cgroup_parent(&text(&h.cgroup_parent))?,
        cpuset_cpus: cpu_list(&text(&h.cpuset_cpus), "cpuset.cpus")?,
        cpuset_mems: cpu_list(&text(&h.cpuset_mems), "cpuset.mems")?,
        memory_reservation: memory_reservation(h)?,
        memory_swappiness: swappiness(h.memory_swappiness)?,
        oom_kill_disable: h.oom_kill_disable.unwrap_or(false),
        oom_score_adj: oom_score_adj(h.oom_score_adj.unwrap_or(0))?,
        devices: devices(h)?,
        blkio_throttle: blkio_throttle(h)?,
        blkio_weight: h.blkio_weight.unwrap_or(0),
        blkio_weight_device: weight_devices(h.blkio_weight_device.as_deref())?,
        device_rules: h
            .device_cgroup_rules
            .iter()
            .flatten()
            .map(|r| device_rule(r))
            .collect::<Result<_, _>>()?,
        device_cgroup_rules: h.device_cgroup_rules.clone().unwrap_or_default(),
        ulimits: ulimits(h)?,
        sysctls: h.sysctls.clone().unwrap_or_default().into_iter().collect(),
        annotations: h
            .annotations
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        group_add: h.group_add.clone().unwrap_or_default(),
        pid_mode: namespace(&text(&h.pid_mode), "PID", &[])?,
        ipc_mode: namespace(&text(&h.ipc_mode), "IPC", &["private", "shareable"])?,
        uts_mode: namespace(&text(&h.uts_mode), "UTS", &[])?,
        pid_mode_text: text(&h.pid_mode),
        ipc_mode_text: text(&h.ipc_mode),
        uts_mode_text: text(&h.uts_mode),
        cgroupns_private: cgroupns(&h.cgroupns_mode)?,
        cgroupns_text: h.cgroupns_mode.map(|m| m.to_string()).unwrap_or_default(),
        volumes_from: h.volumes_from.clone().unwrap_or_default(),
        volume_driver: text(&h.volume_driver),
        userns_mode: userns(&text(&h.userns_mode))?,
        runtime: runtime(&text(&h.runtime))?,
        isolation: isolation(h)?,
        log: log_settings(h)?,
    })
}

fn bad(message: String) -> ApiError {
    ApiError::bad_request(message)
}

fn cgroup_parent(p: &str) -> Result<String, ApiError> {
    crate::engine::container::settings::clean_cgroup_parent(p)
        .ok_or_else(|| bad(format!("invalid cgroup parent: {p:?}")))
}

/// `0-3,5` lists: the format only; whether the host has them is the engine's check.
pub fn cpu_list(s: &str, what: &str) -> Result<String, ApiError> {
    let ok = s.is_empty()
        || s.split(',').all(|part| {
            let mut ends = part.splitn(2, '-').map(|n| n.parse::<u32>());
            match (ends.next(), ends.next()) {
                (Some(Ok(_)), None) => true,
                (Some(Ok(a)), Some(Ok(b))) => a <= b,
                _ => false,
            }
        });
    if ok {
        Ok(s.to_string())
    } else {
        Err(bad(format!("Invalid value {s} for {what}")))
    }
}

fn memory_reservation(h: &HostConfig) -> Result<i64, ApiError> {
    let r = h.memory_reservation.unwrap_or(0);
    let memory = h.memory.unwrap_or(0);
    if r < 0 {
        return Err(bad(format!("invalid memory reservation: {r}")));
    }
    if memory > 0 && r > memory {
        return Err(bad(
            "Minimum memory limit can not be less than memory reservation limit, see usage.".into(),
        ));
    }
    Ok(r)
}

fn swappiness(v: Option<i64>) -> Result<Option<i64>, ApiError> {
    match v {
        None | Some(-1) => Ok(None),
        Some(s @ 0..=100) => Ok(Some(s)),
        Some(s) => Err(bad(format!(
            "Invalid value: {s}, valid memory swappiness range is 0-100"
        ))),
    }
}

fn oom_score_adj(v: i64) -> Result<i64, ApiError> {
    if (-1000..=1000).contains(&v) {
        Ok(v)
    } else {
        Err(bad(format!(
            "Invalid value {v}, range for oom score adj is [-1000, 1000]"
        )))
    }
}

fn devices(h: &HostConfig) -> Result<Vec<DeviceMapping>, ApiError> {
    let mut out = Vec::new();
    for d in h.devices.iter().flatten() {
        let host = d.path_on_host.clone().unwrap_or_default();
        if host.is_empty() {
            return Err(bad("device PathOnHost is empty".into()));
        }
        let inside = d
            .path_in_container
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| host.clone());
        let permissions = d
            .cgroup_permissions
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "rwm".into());
        if !inside.starts_with('/') || !valid_access(&permissions) {
            return Err(bad(format!(
                "invalid device specification: {host}:{inside}:{permissions}"
            )));
        }
        out.push(DeviceMapping {
            path_on_host: host,
            path_in_container: inside,
            permissions,
            ..Default::default()
        });
    }
    Ok(out)
}

/// `BlkioDevice{Read,Write}{Bps,IOps}`: each a device path and a rate (the devices are found
/// at create).
fn blkio_throttle(h: &HostConfig) -> Result<BlkioThrottle, ApiError> {
    let list = |given: &Option<Vec<bollard_stubs::models::ThrottleDevice>>, field: &str| {
        given
            .iter()
            .flatten()
            .map(|d| {
                let path = d.path.clone().unwrap_or_default();
                if path.is_empty() {
                    return Err(bad(format!("{field}: a device path is required")));
                }
                let rate = u64::try_from(d.rate.unwrap_or(0))
                    .map_err(|_| bad(format!("{field}: invalid rate for {path}: negative")))?;
                Ok(ThrottleDevice {
                    path,
                    rate,
                    ..ThrottleDevice::default()
                })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(BlkioThrottle {
        read_bps: list(&h.blkio_device_read_bps, "BlkioDeviceReadBps")?,
        write_bps: list(&h.blkio_device_write_bps, "BlkioDeviceWriteBps")?,
        read_iops: list(&h.blkio_device_read_iops, "BlkioDeviceReadIOps")?,
        write_iops: list(&h.blkio_device_write_iops, "BlkioDeviceWriteIOps")?,
    })
}

/// `BlkioWeightDevice`: each a device path and a weight (Go's `uint16`).
pub fn weight_devices(
    given: Option<&[bollard_stubs::models::ResourcesBlkioWeightDevice]>,
) -> Result<Vec<WeightDevice>, ApiError> {
    given
        .unwrap_or_default()
        .iter()
        .map(|d| {
            let path = d.path.clone().unwrap_or_default();
            if path.is_empty() {
                return Err(bad("BlkioWeightDevice: a device path is required".into()));
            }
            let weight = u16::try_from(d.weight.unwrap_or(0))
                .map_err(|_| bad(format!("BlkioWeightDevice: invalid weight for {path}")))?;
            Ok(WeightDevice { path, weight })
        })
        .collect()
}

fn valid_access(s: &str) -> bool {
    !s.is_empty() && s.len() <= 3 && s.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
}

/// `c 1:3 rwm`, `b 8:* r`, `a *:* m`.
pub fn device_rule(rule: &str) -> Result<DeviceRule, ApiError> {
    let err = || bad(format!("invalid device cgroup rule format: '{rule}'"));
    let parts: Vec<&str> = rule.split_whitespace().collect();
    let [kind, numbers, access] = parts.as_slice() else {
        return Err(err());
    };
    let kind = match *kind {
        "a" => 'a',
        "b" => 'b',
        "c" => 'c',
        _ => return Err(err()),
    };
    let (major, minor) = numbers.split_once(':').ok_or_else(err)?;
    let number = |n: &str| -> Result<Option<i64>, ApiError> {
        if n == "*" {
            Ok(None)
        } else {
            n.parse().map(Some).map_err(|_| err())
        }
    };
    if !valid_access(access) {
        return Err(err());
    }
    Ok(DeviceRule {
        kind,
        major: number(major)?,
        minor: number(minor)?,
        access: (*access).to_string(),
    })
}

fn ulimits(h: &HostConfig) -> Result<Vec<Ulimit>, ApiError> {
    let mut out: Vec<Ulimit> = Vec::new();
    for u in h.ulimits.iter().flatten() {
        let name = u.name.clone().unwrap_or_default();
        if !ULIMIT_NAMES.iter().any(|(n, _)| *n == name) {
            return Err(bad(format!("invalid ulimit type: {name}")));
        }
        let (soft, hard) = (u.soft.unwrap_or(0), u.hard.unwrap_or(0));
        if soft > hard {
            return Err(bad(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )));
        }
        out.retain(|x| x.name != name);
        out.push(Ulimit { name, soft, hard });
    }
    Ok(out)
}

fn namespace(mode: &str, what: &str, private: &[&str]) -> Result<NamespaceMode, ApiError> {
    match mode {
        "" => Ok(NamespaceMode::Private),
        "host" => Ok(NamespaceMode::Host),
        m if private.contains(&m) => Ok(NamespaceMode::Private),
        m if what != "UTS" && m.starts_with("container:") && m.len() > "container:".len() => Ok(
            NamespaceMode::Container(m["container:".len()..].to_string()),
        ),
        m => Err(bad(format!("invalid {what} mode: {m}"))),
    }
}

fn cgroupns(
    mode: &Option<bollard_stubs::models::HostConfigCgroupnsModeEnum>,
) -> Result<bool, ApiError> {
    use bollard_stubs::models::HostConfigCgroupnsModeEnum as M;
    Ok(match mode {
        None | Some(M::EMPTY) | Some(M::HOST) => false,
        Some(M::PRIVATE) => true,
    })
}

fn userns(m: &str) -> Result<String, ApiError> {
    match m {
        "" | "host" => Ok(m.to_string()),
        other => Err(bad(format!(
            "invalid USER mode: {other}: user namespace remapping is not supported by berth"
        ))),
    }
}

fn runtime(r: &str) -> Result<String, ApiError> {
    match r {
        "" | "runc" => Ok("runc".into()),
        other => Err(bad(format!("unknown or invalid runtime name: {other}"))),
    }
}

fn isolation(h: &HostConfig) -> Result<String, ApiError> {
    use bollard_stubs::models::HostConfigIsolationEnum as I;
    match h.isolation {
        None | Some(I::EMPTY) => Ok(String::new()),
        // Kept as given: inspect shows `default` back, as Docker does.
        Some(I::DEFAULT) => Ok("default".into()),
        Some(other) => Err(bad(format!(
            "Invalid isolation: \"{other}\" - linux only supports 'default'"
        ))),
    }
}

/// `LogConfig`: checked here when the client names a driver; left to the daemon's default
/// (applied at create) when it does not.
fn log_settings(h: &HostConfig) -> Result<Option<LogSettings>, ApiError> {
    let Some(cfg) = &h.log_config else {
        return Ok(None);
    };
    let driver = cfg.typ.clone().unwrap_or_default();
    let opts: std::collections::BTreeMap<String, String> =
        cfg.config.clone().unwrap_or_default().into_iter().collect();
    if driver.is_empty() && opts.is_empty() {
        return Ok(None);
    }
    let driver = if driver.is_empty() {
        "json-file"
    } else {
        driver.as_str()
    };
    Ok(Some(crate::engine::container::log_config::log_settings(
        driver, &opts,
    )?))
}

/// The `HostConfig` fields of these settings as inspect shows them (the rest of the struct is
/// `container::host_config`'s).
pub fn echo(h: &HostSettings) -> HostConfig {
    use bollard_stubs::models::HostConfigIsolationEnum as I;
    use bollard_stubs::models::{
        DeviceMapping as DockerDevice, HostConfigCgroupnsModeEnum as Cgroupns, HostConfigLogConfig,
        ResourcesUlimits,
    };
    let r = &h.runtime;
    let some_text = |s: &str| Some(s.to_string());
    let echo = super::mounts::host_config_echo(&h.mounts);
    HostConfig {
        cgroup_parent: some_text(&r.cgroup_parent),
        cpuset_cpus: some_text(&r.cpuset_cpus),
        cpuset_mems: some_text(&r.cpuset_mems),
        memory_reservation: Some(r.memory_reservation),
        memory_swappiness: r.memory_swappiness,
        oom_kill_disable: Some(r.oom_kill_disable),
        oom_score_adj: Some(r.oom_score_adj),
        devices: Some(
            r.devices
                .iter()
                .map(|d| DockerDevice {
                    path_on_host: Some(d.path_on_host.clone()),
                    path_in_container: Some(d.path_in_container.clone()),
                    cgroup_permissions: Some(d.permissions.clone()),
                })
                .collect(),
        ),
        // null when none, as the docker CLI sends and Docker shows it.
        device_cgroup_rules: (!r.device_cgroup_rules.is_empty())
            .then(|| r.device_cgroup_rules.clone()),
        blkio_weight: Some(r.blkio_weight),
        blkio_weight_device: (!r.blkio_weight_device.is_empty()).then(|| {
            r.blkio_weight_device
                .iter()
                .map(|d| bollard_stubs::models::ResourcesBlkioWeightDevice {
                    path: Some(d.path.clone()),
                    weight: Some(usize::from(d.weight)),
                })
                .collect()
        }),
        blkio_device_read_bps: throttle_echo(&r.blkio_throttle.read_bps),
        blkio_device_write_bps: throttle_echo(&r.blkio_throttle.write_bps),
        blkio_device_read_iops: throttle_echo(&r.blkio_throttle.read_iops),
        blkio_device_write_iops: throttle_echo(&r.blkio_throttle.write_iops),
        ulimits: Some(
            r.ulimits
                .iter()
                .map(|u| ResourcesUlimits {
                    name: Some(u.name.clone()),
                    soft: Some(u.soft),
                    hard: Some(u.hard),
                })
                .collect(),
        ),
        sysctls: (!r.sysctls.is_empty()).then(|| r.sysctls.clone().into_iter().collect()),
        annotations: (!r.annotations.is_empty())
            .then(|| r.annotations.clone().into_iter().collect()),
        group_add: (!r.group_add.is_empty()).then(|| r.group_add.clone()),
        pid_mode: some_text(&r.pid_mode_text),
        ipc_mode: Some(if r.ipc_mode_text.is_empty() {
            "private".to_string()
        } else {
            r.ipc_mode_text.clone()
        }),
        uts_mode: some_text(&r.uts_mode_text),
        cgroupns_mode: Some(if r.cgroupns_private {
            Cgroupns::PRIVATE
        } else {
            Cgroupns::HOST
        }),
        volumes_from: (!r.volumes_from.is_empty()).then(|| r.volumes_from.clone()),
        volume_driver: some_text(&r.volume_driver),
        userns_mode: some_text(&r.userns_mode),
        runtime: Some("runc".into()),
        isolation: (r.isolation == "default").then_some(I::DEFAULT),
        binds: echo.binds,
        mounts: echo.mounts,
        tmpfs: echo.tmpfs,
        dns: Some(h.net.dns.clone()),
        dns_search: Some(h.net.dns_search.clone()),
        dns_options: Some(h.net.dns_options.clone()),
        extra_hosts: (!h.net.extra_hosts.is_empty()).then(|| h.net.extra_hosts.clone()),
        log_config: Some({
            let log = r.log.clone().unwrap_or_default();
            HostConfigLogConfig {
                typ: Some(log.driver),
                config: Some(log.opts.into_iter().collect()),
            }
        }),
        ..Default::default()
    }
}

/// Docker's refusals of settings that conflict with sharing another container's network
/// namespace (the name files and the ports are that container's).
pub fn check_container_network(
    mode: &str,
    hostname_set: bool,
    h: &HostSettings,
) -> Result<(), ApiError> {
    if !mode.starts_with("container:") {
        return Ok(());
    }
    let conflict = if hostname_set {
        Some("hostname and the network mode")
    } else if !h.net.dns.is_empty() {
        Some("dns and the network mode")
    } else if !h.net.extra_hosts.is_empty() {
        Some("custom host-to-IP mapping and the network mode")
    } else if !h.net.ports.is_empty() || h.net.publish_all {
        Some("port publishing and the container type network mode")
    } else {
        None
    };
    conflict.map_or(Ok(()), |c| Err(bad(format!("conflicting options: {c}"))))
}

#[cfg(test)]
#[path = "host_extra_tests.rs"]
mod tests;

/// A list of block I/O limits as inspect shows it: `null` when empty, as Docker's.
fn throttle_echo(devs: &[ThrottleDevice]) -> Option<Vec<bollard_stubs::models::ThrottleDevice>> {
    (!devs.is_empty()).then(|| {
        devs.iter()
            .map(|d| bollard_stubs::models::ThrottleDevice {
                path: Some(d.path.clone()),
                rate: i64::try_from(d.rate).ok(),
            })
            .collect()
    })
}
