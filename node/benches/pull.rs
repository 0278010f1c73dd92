//! Benchmark (a program): how long pulling a six-layer image (busybox + five layers of filler,
//! one of them zstd) from Debian's `docker-registry` on loopback takes with berth, side by side
//! with `docker pull` against the dockerd at `BENCH_DOCKER_HOST` and with
//! `skopeo copy docker://… dir:…` (download and verify only, nothing unpacked) when installed.
//! dockerd 20.10 has no zstd, so docker and berth are also compared on the same image with
//! that layer gzipped. The image is removed between samples, so every sample downloads and unpacks every layer.
//! `BENCH_N` samples (default 5), `BENCH_LAYER_MIB` MiB per filler layer (default 16). Needs root.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark program reports on stdout and aborts on setup failure"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

mod common;
#[path = "../tests/registry_kit/mod.rs"]
mod registry_kit;

use berth_test_support::registry::Registry;
use common::{pct, request, Setup};
use registry_kit::{multi_layer, push_image};

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("pull: needs root (SKIP)");
        return;
    }
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (n, mib) = (env("BENCH_N", 5), env("BENCH_LAYER_MIB", 16));
    let Some(reg) = Registry::start() else {
        println!("pull: docker-registry is not installed (SKIP)");
        return;
    };
    let setup = Setup::new();
    let busybox = std::fs::read(&setup.tar).unwrap();
    let layers = multi_layer(&busybox, 5, mib << 20, 1);
    push_image(&reg.host(), "bench/multi", "v1", &layers, &["sh"]);
    let image = format!("{}/bench/multi:v1", reg.host());
    // dockerd 20.10 cannot unpack zstd layers: it gets the same image with that layer gzipped.
    let gzipped: Vec<_> = layers
        .iter()
        .map(|l| registry_kit::Layer::gzip(l.tar.clone()))
        .collect();
    push_image(&reg.host(), "bench/multi", "gzip", &gzipped, &["sh"]);
    let gz_image = format!("{}/bench/multi:gzip", reg.host());
    let packed: usize = layers.iter().map(|l| l.blob.len()).sum();
    let unpacked: usize = layers.iter().map(|l| l.tar.len()).sum();
    println!(
        "pull of {image}: {} layers (1 zstd), {:.1} MiB compressed, {:.1} MiB unpacked, n={n}",
        layers.len(),
        packed as f64 / 1048576.0,
        unpacked as f64 / 1048576.0
    );

    let daemon = setup.daemon();
    let berth = samples(n, || berth_pull(&daemon.socket, &image));
    let berth_gz = samples(n, || berth_pull(&daemon.socket, &gz_image));
    drop(daemon);
    report("berth", &berth, None);
    report("berth (all gzip)", &berth_gz, None);

    let docker = docker_host();
    match &docker {
        Some(host) => {
            let t = samples(n, || docker_pull(host, &gz_image));
            report("docker (all gzip)", &t, Some(&berth_gz));
        }
        None => println!("  docker pull: not run (set BENCH_DOCKER_HOST)"),
    }
    if Command::new("skopeo").arg("--version").output().is_ok() {
        let out = setup.work.path().join("skopeo");
        let t = samples(n, || skopeo_copy(&image, &out));
        report("skopeo copy (dir:)", &t, Some(&berth));
    } else {
        println!("  skopeo: not installed");
    }
}

/// `n` timed runs of `f` (which cleans up after itself), in milliseconds, sorted.
fn samples(n: usize, mut f: impl FnMut() -> f64) -> Vec<f64> {
    let mut v: Vec<f64> = (0..n).map(|_| f()).collect();
    v.sort_by(f64::total_cmp);
    v
}

fn report(what: &str, t: &[f64], berth: Option<&[f64]>) {
    let ratio = berth.map_or_else(String::new, |b| {
        format!("   berth/{what} p50 ratio {:.2}", pct(b, 50) / pct(t, 50))
    });
    println!(
        "  {what:<20} p50 {:>7.0} ms   min {:>7.0} ms   max {:>7.0} ms{ratio}",
        pct(t, 50),
        t[0],
        t[t.len() - 1]
    );
}

fn berth_pull(sock: &Path, image: &str) -> f64 {
    let (name, tag) = image.rsplit_once(':').unwrap();
    let t = Instant::now();
    let resp = request(
        sock,
        "POST",
        &format!("/v1.47/images/create?fromImage={name}&tag={tag}"),
        b"",
    );
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let text = String::from_utf8_lossy(&resp.body);
    assert!(
        !text.contains("errorDetail") && text.contains("Downloaded newer image"),
        "{text}"
    );
    request(sock, "DELETE", &format!("/images/{image}"), b"");
    ms
}

fn docker_host() -> Option<String> {
    let host = std::env::var("BENCH_DOCKER_HOST").ok()?;
    let ok = docker(&host, &["version"]);
    if !ok {
        println!("  docker pull: {host} does not answer");
    }
    ok.then_some(host)
}

fn docker(host: &str, args: &[&str]) -> bool {
    Command::new("docker")
        .arg("-H")
        .arg(host)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn docker_pull(host: &str, image: &str) -> f64 {
    docker(host, &["rmi", "-f", image]);
    let t = Instant::now();
    let out = Command::new("docker")
        .args(["-H", host, "pull", "-q", image])
        .output()
        .unwrap();
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(
        out.status.success(),
        "docker pull {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(docker(host, &["rmi", image]), "docker rmi {image}");
    ms
}

fn skopeo_copy(image: &str, out: &PathBuf) -> f64 {
    let _ = std::fs::remove_dir_all(out);
    let t = Instant::now();
    let ok = Command::new("skopeo")
        .args(["copy", "-q", "--src-tls-verify=false"])
        .arg(format!("docker://{image}"))
        .arg(format!("dir:{}", out.display()))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "skopeo copy {image}");
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let _ = std::fs::remove_dir_all(out);
    ms
}
