//! Swarm mode against real daemons on loopback: a one-node swarm running, scaling, updating,
//! restarting and removing a service; Docker's errors; two daemons joined with tokens (wrong
//! secret and wrong CA refused), a service spread over both, drain, and a dead node's tasks
//! moving; a certificate from another cluster refused on the swarm port.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::time::Duration;

use berth_test_support::image::sleep_service_spec as service_spec;
use berth_test_support::{require_root, wait_until, TestDaemon};
use serde_json::{json, Value};

const LONG: Duration = Duration::from_secs(60);

/// `swarm init` on loopback with an ephemeral port and a 1 s heartbeat; returns the node id.
fn init(d: &TestDaemon) -> String {
    let r = d.req(
        "POST",
        "/swarm/init",
        &json!({
            "ListenAddr": "127.0.0.1:0",
            "AdvertiseAddr": "127.0.0.1",
            "Spec": { "Dispatcher": { "HeartbeatPeriod": 1_000_000_000u64 } },
        })
        .to_string(),
    );
    assert_eq!(r.status, 200, "init: {}", r.text());
    r.json().as_str().unwrap().to_string()
}

/// This daemon's swarm node id.
fn node_id(d: &TestDaemon) -> String {
    d.req("GET", "/info", "").json()["Swarm"]["NodeID"]
        .as_str()
        .unwrap()
        .to_string()
}

fn create_service(d: &TestDaemon, spec: &Value) -> String {
    let r = d.req("POST", "/services/create", &spec.to_string());
    assert_eq!(r.status, 201, "service create: {}", r.text());
    r.json()["ID"].as_str().unwrap().to_string()
}

fn service(d: &TestDaemon, id: &str) -> Value {
    let r = d.req("GET", &format!("/services/{id}"), "");
    assert_eq!(r.status, 200, "service inspect: {}", r.text());
    r.json()
}

fn update_service(d: &TestDaemon, id: &str, change: impl FnOnce(&mut Value)) {
    let svc = service(d, id);
    let mut spec = svc["Spec"].clone();
    change(&mut spec);
    let version = svc["Version"]["Index"].as_u64().unwrap();
    let r = d.req(
        "POST",
        &format!("/services/{id}/update?version={version}"),
        &spec.to_string(),
    );
    assert_eq!(r.status, 200, "service update: {}", r.text());
}

/// Running containers of a service on this daemon.
fn running(d: &TestDaemon, service: &str) -> Vec<Value> {
    let filters = berth_test_support::urlencode(
        &json!({ "label": [format!("com.docker.swarm.service.name={service}")] }).to_string(),
    );
    let r = d.req("GET", &format!("/containers/json?filters={filters}"), "");
    assert_eq!(r.status, 200);
    r.json().as_array().unwrap().clone()
}

fn tasks(d: &TestDaemon, service: &str) -> Vec<Value> {
    let filters = berth_test_support::urlencode(&json!({ "service": [service] }).to_string());
    let r = d.req("GET", &format!("/tasks?filters={filters}"), "");
    assert_eq!(r.status, 200, "tasks: {}", r.text());
    r.json().as_array().unwrap().clone()
}

