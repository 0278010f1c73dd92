//! Disk fault family: three managers whose data roots are small tmpfs mounts. A follower's
//! disk fills up, then the leader's, each for a few seconds while a client keeps writing
//! through every manager: the cluster keeps committing through the others; the full node's
//! engine refuses a write naming the disk; once the space is freed the full manager's Raft
//! member catches up without a berthd restart (a write committed after the freeing shows
//! there) and its engine writes again, then berthd is restarted on its data and must start:
//! its state is not corrupt; every acknowledged write is in the final state. Per fault, the
//! time from the space freed to the node caught up and writing is a figure; `CHAOS_SOAK_SECS`
//! repeats epochs of such rounds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod chaos_support;
mod swarm_support;

use std::time::{Duration, Instant};

use berth_chaos_tests::history::{self, Outcome, Want};
use berth_chaos_tests::swarm::{self, poll};
use berth_chaos_tests::{require_root, Cluster, NodeOptions, PREFIX_HEAD};
use chaos_support::*;
use rand::Rng;
use swarm_support::{LogsOnFailure, LONG, MANAGERS};

/// Each manager's data root, in MiB: room for the image, raft and a few containers.
const DATA_MIB: u64 = 128;

/// Whether node `i`'s berthd still runs (a SIGKILL-free exit shows in `try_wait`).
fn running(c: &Cluster, i: usize) -> bool {
    c.node(i)
        .pid()
        .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
        && c.node(i)
            .request("GET", "/_ping", b"")
            .is_ok_and(|r| r.status == 200)
}

#[test]
fn a_full_disk_on_a_follower_and_on_the_leader_loses_nothing() {
    require_root!();
    let mut rng = seeded("chaos_disk");
    if let Err(e) = Cluster::sweep_leftovers(PREFIX_HEAD) {
        eprintln!("sweep: {e}");
    }
    let options = NodeOptions {
        data_root_mib: Some(DATA_MIB),
        ..swarm::node_options()
    };
    let c = Cluster::builder(3)
        .default_options(options)
        .start()
        .unwrap();
    let mut c = join_swarm(c, 3, 3);
    let _logs = LogsOnFailure::new(&c);
    let mut figures = Figures::default();
    let mut died = Vec::new();
    let mut acked_while_full = 0;
    epochs(|epoch| {
        let prefix = epoch.prefix("disk");
        let mut windows = Vec::new();
        let seed = rng.random();
        let e = swarm_epoch(&mut c, epoch, "disk", 4, &MANAGERS, seed, |c, live| {
            let mut last = Instant::now();
            let mut round = 0;
            while epoch.another_round(round, 1) {
                round += 1;
                for role in ["follower", "leader"] {
                    let leader = leader_among(c, &MANAGERS);
                    let full = match role {
                        "leader" => leader,
                        _ => MANAGERS.into_iter().find(|i| *i != leader).unwrap_or(0),
                    };
                    let fill = c.fill_disk(full).unwrap();
                    figures.faults += 1;
                    let from = live.t0.elapsed();
                    eprintln!("{role} {full}: disk full ({} bytes)", fill.bytes());
                    // At once, before anything on the node frees space (a removed task's files
                    // and the guard's released reserves add up to enough to take writes again).
                    let volume = format!("{prefix}{role}-{round}");
                    let body = format!(r#"{{"Name":"{volume}"}}"#);
                    let st = nix::sys::statvfs::statvfs(&c.node(full).data_root()).unwrap();
                    let free = st.blocks_available() * st.fragment_size();
                    let r = c
                        .node(full)
                        .request("POST", "/volumes/create", body.as_bytes());
                    let r = r.unwrap();
                    let text = String::from_utf8_lossy(&r.body).to_lowercase();
                    // Only while the disk is still below the guard's 4 MiB floor: the node may
                    // have freed some meanwhile (a 30-minute soak saw a 201 in its 36th round).
                    assert!(
                        free >= 4 << 20
                            || (r.status == 500 && text.contains("no space left on device")),
                        "{role} {full}'s engine on a full disk answered {}: {text}",
                        r.status
                    );
                    std::thread::sleep(Duration::from_millis(rng.random_range(5000..9000)));
                    let survived = running(c, full);
                    let others: Vec<usize> = MANAGERS.into_iter().filter(|i| *i != full).collect();
                    let serving = poll(LONG, Duration::from_millis(200), || {
                        swarm::leader(c, &others).is_some() || swarm::leader(c, &[full]).is_some()
                    });
                    assert!(serving, "no leader while {role} {full}'s disk was full");
                    windows.push((from, live.t0.elapsed()));
                    fill.free().unwrap();
                    let freed = Instant::now();
                    eprintln!("{role} {full}: space freed; berthd survived: {survived}");
                    if !running(c, full) {
                        died.push(full);
                        live.without(full);
                        c.restart(full).unwrap();
                        live.with(full);
                    }
                    // Its Raft member catches up without a restart: a write committed now shows
                    // there. Through whichever manager leads: a full leader whose Raft member
                    // never met a refused write (seed 14043630545418925685) still leads once
                    // space is back.
                    let marker = format!("{prefix}marker-{role}-{round}");
                    let committed = poll(LONG, Duration::from_millis(500), || {
                        let leader = swarm::leader(c, &MANAGERS);
                        leader.is_some_and(|l| {
                            let spec = history::spec(
                                &marker,
                                &Want {
                                    replicas: 0,
                                    tag: "m".into(),
                                },
                            );
                            let r = c.node(l).send("POST", "/services/create", &spec);
                            r.is_ok_and(|r| r.status == 201 || r.status == 409)
                        })
                    });
                    assert!(
                        committed,
                        "no write committed after {role} {full}'s disk was freed"
                    );
                    let caught_up = poll(LONG, Duration::from_millis(200), || {
                        let path = format!("/services/{marker}");
                        c.node(full)
                            .request("GET", &path, b"")
                            .is_ok_and(|r| r.status == 200)
                    });
                    assert!(
                        caught_up,
                        "{role} {full} did not catch up once its disk was freed"
                    );
                    // Its engine writes again without a restart (its store never met the ENOSPC).
                    let r = c
                        .node(full)
                        .request("POST", "/volumes/create", body.as_bytes());
                    let r = r.unwrap();
                    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
                    figures.add_fault_convergence(
                        "caught up and writing after space freed",
                        freed.elapsed(),
                    );
                    let path = format!("/volumes/{volume}");
                    let r = c.node(full).request("DELETE", &path, b"").unwrap();
                    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
                    // And restarts on its data: nothing is corrupt.
                    live.without(full);
                    c.restart(full).unwrap();
                    live.with(full);
                    last = Instant::now();
                }
            }
            std::thread::sleep(Duration::from_secs(2));
            last
        });
        acked_while_full += e
            .history
            .ops
            .iter()
            .filter(|o| o.outcome == Outcome::Acked)
            .filter(|o| windows.iter().any(|(a, b)| o.start >= *a && o.end <= *b))
            .count();
        figures.add_epoch(&e);
    });
    figures.print("chaos_disk");
    eprintln!(
        "chaos_disk: {acked_while_full} writes acknowledged while a disk was full; managers \
         that died on it: {died:?}"
    );
    assert_eq!(figures.lost, 0, "see VIOLATION lines");
    assert!(
        acked_while_full > 0,
        "the cluster served no write while a disk was full"
    );
}
