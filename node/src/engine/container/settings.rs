//! The runtime settings of a container beyond resources and networking: namespaces shared with
//! the host or another container, devices, limits, sysctls, cgroup placement, logging. Engine
//! types only, checked at the API edge (`api::convert::host_extra`) and applied by the spec.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where one of a container's namespaces comes from (`--pid`, `--ipc`, `--uts`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NamespaceMode {
    /// Its own (`""`, and `private`/`shareable` for IPC).
    #[default]
    Private,
    /// The host's.
    Host,
    /// Another container's (`container:<name|id>`); the id once resolved at create.
    Container(String),
}

/// A host device made available in the container (`--device`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    /// Cgroup permissions: a subset of `rwm`.
    pub permissions: String,
    /// Found at create: `c` or `b`, major, minor, mode, owner.
    pub kind: char,
    pub major: i64,
    pub minor: i64,
    pub file_mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A resource limit (`--ulimit nofile=1024:2048`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ulimit {
    /// Docker's short name (`nofile`), without `RLIMIT_`.
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// A device cgroup rule (`--device-cgroup-rule 'c 42:* rmw'`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceRule {
    /// `a`, `c` or `b`.
    pub kind: char,
    /// `None` for `*`.
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

/// A limit on one block device (`--device-read-bps /dev/sda:1mb`): bytes or operations per
/// second.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: u64,
    /// Found at create.
    pub major: i64,
    pub minor: i64,
}

/// A weight for one block device (`--blkio-weight-device /dev/sda:200`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

/// The block I/O limits (`--device-{read,write}-{bps,iops}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct BlkioThrottle {
    pub read_bps: Vec<ThrottleDevice>,
    pub write_bps: Vec<ThrottleDevice>,
    pub read_iops: Vec<ThrottleDevice>,
    pub write_iops: Vec<ThrottleDevice>,
}

impl BlkioThrottle {
    /// Every limit, for resolving their devices.
    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut ThrottleDevice> {
        self.read_bps
            .iter_mut()
            .chain(self.write_bps.iter_mut())
            .chain(self.read_iops.iter_mut())
            .chain(self.write_iops.iter_mut())
    }
}

/// Everything of `HostConfig` the record keeps beyond `HostSettings`' first fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RuntimeSettings {
    /// The cgroup parent (`--cgroup-parent`), without leading or trailing `/`; empty: the
    /// daemon's.
    pub cgroup_parent: String,
    /// The daemon's `--cgroup-parent` when the container was made (empty: `berth`), used when
    /// the container names none. Kept in the record, not shown: Docker's inspect shows only
    /// the container's own (an empty `HostConfig.CgroupParent`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub daemon_cgroup_parent: String,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub memory_reservation: i64,
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: bool,
    pub oom_score_adj: i64,
    pub devices: Vec<DeviceMapping>,
    pub blkio_throttle: BlkioThrottle,
    /// `--blkio-weight` (10–1000; 0: none), kept only where the kernel has weights.
    pub blkio_weight: u16,
    pub blkio_weight_device: Vec<WeightDevice>,
    pub device_rules: Vec<DeviceRule>,
    /// As the client sent them (inspect echoes them).
    pub device_cgroup_rules: Vec<String>,
    pub ulimits: Vec<Ulimit>,
    pub sysctls: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `--group-add` as given; the resolved gids join the record's `additional_gids`.
    pub group_add: Vec<String>,
    pub pid_mode: NamespaceMode,
    pub ipc_mode: NamespaceMode,
    pub uts_mode: NamespaceMode,
    /// How the client spelled the modes, for inspect (`""`, `host`, `container:web`, …).
    pub pid_mode_text: String,
    pub ipc_mode_text: String,
    pub uts_mode_text: String,
    /// A cgroup namespace of its own (`--cgroupns private`).
    pub cgroupns_private: bool,
    pub cgroupns_text: String,
    /// `--volumes-from` as given (the mounts are copied into `HostSettings::mounts`).
    pub volumes_from: Vec<String>,
    pub volume_driver: String,
    pub userns_mode: String,
    pub runtime: String,
    pub isolation: String,
    /// The log driver and its rotation; `None` until create applies the daemon's default.
    pub log: Option<super::log_config::LogSettings>,
}

impl RuntimeSettings {
    /// The container's cgroup, relative to each hierarchy's root.
    pub fn cgroup_rel(&self, id: &str) -> PathBuf {
        let parent = [&self.cgroup_parent, &self.daemon_cgroup_parent]
            .into_iter()
            .find(|p| !p.is_empty())
            .map_or("berth", |p| p.as_str());
        PathBuf::from(parent).join(id)
    }
}

/// A cgroup parent without leading or trailing `/`; `None` when a component is empty, `.` or
/// `..` (it must stay below each hierarchy's root).
pub fn clean_cgroup_parent(p: &str) -> Option<String> {
    let trimmed = p.trim_matches('/');
    let bad = trimmed
        .split('/')
        .any(|c| c == ".." || c == "." || (c.is_empty() && !trimmed.is_empty()));
    (!bad).then(|| trimmed.to_string())
}

/// Docker's ulimit names and the rlimit each sets.
pub const ULIMIT_NAMES: [(&str, &str); 16] = [
    ("core", "RLIMIT_CORE"),
    ("cpu", "RLIMIT_CPU"),
    ("data", "RLIMIT_DATA"),
    ("fsize", "RLIMIT_FSIZE"),
    ("locks", "RLIMIT_LOCKS"),
    ("memlock", "RLIMIT_MEMLOCK"),
    ("msgqueue", "RLIMIT_MSGQUEUE"),
    ("nice", "RLIMIT_NICE"),
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("rss", "RLIMIT_RSS"),
    ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"),
    ("sigpending", "RLIMIT_SIGPENDING"),
    ("stack", "RLIMIT_STACK"),
    ("as", "RLIMIT_AS"),
];
