//! Swarm mode over several daemons on loopback: two daemons joined with tokens (wrong secret
//! and wrong CA refused), a service spread over both, drain, and a dead node's tasks moving;
//! three managers surviving their leader; global services, constraints, rolling updates and
//! rollback; a worker promoted and demoted. One daemon: `swarm.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::time::Duration;

use berth_test_support::image::sleep_service_spec as service_spec;
use berth_test_support::swarm::{
    create_service, init, node_id, running, service, tasks, update_service, LONG,
};
use berth_test_support::{require_root, wait_until, TestDaemon};
use serde_json::{json, Value};

#[test]
fn two_daemons_join_with_tokens_spread_a_service_and_move_a_dead_nodes_tasks() {
    require_root!();
    let a = TestDaemon::start("swarm3a");
    let mut b = TestDaemon::start("swarm3b");
    a.import_busybox();
    b.import_busybox();
    init(&a);
    let swarm = a.req("GET", "/swarm", "").json();
    let token = swarm["JoinTokens"]["Worker"].as_str().unwrap().to_string();
    let addr = a.req("GET", "/info", "").json()["Swarm"]["RemoteManagers"][0]["Addr"]
        .as_str()
        .unwrap()
        .to_string();
    let join = |token: &str| {
        b.req(
            "POST",
            "/swarm/join",
            &json!({ "ListenAddr": "127.0.0.1:0", "AdvertiseAddr": "127.0.0.1",
                     "RemoteAddrs": [addr], "JoinToken": token })
            .to_string(),
        )
    };
    let (prefix, _) = token.rsplit_once('-').unwrap();
    let r = join(&format!("{prefix}-0000000000000000000000000"));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("valid join token"), "{}", r.text());
    let other_ca = format!(
        "SWMTKN-1-{}-{}",
        "1".repeat(50),
        token.rsplit_once('-').unwrap().1
    );
    let r = join(&other_ca);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("does not match fingerprint"),
        "{}",
        r.text()
    );
    let r = join(&token);
    assert_eq!(r.status, 200, "join: {}", r.text());
    assert_eq!(
        b.req("GET", "/services", "").status,
        503,
        "a worker answered"
    );

    let ready = |a: &TestDaemon| {
        let nodes = a.req("GET", "/nodes", "").json();
        nodes.as_array().unwrap().len() == 2
            && nodes
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n["Status"]["State"] == "ready")
    };
    // As Docker's, the join returned once the node's first session made it ready.
    assert!(
        ready(&a),
        "the worker was not ready when its join returned: {}",
        a.req("GET", "/nodes", "").text()
    );
    let worker_id = node_id(&b);
    let r = a.req("DELETE", &format!("/nodes/{worker_id}"), "");
    assert_eq!(r.status, 400, "a ready node was removed: {}", r.text());

    let id = create_service(&a, &service_spec("spread", 4));
    assert!(
        wait_until(LONG, || running(&a, "spread").len() == 2
            && running(&b, "spread").len() == 2),
        "4 replicas did not spread 2 + 2: {} + {}",
        running(&a, "spread").len(),
        running(&b, "spread").len()
    );

    // Drain the worker: its tasks move to the manager.
    node_update(&a, &worker_id, |s| s["Availability"] = json!("drain"));
    assert!(
        wait_until(LONG, || running(&a, "spread").len() == 4
            && running(&b, "spread").is_empty()),
        "drain did not move the tasks"
    );
    node_update(&a, &worker_id, |s| s["Availability"] = json!("active"));
    update_service(&a, &id, |s| s["Mode"]["Replicated"]["Replicas"] = json!(6));
    assert!(
        wait_until(LONG, || running(&b, "spread").len() >= 2),
        "the reactivated worker got no tasks"
    );

    // The worker dies: the manager marks it down and runs all six.
    b.kill9();
    assert!(
        wait_until(LONG, || {
            a.req("GET", &format!("/nodes/{worker_id}"), "").json()["Status"]["State"] == "down"
        }),
        "the dead worker was never marked down"
    );
    assert!(
        wait_until(LONG, || running(&a, "spread").len() == 6),
        "the dead worker's tasks were not rescheduled"
    );
    let r = a.req("DELETE", &format!("/nodes/{worker_id}"), "");
    assert_eq!(r.status, 200, "removing a down node: {}", r.text());
    b.spawn();
}

