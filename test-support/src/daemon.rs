//! The one test berthd: a real daemon on throwaway roots, with a default bridge, nftables
//! table and address pool of its own, removed with everything else in `Drop` (also when the
//! test panics). The pieces (`Roots`, `DaemonConfig`, `NetNames`, `berthd_command`) are shared
//! with the multi-node harness, which starts its daemons inside network namespaces.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::client::{self, Response};
use crate::{cleanup, wait_until};

/// How long one API request of a test may wait for the daemon.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The berthd binary: `$BERTHD`, else `berthd` in the target directory this test or bench
/// binary was built into (`target/debug/deps/x` → `target/debug/berthd`).
pub fn berthd_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTHD") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(3)
        .map(|d| d.join("berthd"))
        .find(|p| p.is_file())
}

/// The directory holding the built binaries (`berthd`, `berth`, `berth-monitor`).
pub fn bin_dir() -> PathBuf {
    berthd_binary()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| panic!("berthd not built (cargo build -p berth-node --bins)"))
}

/// A daemon's directory: `data/`, `exec/` (with the API socket), `daemon.toml`, `berthd.log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// The directory everything of the daemon lives under.
    pub root: PathBuf,
}

impl Roots {
    /// `--data-root`.
    pub fn data_root(&self) -> PathBuf {
        self.root.join("data")
    }

    /// `--exec-root`.
    pub fn exec_root(&self) -> PathBuf {
        self.root.join("exec")
    }

    /// The API socket, in the exec root.
    pub fn socket(&self) -> PathBuf {
        self.exec_root().join("berth.sock")
    }

    /// `--config-file`.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("daemon.toml")
    }

    /// Where berthd's output goes, across restarts.
    pub fn log_file(&self) -> PathBuf {
        self.root.join("berthd.log")
    }
}

/// The command that starts berthd on `roots` with `args` (nothing else set: output, namespace
/// and environment are the caller's).
pub fn berthd_command(berthd: &Path, roots: &Roots, args: &[String]) -> Command {
    let mut cmd = Command::new(berthd);
    cmd.arg("--data-root")
        .arg(roots.data_root())
        .arg("--exec-root")
        .arg(roots.exec_root())
        .arg("--config-file")
        .arg(roots.config_file())
        .args(args);
    cmd
}

/// A test daemon's network objects: default bridge, nftables table and address pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetNames {
    /// The default bridge (`bridge-name`).
    pub bridge: String,
    /// The nftables table (`nft-table`).
    pub table: String,
    /// The default address pool (`default-address-pools`' base).
    pub pool: String,
    /// The swarm's VXLAN port when this daemon makes one: a VXLAN device's network and port
    /// are the host's, and two daemons' devices of one VNI on one port cannot both exist.
    pub vxlan_port: u16,
}

impl NetNames {
    /// Names unique to `prefix`, so tests collide neither with each other nor with a real
    /// berthd.
    pub fn of(prefix: &str) -> Self {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        prefix.hash(&mut h);
        let v = h.finish();
        NetNames {
            bridge: format!("bt{:08x}", v & 0xffff_ffff),
            table: format!("berth_{prefix}"),
            pool: format!("10.{}.0.0/16", 100 + (v >> 40) % 100),
            // Below the kernel's ephemeral ports, away from Docker's 4789.
            vxlan_port: 20_000 + u16::try_from((v >> 16) % 10_000).unwrap_or(0),
        }
    }

    /// Removes the bridge and the table from the host's namespace: they outlive berthd, as
    /// docker0 does, and a test's must not.
    pub fn remove(&self) {
        // The default bridge and the swarm tasks' gateway bridge named after it.
        for bridge in [self.bridge.clone(), format!("{}-gw", self.bridge)] {
            let _ = Command::new("ip").args(["link", "del", &bridge]).output();
        }
        for family in ["ip", "ip6"] {
            let _ = Command::new("nft")
                .args(["delete", "table", family, &self.table])
                .output();
        }
    }
}

/// A test daemon's config file.
#[derive(Debug, Clone)]
pub struct DaemonConfig<'a> {
    /// `log-level`.
    pub log_level: &'a str,
    /// Network names (the pool with /24 networks).
    pub net: &'a NetNames,
    /// More TOML, appended; must not repeat the keys above.
    pub extra: &'a str,
}

impl DaemonConfig<'_> {
    /// The TOML text.
    pub fn toml(&self) -> String {
        format!(
            "log-level = \"{}\"\nbridge-name = \"{}\"\nnft-table = \"{}\"\n\
             default-address-pools = [{{ base = \"{}\", size = 24 }}]\n{}\n",
            self.log_level, self.net.bridge, self.net.table, self.net.pool, self.extra
        )
    }
}

/// How a `TestDaemon` starts; `Default` is a debug-logging daemon under the temp directory.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// More berthd flags, kept across restarts; with `-H` among them the test socket is kept
    /// as well.
    pub args: Vec<String>,
    /// `--log-level`.
    pub log_level: String,
    /// Its directory; default `<temp>/berth-test-<prefix>`.
    pub root: Option<PathBuf>,
    /// Whether berthd's output goes to `berthd.log` (else nowhere, as benchmarks want).
    pub keep_log: bool,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            args: Vec::new(),
            log_level: "debug".into(),
            root: None,
            keep_log: true,
        }
    }
}

