//! Engine fault family: one berthd (no swarm) SIGKILLed again and again while two clients
//! create, start, stop and remove containers on its default bridge. Once it runs again,
//! every container's recorded state matches reality (running ⇔ its process is alive, and a
//! stopped one has nothing left in its cgroup); once every container is removed, nothing is
//! left: no mount, cgroup, container namespace, veth, nftables rule or monitor beyond what
//! the idle daemon had. Per kill, the time from the restart to every record matching
//! reality is a figure. A few dozen operations in CI; `CHAOS_SOAK_SECS` repeats epochs (kills
//! for `CHAOS_EPOCH_SECS`, then the checks above) for longer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod chaos_support;
mod swarm_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_chaos_tests::swarm::{self, poll};
use berth_chaos_tests::{cleanup, client, require_root, Cluster, PREFIX_HEAD};
use chaos_support::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use swarm_support::{LogsOnFailure, LONG};

/// Kills in CI's short mode.
const SHORT_KILLS: usize = 8;
const NAMES: usize = 6;
const TIMEOUT: Duration = Duration::from_secs(30);

/// Everything of the node that must come back to its idle state.
#[derive(Debug, PartialEq, Eq)]
struct Footprint {
    mounts: BTreeSet<String>,
    netns_files: BTreeSet<String>,
    links: BTreeSet<String>,
    ruleset: String,
    monitors: Vec<String>,
}

