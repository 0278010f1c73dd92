//! The `run`/`create` flags beyond the everyday ones (`create_opts.rs`): namespaces, devices,
//! limits, DNS, mounts, logging, cgroups. Each goes into the create body as the docker CLI
//! sends it; what berthd cannot honour it refuses itself, by name.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, HostConfig, HostConfigCgroupnsModeEnum,
    HostConfigIsolationEnum, HostConfigLogConfig, Mount, MountBindOptions, MountTmpfsOptions,
    MountType, MountVolumeOptions, ResourcesBlkioWeightDevice, ResourcesUlimits, ThrottleDevice,
};
use clap::Args;

/// The less common `run`/`create` flags (docker's names).
#[derive(Debug, Default, Args)]
pub struct HostOpts {
    /// Set custom DNS servers
    #[arg(long, value_name = "list")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", value_name = "list")]
    pub dns_option: Vec<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Attach a filesystem mount to the container
    #[arg(long, value_name = "mount")]
    pub mount: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    /// Optional volume driver for the container
    #[arg(long = "volume-driver")]
    pub volume_driver: Option<String>,
    /// Add a host device to the container
    #[arg(long, value_name = "list")]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list
    #[arg(long = "device-cgroup-rule", value_name = "list")]
    pub device_cgroup_rule: Vec<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<u16>,
    /// Block IO weight (relative device weight)
    #[arg(long = "blkio-weight-device", value_name = "list", value_parser = weight_device)]
    pub blkio_weight_device: Vec<ResourcesBlkioWeightDevice>,
    /// Limit read rate (bytes per second) from a device
    #[arg(long = "device-read-bps", value_name = "list", value_parser = throttle_bps)]
    pub device_read_bps: Vec<ThrottleDevice>,
    /// Limit write rate (bytes per second) to a device
    #[arg(long = "device-write-bps", value_name = "list", value_parser = throttle_bps)]
    pub device_write_bps: Vec<ThrottleDevice>,
    /// Limit read rate (IO per second) from a device
    #[arg(long = "device-read-iops", value_name = "list", value_parser = throttle_iops)]
    pub device_read_iops: Vec<ThrottleDevice>,
    /// Limit write rate (IO per second) to a device
    #[arg(long = "device-write-iops", value_name = "list", value_parser = throttle_iops)]
    pub device_write_iops: Vec<ThrottleDevice>,
    /// Ulimit options
    #[arg(long, value_name = "ulimit")]
    pub ulimit: Vec<String>,
    /// Sysctl options
    #[arg(long, value_name = "map")]
    pub sysctl: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt", value_name = "list")]
    pub log_opt: Vec<String>,
    /// PID namespace to use
    #[arg(long)]
    pub pid: Option<String>,
    /// IPC mode to use
    #[arg(long)]
    pub ipc: Option<String>,
    /// UTS namespace to use
    #[arg(long)]
    pub uts: Option<String>,
    /// User namespace to use
    #[arg(long)]
    pub userns: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long, value_parser = ["host", "private"])]
    pub cgroupns: Option<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "list")]
    pub group_add: Vec<String>,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_parser = crate::parse::ram_in_bytes)]
    pub memory_reservation: Option<i64>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(long = "memory-swappiness", allow_hyphen_values = true)]
    pub memory_swappiness: Option<i64>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", value_name = "list")]
    pub network_alias: Vec<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list")]
    pub link: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long)]
    pub ip6: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Runtime to use for this container
    #[arg(long)]
    pub runtime: Option<String>,
    /// Container isolation technology
    #[arg(long)]
    pub isolation: Option<String>,
    /// Add an annotation to the container (passed through to the OCI runtime)
    #[arg(long, value_name = "map")]
    pub annotation: Vec<String>,
    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long = "health-start-interval", value_parser = berth_gotime::parse_duration)]
    pub health_start_interval: Option<i64>,
}

