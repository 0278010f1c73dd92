//! Swarm mode on five berthd nodes in their own network namespaces (3 managers, 2 workers,
//! 1 s heartbeat): joins refused for wrong tokens, a wrong CA and a foreign cluster;
//! services spread, scaled, global (also on a late joiner), drained away, constrained,
//! rolled and rolled back; then the faults: a dead worker's tasks move, a dead leader is
//! replaced with every acknowledged change kept, and a cut-off manager refuses writes
//! instead of hanging.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod swarm_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use berth_chaos_tests::require_root;
use berth_chaos_tests::swarm::{self, global_spec, per_node, service_spec};
use serde_json::{json, Value};
use swarm_support::*;

#[test]
fn five_nodes_join_spread_scale_place_and_roll() {
    require_root!();
    let t0 = Instant::now();
    let c = five_nodes();
    let _logs = LogsOnFailure::new(&c);
    // Node 4 runs a swarm of its own first.
    c.node(4).swarm_init(Some(HEARTBEAT)).unwrap();
    let foreign = c.node(4).join_tokens().unwrap();
    c.node(0).swarm_init(Some(HEARTBEAT)).unwrap();
    let ours = c.node(0).join_tokens().unwrap();
    let parts = |t: &str| {
        let (head, secret) = t.rsplit_once('-').unwrap();
        (
            head.rsplit_once('-').unwrap().1.to_string(),
            secret.to_string(),
        )
    };
    let (digest, secret) = parts(&ours.worker);
    let (foreign_digest, foreign_secret) = parts(&foreign.worker);
    let join3 = |t: &str| c.node(3).swarm_join(c.node(0), t).unwrap();
    let bad_secret = format!("SWMTKN-1-{digest}-{}", "0".repeat(25));
    let bad_ca = format!("SWMTKN-1-{}-{secret}", "1".repeat(50));
    let valid = "A valid join token is necessary to join this cluster";
    let fingerprint = "remote CA does not match fingerprint";
    refused(join3(&bad_secret), 400, valid);
    refused(join3(&bad_ca), 400, fingerprint);
    // Tokens of, or made up from, another cluster.
    refused(join3(&foreign.worker), 400, fingerprint);
    refused(join3(&foreign.manager), 400, fingerprint);
    refused(
        join3(&format!("SWMTKN-1-{digest}-{foreign_secret}")),
        400,
        valid,
    );
    refused(
        join3(&format!("SWMTKN-1-{foreign_digest}-{secret}")),
        400,
        fingerprint,
    );
    assert_eq!(
        c.node(3).swarm_node_id().unwrap(),
        "",
        "a refused join joined"
    );
    // A member of another swarm cannot join ours, not even with our token.
    let r = c.node(4).swarm_join(c.node(0), &ours.worker).unwrap();
    refused(r, 503, "already part of a swarm");
    join(&c, &[1, 2, 3], 4);

    // A global service lands on every node, also on one that joins afterwards.
    let global = c
        .node(1)
        .create_service(&global_spec("everywhere"))
        .unwrap();
    let four = wait(|| per_node(&c.node(0).running_tasks("everywhere").unwrap()).len() == 4);
    assert!(four, "{:?}", c.node(0).running_tasks("everywhere"));
    c.node(4)
        .call("POST", "/swarm/leave?force=1", &Value::Null, 200)
        .unwrap();
    join(&c, &[4], 5);
    let ids = ids(&c);
    assert_spread(
        &c,
        &ids,
        "everywhere",
        &[(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)],
    );
    c.node(0)
        .call("DELETE", &format!("/services/{global}"), &Value::Null, 200)
        .unwrap();
    eprintln!("joined and global after {:?}", t0.elapsed());

    // 20 replicas: 4 per node; 50: 10 per node; back to 5: one per node.
    let id = c
        .node(2)
        .create_service(&service_spec("spread", 20))
        .unwrap();
    let per = |n| (0..5).map(|i| (i, n)).collect::<Vec<_>>();
    assert_spread(&c, &ids, "spread", &per(4));
    scale(&c, 0, &id, 50);
    assert_spread(&c, &ids, "spread", &per(10));
    scale(&c, 1, &id, 5);
    let all = [0, 1, 2, 3, 4];
    assert!(
        wait(|| containers(&c, "spread", &all) == 5),
        "surplus containers"
    );
    assert_spread(&c, &ids, "spread", &per(1));
    eprintln!("spread and scaled after {:?}", t0.elapsed());

    // Draining node 3 moves its task away; nothing runs there any more.
    let drain = |availability: &str| {
        let a = json!(availability);
        c.node(0)
            .update_node(&ids[3], |s| s["Availability"] = a)
            .unwrap()
    };
    drain("drain");
    let moved = wait(|| {
        let s = spread(&c, &ids, "spread");
        s.values().sum::<usize>() == 5 && !s.contains_key(&3)
    });
    assert!(moved, "drain: {:?}", spread(&c, &ids, "spread"));
    assert!(wait(|| c
        .node(3)
        .service_containers("spread")
        .unwrap()
        .is_empty()));
    drain("active");

    // Constraints: honoured, or the task waits with the scheduler's explanation.
    c.node(0)
        .update_node(&ids[4], |s| s["Labels"] = json!({ "zone": "a" }))
        .unwrap();
    let mut zoned = service_spec("zoned", 3);
    zoned["TaskTemplate"]["Placement"] = json!({ "Constraints": ["node.labels.zone==a"] });
    c.node(0).create_service(&zoned).unwrap();
    assert_spread(&c, &ids, "zoned", &[(4, 3)]);
    let mut nowhere = service_spec("nowhere", 1);
    nowhere["TaskTemplate"]["Placement"] = json!({ "Constraints": ["node.labels.zone==mars"] });
    c.node(0).create_service(&nowhere).unwrap();
    let explained = wait(|| {
        c.node(0).tasks("nowhere").unwrap().iter().any(|t| {
            t["Status"]["State"] == "pending"
                && t["Status"]["Err"]
                    .as_str()
                    .is_some_and(|e| e.contains("no suitable node"))
        })
    });
    assert!(explained, "{:#?}", c.node(0).tasks("nowhere"));
    assert!(c.node(0).running_tasks("nowhere").unwrap().is_empty());
    eprintln!("drain and constraints after {:?}", t0.elapsed());

    // Rolling update, two at a time: every task replaced; rollback restores the spec.
    let mut rolling = service_spec("rolling", 6);
    rolling["UpdateConfig"] = json!({ "Parallelism": 2, "Order": "stop-first" });
    rolling["TaskTemplate"]["ContainerSpec"]["Env"] = json!(["V=1"]);
    let id = c.node(0).create_service(&rolling).unwrap();
    let all_at = |v: &str| {
        let ts = c.node(0).running_tasks("rolling").unwrap();
        ts.len() == 6 && ts.iter().all(|t| env_of(t) == json!([v]))
    };
    assert!(wait(|| all_at("V=1")), "6 replicas with V=1");
    let before: Vec<Value> = c
        .node(0)
        .tasks("rolling")
        .unwrap()
        .iter()
        .map(|t| t["ID"].clone())
        .collect();
    let r = c
        .node(1)
        .update_service(&id, false, |s| {
            s["TaskTemplate"]["ContainerSpec"]["Env"] = json!(["V=2"])
        })
        .unwrap();
    assert_eq!(r.status, 200, "update: {}", r.text());
    let mut fewest = 6;
    let rolled = wait(|| {
        fewest = fewest.min(c.node(0).running_tasks("rolling").unwrap().len());
        all_at("V=2")
    });
    assert!(rolled, "{:#?}", c.node(0).running_tasks("rolling"));
    assert!(
        fewest >= 4,
        "more than 2 tasks down at once: {fewest} running"
    );
    let live = c.node(0).running_tasks("rolling").unwrap();
    assert!(
        live.iter().all(|t| !before.contains(&t["ID"])),
        "a task was not replaced"
    );
    let state =
        |want: &str| wait(|| c.node(0).service(&id).unwrap()["UpdateStatus"]["State"] == want);
    assert!(
        state("completed"),
        "{}",
        c.node(0).service(&id).unwrap()["UpdateStatus"]
    );
    let r = c.node(2).update_service(&id, true, |_| {}).unwrap();
    assert_eq!(r.status, 200, "rollback: {}", r.text());
    assert!(
        wait(|| all_at("V=1")),
        "{:#?}",
        c.node(0).running_tasks("rolling")
    );
    assert!(
        state("rollback_completed"),
        "{}",
        c.node(0).service(&id).unwrap()["UpdateStatus"]
    );
    let spec = c.node(0).service(&id).unwrap()["Spec"].clone();
    assert_eq!(spec["TaskTemplate"]["ContainerSpec"]["Env"], json!(["V=1"]));
    eprintln!("rolled and rolled back after {:?}", t0.elapsed());
}