#[test]
fn one_node_swarm_runs_scales_updates_restarts_and_removes_a_service() {
    require_root!();
    let d = TestDaemon::start("swarm1");
    d.import_busybox();
    let node_id = init(&d);

    let ping = d.req("GET", "/_ping", "");
    assert!(
        ping.headers
            .to_ascii_lowercase()
            .contains("swarm: active/manager"),
        "{}",
        ping.headers
    );
    let info = d.req("GET", "/info", "").json();
    assert_eq!(info["Swarm"]["LocalNodeState"], "active");
    assert_eq!(info["Swarm"]["NodeID"], node_id.as_str());
    assert_eq!(info["Swarm"]["ControlAvailable"], true);
    let swarm = d.req("GET", "/swarm", "").json();
    let worker_token = swarm["JoinTokens"]["Worker"].as_str().unwrap();
    assert!(worker_token.starts_with("SWMTKN-1-"), "{worker_token}");
    assert_ne!(
        swarm["JoinTokens"]["Worker"],
        swarm["JoinTokens"]["Manager"]
    );
    let nodes = d.req("GET", "/nodes", "").json();
    assert_eq!(nodes.as_array().unwrap().len(), 1);
    assert_eq!(nodes[0]["Status"]["State"], "ready");
    assert_eq!(nodes[0]["ManagerStatus"]["Leader"], true);

    let id = create_service(&d, &service_spec("web", 3));
    assert!(
        wait_until(LONG, || running(&d, "web").len() == 3),
        "3 replicas never ran"
    );
    let names: Vec<String> = running(&d, "web")
        .iter()
        .map(|c| c["Names"][0].as_str().unwrap().to_string())
        .collect();
    assert!(names.iter().all(|n| n.starts_with("/web.")), "{names:?}");
    let listed = d.req("GET", "/services?status=true", "").json();
    assert_eq!(listed[0]["ServiceStatus"]["DesiredTasks"], 3);

    update_service(&d, &id, |s| s["Mode"]["Replicated"]["Replicas"] = json!(5));
    assert!(
        wait_until(LONG, || running(&d, "web").len() == 5),
        "never scaled to 5"
    );
    update_service(&d, &id, |s| s["Mode"]["Replicated"]["Replicas"] = json!(2));
    assert!(
        wait_until(LONG, || running(&d, "web").len() == 2),
        "never scaled to 2"
    );

    update_service(&d, &id, |s| {
        s["TaskTemplate"]["ContainerSpec"]["Env"] = json!(["BERTH_UPDATE=2"])
    });
    let updated = |d: &TestDaemon| {
        let cs = running(d, "web");
        cs.len() == 2
            && cs.iter().all(|c| {
                let env = d.inspect(c["Id"].as_str().unwrap())["Config"]["Env"].clone();
                env.as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e == "BERTH_UPDATE=2")
            })
    };
    assert!(
        wait_until(LONG, || updated(&d)),
        "rolling update never finished"
    );
    assert!(
        wait_until(LONG, || service(&d, &id)["UpdateStatus"]["State"]
            == "completed"),
        "update status never completed: {}",
        service(&d, &id)["UpdateStatus"]
    );

    // A killed task container is replaced by a new task in the same slot.
    let victim = running(&d, "web")[0]["Id"].as_str().unwrap().to_string();
    let r = d.req("POST", &format!("/containers/{victim}/kill"), "");
    assert_eq!(r.status, 204);
    assert!(
        wait_until(LONG, || {
            let cs = running(&d, "web");
            cs.len() == 2 && cs.iter().all(|c| c["Id"] != victim.as_str())
        }),
        "the killed task was not replaced"
    );
    assert!(tasks(&d, "web")
        .iter()
        .any(|t| t["Status"]["State"] == "failed" && t["DesiredState"] == "shutdown"));

    // A task container removed by hand: its task fails and a new task takes the slot.
    let victim = running(&d, "web")[0]["Id"].as_str().unwrap().to_string();
    let r = d.req("DELETE", &format!("/containers/{victim}?force=1"), "");
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(
        wait_until(LONG, || {
            let cs = running(&d, "web");
            cs.len() == 2 && cs.iter().all(|c| c["Id"] != victim.as_str())
        }),
        "the removed container's task was not replaced"
    );

    // Host-mode published ports are published on the task's container.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut published = service_spec("published", 1);
    published["EndpointSpec"] = json!({ "Ports": [{ "Protocol": "tcp", "TargetPort": 80,
        "PublishedPort": port, "PublishMode": "host" }] });
    create_service(&d, &published);
    assert!(wait_until(LONG, || running(&d, "published").len() == 1));
    let c = d.inspect(running(&d, "published")[0]["Id"].as_str().unwrap());
    assert_eq!(
        c["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"],
        port.to_string(),
        "{}",
        c["NetworkSettings"]
    );

    let r = d.req("DELETE", &format!("/services/{id}"), "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        wait_until(LONG, || running(&d, "web").is_empty()),
        "containers outlived the service"
    );
    let r = d.req("POST", "/swarm/leave?force=1", "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(d.req("GET", "/swarm", "").status, 503);
}