impl HostOpts {
    /// Puts the flags into the create body (after `create_opts` filled the common fields).
    pub fn apply(&self, body: &mut ContainerCreateBody) -> Result<()> {
        body.domainname = self.domainname.clone();
        let network = body
            .host_config
            .as_ref()
            .and_then(|h| h.network_mode.clone())
            .unwrap_or_default();
        if !self.network_alias.is_empty()
            || self.ip.is_some()
            || self.ip6.is_some()
            || self.mac_address.is_some()
        {
            let endpoints = body
                .networking_config
                .get_or_insert_with(Default::default)
                .endpoints_config
                .get_or_insert_with(HashMap::new);
            let e = endpoints.entry(network).or_default();
            if !self.network_alias.is_empty() {
                e.aliases = Some(self.network_alias.clone());
            }
            if let Some(mac) = &self.mac_address {
                e.mac_address = Some(mac.clone());
            }
            if self.ip.is_some() || self.ip6.is_some() {
                e.ipam_config = Some(EndpointIpamConfig {
                    ipv4_address: self.ip.clone(),
                    ipv6_address: self.ip6.clone(),
                    ..Default::default()
                });
            }
        }
        if let Some(interval) = self.health_start_interval {
            body.healthcheck
                .get_or_insert_with(Default::default)
                .start_interval = Some(interval);
        }
        let h = body.host_config.get_or_insert_with(HostConfig::default);
        self.apply_host(h)
    }

    fn apply_host(&self, h: &mut HostConfig) -> Result<()> {
        let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        // The daemon applies them to the container's network: hosts entries and variables on
        // the default bridge, names only it resolves on a user-defined one.
        h.links = list(&self.link);
        h.dns = list(&self.dns);
        h.dns_search = list(&self.dns_search);
        h.dns_options = list(&self.dns_option);
        h.volumes_from = list(&self.volumes_from);
        h.volume_driver = self.volume_driver.clone();
        h.device_cgroup_rules = list(&self.device_cgroup_rule);
        h.group_add = list(&self.group_add);
        h.pid_mode = self.pid.clone();
        h.ipc_mode = self.ipc.clone();
        h.uts_mode = self.uts.clone();
        h.userns_mode = self.userns.clone();
        h.cgroup_parent = self.cgroup_parent.clone();
        h.oom_score_adj = self.oom_score_adj;
        h.oom_kill_disable = self.oom_kill_disable.then_some(true);
        h.cpuset_cpus = self.cpuset_cpus.clone();
        h.cpuset_mems = self.cpuset_mems.clone();
        h.memory_reservation = self.memory_reservation;
        h.memory_swappiness = self.memory_swappiness;
        h.runtime = self.runtime.clone();
        h.cgroupns_mode = match self.cgroupns.as_deref() {
            Some("host") => Some(HostConfigCgroupnsModeEnum::HOST),
            Some("private") => Some(HostConfigCgroupnsModeEnum::PRIVATE),
            _ => None,
        };
        h.isolation = match self.isolation.as_deref() {
            None => None,
            Some("default") => Some(HostConfigIsolationEnum::DEFAULT),
            Some("process") => Some(HostConfigIsolationEnum::PROCESS),
            Some("hyperv") => Some(HostConfigIsolationEnum::HYPERV),
            Some(other) => bail!("invalid isolation: {other}"),
        };
        h.sysctls = map_flag("sysctl", &self.sysctl)?;
        h.annotations = map_flag("annotation", &self.annotation)?;
        if self.log_driver.is_some() || !self.log_opt.is_empty() {
            h.log_config = Some(HostConfigLogConfig {
                typ: self.log_driver.clone(),
                config: map_flag("log-opt", &self.log_opt)?,
            });
        }
        h.ulimits = (!self.ulimit.is_empty())
            .then(|| {
                self.ulimit
                    .iter()
                    .map(|u| ulimit(u))
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        let throttles = |l: &Vec<ThrottleDevice>| (!l.is_empty()).then(|| l.clone());
        h.blkio_weight = self.blkio_weight;
        h.blkio_weight_device =
            (!self.blkio_weight_device.is_empty()).then(|| self.blkio_weight_device.clone());
        h.blkio_device_read_bps = throttles(&self.device_read_bps);
        h.blkio_device_write_bps = throttles(&self.device_write_bps);
        h.blkio_device_read_iops = throttles(&self.device_read_iops);
        h.blkio_device_write_iops = throttles(&self.device_write_iops);
        h.devices = (!self.device.is_empty())
            .then(|| {
                self.device
                    .iter()
                    .map(|d| device(d))
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        if !self.mount.is_empty() {
            let mounts: Vec<Mount> = self.mount.iter().map(|m| mount(m)).collect::<Result<_>>()?;
            h.mounts.get_or_insert_with(Vec::new).extend(mounts);
        }
        Ok(())
    }
}

/// `k=v` pairs of a map flag.
fn map_flag(flag: &str, pairs: &[String]) -> Result<Option<HashMap<String, String>>> {
    if pairs.is_empty() {
        return Ok(None);
    }
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => bail!("invalid argument {p:?} for \"--{flag}\" flag: bad format"),
        })
        .collect::<Result<_>>()
        .map(Some)
}

/// `nofile=1024[:2048]`.
pub fn ulimit(s: &str) -> Result<ResourcesUlimits> {
    let (name, values) = s
        .split_once('=')
        .with_context(|| format!("invalid ulimit argument: {s}"))?;
    let (soft, hard) = values.split_once(':').unwrap_or((values, values));
    let n = |v: &str| -> Result<i64> {
        v.parse()
            .with_context(|| format!("invalid ulimit argument: {s}"))
    };
    Ok(ResourcesUlimits {
        name: Some(name.to_string()),
        soft: Some(n(soft)?),
        hard: Some(n(hard)?),
    })
}

/// `/dev/sda:1mb` (`--device-read-bps`), as docker's CLI reads it.
fn throttle_bps(s: &str) -> Result<ThrottleDevice, String> {
    let (path, rate) = throttle_parts(s)?;
    let rate = crate::parse::ram_in_bytes(rate)
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            format!(
                "invalid rate for device: {s}. The correct format is <device-path>:<number>[<unit>]. \
                 Number must be a positive integer. Unit is optional and can be kb, mb, or gb"
            )
        })?;
    Ok(ThrottleDevice {
        path: Some(path.to_string()),
        rate: Some(rate),
    })
}