fn footprint(c: &Cluster) -> Footprint {
    let n = c.node(0);
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mounts = cleanup::mounts_under(&table, n.root())
        .into_iter()
        .map(|m| m.display().to_string())
        .collect();
    let netns_files = std::fs::read_dir(n.exec_root().join("netns"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let out = |argv: &[&str]| {
        String::from_utf8_lossy(&n.exec_in_netns(argv).unwrap().stdout).into_owned()
    };
    let links = out(&["ip", "-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|l| l.split('@').next().unwrap_or(l).to_string())
        .collect();
    let ruleset = out(&["nft", "list", "ruleset"]);
    let needle = cleanup::dir_needle(n.root());
    let monitors = cleanup::processes()
        .into_iter()
        .filter(|p| p.program() == "berth-monitor" && p.mentions(&needle))
        .map(|p| format!("{} {}", p.pid, p.argv.join(" ")))
        .collect();
    Footprint {
        mounts,
        netns_files,
        links,
        ruleset,
        monitors,
    }
}

fn req(socket: &Path, method: &str, path: &str, body: &Value) -> Option<(u16, Value)> {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let r = client::request(socket, method, path, &bytes, TIMEOUT).ok()?;
    Some((r.status, r.try_json().unwrap_or(Value::Null)))
}

/// One random operation on container `ctr-<k>`; counts answered and successful ones.
fn step(socket: &Path, rng: &mut StdRng, ids: &Mutex<BTreeSet<String>>, counts: &[AtomicUsize; 2]) {
    let name = format!("ctr-{}", rng.random_range(0..NAMES));
    let r = match rng.random_range(0..4) {
        0 => {
            let body =
                json!({ "Image": "busybox:latest", "Cmd": ["sleep", "600"], "StopTimeout": 1 });
            let r = req(
                socket,
                "POST",
                &format!("/containers/create?name={name}"),
                &body,
            );
            if let Some((201, v)) = &r {
                if let Some(id) = v["Id"].as_str() {
                    ids.lock().unwrap().insert(id.to_string());
                }
            }
            r
        }
        1 => req(
            socket,
            "POST",
            &format!("/containers/{name}/start"),
            &Value::Null,
        ),
        2 => req(
            socket,
            "POST",
            &format!("/containers/{name}/stop?t=1"),
            &Value::Null,
        ),
        _ => req(
            socket,
            "DELETE",
            &format!("/containers/{name}?force=1"),
            &Value::Null,
        ),
    };
    if let Some((status, _)) = r {
        counts[0].fetch_add(1, Ordering::Relaxed);
        if (200..300).contains(&status) {
            counts[1].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Whether `pid` is a live (not zombie) process.
fn alive(pid: i64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .is_some_and(|s| s != "Z" && s != "X")
}

/// Processes in container `id`'s cgroups (every hierarchy) under the node's `parent`.
fn cgroup_procs(parent: &str, id: &str) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    cleanup::cgroup_mounts(&table)
        .into_iter()
        .flat_map(|h| {
            std::fs::read_to_string(h.join(parent).join(id).join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every cgroup left under the node's `parent` (container ids), in every hierarchy.
fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    cleanup::cgroup_mounts(&table)
        .into_iter()
        .filter_map(|h| std::fs::read_dir(h.join(parent)).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .filter(|d| d.is_dir())
        .filter(|d| d.exists())
        .collect()
}

/// Containers whose recorded state disagrees with the processes: (name, state, why).
fn mismatches(socket: &Path, parent: &str) -> Vec<String> {
    let Some((200, Value::Array(list))) =
        req(socket, "GET", "/containers/json?all=1", &Value::Null)
    else {
        return vec!["the container list did not answer".into()];
    };
    let mut out = Vec::new();
    for ctr in list {
        let id = ctr["Id"].as_str().unwrap_or("").to_string();
        let Some((200, inspect)) = req(
            socket,
            "GET",
            &format!("/containers/{id}/json"),
            &Value::Null,
        ) else {
            out.push(format!("{id}: inspect failed"));
            continue;
        };
        let state = &inspect["State"];
        let pid = state["Pid"].as_i64().unwrap_or(0);
        let procs = cgroup_procs(parent, &id);
        if state["Running"] == true && !(pid > 0 && alive(pid)) {
            out.push(format!("{id}: running with pid {pid}, which is not alive"));
        }
        if state["Running"] != true && !procs.is_empty() {
            out.push(format!(
                "{id}: {} but its cgroup holds {procs:?}",
                state["Status"]
            ));
        }
    }
    out
}

#[test]
fn killed_berthd_leaks_nothing_and_its_records_match_reality() {
    require_root!();
    let mut rng = seeded("chaos_engine");
    if let Err(e) = Cluster::sweep_leftovers(PREFIX_HEAD) {
        eprintln!("sweep: {e}");
    }
    let mut c = Cluster::builder(1)
        .default_options(swarm::node_options())
        .start()
        .unwrap();
    swarm::import_busybox(&c).unwrap();
    let _logs = LogsOnFailure::new(&c);
    let idle = footprint(&c);
    // The node's containers' cgroup parent (the harness gives each node its own).
    let parent = c.names().cgroup_parent(0);
    let socket = c.node(0).socket_path();
    let ids = Mutex::new(BTreeSet::new());
    let counts = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let mut kills = 0;
    // Per kill: from berthd's restart to every record matching reality (clients still busy).
    let mut consistent_after = Vec::new();
    let mut containers = 0;
    let t0 = Instant::now();
    epochs(|epoch| {
        let stop = AtomicBool::new(false);
        let seeds: [u64; 2] = [rng.random(), rng.random()];
        std::thread::scope(|s| {
            for seed in seeds {
                let (socket, ids, counts, stop) = (&socket, &ids, &counts, &stop);
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed);
                    while !stop.load(Ordering::Relaxed) {
                        step(socket, &mut rng, ids, counts);
                    }
                });
            }
            struct Stop<'a>(&'a AtomicBool);
            impl Drop for Stop<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::Relaxed);
                }
            }
            let _stop = Stop(&stop);
            let mut round = 0;
            let mut settling = Duration::ZERO;
            while epoch.another_round(round, SHORT_KILLS) {
                round += 1;
                // The time spent waiting for consistency counts toward the pause between
                // kills, so CI's run is no longer for the figure.
                let pause = Duration::from_millis(rng.random_range(300..2000));
                std::thread::sleep(pause.saturating_sub(settling));
                c.kill(0).unwrap();
                kills += 1;
                std::thread::sleep(Duration::from_millis(rng.random_range(0..300)));
                c.restart(0).unwrap();
                let restarted = Instant::now();
                let mut wrong = Vec::new();
                let consistent = poll(LONG, Duration::from_millis(100), || {
                    wrong = mismatches(&socket, &parent);
                    wrong.is_empty()
                });
                settling = restarted.elapsed();
                if consistent {
                    consistent_after.push(settling);
                } else {
                    eprintln!("kill {kills}: records still disagree {settling:?} after the restart: {wrong:#?}");
                }
            }
            // A last stretch without kills, so the final restart below finds settled work.
            std::thread::sleep(Duration::from_secs(1));
        });
        c.restart(0).unwrap();
        let mut wrong = Vec::new();
        let consistent = poll(LONG, Duration::from_millis(500), || {
            wrong = mismatches(&socket, &parent);
            wrong.is_empty()
        });
        let (_, list) = req(&socket, "GET", "/containers/json?all=1", &Value::Null).unwrap();
        containers += list.as_array().map_or(0, Vec::len);
        assert!(consistent, "records disagree with reality: {wrong:#?}");

        // Everything removed: back to the idle footprint.
        for ctr in list.as_array().cloned().unwrap_or_default() {
            let id = ctr["Id"].as_str().unwrap_or("");
            let r = req(
                &socket,
                "DELETE",
                &format!("/containers/{id}?force=1"),
                &Value::Null,
            );
            assert!(matches!(r, Some((204, _))), "remove {id}: {r:?}");
        }
        let mut now = footprint(&c);
        let clean = poll(LONG, Duration::from_millis(500), || {
            now = footprint(&c);
            now == idle
        });
        assert!(
            clean,
            "epoch {}: left behind: idle {idle:#?}\nnow {now:#?}",
            epoch.n
        );
    });
    let ops = counts[0].load(Ordering::Relaxed);
    let done = counts[1].load(Ordering::Relaxed);
    let cgroups = cgroup_dirs(&parent);
    eprintln!(
        "FIGURES chaos_engine: faults {kills} | ops answered {ops} ({done} succeeded) over {:?} | containers at \
         the end {containers} | records consistent after a restart {} | leaks: cgroups {}",
        t0.elapsed(),
        percentiles(&consistent_after),
        cgroups.len()
    );
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
}
