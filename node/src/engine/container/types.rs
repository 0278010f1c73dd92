//! The container record: what was asked for (config, host settings) and what happened (state).
//! Engine types only: Docker's JSON shapes live in `api::convert`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the container runs, after merging the request with the image config.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ContainerConfig {
    /// The image as the user named it.
    pub image: String,
    /// The resolved image id (`sha256:…`).
    pub image_id: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    pub domainname: String,
    pub labels: BTreeMap<String, String>,
    pub tty: bool,
    pub open_stdin: bool,
    #[serde(default)]
    pub stdin_once: bool,
    #[serde(default)]
    pub attach: AttachFlags,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub exposed_ports: Vec<String>,
    /// The healthcheck (the run's over the image's); `None` or a `NONE` test: no checks.
    #[serde(default)]
    pub healthcheck: Option<HealthConfig>,
}

/// `Config.AttachStdin`, `AttachStdout` and `AttachStderr`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttachFlags {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// Docker's `HEALTHCHECK`: durations in nanoseconds, 0 for Docker's default.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HealthConfig {
    /// `["CMD", args…]`, `["CMD-SHELL", command]` or `["NONE"]`.
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub retries: i64,
    /// Between probes while the start period lasts (0: the interval).
    #[serde(default)]
    pub start_interval: i64,
}

/// The outcome of the healthchecks so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HealthState {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: i64,
    /// The last few probes, oldest first.
    pub log: Vec<HealthProbe>,
}

/// One probe.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HealthProbe {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// Restart policy names, as Docker spells them.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    OnFailure,
}

/// Resource limits and host-side settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostSettings {
    pub memory: i64,
    /// Memory plus swap; 0 means Docker's default (twice the memory), -1 unlimited.
    pub memory_swap: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub pids_limit: Option<i64>,
    pub read_only: bool,
    /// `default`/`bridge` (own namespace, loopback only for now), `none` or `host`.
    pub network_mode: String,
    pub init: bool,
    pub auto_remove: bool,
    pub restart_policy: RestartPolicy,
    pub restart_max: i64,
    pub privileged: bool,
    /// Volumes, binds and tmpfs mounts, in the order they are mounted.
    #[serde(default)]
    pub mounts: Vec<crate::engine::volume::MountSpec>,
    /// The terminal's first size (rows, columns), from `HostConfig.ConsoleSize`.
    #[serde(default)]
    pub console_size: Option<[u16; 2]>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub shm_size: i64,
    /// Ports, extra hosts, DNS and per-network endpoint settings.
    #[serde(default)]
    pub net: crate::network::NetRequest,
    /// `HostConfig.SecurityOpt` as the client sent it, echoed by inspect.
    #[serde(default)]
    pub security_opt: Vec<String>,
    /// What those options ask for.
    #[serde(default)]
    pub security: SecurityOptions,
    /// `HostConfig.MaskedPaths`; `None` is Docker's default list (none when privileged).
    #[serde(default)]
    pub masked_paths: Option<Vec<String>>,
    /// `HostConfig.ReadonlyPaths`; `None` is Docker's default list (none when privileged).
    #[serde(default)]
    pub readonly_paths: Option<Vec<String>>,
    /// Namespaces, devices, limits, sysctls, cgroup placement, runtime, logging.
    #[serde(default)]
    pub runtime: super::settings::RuntimeSettings,
}

/// What `--security-opt` asked for (`security.rs` checks it against the host).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SecurityOptions {
    pub seccomp: SeccompChoice,
    /// `no-new-privileges`: setuid binaries and file capabilities grant nothing. Off by default,
    /// as in Docker, so `sudo` and setuid `ping` work.
    pub no_new_privileges: bool,
    /// `apparmor=<profile>`; `None` leaves the host's default.
    pub apparmor: Option<String>,
    /// `label=<option>` values (SELinux).
    pub labels: Vec<String>,
}

/// The seccomp profile a container runs under (`--privileged` aside).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum SeccompChoice {
    /// Docker's default profile, resolved for the container's capabilities.
    #[default]
    Default,
    /// `seccomp=unconfined`: no filter.
    Unconfined,
    /// `seccomp=<json>`: a Docker-format profile, checked at create.
    Custom(Box<super::seccomp::Profile>),
}

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl ContainerStatus {
    /// Docker's lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Restarting => "restarting",
            ContainerStatus::Removing => "removing",
            ContainerStatus::Exited => "exited",
            ContainerStatus::Dead => "dead",
        }
    }

    /// A process may be started (from created or exited).
    pub fn can_start(self) -> bool {
        matches!(
            self,
            ContainerStatus::Created | ContainerStatus::Exited | ContainerStatus::Dead
        )
    }

    /// There is a live process to signal.
    pub fn is_running(self) -> bool {
        matches!(self, ContainerStatus::Running | ContainerStatus::Paused)
    }
}

/// The observed state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ContainerState {
    pub status: ContainerStatus,
    pub pid: i32,
    pub monitor_pid: i32,
    pub exit_code: i64,
    pub oom_killed: bool,
    pub error: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Set by `stop`: policies other than `always` do not restart it.
    pub manually_stopped: bool,
    /// Healthcheck results while it runs with a healthcheck.
    #[serde(default)]
    pub health: Option<HealthState>,
}

/// Everything berth keeps about one container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ContainerRecord {
    pub id: String,
    /// Without the leading slash.
    pub name: String,
    /// RFC 3339.
    pub created: String,
    pub config: ContainerConfig,
    pub host: HostSettings,
    pub state: ContainerState,
    pub restart_count: i64,
    /// Resolved process user: uid, gid, extra gids.
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// The user's home directory in the image (`/` when it has none), for `HOME`; empty in
    /// records made before it was kept.
    #[serde(default)]
    pub home: String,
}

impl ContainerRecord {
    /// The container's cgroup relative to each hierarchy's root (`berth/<id>` by default).
    pub fn cgroup_rel(&self) -> std::path::PathBuf {
        self.host.runtime.cgroup_rel(&self.id)
    }

    /// The full command line: entrypoint then cmd.
    pub fn args(&self) -> Vec<String> {
        self.config
            .entrypoint
            .iter()
            .chain(self.config.cmd.iter())
            .cloned()
            .collect()
    }
}
