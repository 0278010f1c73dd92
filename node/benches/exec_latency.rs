//! Benchmark (a program): `exec true` in a running container, measured at the API as the
//! docker CLI drives it (create the exec, start it attached and read its output to the end,
//! inspect its exit code), for berth and, when `BENCH_DOCKER_HOST` names a running dockerd,
//! for docker in the same run, with the ratio. Needs root.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark program reports on stdout and aborts on setup failure"
)]

use std::path::Path;
use std::time::Instant;

mod common;

use common::{pct, request, Setup};

const N: usize = 200;

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("exec_latency: needs root (SKIP)");
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
    let id = start_sleeper(&sock, "/v1.47");
    let berth = sample(&sock, "/v1.47", &id, n);
    request(&sock, "DELETE", &format!("/containers/{id}?force=1"), b"");
    let mut line = format!(
        "exec true (API, attached)   berth p50 {:.2} ms p99 {:.2} (promise p50 ≤ 15 ms)",
        pct(&berth, 50),
        pct(&berth, 99)
    );
    match common::docker_socket() {
        Some(docker) => {
            let has = std::process::Command::new("docker")
                .env("DOCKER_HOST", format!("unix://{}", docker.display()))
                .args(["image", "inspect", "busybox:latest"])
                .output()
                .is_ok_and(|o| o.status.success());
            if !has {
                request(
                    &docker,
                    "POST",
                    "/v1.41/images/create?fromSrc=-&repo=busybox&tag=latest&changes=CMD%20sh",
                    &tar,
                );
            }
            let did = start_sleeper(&docker, "/v1.41");
            let d = sample(&docker, "/v1.41", &did, n);
            request(
                &docker,
                "DELETE",
                &format!("/v1.41/containers/{did}?force=1"),
                b"",
            );
            line += &format!(
                "   docker p50 {:.2} ms p99 {:.2}   ratio p50 {:.2}",
                pct(&d, 50),
                pct(&d, 99),
                pct(&berth, 50) / pct(&d, 50)
            );
        }
        _ => line += "   docker: peer: not installed (set BENCH_DOCKER_HOST)",
    }
    println!("{line}   n={n}");
    drop(daemon);
}

fn start_sleeper(sock: &Path, v: &str) -> String {
    let r = request(
        sock,
        "POST",
        &format!("{v}/containers/create"),
        br#"{"Image":"busybox","Cmd":["sleep","3600"]}"#,
    );
    let created: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let id = created["Id"].as_str().unwrap().to_string();
    request(sock, "POST", &format!("{v}/containers/{id}/start"), b"");
    id
}

/// One exec as the docker CLI does it; panics unless it ran and exited 0.
fn exec_true(sock: &Path, v: &str, id: &str) {
    let r = request(
        sock,
        "POST",
        &format!("{v}/containers/{id}/exec"),
        br#"{"Cmd":["true"],"AttachStdout":true,"AttachStderr":true}"#,
    );
    let created: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let exec = created["Id"].as_str().unwrap();
    request(
        sock,
        "POST",
        &format!("{v}/exec/{exec}/start"),
        br#"{"Detach":false,"Tty":false}"#,
    );
    let r = request(sock, "GET", &format!("{v}/exec/{exec}/json"), b"");
    let info: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(info["ExitCode"], 0, "{info}");
}

fn sample(sock: &Path, v: &str, id: &str, n: usize) -> Vec<f64> {
    for _ in 0..5 {
        exec_true(sock, v, id);
    }
    let mut out: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            exec_true(sock, v, id);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}