/// Joins `d` to the swarm of `manager` with the worker or manager token.
fn join(d: &TestDaemon, manager: &TestDaemon, as_manager: bool) {
    let swarm = manager.req("GET", "/swarm", "").json();
    let token = if as_manager {
        swarm["JoinTokens"]["Manager"].clone()
    } else {
        swarm["JoinTokens"]["Worker"].clone()
    };
    let addr = manager.req("GET", "/info", "").json()["Swarm"]["NodeAddr"].clone();
    let managers = manager.req("GET", "/info", "").json()["Swarm"]["RemoteManagers"].clone();
    let remote = managers
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Addr"].as_str().unwrap().to_string())
        .find(|a| a.starts_with(addr.as_str().unwrap()))
        .unwrap();
    let r = d.req(
        "POST",
        "/swarm/join",
        &json!({ "ListenAddr": "127.0.0.1:0", "AdvertiseAddr": "127.0.0.1",
                 "RemoteAddrs": [remote], "JoinToken": token })
        .to_string(),
    );
    assert_eq!(r.status, 200, "join: {}", r.text());
}

fn leader(ds: &[&TestDaemon]) -> Option<usize> {
    ds.iter().position(|d| {
        let id = d
            .try_request("GET", "/info", b"")
            .ok()
            .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok());
        let Some(id) = id.and_then(|i| i["Swarm"]["NodeID"].as_str().map(str::to_string)) else {
            return false;
        };
        d.try_request("GET", &format!("/nodes/{id}"), b"")
            .ok()
            .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .is_some_and(|n| n["ManagerStatus"]["Leader"] == true)
    })
}

#[test]
fn three_managers_survive_the_leader_and_keep_every_acknowledged_change() {
    require_root!();
    let mut ds = vec![
        TestDaemon::start("swarm4a"),
        TestDaemon::start("swarm4b"),
        TestDaemon::start("swarm4c"),
    ];
    for d in &ds {
        d.import_busybox();
    }
    init(&ds[0]);
    join(&ds[1], &ds[0], true);
    join(&ds[2], &ds[0], true);
    let managers = |d: &TestDaemon| {
        d.req("GET", "/nodes", "")
            .json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["ManagerStatus"]["Reachability"] == "reachable")
            .count()
    };
    assert!(
        wait_until(LONG, || managers(&ds[0]) == 3),
        "3 managers never reachable"
    );
    // A write through a follower is forwarded to the leader.
    let id = create_service(&ds[1], &service_spec("ha", 3));
    let total = |ds: &[TestDaemon], skip: Option<usize>| {
        ds.iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(_, d)| running(d, "ha").len())
            .sum::<usize>()
    };
    assert!(
        wait_until(LONG, || total(&ds, None) == 3),
        "3 replicas never ran"
    );

    let refs: Vec<&TestDaemon> = ds.iter().collect();
    let old = leader(&refs).expect("no leader");
    drop(refs);
    ds[old].kill9();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    let new_leader = wait_until(LONG, || {
        let refs: Vec<&TestDaemon> = survivors.iter().map(|i| &ds[*i]).collect();
        leader(&refs).is_some()
    });
    assert!(new_leader, "no new leader after the old one died");
    let s = &ds[survivors[0]];
    // Acknowledged before the failover: still there; and the cluster keeps converging.
    assert_eq!(service(s, &id)["Spec"]["Name"], "ha");
    update_service(s, &id, |spec| {
        spec["Mode"]["Replicated"]["Replicas"] = json!(5)
    });
    assert!(
        wait_until(LONG, || total(&ds, Some(old)) >= 5),
        "no convergence after the failover: {}",
        total(&ds, Some(old))
    );
    let listed = s.req("GET", "/services", "").json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["Spec"]["Mode"]["Replicated"]["Replicas"], 5);
    // The old leader comes back as a follower and catches up.
    ds[old].spawn();
    assert!(
        wait_until(LONG, || {
            ds[old]
                .try_request("GET", &format!("/services/{id}"), b"")
                .ok()
                .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
                .is_some_and(|v| v["Spec"]["Mode"]["Replicated"]["Replicas"] == 5)
        }),
        "the restarted manager did not catch up"
    );
    let t0 = std::time::Instant::now();
    // Two of three managers gone: the last one says there is no leader, without hanging.
    ds[old].kill9();
    ds[survivors[1]].kill9();
    let s = &ds[survivors[0]];
    let lost = wait_until(LONG, || {
        let r = s.req("GET", "/nodes", "");
        r.status == 503 && r.text().contains("does not have a leader")
    });
    let r = s.req("GET", "/nodes", "");
    assert!(
        lost,
        "no plain quorum-loss error: {} {}",
        r.status,
        r.text()
    );
    assert!(
        r.text().contains("1 of 3 managers reachable"),
        "{}",
        r.text()
    );
    eprintln!("quorum loss reported after {:?}", t0.elapsed());
    // Disaster recovery: the survivor becomes a one-manager cluster with everything it held.
    let r = s.req(
        "POST",
        "/swarm/init",
        // No address: it stays where the other nodes know it.
        &json!({ "ForceNewCluster": true }).to_string(),
    );
    assert_eq!(r.status, 200, "force-new-cluster: {}", r.text());
    eprintln!("force-new-cluster done after {:?}", t0.elapsed());
    let nodes = s.req("GET", "/nodes", "");
    assert_eq!(nodes.status, 200, "{}", nodes.text());
    let managers = nodes
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["Spec"]["Role"] == "manager")
        .count();
    assert_eq!(managers, 1, "{}", nodes.text());
    assert_eq!(service(s, &id)["Spec"]["Mode"]["Replicated"]["Replicas"], 5);
    update_service(s, &id, |spec| {
        spec["Mode"]["Replicated"]["Replicas"] = json!(2)
    });
    assert!(
        wait_until(LONG, || running(s, "ha").len() == 2),
        "the recovered cluster does not converge: {}",
        running(s, "ha").len()
    );
    eprintln!("converged after {:?}", t0.elapsed());
    ds[old].spawn();
    ds[survivors[1]].spawn();
}

