//! Overlay traffic on three managers, by name and over TCP and UDP, and across a leader
//! failover: tasks of a service on different nodes answer each other by task name, service
//! name (the VIP) and address, over TCP and UDP; a second overlay network's task reaches none
//! of them and does not resolve their names; when the leader's node dies, a new leader places
//! its task elsewhere and the replacement and the survivors answer each other by address, by
//! name and over the VIP;
//! when the node comes back its old task is gone and everything still answers.
//! The servers and clients are the host's python3 (its /usr bound read-only), since Debian's
//! static busybox can neither resolve names through the resolver nor speak UDP with nc.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod swarm_support;

use std::collections::BTreeMap;

use berth_chaos_tests::swarm::{self, service_spec};
use berth_chaos_tests::{require_root, Cluster};
use serde_json::{json, Value};
use swarm_support::*;

fn server_spec(name: &str, replicas: u64, network: &str) -> Value {
    let mut spec = service_spec(name, replicas);
    spec["TaskTemplate"]["Networks"] = json!([{ "Target": network }]);
    let c = &mut spec["TaskTemplate"]["ContainerSpec"];
    c["Args"] = json!(["python3", "-c", PY_SERVER]);
    c["Mounts"] = python_mounts();
    spec
}

/// What `host` answers over `kind` to the task container `id` on node `from` (its hostname, or
/// the error text).
fn ask(c: &Cluster, from: usize, id: &str, kind: &str, host: &str) -> String {
    let (_, out) = exec(c.node(from), id, &["python3", "-c", PY_CLIENT, kind, host]);
    out.trim().to_string()
}

/// Every task in `placed` reaches every other by address over TCP and UDP, and by task name.
fn all_talk(
    c: &Cluster,
    placed: &BTreeMap<usize, (String, String)>,
    names: &BTreeMap<String, String>,
) {
    for (from, (id, _)) in placed {
        for (to, (other, ip)) in placed {
            if from == to {
                continue;
            }
            let short = &other[..12];
            for kind in ["tcp", "udp"] {
                let ok = wait(|| ask(c, *from, id, kind, ip) == short);
                assert!(
                    ok,
                    "{kind} {from} → {to} ({ip}): {}",
                    ask(c, *from, id, kind, ip)
                );
            }
            let task_name = &names[other];
            let ok = wait(|| ask(c, *from, id, "tcp", task_name) == short);
            assert!(
                ok,
                "by task name {from} → {task_name}: {}",
                ask(c, *from, id, "tcp", task_name)
            );
        }
    }
}

/// Task container id → its task's name (`service.slot.taskid`), from the containers' names.
fn task_names(c: &Cluster, service: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for n in c.nodes() {
        for ctr in n.service_containers(service).unwrap_or_default() {
            let id = ctr["Id"].as_str().unwrap_or("").to_string();
            let name = ctr["Names"][0]
                .as_str()
                .unwrap_or("")
                .trim_start_matches('/');
            out.insert(id, name.to_string());
        }
    }
    out
}

/// The hostnames the VIP of `service` sends 30 TCP connections from task `id` on `from` to.
fn vip_answers(c: &Cluster, from: usize, id: &str, service: &str) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..30 {
        let h = ask(c, from, id, "tcp", service);
        if h.len() == 12 {
            *seen.entry(h).or_default() += 1;
        }
    }
    seen
}

#[test]
fn overlay_tasks_talk_by_name_over_tcp_and_udp_stay_isolated_and_survive_a_leader_failover() {
    require_root!();
    let mut c = three_node_swarm(3);
    let _logs = LogsOnFailure::new(&c);
    for net in ["ova", "ovb"] {
        let r = c
            .node(0)
            .send(
                "POST",
                "/networks/create",
                &json!({ "Name": net, "Driver": "overlay" }),
            )
            .unwrap();
        assert_eq!(r.status, 201, "network create {net}: {}", r.text());
    }
    // The scheduler spreads the three tasks one per node.
    c.node(0)
        .create_service(&server_spec("web", 3, "ova"))
        .unwrap();
    c.node(0)
        .create_service(&server_spec("other", 1, "ovb"))
        .unwrap();
    let mut placed = BTreeMap::new();
    let spread = wait(|| {
        placed = tasks_by_node(&c, "web", "ova");
        placed.len() == 3
    });
    assert!(spread, "one task per node: {placed:?}");
    let names = task_names(&c, "web");
    all_talk(&c, &placed, &names);

    // By service name: the VIP spreads connections over the tasks.
    let (id0, _) = placed[&0].clone();
    let spread = wait(|| vip_answers(&c, 0, &id0, "web").len() == 3);
    assert!(spread, "VIP of web: {:?}", vip_answers(&c, 0, &id0, "web"));

    // The other network's task reaches no task of web, by address or by name.
    let mut other = BTreeMap::new();
    let up = wait(|| {
        other = tasks_by_node(&c, "other", "ovb");
        other.len() == 1
    });
    assert!(up, "other runs: {other:?}");
    let (&on, (oid, _)) = other.iter().next().unwrap();
    for (_, ip) in placed.values() {
        let out = ask(&c, on, oid, "tcp", ip);
        assert!(out.len() != 12, "ovb reached {ip} on ova: {out}");
    }
    let out = ask(&c, on, oid, "tcp", "web");
    assert!(out.len() != 12, "ovb resolved web: {out}");

    // The leader's node dies: a new leader places its task on the others, and the
    // replacement talks to the survivors.
    let leader = swarm::leader(&c, &MANAGERS).expect("a leader");
    let survivors: Vec<usize> = MANAGERS.iter().copied().filter(|i| *i != leader).collect();
    c.kill(leader).unwrap();
    let elected = wait(|| swarm::leader(&c, &survivors).is_some());
    assert!(elected, "a new leader among {survivors:?}");
    let mut all = Vec::new();
    let replaced = wait(|| {
        all = task_endpoints(&c, "web", "ova", &survivors);
        all.len() == 3
    });
    assert!(replaced, "three tasks on the survivors: {all:?}");
    let names = task_names(&c, "web");
    for (from, id, _) in &all {
        for (_, other, ip) in &all {
            if id == other {
                continue;
            }
            let short = &other[..12];
            for (kind, host) in [
                ("tcp", ip.as_str()),
                ("udp", ip.as_str()),
                ("tcp", names[other].as_str()),
            ] {
                let ok = wait(|| ask(&c, *from, id, kind, host) == short);
                assert!(
                    ok,
                    "after failover {kind} {id} → {host}: {}",
                    ask(&c, *from, id, kind, host)
                );
            }
        }
    }
    let (_, id, _) = &all[0];
    let spread = wait(|| vip_answers(&c, all[0].0, id, "web").len() == 3);
    assert!(
        spread,
        "VIP after failover: {:?}",
        vip_answers(&c, all[0].0, id, "web")
    );

    // The dead node comes back: its old task is shut down, and everything still answers.
    c.restart(leader).unwrap();
    let cleaned = wait(|| {
        c.node(leader)
            .service_containers("web")
            .unwrap_or_default()
            .iter()
            .all(|ctr| ctr["State"] != "running")
    });
    assert!(cleaned, "the old task on node {leader} stopped");
    let spread = wait(|| vip_answers(&c, all[0].0, id, "web").len() == 3);
    assert!(
        spread,
        "VIP after the node came back: {:?}",
        vip_answers(&c, all[0].0, id, "web")
    );
}
