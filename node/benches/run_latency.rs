//! Benchmark (a program, not a test): end-to-end `berth run --rm busybox true` against bare
//! `runc run` of the same rootfs and `docker run --rm busybox true` in the same run, then
//! berthd's idle RSS, one monitor's RSS and the size of the release binaries. Needs root.
//! Peers: runc from PATH; docker when `BENCH_DOCKER_HOST` (or /var/run/docker.sock) answers.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark program reports on stdout and aborts on setup failure"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const N: usize = 50;

mod common;

use common::{pct, Setup};

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("run_latency: needs root (SKIP)");
        return;
    }
    let n = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(N);
    let setup = Setup::new();
    let (bins, work, tar) = (setup.bins.clone(), setup.work.path(), setup.tar.clone());

    let mut daemon = setup.daemon();
    let berth = bins.join("berth");
    let host = format!("unix://{}", daemon.socket.display());
    if !berth.exists() {
        println!(
            "berth CLI not built at {}: run `cargo build --release --bins` first",
            berth.display()
        );
        return;
    }
    let berth_cmd = |args: &[&str]| {
        let mut c = Command::new(&berth);
        c.env("BERTH_HOST", &host).args(args);
        c
    };
    assert!(berth_cmd(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        tar.to_str().unwrap(),
        "busybox:latest"
    ])
    .stdout(Stdio::null())
    .status()
    .unwrap()
    .success());
    let b = sample(n, || berth_cmd(&["run", "--rm", "busybox", "true"]));

    let runc = runc_samples(n, work, &tar);
    let docker = docker_samples(n, &tar);
    println!(
        "{}",
        line(
            "run --rm busybox true",
            &b,
            runc.as_ref().map(|r| ("runc run", r))
        )
    );
    match &docker {
        Some(d) => println!("{}", line("run --rm busybox true", &b, Some(("docker", d)))),
        None => println!("run --rm busybox true   docker: peer: not installed (set BENCH_DOCKER_HOST to a running dockerd)"),
    }

    // Footprint.
    std::thread::sleep(Duration::from_millis(500));
    println!(
        "berthd idle RSS        {:.1} MiB   (promise ≤ 15 MiB)",
        rss_kib(daemon.pid()) as f64 / 1024.0
    );
    let out = berth_cmd(&["run", "-d", "busybox", "sleep", "60"])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // Past the monitor's trim of its start-up pages: once quiet, after its first look for
    // unwatched children a second into the container's life (600 ms, before that change,
    // measured a monitor that had not trimmed yet).
    std::thread::sleep(Duration::from_secs(2));
    match monitor_pid(&id) {
        Some(pid) => println!("monitor RSS            {:.2} MiB   (promise ≤ 2 MiB; containerd-shim ~13 MiB, conmon ~2 MiB)", rss_kib(pid) as f64 / 1024.0),
        None => println!("monitor RSS            monitor not found"),
    }
    let _ = berth_cmd(&["rm", "-f", &id]).stdout(Stdio::null()).status();

    // A restarted daemon finds its data root already filled; it must stay as small.
    daemon.stop();
    daemon.spawn();
    assert!(berth_cmd(&["run", "--rm", "busybox", "true"])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    // Past berthd's trim of its start-up pages (2 s after it starts serving).
    std::thread::sleep(Duration::from_millis(2500));
    println!(
        "berthd RSS, restarted  {:.1} MiB   (promise ≤ 15 MiB)",
        rss_kib(daemon.pid()) as f64 / 1024.0
    );
    drop(daemon);
    let release = bins
        .parent()
        .map(|p| p.join("release"))
        .filter(|p| p.exists())
        .unwrap_or(bins.clone());
    let mut total = 0u64;
    let mut parts = Vec::new();
    for name in ["berthd", "berth-monitor", "berth"] {
        let size = std::fs::metadata(release.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        total += size;
        parts.push(format!("{name} {:.1}", size as f64 / 1048576.0));
    }
    println!(
        "binaries on disk       {:.1} MiB   ({}; promise ≤ 25 MiB, in {})",
        total as f64 / 1048576.0,
        parts.join(", "),
        release.display()
    );
}

fn sample(n: usize, mut cmd: impl FnMut() -> Command) -> Vec<f64> {
    // One warm-up run, not counted.
    let _ = cmd().stdout(Stdio::null()).stderr(Stdio::null()).status();
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let st = cmd()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "benchmark command failed");
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    v.sort_by(f64::total_cmp);
    v
}

fn line(what: &str, b: &[f64], peer: Option<(&str, &Vec<f64>)>) -> String {
    let mine = format!(
        "{what}   berth p50 {:.1} ms p90 {:.1}",
        pct(b, 50),
        pct(b, 90)
    );
    match peer {
        Some((name, p)) => format!(
            "{mine}   {name} p50 {:.1} ms p90 {:.1}   ratio {:.2}   n={}",
            pct(p, 50),
            pct(p, 90),
            pct(b, 50) / pct(p, 50),
            b.len()
        ),
        None => format!("{mine}   runc: peer: not installed   n={}", b.len()),
    }
}

fn runc_samples(n: usize, work: &Path, tar: &Path) -> Option<Vec<f64>> {
    if Command::new("runc")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        return None;
    }
    let bundle = work.join("runc-bundle");
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-xf")
        .arg(tar)
        .status()
        .unwrap()
        .success());
    assert!(Command::new("runc")
        .arg("spec")
        .current_dir(&bundle)
        .status()
        .unwrap()
        .success());
    let path = bundle.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(["true"]);
    std::fs::write(&path, spec.to_string()).unwrap();
    let root = work.join("runc-root");
    let mut i = 0;
    Some(sample(n, || {
        i += 1;
        let mut c = Command::new("runc");
        c.arg("--root")
            .arg(&root)
            .arg("run")
            .arg("--bundle")
            .arg(&bundle)
            .arg(format!("berth-bench-{}-{i}", std::process::id()));
        c
    }))
}

fn docker_samples(n: usize, tar: &Path) -> Option<Vec<f64>> {
    let host =
        std::env::var("BENCH_DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let docker = |args: &[&str]| {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", &host).args(args);
        c
    };
    let up = docker(&["version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !up {
        return None;
    }
    let has = docker(&["image", "inspect", "busybox:latest"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        let _ = docker(&[
            "import",
            "-c",
            "CMD [\"sh\"]",
            tar.to_str()?,
            "busybox:latest",
        ])
        .stdout(Stdio::null())
        .status();
    }
    Some(sample(n, || docker(&["run", "--rm", "busybox", "true"])))
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn monitor_pid(id: &str) -> Option<u32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd);
        if cmd.contains("berth-monitor") && cmd.contains(id) {
            return Some(pid);
        }
    }
    None
}