/// `/dev/sda:1000` (`--device-read-iops`), as docker's CLI reads it.
fn throttle_iops(s: &str) -> Result<ThrottleDevice, String> {
    let (path, rate) = throttle_parts(s)?;
    let rate: i64 = rate
        .parse::<u64>()
        .ok()
        .and_then(|r| i64::try_from(r).ok())
        .ok_or_else(|| {
            format!(
                "invalid rate for device: {s}. The correct format is <device-path>:<number>. \
                 Number must be a positive integer"
            )
        })?;
    Ok(ThrottleDevice {
        path: Some(path.to_string()),
        rate: Some(rate),
    })
}

/// `/dev/sda:200` (`--blkio-weight-device`), as docker's CLI reads it: a weight of 0, or
/// 10 to 1000.
fn weight_device(s: &str) -> Result<ResourcesBlkioWeightDevice, String> {
    let (path, weight) = throttle_parts(s)?;
    let weight = weight
        .parse::<u16>()
        .ok()
        .filter(|w| *w == 0 || (10..=1000).contains(w))
        .ok_or_else(|| format!("invalid weight for device: {s}"))?;
    Ok(ResourcesBlkioWeightDevice {
        path: Some(path.to_string()),
        weight: Some(usize::from(weight)),
    })
}

fn throttle_parts(s: &str) -> Result<(&str, &str), String> {
    let (path, rate) = s
        .split_once(':')
        .ok_or_else(|| format!("bad format: {s}"))?;
    if !path.starts_with("/dev/") {
        return Err(format!("bad format for device path: {s}"));
    }
    Ok((path, rate))
}

/// `/dev/host[:/dev/inside][:rwm]`.
pub fn device(s: &str) -> Result<DeviceMapping> {
    let parts: Vec<&str> = s.split(':').collect();
    let is_mode = |p: &str| !p.is_empty() && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
    let (host, inside, mode) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, m] if is_mode(m) => (*h, *h, *m),
        [h, i] => (*h, *i, "rwm"),
        [h, i, m] if is_mode(m) => (*h, *i, *m),
        _ => bail!("invalid device specification: {s}"),
    };
    Ok(DeviceMapping {
        path_on_host: Some(host.to_string()),
        path_in_container: Some(inside.to_string()),
        cgroup_permissions: Some(mode.to_string()),
    })
}

