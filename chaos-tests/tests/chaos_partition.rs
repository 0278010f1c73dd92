//! Partition fault family on a swarm of three managers and a worker, while a client keeps
//! writing through the managers: the leader split off into a minority of one (the majority
//! elects another and keeps committing), a one-way drop from the leader to one follower, and
//! the worker isolated then healed (its tasks are replaced on the other nodes; back, it stops
//! its old copies, so once converged no more containers run than replicas asked). The history
//! checker judges every write at the end of each epoch (one in CI; `CHAOS_SOAK_SECS` for a
//! soak).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod chaos_support;
mod swarm_support;

use std::time::{Duration, Instant};

use berth_chaos_tests::history::{self, Want};
use berth_chaos_tests::swarm::{self, poll};
use berth_chaos_tests::{require_root, Cluster};
use chaos_support::*;
use rand::Rng;
use serde_json::Value;
use swarm_support::{LogsOnFailure, LONG, MANAGERS};

const WORKER: usize = 3;
const ALL: [usize; 4] = [0, 1, 2, 3];

fn node_state(c: &Cluster, at: usize, id: &str) -> String {
    c.node(at)
        .send("GET", &format!("/nodes/{id}"), &Value::Null)
        .ok()
        .and_then(|r| r.try_json().ok())
        .and_then(|n| n["Status"]["State"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn partitions_of_the_leader_and_of_a_worker_lose_no_acknowledged_write() {
    require_root!();
    let mut rng = seeded("chaos_partition");
    let mut c = swarm_with(4, 3, swarm::node_options());
    let _logs = LogsOnFailure::new(&c);
    let worker_id = c.node(WORKER).swarm_node_id().unwrap();
    // A service with a copy on every node (4 nodes, 4 replicas: the spread puts one each).
    let pinned = Want {
        replicas: 4,
        tag: "pinned".into(),
    };
    c.node(0)
        .create_service(&history::spec("pinned", &pinned))
        .unwrap();
    let (_, settled) = converge(&c, &MANAGERS, &ALL);
    eprintln!("pinned settled in {settled:?}");
    let sockets = sockets(&c);
    let mut figures = Figures::default();
    epochs(|epoch| {
        let seed = rng.random();
        let e = swarm_epoch(&mut c, epoch, "part", 4, &ALL, seed, |c, _live| {
            let mut last = Instant::now();
            let mut round = 0;
            while epoch.another_round(round, 1) {
                round += 1;
                // The leader alone on one side: the two others elect a leader and commit.
                let old = leader_among(c, &MANAGERS);
                let majority: Vec<usize> = MANAGERS.into_iter().filter(|i| *i != old).collect();
                let split = c.split(&[old]).unwrap();
                figures.faults += 1;
                let new = leader_among(c, &majority);
                eprintln!("{}: {new} leads the majority", split.describe());
                std::thread::sleep(Duration::from_millis(rng.random_range(2000..5000)));
                split.heal().unwrap();
                last = Instant::now();
                leader_among(c, &MANAGERS);

                // A one-way drop from the leader to one follower (TCP between them fails both
                // ways, the third manager still reaches both).
                let leader = leader_among(c, &MANAGERS);
                let follower = MANAGERS.into_iter().find(|i| *i != leader).unwrap_or(0);
                let one_way = c.drop_one_way(leader, follower).unwrap();
                figures.faults += 1;
                std::thread::sleep(Duration::from_millis(rng.random_range(3000..6000)));
                eprintln!("{} for a while, healed", one_way.describe());
                one_way.heal().unwrap();

                // The worker isolated: marked down, its copy of `pinned` replaced elsewhere.
                let iso = c.isolate(WORKER).unwrap();
                figures.faults += 1;
                let at = leader_among(c, &MANAGERS);
                let down = poll(LONG, Duration::from_millis(200), || {
                    node_state(c, at, &worker_id) == "down"
                });
                assert!(down, "the isolated worker was never marked down");
                let replaced = poll(LONG, Duration::from_millis(500), || {
                    history::sample(&sockets[at], Duration::ZERO, OP_TIMEOUT).is_some_and(|ss| {
                        ss.iter().any(|s| s.service == "pinned" && s.running == 4)
                    })
                });
                assert!(replaced, "the worker's copy of pinned was not replaced");
                let on_worker = containers_on(c, WORKER).unwrap_or_default();
                eprintln!("worker down and replaced; it still runs {on_worker:?}");
                iso.heal().unwrap();
                last = last.max(Instant::now());
                let ready = poll(LONG, Duration::from_millis(200), || {
                    node_state(c, at, &worker_id) == "ready"
                });
                assert!(ready, "the healed worker never came back");
            }
            std::thread::sleep(Duration::from_secs(2));
            last
        });
        assert_eq!(e.end.get("pinned"), Some(&pinned));
        figures.add_epoch(&e);
    });
    figures.print("chaos_partition");
    assert_eq!(figures.lost, 0, "see VIOLATION lines");
    assert!(no_fault_objects(&c), "a fault was left in place");
}