fn node_update(d: &TestDaemon, node_id: &str, change: impl FnOnce(&mut Value)) {
    let node = d.req("GET", &format!("/nodes/{node_id}"), "").json();
    let mut spec = node["Spec"].clone();
    change(&mut spec);
    let r = d.req(
        "POST",
        &format!(
            "/nodes/{node_id}/update?version={}",
            node["Version"]["Index"]
        ),
        &spec.to_string(),
    );
    assert_eq!(r.status, 200, "node update: {}", r.text());
}

#[test]
fn global_services_constraints_rolling_updates_and_rollback() {
    require_root!();
    let a = TestDaemon::start("swarm5a");
    let b = TestDaemon::start("swarm5b");
    a.import_busybox();
    b.import_busybox();
    init(&a);
    let mut global = service_spec("everywhere", 0);
    global["Mode"] = json!({ "Global": {} });
    create_service(&a, &global);
    assert!(
        wait_until(LONG, || running(&a, "everywhere").len() == 1),
        "global task on a"
    );
    join(&b, &a, false);
    assert!(
        wait_until(LONG, || running(&b, "everywhere").len() == 1),
        "a node that joined later got no global task"
    );
    let worker = node_id(&b);

    node_update(&a, &worker, |s| s["Labels"] = json!({ "zone": "a" }));
    let mut zoned = service_spec("zoned", 2);
    zoned["TaskTemplate"]["Placement"] = json!({ "Constraints": ["node.labels.zone==a"] });
    create_service(&a, &zoned);
    assert!(
        wait_until(LONG, || running(&b, "zoned").len() == 2),
        "the constraint was not honoured"
    );
    assert!(running(&a, "zoned").is_empty());
    let mut nowhere = service_spec("nowhere", 1);
    nowhere["TaskTemplate"]["Placement"] = json!({ "Constraints": ["node.labels.zone==mars"] });
    create_service(&a, &nowhere);
    assert!(
        wait_until(LONG, || tasks(&a, "nowhere").iter().any(|t| {
            t["Status"]["State"] == "pending"
                && t["Status"]["Err"]
                    .as_str()
                    .is_some_and(|e| e.contains("no suitable node"))
        })),
        "an unsatisfiable task is not pending with the scheduler's explanation: {:?}",
        tasks(&a, "nowhere")
    );

    let mut rolling = service_spec("rolling", 4);
    rolling["UpdateConfig"] = json!({ "Parallelism": 2, "Order": "stop-first" });
    rolling["TaskTemplate"]["ContainerSpec"]["Env"] = json!(["V=1"]);
    let id = create_service(&a, &rolling);
    let all_env = |want: &str| {
        let cs: Vec<(String, &TestDaemon)> = running(&a, "rolling")
            .iter()
            .map(|c| (c["Id"].as_str().unwrap().to_string(), &a))
            .chain(
                running(&b, "rolling")
                    .iter()
                    .map(|c| (c["Id"].as_str().unwrap().to_string(), &b)),
            )
            .collect();
        cs.len() == 4
            && cs.iter().all(|(id, d)| {
                // null (Docker's) while a container has no variables.
                d.inspect(id)["Config"]["Env"]
                    .as_array()
                    .is_some_and(|env| env.iter().any(|e| e == want))
            })
    };
    assert!(wait_until(LONG, || all_env("V=1")), "4 replicas with V=1");
    let before: Vec<String> = tasks(&a, "rolling")
        .iter()
        .map(|t| t["ID"].as_str().unwrap().to_string())
        .collect();
    update_service(&a, &id, |s| {
        s["TaskTemplate"]["ContainerSpec"]["Env"] = json!(["V=2"])
    });
    assert!(
        wait_until(LONG, || all_env("V=2")),
        "the rolling update did not finish"
    );
    let live: Vec<Value> = tasks(&a, "rolling")
        .into_iter()
        .filter(|t| t["DesiredState"] == "running")
        .collect();
    assert_eq!(live.len(), 4);
    assert!(
        live.iter()
            .all(|t| !before.contains(&t["ID"].as_str().unwrap().to_string())),
        "a task was not replaced"
    );
    let svc = service(&a, &id);
    let r = a.req(
        "POST",
        &format!(
            "/services/{id}/update?version={}&rollback=previous",
            svc["Version"]["Index"]
        ),
        &svc["Spec"].to_string(),
    );
    assert_eq!(r.status, 200, "rollback: {}", r.text());
    assert!(
        wait_until(LONG, || all_env("V=1")),
        "the rollback did not restore V=1"
    );
    assert!(
        wait_until(LONG, || service(&a, &id)["UpdateStatus"]["State"]
            == "rollback_completed"),
        "rollback status: {}",
        service(&a, &id)["UpdateStatus"]
    );
}

