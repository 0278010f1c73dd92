//! One node of a cluster: its roots, its config file, its berthd process (spawned inside the
//! node's network namespace) and ways to talk to it. Signals only ever go to PIDs this node
//! spawned.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_test_support::{berthd_command, DaemonConfig, NetNames, Roots};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::error::ClusterError;
use crate::names::Names;
use crate::net;
use berth_test_support::client::{self, Response};

/// How long one API request may wait for the daemon.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// How long one readiness probe waits for an answer.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Per-node settings; `Default` gives a debug-logging berthd with a 30 s start deadline.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// TOML appended to the node's config file; must not repeat the keys the harness writes
    /// (`log-level`, `bridge-name`, `nft-table`, `default-address-pools`).
    pub extra_config: String,
    /// More berthd flags, e.g. `-H tcp://<ip>:2375 --insecure-tcp` (tcp beyond loopback without
    /// client certificates is refused otherwise).
    pub extra_args: Vec<String>,
    /// berthd's `--log-level`.
    pub log_level: String,
    /// How long a (re)start may take to answer `/_ping`.
    pub ready_timeout: Duration,
    /// A tmpfs of this many MiB as the data root (`fill_disk` fills it); `None`: the host's
    /// filesystem.
    pub data_root_mib: Option<u64>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            extra_config: String::new(),
            extra_args: Vec::new(),
            log_level: "debug".into(),
            ready_timeout: Duration::from_secs(30),
            data_root_mib: None,
        }
    }
}

/// A berthd in its own network namespace, with its own data root, exec root and socket.
#[derive(Debug)]
pub struct Node {
    index: usize,
    netns_name: String,
    ip: Ipv4Addr,
    roots: Roots,
    berthd: PathBuf,
    options: NodeOptions,
    child: Option<Child>,
    started: Vec<i32>,
}

impl Node {
    /// Makes node `index`'s directories and config file under `cluster_root`; starts nothing.
    pub(crate) fn prepare(
        index: usize,
        names: &Names,
        ip: Ipv4Addr,
        cluster_root: &Path,
        berthd: &Path,
        options: NodeOptions,
    ) -> Result<Self, ClusterError> {
        let roots = Roots {
            root: cluster_root.join(format!("n{index}")),
        };
        for dir in [roots.data_root(), roots.exec_root()] {
            std::fs::create_dir_all(&dir).map_err(ClusterError::io("create", &dir))?;
        }
        if let Some(mib) = options.data_root_mib {
            crate::disk::mount_tmpfs(&roots.data_root(), mib)?;
        }
        // The bridge and table live inside the node's namespace; unique names anyway, so a
        // leftover is recognizable and two nodes' logs never look alike.
        let net = NetNames {
            bridge: names.node_bridge(index),
            table: names.nft_table(index),
            pool: "172.30.0.0/16".into(),
            // Each node has a namespace of its own: Docker's port.
            vxlan_port: 4789,
        };
        // Its containers' cgroups under a parent of its own, so a sweep finds them even
        // when the data root that records them is gone.
        let extra = format!(
            "{}\ncgroup-parent = \"{}\"",
            options.extra_config,
            names.cgroup_parent(index)
        );
        let config = DaemonConfig {
            log_level: &options.log_level,
            net: &net,
            extra: &extra,
        };
        let path = roots.config_file();
        std::fs::write(&path, config.toml()).map_err(ClusterError::io("write", &path))?;
        Ok(Node {
            index,
            netns_name: names.node_netns(index),
            ip,
            roots,
            berthd: berthd.to_path_buf(),
            options,
            child: None,
            started: Vec::new(),
        })
    }

    /// This node's position in the cluster.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The API socket (on the host filesystem, reachable from the test).
    pub fn socket_path(&self) -> PathBuf {
        self.roots.socket()
    }

    /// The node's address on the cluster's switch.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The name of the node's network namespace (`ip netns exec <name> …` works).
    pub fn netns_name(&self) -> &str {
        &self.netns_name
    }

    /// Where the node's network namespace is bound.
    pub fn netns_path(&self) -> PathBuf {
        net::netns_path(&self.netns_name)
    }