#[test]
fn five_nodes_survive_a_dead_worker_a_dead_leader_and_a_cut_manager() {
    require_root!();
    let t0 = Instant::now();
    let mut c = five_nodes();
    let _logs = LogsOnFailure::new(&c);
    c.node(0).swarm_init(Some(HEARTBEAT)).unwrap();
    join(&c, &[1, 2, 3, 4], 5);
    let ids = ids(&c);
    let steady = c
        .node(0)
        .create_service(&service_spec("steady", 10))
        .unwrap();
    let per = |nodes: &[usize], n| nodes.iter().map(|i| (*i, n)).collect::<Vec<_>>();
    assert_spread(&c, &ids, "steady", &per(&[0, 1, 2, 3, 4], 2));

    // A dead worker is marked down after 3 missed heartbeats; its tasks run elsewhere.
    let killed = Instant::now();
    c.kill(4).unwrap();
    let down = wait(|| {
        c.node(0)
            .call("GET", &format!("/nodes/{}", ids[4]), &Value::Null, 200)
            .unwrap()["Status"]["State"]
            == "down"
    });
    assert!(down, "the dead worker was never marked down");
    let moved = wait(|| {
        let s = spread(&c, &ids, "steady");
        s.values().sum::<usize>() == 10 && !s.contains_key(&4)
    });
    assert!(moved, "{:?}", spread(&c, &ids, "steady"));
    eprintln!("dead worker's tasks moved in {:?}", killed.elapsed());
    // Back again, it stops the containers of the tasks it lost.
    c.restart(4).unwrap();
    let ready = wait(|| {
        let n = c
            .node(0)
            .call("GET", &format!("/nodes/{}", ids[4]), &Value::Null, 200);
        n.is_ok_and(|n| n["Status"]["State"] == "ready")
    });
    assert!(ready, "the restarted worker never came back");
    let all = [0, 1, 2, 3, 4];
    let settled = wait(|| containers(&c, "steady", &all) == 10);
    assert!(
        settled,
        "{} containers for 10 tasks",
        containers(&c, "steady", &all)
    );

    // The leader dies while a follower keeps creating services through it.
    scale(&c, 1, &steady, 12);
    let old = swarm::leader(&c, &MANAGERS).expect("no leader");
    let alive: Vec<usize> = MANAGERS.into_iter().filter(|i| *i != old).collect();
    let socket = c.node(alive[0]).socket_path();
    let stop = AtomicBool::new(false);
    let (acked, elected) = std::thread::scope(|s| {
        let writer = s.spawn(|| keep_creating(&socket, &stop));
        std::thread::sleep(Duration::from_secs(1));
        let died = Instant::now();
        c.kill(old).unwrap();
        let new = swarm::poll(LONG, Duration::from_millis(50), || {
            swarm::leader(&c, &alive).is_some()
        });
        let elected = died.elapsed();
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
        let acked = writer.join().unwrap();
        assert!(new, "no new leader after the old one died");
        (acked, elected)
    });
    eprintln!(
        "new leader after {elected:?}; {} creates acknowledged",
        acked.len()
    );
    assert!(!acked.is_empty(), "no create was acknowledged");
    let other = c.node(alive[1]);
    for name in &acked {
        let r = other
            .send("GET", &format!("/services/{name}"), &Value::Null)
            .unwrap();
        assert_eq!(r.status, 200, "acknowledged {name} lost: {}", r.text());
    }
    let svc = other.service(&steady).unwrap();
    assert_eq!(svc["Spec"]["Mode"]["Replicated"]["Replicas"], 12);
    // The cluster keeps converging without the dead manager.
    scale(&c, alive[1], &steady, 8);
    let live: Vec<usize> = all.into_iter().filter(|i| *i != old).collect();
    let converged = wait(|| {
        let s = c.node(alive[0]).running_tasks("steady").unwrap();
        s.len() == 8 && !per_node(&s).contains_key(&ids[old])
    });
    assert!(converged, "{:?}", c.node(alive[0]).running_tasks("steady"));
    assert!(wait(|| containers(&c, "steady", &live) == 8));
    // The old leader comes back as a follower and catches up.
    c.restart(old).unwrap();
    let last = acked.last().unwrap();
    let caught_up = wait(|| {
        c.node(old)
            .send("GET", &format!("/services/{last}"), &Value::Null)
            .is_ok_and(|r| r.status == 200)
    });
    assert!(caught_up, "the restarted manager did not catch up");
    eprintln!("failover checked after {:?}", t0.elapsed());

    // A cut-off leader, then a cut-off follower: a minority of one that cannot commit.
    let leader = swarm::leader(&c, &MANAGERS).expect("no leader");
    minority_refuses_writes(&c, leader, "leader");
    let follower = MANAGERS
        .into_iter()
        .find(|i| !c.node(*i).reports_leader())
        .unwrap();
    minority_refuses_writes(&c, follower, "follower");
    eprintln!("partitions checked after {:?}", t0.elapsed());
}
