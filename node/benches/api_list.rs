//! Benchmark (a program): `GET /containers/json?all=1` latency with 200 containers, berth and,
//! when `BENCH_DOCKER_HOST` names a running dockerd, docker in the same run. Needs root.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark program reports on stdout and aborts on setup failure"
)]

use std::path::Path;
use std::time::Instant;

const CONTAINERS: usize = 200;
const REQUESTS: usize = 1000;

mod common;

use common::{pct, request, Setup};

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("api_list: needs root (SKIP)");
        return;
    }
    let setup = Setup::new();
    let daemon = setup.daemon();
    let sock = daemon.socket.clone();
    let tar = setup.tar.clone();
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
    match common::docker_socket() {
        Some(docker) => {
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
    // The daemon stops on drop; created containers have no processes or mounts, and their
    // files go with the temp dir.
    drop(daemon);
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
