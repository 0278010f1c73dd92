//! Benchmark (a program): `GET /containers/json?all=1` latency with 200 containers, berth and,
//! when `BENCH_DOCKER_HOST` names a running dockerd, docker in the same run. Needs root.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark program reports on stdout and aborts on setup failure"
)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONTAINERS: usize = 200;
const REQUESTS: usize = 1000;

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("api_list: needs root (SKIP)");
        return;
    }
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
    assert!(Command::new("bash")
        .arg(script)
        .arg(&tar)
        .status()
        .unwrap()
        .success());
    let sock = work.path().join("exec/berth.sock");
    let mut daemon = Command::new(bins.join("berthd"))
        .arg("--data-root")
        .arg(work.path().join("data"))
        .arg("--exec-root")
        .arg(work.path().join("exec"))
        .arg("--log-level")
        .arg("warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(&sock).is_err() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    let body = std::fs::read(&tar).unwrap();
    request(
        &sock,
        "POST",
        "/images/create?fromSrc=-&repo=busybox&tag=latest&changes=CMD%20sh",
        &body,
    );
    for i in 0..CONTAINERS {
        let create = format!(r#"{{"Image":"busybox","Cmd":["true"],"Labels":{{"n":"{i}"}}}}"#);
        request(&sock, "POST", "/containers/create", create.as_bytes());
    }
    let berth = sample(&sock, "/v1.47/containers/json?all=1");
    let mut line = format!(
        "GET /containers/json, {CONTAINERS} containers   berth p50 {:.2} ms p99 {:.2} (promise p99 ≤ 20 ms)",
        pct(&berth, 50),
        pct(&berth, 99)
    );
    match std::env::var("BENCH_DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
    {
        Some(docker) if UnixStream::connect(&docker).is_ok() => {
            let d = sample(&docker, "/v1.41/containers/json?all=1");
            line += &format!(
                "   docker p50 {:.2} ms p99 {:.2} (its own containers)   ratio {:.2}",
                pct(&d, 50),
                pct(&d, 99),
                pct(&berth, 99) / pct(&d, 99)
            );
        }
        _ => line += "   docker: peer: not installed (set BENCH_DOCKER_HOST)",
    }
    println!("{line}   n={REQUESTS}");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(daemon.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = daemon.wait();
    // Created containers have no processes or mounts; their files go with the temp dir.
}

fn request(sock: &Path, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
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

fn sample(sock: &Path, path: &str) -> Vec<f64> {
    let _ = request(sock, "GET", path, b"");
    let mut v: Vec<f64> = (0..REQUESTS)
        .map(|_| {
            let t = Instant::now();
            let _ = request(sock, "GET", path, b"");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The `p`-th percentile (nearest rank) of sorted samples.
fn pct(v: &[f64], p: usize) -> f64 {
    let i = (v.len().saturating_sub(1) * p + 50) / 100;
    v[i.min(v.len() - 1)]
}
