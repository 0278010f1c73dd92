//! What the benchmark programs share: a throwaway work directory with the busybox rootfs
//! tarball, a release berthd on it (stopped on drop), and percentiles.
#![allow(dead_code, reason = "each bench uses part of this module")]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The built binaries, a temp work dir and the busybox rootfs tarball in it.
pub struct Setup {
    pub bins: PathBuf,
    pub work: tempfile::TempDir,
    pub tar: PathBuf,
}

impl Setup {
    /// Makes the work dir and the tarball (needs busybox-static).
    pub fn new() -> Self {
        let bins = PathBuf::from(env!("CARGO_BIN_EXE_berthd"))
            .parent()
            .unwrap()
            .to_path_buf();
        let work = tempfile::Builder::new()
            .prefix("berth-bench-")
            .tempdir()
            .unwrap();
        let tar = work.path().join("busybox.tar");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/busybox-rootfs.sh");
        let ok = Command::new("bash")
            .arg(script)
            .arg(&tar)
            .status()
            .unwrap()
            .success();
        assert!(
            ok,
            "busybox-rootfs.sh failed (is busybox-static installed?)"
        );
        Setup { bins, work, tar }
    }
}

/// A berthd on the work dir, answering on `socket`; SIGTERMed on drop.
pub struct Daemon {
    child: Child,
    pub pid: i32,
    pub socket: PathBuf,
    tag: u32,
    work: PathBuf,
}

/// Lazily unmounts everything mounted under `dir`, deepest first: berthd leaves its data and
/// exec roots' berth directories mounted on themselves, as Docker leaves its netns directory.
pub fn unmount_under(dir: &Path) {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
    }
}

impl Daemon {
    /// Starts berthd and waits until its socket accepts connections.
    pub fn start(setup: &Setup) -> Self {
        let work = setup.work.path();
        let socket = work.join("exec/berth.sock");
        // Its own bridge, nftables table and pool, removed on drop: a bench must not touch a
        // real berthd's `berth0`.
        let tag = std::process::id() % 100_000;
        let config = work.join("daemon.toml");
        std::fs::write(
            &config,
            format!(
                "bridge-name = \"bb{tag}\"\nnft-table = \"berth_bench_{tag}\"\n\
                 default-address-pools = [{{ base = \"10.{}.0.0/16\", size = 24 }}]\n\
                 allowed-registries = []\n",
                200 + tag % 50
            ),
        )
        .unwrap();
        let child = Command::new(setup.bins.join("berthd"))
            .arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(work.join("data"))
            .arg("--exec-root")
            .arg(work.join("exec"))
            .arg("--log-level")
            .arg("warn")
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn berthd");
        let pid = i32::try_from(child.id()).unwrap();
        let end = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(&socket).is_err() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon {
            child,
            pid,
            socket,
            tag,
            work: work.to_path_buf(),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
        unmount_under(&self.work);
        let _ = Command::new("ip")
            .args(["link", "del", &format!("bb{}", self.tag)])
            .output();
        let _ = Command::new("nft")
            .args([
                "delete",
                "table",
                "ip",
                &format!("berth_bench_{}", self.tag),
            ])
            .output();
        // The `berth` parent cgroups, once empty (rmdir fails while another berthd uses them).
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir(e.path().join("berth"));
            }
        }
    }
}

/// The `p`-th percentile (nearest rank) of sorted samples.
pub fn pct(v: &[f64], p: usize) -> f64 {
    let i = (v.len().saturating_sub(1) * p + 50) / 100;
    v[i.min(v.len() - 1)]
}

/// One HTTP request over a unix socket; panics unless the answer is 2xx. Returns the raw response.
pub fn request(sock: &Path, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut s = UnixStream::connect(sock).unwrap();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert!(
        out.starts_with(b"HTTP/1.1 2"),
        "{method} {path}: {}",
        String::from_utf8_lossy(&out[..out.len().min(200)])
    );
    out
}

/// The body of a raw response (after the blank line; chunked framing left in place).
pub fn body(resp: &[u8]) -> &[u8] {
    resp.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(&[][..], |i| &resp[i + 4..])
}

/// The socket of the dockerd named by `BENCH_DOCKER_HOST` (`unix://…`), when it answers.
pub fn docker_socket() -> Option<PathBuf> {
    let host = std::env::var("BENCH_DOCKER_HOST").ok()?;
    let path = PathBuf::from(host.strip_prefix("unix://")?);
    UnixStream::connect(&path).is_ok().then_some(path)
}
