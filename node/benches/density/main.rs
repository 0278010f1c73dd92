//! Benchmark (a program): a thousand containers on one node. Fills berthd (and, when
//! `BENCH_DOCKER_HOST` names a running dockerd, docker in the same run) with `busybox sleep`
//! containers 32 at a time, and at 10, 100 and 1,000 running times create+start (one at a
//! time and 32 at a time), list, inspect, stats, stop and remove, with the daemon's and each
//! monitor's memory: the cost curve, and where it bends. Needs root.
//!
//! `density [--quick] [--levels 10,100,1000] [--network NAME] [--docker-network NAME]`;
//! `--quick` runs 10/50/200. Everything made is removed on the way out, also after a failure.
//! `BENCH_DENSITY_HOLD=<seconds>` keeps berth's containers running that long after its last
//! level (to profile the daemon at that size) before they are removed.
//!
//! The daemons' directories go under `TMPDIR`. Put it on a journaled filesystem: ext4 without
//! a journal skips every inode deleted in the last 30 s when it allocates one, and a start
//! allocates 29, so a level measured soon after a teardown (the previous run's, or the
//! bench's own removals) runs slower, whichever the level (SPECIFICATION DN1).
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark program reports on stdout and aborts on setup failure"
)]

#[path = "../common/mod.rs"]
mod common;
mod footprint;
mod measure;
mod report;
mod sweep;
mod target;

use measure::{Counts, Fleet, Level};
use target::Target;

struct Args {
    levels: Vec<usize>,
    network: String,
    docker_network: String,
}

fn args() -> Args {
    let mut a = Args {
        levels: vec![10, 100, 1000],
        network: "default".into(),
        docker_network: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.levels = vec![10, 50, 200],
            "--levels" => {
                a.levels = it
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|l| l.trim().parse().ok())
                    .collect();
            }
            "--network" => a.network = it.next().unwrap_or_default(),
            "--docker-network" => a.docker_network = it.next().unwrap_or_default(),
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    a.levels.sort_unstable();
    a.levels.dedup();
    if a.docker_network.is_empty() {
        a.docker_network.clone_from(&a.network);
    }
    a
}

fn counts(running: usize) -> Counts {
    Counts {
        list: if running >= 1000 { 100 } else { 200 },
        inspect: 200,
        stats_once: 5,
        stats_stream: 20,
        sequential: 20,
        parallel: 64,
    }
}

/// Runs the levels on one engine; the levels measured before a failure, and the failure.
fn curve(target: &Target, network: &str, levels: &[usize]) -> (Vec<Level>, Option<String>) {
    let mut fleet = Fleet {
        target: target.clone(),
        network: network.to_string(),
        ids: Vec::new(),
    };
    let mut out = Vec::new();
    for &n in levels {
        eprintln!("density: {} filling to {n} running", target.name);
        let rate = match fleet.fill_to(n) {
            Ok(r) => r,
            Err(e) => return (out, Some(format!("filling to {n}: {e}{}", ports(target)))),
        };
        eprintln!("density: {} measuring at {n} running", target.name);
        match fleet.measure(counts(n), rate) {
            Ok(l) => out.push(l),
            Err(e) => return (out, Some(format!("measuring at {n}: {e}{}", ports(target)))),
        }
    }
    (out, None)
}

/// The bridge's port count, for a failure's message.
fn ports(target: &Target) -> String {
    target
        .bridge_ports()
        .map(|n| format!(" (the bridge has {n} ports)"))
        .unwrap_or_default()
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("density: needs root (SKIP)");
        return;
    }
    let a = args();
    let run = std::process::id().to_string();
    let setup = common::Setup::new();
    let tar = std::fs::read(&setup.tar).unwrap();
    let mut daemon = setup.daemon();
    widen_default_bridge(&mut daemon);
    // Dropped in reverse: the containers through the API, then what that missed, then the
    // daemon (which unmounts and deletes its roots).
    let leftovers = sweep::Leftovers::new(setup.work.path());
    let berth = Target {
        name: "berth",
        socket: daemon.socket.clone(),
        prefix: "/v1.47",
        run: run.clone(),
        bridge: Some(daemon.net_names().bridge),
    };
    let berth_sweep = sweep::Containers::new(&berth);
    berth.ensure_busybox(&tar).unwrap();
    println!(
        "density: berthd {}, levels {:?}, network {}",
        berth_binary(),
        a.levels,
        a.network
    );
    let (b_levels, b_err) = curve(&berth, &a.network, &a.levels);
    report::print(&berth, &b_levels);
    if let Some(e) = &b_err {
        println!("berth FAILED {e}");
    }
    report::targets(&b_levels);
    if let Some(secs) = std::env::var("BENCH_DENSITY_HOLD")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        eprintln!(
            "density: holding {secs} s (berthd pid {:?})",
            berth.daemon_pid()
        );
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }
    drop(berth_sweep);
    drop(leftovers);
    drop(daemon);

    let Some(socket) = common::docker_socket() else {
        println!("docker: peer: not installed (set BENCH_DOCKER_HOST to a running dockerd)");
        return;
    };
    let docker = Target {
        name: "docker",
        socket,
        prefix: "/v1.41",
        run,
        bridge: None,
    };
    let docker_sweep = sweep::Containers::new(&docker);
    if let Err(e) = docker.ensure_busybox(&tar) {
        println!("docker: {e}");
        return;
    }
    let (d_levels, d_err) = curve(&docker, &a.docker_network, &a.levels);
    report::print(&docker, &d_levels);
    if let Some(e) = &d_err {
        println!("docker FAILED {e}");
    }
    report::ratios(&b_levels, &d_levels);
    drop(docker_sweep);
}

/// The test daemon's default bridge is a /24 (254 addresses); a thousand containers need
/// more. Its config is written once, so: stop it, forget the bridge (link, table, records),
/// and start it again on a config whose pool hands out /20s (4,094 addresses).
fn widen_default_bridge(daemon: &mut berth_test_support::TestDaemon) {
    let net = daemon.net_names();
    daemon.stop();
    net.remove();
    let config = daemon.root.join("daemon.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("size = 24"), "unexpected test config: {text}");
    std::fs::write(&config, text.replace("size = 24", "size = 20")).unwrap();
    // berthd made its containers directory a mount point of its own.
    berth_test_support::cleanup::unmount_under(&daemon.data_root());
    std::fs::remove_dir_all(daemon.data_root()).unwrap();
    daemon.spawn();
}

/// Which berthd ran (the profile is in its path).
fn berth_binary() -> String {
    berth_test_support::berthd_binary()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}
