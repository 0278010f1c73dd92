//! Benchmark (a program): image builds with the classic builder API (`POST /build`, the same
//! context tar for both), for berth and, when `BENCH_DOCKER_HOST` names a running dockerd
//! (Docker 20.10's classic builder), docker in the same run, with the ratios: a cold 10-step
//! build (`nocache`: every step runs, two RUN containers), a fully cached rebuild, and a
//! rebuild after one COPY'd file changed (the steps from that COPY on run). Needs root.
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

const N: usize = 10;

/// Ten steps of the shape of an application image: dependencies first, the source last.
const DOCKERFILE: &str = "FROM busybox:latest
WORKDIR /srv/app
ENV APP_ENV=production
COPY deps.txt ./
RUN while read -r d; do mkdir -p \"vendor/$d\"; done < deps.txt
COPY src/ ./src/
RUN cat src/*.txt > bundle.txt && wc -c bundle.txt
LABEL org.example.bench=build
EXPOSE 8080
CMD [\"cat\", \"bundle.txt\"]
";

fn context(src_version: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8], dir: bool| {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        if dir {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
        } else {
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
        }
        h.set_path(name).unwrap();
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    add("Dockerfile", DOCKERFILE.as_bytes(), false);
    add("deps.txt", b"alpha\nbeta\ngamma\n", false);
    add("src/", b"", true);
    add("src/a.txt", b"module a\n", false);
    add(
        "src/main.txt",
        format!("main, version {src_version}\n").as_bytes(),
        false,
    );
    b.into_inner().unwrap()
}

/// One build; panics unless it produced an image.
fn build(sock: &Path, v: &str, query: &str, tar: &[u8]) {
    let r = request(
        sock,
        "POST",
        &format!("{v}/build?t=bench-build%3Alatest{query}"),
        tar,
    );
    let text = String::from_utf8_lossy(&r.body);
    assert!(
        text.contains("Successfully tagged") && !text.contains("errorDetail"),
        "{text}"
    );
}

/// (cold, cached, one file changed) samples in ms, sorted.
fn sample(sock: &Path, v: &str, n: usize) -> [Vec<f64>; 3] {
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1000.0
    };
    build(sock, v, "", &context(0));
    let mut cold = Vec::new();
    let mut cached = Vec::new();
    let mut changed = Vec::new();
    for i in 0..n {
        cold.push(time(&mut || build(sock, v, "&nocache=1", &context(0))));
        build(sock, v, "", &context(0));
        cached.push(time(&mut || build(sock, v, "", &context(0))));
        changed.push(time(&mut || build(sock, v, "", &context(i + 1))));
    }
    for s in [&mut cold, &mut cached, &mut changed] {
        s.sort_by(f64::total_cmp);
    }
    [cold, cached, changed]
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("build: needs root (SKIP)");
        return;
    }
    let n = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(N);
    let setup = Setup::new();
    let daemon = setup.daemon();
    let tar = std::fs::read(&setup.tar).unwrap();
    request(
        &daemon.socket,
        "POST",
        "/images/create?fromSrc=-&repo=busybox&tag=latest&changes=CMD%20%5B%22sh%22%5D",
        &tar,
    );
    let berth = sample(&daemon.socket, "/v1.47", n);
    let docker = common::docker_socket().map(|sock| {
        let has = std::process::Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", sock.display()))
            .args(["image", "inspect", "busybox:latest"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !has {
            request(
                &sock,
                "POST",
                "/v1.41/images/create?fromSrc=-&repo=busybox&tag=latest&changes=CMD%20%5B%22sh%22%5D",
                &tar,
            );
        }
        sample(&sock, "/v1.41", n)
    });
    let names = [
        "build, cold (10 steps, nocache)",
        "build, fully cached",
        "build, one COPY'd file changed",
    ];
    for (i, name) in names.iter().enumerate() {
        let b = &berth[i];
        let mut line = format!(
            "{name:<34} berth p50 {:.0} ms p90 {:.0}",
            pct(b, 50),
            pct(b, 90)
        );
        match &docker {
            Some(d) => {
                line += &format!(
                    "   docker p50 {:.0} ms p90 {:.0}   ratio {:.2} (goal ≤ 0.5)",
                    pct(&d[i], 50),
                    pct(&d[i], 90),
                    pct(b, 50) / pct(&d[i], 50)
                );
            }
            None => line += "   docker: peer: not installed (set BENCH_DOCKER_HOST)",
        }
        println!("{line}   n={n}");
    }
    drop(daemon);
}
