//! Benchmark (a program): what networking costs. Container start-to-exit time of `true` with
//! `--network none` and with the default bridge (the difference is the network set-up), and TCP
//! throughput container→container on one bridge against the host's loopback (busybox httpd
//! serving a file from tmpfs, busybox wget fetching it). With `BENCH_DOCKER_HOST`, docker's start times with `none` and with a
//! user-defined bridge in the same run (a reference dockerd started with `--bridge none` has no
//! default bridge). Needs root and busybox-static.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark program reports on stdout and aborts on setup failure"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

mod common;

use berth_test_support::Response;
use common::{pct, request, Setup};

const N: usize = 30;
/// MiB sent per throughput run.
const MIB: usize = 500;

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("net_cost: needs root (SKIP)");
        return;
    }
    let n = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(N);
    let setup = Setup::new();
    let daemon = setup.daemon();
    let sock = daemon.socket.clone();
    let tar = std::fs::read(&setup.tar).unwrap();
    request(
        &sock,
        "POST",
        "/images/create?fromSrc=-&repo=busybox&tag=latest&changes=CMD%20sh",
        &tar,
    );
    let none = starts(&sock, "/v1.47", "none", n);
    let bridge = starts(&sock, "/v1.47", "bridge", n);
    println!(
        "start+exit of `true`   berth --network none p50 {:.1} ms   default bridge p50 {:.1} ms   network set-up {:+.1} ms   n={n}",
        pct(&none, 50),
        pct(&bridge, 50),
        pct(&bridge, 50) - pct(&none, 50)
    );
    match common::docker_socket() {
        Some(docker) => docker_starts(&docker, &tar, n),
        None => {
            println!("start+exit of `true`   docker: peer: not installed (set BENCH_DOCKER_HOST)")
        }
    }
    let between = container_throughput(&sock);
    let host = host_throughput();
    println!(
        "TCP throughput ({MIB} MiB, httpd → wget)   container→container on the bridge {}   host loopback {}   ratio {}",
        mibs(between),
        mibs(host),
        match (between, host) {
            (Some(b), Some(h)) => format!("{:.2}", b / h),
            _ => "n/a".into(),
        }
    );
    drop(daemon);
}

fn mibs(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |m| format!("{m:.0} MiB/s"))
}

fn json(resp: &Response) -> serde_json::Value {
    resp.try_json().unwrap_or(serde_json::Value::Null)
}