#[test]
fn swarm_requests_fail_with_dockers_codes_and_messages() {
    require_root!();
    let d = TestDaemon::start("swarm2");
    let r = d.req("GET", "/services", "");
    assert_eq!(r.status, 503);
    assert!(r.text().contains("docker swarm init"), "{}", r.text());
    assert_eq!(d.req("POST", "/swarm/leave", "").status, 503);
    let r = d.req(
        "POST",
        "/swarm/join",
        &json!({ "RemoteAddrs": ["127.0.0.1:1"], "JoinToken": "SWMTKN-1-nope" }).to_string(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("invalid join token"), "{}", r.text());

    init(&d);
    let r = d.req(
        "POST",
        "/swarm/init",
        &json!({ "ListenAddr": "127.0.0.1:0", "AdvertiseAddr": "127.0.0.1" }).to_string(),
    );
    assert_eq!(r.status, 503);
    assert!(r.text().contains("already part of a swarm"), "{}", r.text());
    assert_eq!(d.req("POST", "/services/create", "{not json").status, 400);
    let r = d.req(
        "POST",
        "/services/create",
        &json!({ "Name": "x" }).to_string(),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("image reference must be provided"),
        "{}",
        r.text()
    );
    let mut bad = service_spec("bad", 1);
    bad["TaskTemplate"]["Placement"] = json!({ "Constraints": ["node.labels.zone=a"] });
    assert_eq!(
        d.req("POST", "/services/create", &bad.to_string()).status,
        400
    );

    let id = create_service(&d, &service_spec("dup", 0));
    let r = d.req(
        "POST",
        "/services/create",
        &service_spec("dup", 0).to_string(),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    let v = service(&d, &id)["Version"]["Index"].as_u64().unwrap();
    let r = d.req(
        "POST",
        &format!("/services/{id}/update?version={}", v + 1000),
        &service_spec("dup", 1).to_string(),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("update out of sequence"), "{}", r.text());
    assert_eq!(d.req("GET", "/services/nosuchservice", "").status, 404);
    assert_eq!(d.req("DELETE", "/services/nosuchservice", "").status, 404);
    assert_eq!(d.req("GET", "/nodes/nosuchnode", "").status, 404);
    let r = d.req("POST", "/swarm/leave", "");
    assert_eq!(
        r.status, 503,
        "Docker refuses a manager's leave as not available"
    );
    assert!(
        r.text().contains("Removing the last manager"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("--force"), "{}", r.text());
    assert_eq!(
        d.req("GET", "/swarm", "").status,
        200,
        "a refused leave left"
    );
}

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
    assert!(
        wait_until(LONG, || ready(&a)),
        "the worker never became ready"
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
                d.inspect(id)["Config"]["Env"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e == want)
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

#[test]
fn the_swarm_port_refuses_nodes_without_a_certificate_of_the_cluster() {
    use berth_swarm::ca::{client_tls, pinned_channel, CertRole, NodeKey, RootCa};
    use berth_swarm::rpc::{call, Method, SessionReply, SessionRequest};
    require_root!();
    let a = TestDaemon::start("swarm7");
    let node_id = init(&a);
    let addr = a.req("GET", "/info", "").json()["Swarm"]["RemoteManagers"][0]["Addr"]
        .as_str()
        .unwrap()
        .to_string();
    let token = a.req("GET", "/swarm", "").json()["JoinTokens"]["Worker"]
        .as_str()
        .unwrap()
        .to_string();
    let digest = token.split('-').nth(2).unwrap().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let session = SessionRequest {
        node_id: node_id.clone(),
        known: 0,
        description: Default::default(),
        addr: "127.0.0.1".into(),
        advertise: String::new(),
        takes_unchanged: false,
    };
    rt.block_on(async {
        // A certificate for the same node id from another CA: the TLS handshake fails.
        let other = RootCa::generate().unwrap();
        let key = NodeKey::generate().unwrap();
        let cert = other
            .issue(
                &node_id,
                CertRole::Manager,
                &key.public_key_der(),
                "othercluster",
                Duration::from_secs(3600),
            )
            .unwrap();
        let tls = client_tls(&cert, &key.key_pem(), other.cert_pem());
        let channel = tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect_lazy();
        let r: Result<SessionReply, _> =
            call(channel, Method::Session, &session, Duration::from_secs(5)).await;
        assert!(r.is_err(), "a foreign certificate was accepted");
        // Through the pinned join channel (no client certificate): only Join is open.
        let (channel, _) = pinned_channel(&addr, &digest).await.unwrap();
        let r: Result<SessionReply, _> =
            call(channel, Method::Session, &session, Duration::from_secs(5)).await;
        let status = r.expect_err("a session without a certificate was accepted");
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    });
}

/// A heartbeat's answer to a node holding the current list carries no list (it kept the
/// leader encoding every node's whole list twice a heartbeat); a node that does not say it
/// keeps its list (an earlier release) still gets the whole list each time.
#[test]
fn a_session_answer_without_changes_carries_no_list_to_a_node_that_keeps_its_own() {
    use berth_swarm::ca::client_tls;
    use berth_swarm::rpc::{call, Method, SessionReply, SessionRequest};
    require_root!();
    let d = TestDaemon::start("swarm9");
    d.import_busybox();
    let node_id = init(&d);
    create_service(&d, &service_spec("listed", 2));
    assert!(
        wait_until(LONG, || running(&d, "listed").len() == 2),
        "2 replicas never ran"
    );
    let addr = d.req("GET", "/info", "").json()["Swarm"]["RemoteManagers"][0]["Addr"]
        .as_str()
        .unwrap()
        .to_string();
    let certs = d.data_root().join("swarm/certificates");
    let read = |f: &str| std::fs::read_to_string(certs.join(f)).unwrap();
    let tls = client_tls(&read("node.crt"), &read("node.key"), &read("ca.crt"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let session = |known: u64, takes_unchanged: bool| -> SessionReply {
        let req = SessionRequest {
            node_id: node_id.clone(),
            known,
            description: Default::default(),
            addr: "127.0.0.1".into(),
            advertise: String::new(),
            takes_unchanged,
        };
        rt.block_on(async {
            let channel = tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
                .unwrap()
                .tls_config(tls.clone())
                .unwrap()
                .connect_lazy();
            call(channel, Method::Session, &req, Duration::from_secs(10))
                .await
                .expect("session")
        })
    };
    let first = session(0, true);
    assert!(!first.unchanged);
    assert_eq!(first.tasks.len(), 2, "{:?}", first.tasks);
    // The tasks run and their reports are in: the list's version stays until a change.
    let quiet = session(first.version, true);
    assert_eq!(quiet.version, first.version);
    assert!(
        quiet.unchanged,
        "a heartbeat's answer carried the list again"
    );
    assert!(quiet.tasks.is_empty() && quiet.peers.is_empty() && quiet.secrets.is_empty());
    assert!(quiet.node.is_some() && !quiet.managers.is_empty());
    let old = session(first.version, false);
    assert!(!old.unchanged);
    assert_eq!(
        old.tasks.len(),
        2,
        "a node of an earlier release lost its list"
    );
}

#[test]
fn a_killed_manager_daemon_restarts_into_its_swarm_and_keeps_its_tasks() {
    require_root!();
    let mut d = TestDaemon::start("swarm8");
    d.import_busybox();
    let node_id = init(&d);
    create_service(&d, &service_spec("kept", 3));
    assert!(
        wait_until(LONG, || running(&d, "kept").len() == 3),
        "3 replicas never ran"
    );
    let mut before: Vec<String> = running(&d, "kept")
        .iter()
        .map(|c| c["Id"].as_str().unwrap().to_string())
        .collect();
    before.sort();
    d.kill9();
    d.spawn();
    assert!(
        wait_until(LONG, || d.req("GET", "/services/kept", "").status == 200),
        "the restarted daemon did not rejoin its swarm: {}",
        d.req("GET", "/services/kept", "").text()
    );
    assert_eq!(
        d.req("GET", "/info", "").json()["Swarm"]["NodeID"],
        node_id.as_str()
    );
    // Several heartbeats later the node is still ready and runs exactly the same containers.
    std::thread::sleep(Duration::from_secs(4));
    let node = d.req("GET", &format!("/nodes/{node_id}"), "").json();
    assert_eq!(node["Status"]["State"], "ready");
    let mut after: Vec<String> = running(&d, "kept")
        .iter()
        .map(|c| c["Id"].as_str().unwrap().to_string())
        .collect();
    after.sort();
    assert_eq!(
        before, after,
        "tasks were restarted across a daemon restart"
    );
    let live = tasks(&d, "kept")
        .into_iter()
        .filter(|t| t["DesiredState"] == "running" && t["Status"]["State"] == "running")
        .count();
    assert_eq!(live, 3);
}
