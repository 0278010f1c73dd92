//! Test support: a real berthd on a throwaway data root, a tiny HTTP client over its unix
//! socket, the busybox test image, and `wait_until`. Everything a test creates carries a unique
//! prefix and is removed in `Drop`, even when the test panics.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub mod hostile;

/// Prints a skip line and returns from the test when not root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP (needs root): {}", module_path!());
            return;
        }
    };
}

/// The directory holding the built binaries (target/debug).
pub fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berthd"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A running berthd with its own roots.
pub struct TestDaemon {
    pub child: Option<Child>,
    pub root: PathBuf,
    pub socket: PathBuf,
    pub prefix: String,
    /// More berthd flags, kept across restarts.
    pub args: Vec<String>,
}

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl TestDaemon {
    /// Starts berthd on a fresh data root under /tmp.
    pub fn start(name: &str) -> Self {
        Self::start_with(name, &[])
    }

    /// Starts berthd with more flags; with `-H` among them the test socket is kept as well.
    pub fn start_with(name: &str, args: &[String]) -> Self {
        let prefix = format!(
            "bt{}{}",
            name.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(8)
                .collect::<String>(),
            std::process::id()
        );
        let root = std::env::temp_dir().join(format!("berth-test-{prefix}"));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let socket = root.join("exec/berth.sock");
        let mut args = args.to_vec();
        if args.iter().any(|a| a == "-H") {
            args.splice(
                0..0,
                ["-H".to_string(), format!("unix://{}", socket.display())],
            );
        }
        let mut d = TestDaemon {
            child: None,
            root,
            socket,
            prefix,
            args,
        };
        d.spawn();
        d
    }

    pub fn data_root(&self) -> PathBuf {
        self.root.join("data")
    }

    /// (Re)starts the daemon process on the same roots and waits for `/_ping`.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("berthd.log"))
            .unwrap();
        let child = Command::new(bin_dir().join("berthd"))
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(self.root.join("exec"))
            .arg("--config-file")
            .arg(self.config_file())
            .arg("--log-level")
            .arg("debug")
            .args(&self.args)
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

    fn config_file(&self) -> PathBuf {
        let p = self.root.join("daemon.toml");
        if !p.exists() {
            let (bridge, table, pool) = self.net_names();
            std::fs::write(
                &p,
                format!(
                    "log-level = \"debug\"\nbridge-name = \"{bridge}\"\nnft-table = \"{table}\"\n\
                     default-address-pools = [{{ base = \"{pool}\", size = 24 }}]\n\
                     allowed-registries = []\n"
                ),
            )
            .unwrap();
        }
        p
    }

    /// This daemon's default bridge, nftables table and address pool: unique per test, so
    /// tests collide neither with each other nor with a real berthd.
    pub fn net_names(&self) -> (String, String, String) {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.prefix.hash(&mut h);
        let v = h.finish();
        (
            format!("bt{:08x}", v & 0xffff_ffff),
            format!("berth_{}", self.prefix),
            format!("10.{}.0.0/16", 100 + (v >> 40) % 100),
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("berthd.log")).unwrap_or_default()
    }

    /// SIGKILLs the daemon process (containers keep running).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn try_request(&self, method: &str, path: &str, body: &[u8]) -> std::io::Result<Resp> {
        let mut s = UnixStream::connect(&self.socket)?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        parse_response(&raw)
    }

    /// POSTs `body` to `path` asking to upgrade the connection (as `docker attach`/`exec` do);
    /// returns the connection after the `101` head.
    pub fn upgraded(&self, path: &str, body: &str) -> UnixStream {
        let mut s = UnixStream::connect(&self.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        s
    }

    /// A request that must get an answer.
    pub fn req(&self, method: &str, path: &str, body: &str) -> Resp {
        self.try_request(method, path, body.as_bytes())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Imports the busybox test image as `busybox:latest`.
    pub fn import_busybox(&self) {
        let tar = busybox_tar(&self.root);
        let bytes = std::fs::read(tar).unwrap();
        let r = self
            .try_request("POST", "/v1.47/images/create?fromSrc=-&repo=busybox&tag=latest&changes=CMD%20%5B%22sh%22%5D", &bytes)
            .unwrap();
        assert_eq!(r.status, 200, "import: {}", r.text());
    }

    /// Creates a container from JSON; returns its id.
    pub fn create(&self, name: &str, body: serde_json::Value) -> String {
        let r = self.req(
            "POST",
            &format!("/containers/create?name={name}"),
            &body.to_string(),
        );
        assert_eq!(r.status, 201, "create {name}: {}", r.text());
        r.json()["Id"].as_str().unwrap().to_string()
    }

    pub fn inspect(&self, id: &str) -> serde_json::Value {
        let r = self.req("GET", &format!("/containers/{id}/json"), "");
        assert_eq!(r.status, 200, "inspect {id}: {}", r.text());
        r.json()
    }

    /// Demultiplexed stdout of `logs`.
    pub fn logs(&self, id: &str) -> String {
        let r = self.req(
            "GET",
            &format!("/containers/{id}/logs?stdout=1&stderr=1"),
            "",
        );
        String::from_utf8_lossy(&demux(&r.body)).into_owned()
    }

    /// Removes every container this daemon has.
    pub fn remove_all(&self) {
        if let Ok(r) = self.try_request("GET", "/containers/json?all=1", b"") {
            if let Ok(list) = serde_json::from_slice::<Vec<serde_json::Value>>(&r.body) {
                for c in list {
                    let id = c["Id"].as_str().unwrap_or_default();
                    let _ = self.try_request("DELETE", &format!("/containers/{id}?force=1"), b"");
                }
            }
        }
        if let Ok(r) = self.try_request("GET", "/networks", b"") {
            if let Ok(list) = serde_json::from_slice::<Vec<serde_json::Value>>(&r.body) {
                for n in list {
                    let id = n["Id"].as_str().unwrap_or_default();
                    let _ = self.try_request("DELETE", &format!("/networks/{id}"), b"");
                }
            }
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if self.child.is_none() && self.socket.exists() {
            // killed by the test and not restarted: start again so containers get cleaned.
        }
        if self.child.is_some() {
            // In a swarm the agent would bring task containers back; leaving removes them.
            let _ = self.try_request("POST", "/swarm/leave?force=1", b"");
            self.remove_all();
        }
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = c.wait();
        }
        // Leftover mounts (a test that failed mid-way) must go before the directory.
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            for m in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)) {
                if m.starts_with(&self.root.display().to_string()) {
                    let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
        // The default bridge and the table outlive berthd, as docker0 does; a test's must not.
        let (bridge, table, _) = self.net_names();
        let _ = Command::new("ip").args(["link", "del", &bridge]).output();
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &table])
            .output();
        // The shared `berth` parent cgroups go once empty (rmdir fails while another test uses them).
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir(e.path().join("berth"));
            }
        }
    }
}