#[test]
fn a_worker_is_promoted_to_manager_and_demoted_back() {
    require_root!();
    let a = TestDaemon::start("swarm6a");
    let b = TestDaemon::start("swarm6b");
    let manager_id = init(&a);
    join(&b, &a, false);
    let worker_id = node_id(&b);
    let r = {
        let node = a.req("GET", &format!("/nodes/{manager_id}"), "").json();
        let mut spec = node["Spec"].clone();
        spec["Role"] = json!("worker");
        a.req(
            "POST",
            &format!(
                "/nodes/{manager_id}/update?version={}",
                node["Version"]["Index"]
            ),
            &spec.to_string(),
        )
    };
    assert_eq!(r.status, 400, "the last manager was demoted: {}", r.text());
    assert!(r.text().contains("last manager"), "{}", r.text());

    // The worker must have reported its swarm address before it can be promoted.
    assert!(
        wait_until(LONG, || a
            .req("GET", &format!("/nodes/{worker_id}"), "")
            .json()["Status"]["State"]
            == "ready"),
        "the worker never became ready"
    );
    node_update(&a, &worker_id, |s| s["Role"] = json!("manager"));
    assert!(
        wait_until(LONG, || b.req("GET", "/swarm", "").status == 200),
        "the promoted node never served manager requests"
    );
    assert!(
        wait_until(LONG, || {
            let nodes = b.req("GET", "/nodes", "").json();
            nodes.as_array().is_some_and(|ns| {
                ns.iter()
                    .filter(|n| n["ManagerStatus"]["Reachability"] == "reachable")
                    .count()
                    == 2
            })
        }),
        "two reachable managers never listed"
    );
    // A write through the new manager commits.
    create_service(&b, &service_spec("after-promotion", 0));
    assert_eq!(a.req("GET", "/services/after-promotion", "").status, 200);
    // Its manager certificate opens the Raft service, for now.
    let certs = b.data_root().join("swarm/certificates");
    let read = |f: &str| std::fs::read_to_string(certs.join(f)).unwrap();
    let manager_cert = berth_raft::TlsConfig {
        cert_pem: read("node.crt"),
        key_pem: read("node.key"),
        ca_pem: read("ca.crt"),
        server_name: "swarm-manager".into(),
    };
    let a_swarm = a.req("GET", &format!("/nodes/{manager_id}"), "").json()["ManagerStatus"]["Addr"]
        .as_str()
        .unwrap()
        .to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let probe = |tls: &berth_raft::TlsConfig| {
        rt.block_on(berth_raft::probe(tls, &a_swarm, Duration::from_secs(5)))
    };
    probe(&manager_cert).expect("a manager's certificate opens Raft");

    node_update(&a, &worker_id, |s| s["Role"] = json!("worker"));
    assert!(
        wait_until(LONG, || b.req("GET", "/swarm", "").status == 503),
        "the demoted node still answers as a manager"
    );
    // The demoted node's old manager certificate is still valid, but no longer opens Raft.
    let refused = probe(&manager_cert).expect_err("a demoted manager still reaches Raft");
    assert!(refused.to_string().contains("manager"), "{refused}");
    let node = a.req("GET", &format!("/nodes/{worker_id}"), "").json();
    assert_eq!(node["Spec"]["Role"], "worker");
    assert!(node["ManagerStatus"].is_null(), "{node}");
    create_service(&a, &service_spec("after-demotion", 0));
}