/// `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,…]`, as the docker CLI reads it.
pub fn mount(s: &str) -> Result<Mount> {
    let mut m = Mount {
        typ: Some(MountType::VOLUME),
        ..Default::default()
    };
    for field in s.split(',') {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        let flag = || -> Result<bool> {
            match value {
                "" | "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => bail!("invalid value for {key}: {value}"),
            }
        };
        match key.to_ascii_lowercase().as_str() {
            "type" => {
                m.typ = Some(match value {
                    "bind" => MountType::BIND,
                    "volume" => MountType::VOLUME,
                    "tmpfs" => MountType::TMPFS,
                    other => bail!("invalid mount type: {other:?}"),
                })
            }
            "source" | "src" => m.source = Some(value.to_string()),
            "target" | "dst" | "destination" => m.target = Some(value.to_string()),
            "readonly" | "ro" => m.read_only = Some(flag()?),
            "consistency" => m.consistency = Some(value.to_string()),
            "bind-propagation" => {
                m.bind_options
                    .get_or_insert_with(MountBindOptions::default)
                    .propagation = Some(
                    value
                        .parse()
                        .map_err(|_| anyhow::anyhow!("invalid bind-propagation: {value}"))?,
                )
            }
            "volume-nocopy" => {
                m.volume_options
                    .get_or_insert_with(MountVolumeOptions::default)
                    .no_copy = Some(flag()?)
            }
            "volume-driver" => {
                let opts = m
                    .volume_options
                    .get_or_insert_with(MountVolumeOptions::default);
                opts.driver_config.get_or_insert_with(Default::default).name =
                    Some(value.to_string());
            }
            "tmpfs-size" => {
                m.tmpfs_options
                    .get_or_insert_with(MountTmpfsOptions::default)
                    .size_bytes =
                    Some(crate::parse::ram_in_bytes(value).map_err(anyhow::Error::msg)?)
            }
            "tmpfs-mode" => {
                m.tmpfs_options
                    .get_or_insert_with(MountTmpfsOptions::default)
                    .mode = Some(
                    i64::from_str_radix(value, 8)
                        .with_context(|| format!("invalid tmpfs-mode: {value}"))?,
                )
            }
            other => bail!("unexpected key '{other}' in '{field}'"),
        }
    }
    if m.target.as_deref().is_none_or(str::is_empty) {
        bail!("target is required");
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulimits_devices_and_mounts_parse_as_docker() {
        let u = ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.soft, u.hard), (Some(1024), Some(2048)));
        assert_eq!(ulimit("core=0").unwrap().hard, Some(0));
        assert!(ulimit("nofile").is_err());
        let d = device("/dev/null:/dev/mynull:rw").unwrap();
        assert_eq!(d.path_in_container.as_deref(), Some("/dev/mynull"));
        assert_eq!(
            device("/dev/fuse").unwrap().cgroup_permissions.as_deref(),
            Some("rwm")
        );
        assert_eq!(
            device("/dev/fuse:r").unwrap().path_in_container.as_deref(),
            Some("/dev/fuse")
        );
        let m = mount("type=bind,source=/srv,target=/data,readonly").unwrap();
        assert_eq!(m.typ, Some(MountType::BIND));
        assert_eq!(m.read_only, Some(true));
        let m = mount("type=tmpfs,target=/t,tmpfs-size=1m").unwrap();
        assert_eq!(m.tmpfs_options.unwrap().size_bytes, Some(1 << 20));
        assert!(mount("type=bind,source=/x").is_err());
        assert!(mount("type=nfs,target=/x").is_err());
    }

    #[test]
    fn weight_devices_parse_as_docker() {
        let d = weight_device("/dev/sda:200").unwrap();
        assert_eq!((d.path.as_deref(), d.weight), (Some("/dev/sda"), Some(200)));
        assert_eq!(weight_device("/dev/sda:0").unwrap().weight, Some(0));
        for bad in ["/dev/sda:5", "/dev/sda:1001", "/dev/sda:x"] {
            assert_eq!(
                weight_device(bad).err(),
                Some(format!("invalid weight for device: {bad}"))
            );
        }
        assert!(weight_device("sda:200").is_err_and(|e| e.contains("bad format for device path")));
    }
}