    /// The running berthd's PID; `None` after `kill` until `restart`.
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().and_then(|c| i32::try_from(c.id()).ok())
    }

    /// Every berthd PID this node ever spawned (the monitors' parents).
    pub fn started_pids(&self) -> &[i32] {
        &self.started
    }

    /// The node's directory: `data/`, `exec/`, `daemon.toml`, `berthd.log`.
    pub fn root(&self) -> &Path {
        &self.roots.root
    }

    /// berthd's `--data-root` (kept across restarts).
    pub fn data_root(&self) -> PathBuf {
        self.roots.data_root()
    }

    /// berthd's `--exec-root`.
    pub fn exec_root(&self) -> PathBuf {
        self.roots.exec_root()
    }

    /// berthd's stdout and stderr, across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.roots.log_file()).unwrap_or_default()
    }

    /// One API request (`body` may be empty); any status is `Ok`.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> Result<Response, ClusterError> {
        let socket = self.socket_path();
        client::request(&socket, method, path, body, REQUEST_TIMEOUT).map_err(|e| {
            ClusterError::Http {
                method: method.to_string(),
                path: path.to_string(),
                socket,
                message: e.to_string(),
            }
        })
    }

    /// Runs `argv` inside the node's network namespace (host filesystem) and collects its output.
    pub fn exec_in_netns(&self, argv: &[&str]) -> Result<Output, ClusterError> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| ClusterError::io("exec", "")(io::Error::other("empty argv")))?;
        let ns = self.open_netns()?;
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::null());
        enter_netns_on_exec(&mut cmd, &ns);
        cmd.output().map_err(ClusterError::io("run", program))
    }

    /// Runs `f` on a thread inside the node's network namespace (sockets made there stay there).
    pub fn in_netns<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> Result<T, ClusterError> {
        net::in_netns(&self.netns_path(), f)
    }

    fn open_netns(&self) -> Result<File, ClusterError> {
        let p = self.netns_path();
        File::open(&p).map_err(ClusterError::io("open netns", &p))
    }

    /// Spawns berthd in the node's namespace; does not wait for it. No-op while one runs.
    pub(crate) fn spawn(&mut self) -> Result<(), ClusterError> {
        if self.child.is_some() {
            return Ok(());
        }
        let log_path = self.roots.log_file();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(ClusterError::io("open", &log_path))?;
        let log2 = log
            .try_clone()
            .map_err(ClusterError::io("dup", &log_path))?;
        let ns = self.open_netns()?;
        let mut cmd = berthd_command(&self.berthd, &self.roots, &self.options.extra_args);
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
        enter_netns_on_exec(&mut cmd, &ns);
        let child = cmd
            .spawn()
            .map_err(ClusterError::io("spawn", &self.berthd))?;
        if let Ok(pid) = i32::try_from(child.id()) {
            self.started.push(pid);
        }
        self.child = Some(child);
        Ok(())
    }

    /// Polls `/_ping` until it answers 200; fails early if berthd exits.
    pub(crate) fn wait_ready(&mut self) -> Result<(), ClusterError> {
        let limit = self.options.ready_timeout;
        let end = Instant::now() + limit;
        loop {
            let child = self
                .child
                .as_mut()
                .ok_or(ClusterError::NotRunning(self.index))?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(ClusterError::Exited {
                    index: self.index,
                    status: status.to_string(),
                    log: self.log_tail(),
                });
            }
            let ping = client::request(&self.socket_path(), "GET", "/_ping", b"", PING_TIMEOUT);
            if ping.is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
            if Instant::now() >= end {
                return Err(ClusterError::NotReady {
                    index: self.index,
                    secs: limit.as_secs(),
                    log: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` to the running berthd.
    pub(crate) fn signal(&self, signal: Signal) -> Result<(), ClusterError> {
        let pid = self.pid().ok_or(ClusterError::NotRunning(self.index))?;
        nix::sys::signal::kill(Pid::from_raw(pid), signal).map_err(|errno| ClusterError::Signal {
            signal: signal.as_str(),
            pid,
            errno,
        })
    }

    /// Waits until every thread of the running berthd is stopped (state `T`).
    pub(crate) fn wait_stopped(&self, patience: Duration) -> Result<(), ClusterError> {
        let pid = self.pid().ok_or(ClusterError::NotRunning(self.index))?;
        let end = Instant::now() + patience;
        while !all_threads_stopped(pid) {
            if Instant::now() >= end {
                return Err(ClusterError::NotStopped {
                    index: self.index,
                    pid,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// SIGKILLs the running berthd and reaps it; a node without one is left alone.
    pub(crate) fn kill(&mut self) -> Result<(), ClusterError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // SIGKILL to our own child's PID; already exited is fine, the wait reaps it either way.
        let _ = child.kill();
        child
            .wait()
            .map(|_| ())
            .map_err(ClusterError::io("wait for berthd", &self.berthd))
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(log.len());
        log[start..].to_string()
    }
}

/// Whether every thread of `pid` is stopped by a signal (`T` in `/proc/<pid>/task/*/stat`).
fn all_threads_stopped(pid: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|t| {
        std::fs::read_to_string(t.path().join("stat")).is_ok_and(|s| {
            s.rfind(')')
                .and_then(|i| s[i + 1..].split_whitespace().next())
                .is_some_and(|state| state == "T")
        })
    })
}

/// Makes `cmd`'s child join the namespace `ns` before exec. `ns` must stay open until spawn.
fn enter_netns_on_exec(cmd: &mut Command, ns: &File) {
    let fd = ns.as_raw_fd();
    let enter = move || {
        // SAFETY: setns(2) only reads a descriptor and a flag; a bad fd is an error return.
        if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed: it makes one syscall and reads errno, no allocation or locking.
    unsafe {
        cmd.pre_exec(enter);
    }
}