pub fn parse_response(raw: &[u8]) -> std::io::Result<Resp> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut body = raw[split + 4..].to_vec();
    if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok(Resp {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..pos]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        let start = pos + 2;
        out.extend_from_slice(&b[start..(start + n).min(b.len())]);
        b = &b[(start + n + 2).min(b.len())..];
    }
    out
}

/// Joins the payloads of multiplexed frames.
pub fn demux(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        out.extend_from_slice(&b[8..(8 + n).min(b.len())]);
        b = &b[(8 + n).min(b.len())..];
    }
    out
}

/// The payloads of the frames of one stream (1 stdout, 2 stderr).
pub fn demux_stream(mut b: &[u8], stream: u8) -> Vec<u8> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        if b[0] == stream {
            out.extend_from_slice(&b[8..(8 + n).min(b.len())]);
        }
        b = &b[(8 + n).min(b.len())..];
    }
    out
}

/// Percent-encodes a query value (filters JSON).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Polls `cond` until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// A busybox root filesystem tarball built from the host's busybox-static.
pub fn busybox_tar(dir: &Path) -> PathBuf {
    let out = dir.join("busybox.tar");
    if out.exists() {
        return out;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/busybox-rootfs.sh");
    let st = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .status()
        .expect("run busybox-rootfs.sh");
    assert!(
        st.success(),
        "busybox-rootfs.sh failed (is busybox-static installed?)"
    );
    out
}
