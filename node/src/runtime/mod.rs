//! The runtime: everything between the daemon and a container's processes. The daemon side
//! (`launch`) spawns one `berth-monitor` per running container and reads what it records; the
//! monitor side (`monitor`) is the only code that calls libcontainer, and only in the monitor
//! process, which is single-threaded when it forks.

pub mod cgroup_limits;
pub mod cgroup_primer;
pub mod cgroup_stats;
pub mod cgroups;
pub mod control;
pub mod event_loop;
pub mod exec_spawn;
pub mod files;
pub mod freezer;
pub mod launch;
pub mod log_rotate;
pub mod logfile;
pub mod loopback;
pub mod monitor;
pub mod mount_api;
pub mod mount_attrs;
pub mod mount_ns;
pub mod mountinfo;
pub mod overlay;
pub mod pidfd;
pub mod seccomp_bpf;
pub mod seccomp_load;
pub mod spawner;
pub mod syscall_fd;
pub mod terminal_size;
pub mod trim;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What the daemon tells a monitor, written as `monitor-config.json` in the container directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorConfig {
    /// Container id (also libcontainer's id).
    pub id: String,
    /// The OCI bundle (holds `config.json`).
    pub bundle: PathBuf,
    /// The overlay's mount point, the spec's root (`Paths::rootfs_dir`).
    pub rootfs: PathBuf,
    /// libcontainer's state root (under the exec root).
    pub runtime_root: PathBuf,
    /// Image layer directories, bottom first.
    pub lower_dirs: Vec<PathBuf>,
    /// overlayfs upper and work directories.
    pub upper_dir: PathBuf,
    pub work_dir: PathBuf,
    /// The json-file log the monitor appends to.
    pub log_path: PathBuf,
    /// How that log is rotated (`--log-opt max-size/max-file/compress`).
    #[serde(default)]
    pub log_rotation: log_rotate::Rotation,
    /// What every entry carries in `attrs` (`--log-opt labels`, `env`, `tag`…).
    #[serde(default)]
    pub log_attrs: std::collections::BTreeMap<String, String>,
    /// Where the monitor records the exit (atomically).
    pub exit_path: PathBuf,
    /// Where the monitor records its own and the container's pid once started.
    pub pids_path: PathBuf,
    /// Memory cgroup directory (v1) or unified cgroup directory (v2), read for OOM kills.
    pub oom_cgroup_dirs: Vec<PathBuf>,
    /// Every cgroup directory of the container, removed when it ends.
    #[serde(default)]
    pub cgroup_dirs: Vec<PathBuf>,
    /// `--oom-kill-disable`: set in the memory cgroup (v1) before the container starts.
    #[serde(default)]
    pub oom_kill_disable: bool,
    /// The cgroup hierarchies are made read-only in the container before it starts
    /// (`mount_attrs.rs`); a privileged container's stay writable, as Docker's.
    #[serde(default)]
    pub cgroups_read_only: bool,
    /// The propagation each bind gets before the start (`mount_attrs.rs`).
    #[serde(default)]
    pub bind_propagation: Vec<mount_attrs::BindPropagation>,
    /// The container has a terminal: libcontainer makes it inside the container and sends the
    /// master to `console_socket`; output is the master's, logged as stdout.
    pub tty: bool,
    /// Where the terminal master comes during create (only with `tty`).
    #[serde(default)]
    pub console_socket: PathBuf,
    /// The terminal's first size, rows and columns.
    #[serde(default)]
    pub console_size: Option<[u16; 2]>,
    /// Give the container a stdin fed through the control socket; otherwise /dev/null.
    #[serde(default)]
    pub open_stdin: bool,
    /// Close the container's stdin after the first attached client half-closes.
    #[serde(default)]
    pub stdin_once: bool,
    /// The monitor's control socket (`runtime::control`): stdin, resize, exec.
    #[serde(default, alias = "stdin_socket")]
    pub control_socket: PathBuf,
    /// The berth directories holding many containers' mounts (containers, network namespace
    /// files, volumes): the monitor's mount namespace keeps only this container's mounts under
    /// them (`runtime::mount_ns`).
    #[serde(default)]
    pub berth_dirs: Vec<PathBuf>,
    /// berthd's template mount namespace, a descriptor the monitor inherits: its namespace is
    /// made from that instead of the host's (`runtime::mount_ns`).
    #[serde(default)]
    pub mount_template_fd: Option<i32>,
    /// Where compiled seccomp filters are kept for other monitors (`runtime::seccomp_bpf`).
    #[serde(default)]
    pub seccomp_cache: PathBuf,
}

/// The pids a started monitor records, so a restarted daemon can find the container again.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct MonitorPids {
    pub monitor: i32,
    pub container: i32,
}

/// How a container ended, as recorded by its monitor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitRecord {
    /// Exit status, 128+signal when killed by a signal.
    pub exit_code: i64,
    /// The memory cgroup recorded an OOM kill.
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds.
    pub finished_at: String,
}

impl ExitRecord {
    /// The record used when a monitor died without writing one (it was killed): 255, now.
    pub fn lost() -> Self {
        ExitRecord {
            exit_code: 255,
            oom_killed: false,
            finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        }
    }
}