/// Create, start, wait and remove `true` `n` times on `network`; milliseconds, sorted.
fn starts(sock: &Path, v: &str, network: &str, n: usize) -> Vec<f64> {
    let create = format!(
        r#"{{"Image":"busybox","Cmd":["true"],"HostConfig":{{"NetworkMode":"{network}"}}}}"#
    );
    let mut out: Vec<f64> = (0..=n)
        .map(|_| {
            let t = Instant::now();
            let id = json(&request(
                sock,
                "POST",
                &format!("{v}/containers/create"),
                create.as_bytes(),
            ))["Id"]
                .as_str()
                .unwrap()
                .to_string();
            request(sock, "POST", &format!("{v}/containers/{id}/start"), b"");
            request(sock, "POST", &format!("{v}/containers/{id}/wait"), b"");
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            request(sock, "DELETE", &format!("{v}/containers/{id}?force=1"), b"");
            ms
        })
        .skip(1) // warm-up
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

fn docker_starts(docker: &Path, tar: &[u8], n: usize) {
    let has = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{}", docker.display()))
        .args(["image", "inspect", "busybox:latest"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        request(
            docker,
            "POST",
            "/v1.41/images/create?fromSrc=-&repo=busybox&tag=latest&changes=CMD%20sh",
            tar,
        );
    }
    let none = starts(docker, "/v1.41", "none", n);
    let net = "berth-bench-net";
    let _ = request_any(
        docker,
        "POST",
        "/v1.41/networks/create",
        format!(r#"{{"Name":"{net}"}}"#).as_bytes(),
    );
    let line = match std::panic::catch_unwind(|| starts(docker, "/v1.41", net, n)) {
        Ok(bridge) => format!(
            "docker --network none p50 {:.1} ms   user bridge p50 {:.1} ms   network set-up {:+.1} ms",
            pct(&none, 50),
            pct(&bridge, 50),
            pct(&bridge, 50) - pct(&none, 50)
        ),
        Err(_) => format!("docker --network none p50 {:.1} ms   bridge: unavailable on this dockerd", pct(&none, 50)),
    };
    let _ = request_any(docker, "DELETE", &format!("/v1.41/networks/{net}"), b"");
    println!("start+exit of `true`   {line}   n={n}");
}

/// Like `request`, without insisting on success.
fn request_any(sock: &Path, method: &str, path: &str, body: &[u8]) -> Option<Response> {
    std::panic::catch_unwind(|| request(sock, method, path, body)).ok()
}

/// Two containers on the default bridge: busybox httpd serving a file from tmpfs, and wget
/// fetching it (timed around an exec, less the time of an empty exec). MiB/s.
fn container_throughput(sock: &Path) -> Option<f64> {
    let mk = |cmd: &str, shm: u64| {
        let c = format!(
            r#"{{"Image":"busybox","Cmd":["sh","-c","{cmd}"],"HostConfig":{{"ShmSize":{shm}}}}}"#
        );
        let id = json(&request(sock, "POST", "/containers/create", c.as_bytes()))["Id"]
            .as_str()?
            .to_string();
        request(sock, "POST", &format!("/containers/{id}/start"), b"");
        Some(id)
    };
    let server = mk(
        &format!("dd if=/dev/zero of=/dev/shm/big bs=1M count={MIB} 2>/dev/null; echo ready; httpd -f -p 8080 -h /dev/shm"),
        (MIB as u64 + 64) << 20,
    )?;
    let client = mk("sleep 3600", 64 << 20)?;
    let inspect = json(&request(
        sock,
        "GET",
        &format!("/containers/{server}/json"),
        b"",
    ));
    let ip = inspect["NetworkSettings"]["IPAddress"]
        .as_str()?
        .to_string();
    let ready = || {
        let logs = request(
            sock,
            "GET",
            &format!("/containers/{server}/logs?stdout=1"),
            b"",
        );
        String::from_utf8_lossy(&logs.body).contains("ready")
    };
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while !ready() && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let exec = |cmd: &[&str]| {
        let c = serde_json::json!({"Cmd": cmd, "AttachStdout": true}).to_string();
        let e = json(&request(
            sock,
            "POST",
            &format!("/containers/{client}/exec"),
            c.as_bytes(),
        ));
        let eid = e["Id"].as_str().unwrap_or_default().to_string();
        let t = Instant::now();
        request(sock, "POST", &format!("/exec/{eid}/start"), b"{}");
        let secs = t.elapsed().as_secs_f64();
        let code =
            json(&request(sock, "GET", &format!("/exec/{eid}/json"), b""))["ExitCode"].as_i64();
        (code == Some(0)).then_some(secs)
    };
    let empty = exec(&["true"]);
    let url = format!("http://{ip}:8080/big");
    let fetch = exec(&["wget", "-q", "-O", "/dev/null", &url]);
    for id in [&server, &client] {
        request(sock, "DELETE", &format!("/containers/{id}?force=1"), b"");
    }
    let secs = fetch? - empty?;
    (secs > 0.0).then(|| MIB as f64 / secs)
}

/// The same on the host's loopback with the host's busybox (httpd + wget); MiB/s.
fn host_throughput() -> Option<f64> {
    let dir = tempfile::Builder::new()
        .prefix("berth-bench-www-")
        .tempdir_in("/dev/shm")
        .ok()?;
    let ok = Command::new("busybox")
        .args([
            "dd",
            "if=/dev/zero",
            &format!("of={}", dir.path().join("big").display()),
            "bs=1M",
            &format!("count={MIB}"),
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    let mut server = Command::new("busybox")
        .args(["httpd", "-f", "-p", "127.0.0.1:18089", "-h"])
        .arg(dir.path())
        .spawn()
        .ok()?;
    std::thread::sleep(std::time::Duration::from_millis(300));
    let t = Instant::now();
    let got = Command::new("busybox")
        .args([
            "wget",
            "-q",
            "-O",
            "/dev/null",
            "http://127.0.0.1:18089/big",
        ])
        .status()
        .is_ok_and(|s| s.success());
    let secs = t.elapsed().as_secs_f64();
    let _ = server.kill();
    let _ = server.wait();
    got.then(|| MIB as f64 / secs)
}