/// A running berthd with its own roots.
#[derive(Debug)]
pub struct TestDaemon {
    /// The berthd process, while it runs.
    pub child: Option<Child>,
    /// Its directory (see `Roots`).
    pub root: PathBuf,
    /// The API socket.
    pub socket: PathBuf,
    /// The unique prefix of everything the test names.
    pub prefix: String,
    /// More berthd flags, kept across restarts.
    pub args: Vec<String>,
    log_level: String,
    keep_log: bool,
}

impl TestDaemon {
    /// Starts berthd on a fresh data root under the temp directory.
    pub fn start(name: &str) -> Self {
        Self::launch(name, DaemonOptions::default())
    }

    /// As `start`, with the busybox image imported.
    pub fn with_busybox(name: &str) -> Self {
        let d = Self::start(name);
        d.import_busybox();
        d
    }

    /// Starts berthd with more flags; with `-H` among them the test socket is kept as well.
    pub fn start_with(name: &str, args: &[String]) -> Self {
        Self::launch(
            name,
            DaemonOptions {
                args: args.to_vec(),
                ..DaemonOptions::default()
            },
        )
    }

    /// Starts berthd as `options` say; waits until it answers `/_ping`.
    pub fn launch(name: &str, options: DaemonOptions) -> Self {
        let prefix = format!(
            "bt{}{}",
            name.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(8)
                .collect::<String>(),
            std::process::id()
        );
        let root = options
            .root
            .unwrap_or_else(|| std::env::temp_dir().join(format!("berth-test-{prefix}")));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let roots = Roots { root: root.clone() };
        let mut args = options.args;
        if args.iter().any(|a| a == "-H") {
            let own = format!("unix://{}", roots.socket().display());
            args.splice(0..0, ["-H".to_string(), own]);
        }
        let mut d = TestDaemon {
            child: None,
            socket: roots.socket(),
            root,
            prefix,
            args,
            log_level: options.log_level,
            keep_log: options.keep_log,
        };
        d.spawn();
        d
    }

    fn roots(&self) -> Roots {
        Roots {
            root: self.root.clone(),
        }
    }

    /// `--data-root`.
    pub fn data_root(&self) -> PathBuf {
        self.roots().data_root()
    }

    /// This daemon's default bridge, nftables table and address pool.
    pub fn net_names(&self) -> NetNames {
        NetNames::of(&self.prefix)
    }

    /// (Re)starts the daemon process on the same roots and waits for `/_ping`.
    pub fn spawn(&mut self) {
        let roots = self.roots();
        if !roots.config_file().exists() {
            let net = self.net_names();
            let config = DaemonConfig {
                log_level: &self.log_level,
                net: &net,
                extra: "allowed-registries = []",
            };
            std::fs::write(roots.config_file(), config.toml()).unwrap();
        }
        let log = if self.keep_log {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(roots.log_file())
                .unwrap();
            Stdio::from(file)
        } else {
            Stdio::null()
        };
        let berthd = berthd_binary()
            .unwrap_or_else(|| panic!("berthd not built (cargo build -p berth-node --bins)"));
        let mut args = vec!["--log-level".to_string(), self.log_level.clone()];
        args.extend(self.args.iter().cloned());
        let child = berthd_command(&berthd, &roots, &args)
            .stderr(log)
            .spawn()
            .expect("spawn berthd");
        self.child = Some(child);
        let up = wait_until(Duration::from_secs(30), || {
            self.try_request("GET", "/_ping", b"")
                .is_ok_and(|r| r.status == 200)
        });
        assert!(up, "berthd did not answer /_ping; log:\n{}", self.log());
    }

    /// berthd's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.roots().log_file()).unwrap_or_default()
    }

    /// SIGKILLs the daemon process (containers keep running).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the daemon process with SIGTERM and waits for it; the roots stay for `spawn`.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(pid) = i32::try_from(c.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            let _ = c.wait();
        }
    }

    /// One request; any status is `Ok`.
    pub fn try_request(&self, method: &str, path: &str, body: &[u8]) -> std::io::Result<Response> {
        client::request(&self.socket, method, path, body, REQUEST_TIMEOUT)
    }

    /// A request with `headers` (e.g. X-Registry-Auth) that must get an answer.
    pub fn req_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        client::request_with(&self.socket, method, path, headers, body, REQUEST_TIMEOUT)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A request that must get an answer.
    pub fn req(&self, method: &str, path: &str, body: &str) -> Response {
        self.try_request(method, path, body.as_bytes())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            // In a swarm the agent would bring task containers back; leaving removes them.
            let _ = self.try_request("POST", "/swarm/leave?force=1", b"");
            self.remove_all();
        }
        self.stop();
        // Leftover mounts (a test that failed mid-way) must go before the directory.
        cleanup::unmount_under(&self.root);
        let _ = std::fs::remove_dir_all(&self.root);
        self.net_names().remove();
        cleanup::remove_empty_berth_parents();
    }
}
