//! Standalone containers on an attachable overlay network, on workers (which have no store:
//! they ask the managers for the network and an address): a container on each worker and a
//! service task on the manager reach each other across nodes by address, a worker's container
//! is found by name from the task, a running container joins with `network connect` and
//! leaves with `disconnect`, and removing a container gives its address back. `network inspect
//! --verbose` lists every endpoint on a manager and, on each node, whether each peer's VXLAN
//! endpoint answers (it stops when the peer's VXLAN traffic is dropped). A network that is not
//! attachable is refused on a worker with Docker's words.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod swarm_support;

use berth_chaos_tests::swarm::{global_spec, service_spec};
use berth_chaos_tests::{require_root, Cluster, Node};
use serde_json::{json, Value};
use swarm_support::*;

/// Creates and starts a standalone busybox container named `name` on `network`; its id.
fn run_on(node: &Node, name: &str, network: &str) -> String {
    let body = json!({
        "Image": "busybox",
        "Cmd": ["sh", "-c", "while true; do hostname | nc -l -p 7000; done"],
        "HostConfig": { "NetworkMode": network },
    });
    let r = node
        .send("POST", &format!("/containers/create?name={name}"), &body)
        .unwrap();
    assert_eq!(r.status, 201, "create {name}: {}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    let r = node
        .send("POST", &format!("/containers/{id}/start"), &Value::Null)
        .unwrap();
    assert_eq!(r.status, 204, "start {name}: {}", r.text());
    id
}

fn address(node: &Node, id: &str, network: &str) -> String {
    let inspect = node
        .send("GET", &format!("/containers/{id}/json"), &Value::Null)
        .unwrap()
        .json();
    inspect["NetworkSettings"]["Networks"][network]["IPAddress"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// `network inspect --verbose` of `network` on `node`.
fn verbose(node: &Node, network: &str) -> Value {
    node.send(
        "GET",
        &format!("/networks/{network}?verbose=true"),
        &Value::Null,
    )
    .unwrap()
    .json()
}

/// Endpoints on `network` across the cluster (tasks and containers), as the manager's verbose
/// inspect lists them under `Services`.
fn attached(c: &Cluster, network: &str) -> usize {
    let v = verbose(c.node(0), network);
    v["Services"].as_object().map_or(0, |m| {
        m.values()
            .map(|s| s["Tasks"].as_array().map_or(0, Vec::len))
            .sum()
    })
}

/// `Healthy` of each peer in `node`'s verbose inspect, with its VTEP address.
fn health(node: &Node, network: &str) -> Vec<(String, Value)> {
    let v = verbose(node, network);
    v["Peers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let ip = p["IP"].as_str().unwrap_or("").to_string();
            (ip, p["Healthy"].clone())
        })
        .collect()
}

#[test]
fn workers_attach_standalone_containers_to_an_attachable_overlay() {
    require_root!();
    let c = three_node_swarm(1);
    let _logs = LogsOnFailure::new(&c);
    for (name, attachable) in [("att", true), ("closed", false)] {
        let body = json!({ "Name": name, "Driver": "overlay", "Attachable": attachable });
        let r = c.node(0).send("POST", "/networks/create", &body).unwrap();
        assert_eq!(r.status, 201, "network create {name}: {}", r.text());
    }
    let body =
        json!({ "Image": "busybox", "Cmd": ["true"], "HostConfig": { "NetworkMode": "closed" } });
    let r = c.node(1).send("POST", "/containers/create", &body).unwrap();
    assert!(
        r.status >= 400 && r.text().contains("not manually attachable"),
        "{} {}",
        r.status,
        r.text()
    );

    let mut spec = service_spec("srv", 1);
    spec["TaskTemplate"]["Networks"] = json!([{ "Target": "att" }]);
    spec["TaskTemplate"]["Placement"] = json!({ "Constraints": ["node.role==manager"] });
    spec["TaskTemplate"]["ContainerSpec"]["Args"] =
        json!(["sh", "-c", "while true; do hostname | nc -l -p 7000; done"]);
    c.node(0).create_service(&spec).unwrap();
    let mut task = None;
    let up = wait(|| {
        task = tasks_by_node(&c, "srv", "att").remove(&0);
        task.is_some()
    });
    assert!(up, "the task runs on the manager");
    let (task_id, task_ip) = task.unwrap();

    // A fixed address on a swarm network is refused, not replaced without a word.
    let body = json!({ "Image": "busybox", "Cmd": ["true"],
        "HostConfig": { "NetworkMode": "att" },
        "NetworkingConfig": { "EndpointsConfig": { "att": { "IPAMConfig": { "IPv4Address": "10.0.0.200" } } } } });
    let r = c.node(1).send("POST", "/containers/create", &body).unwrap();
    assert!(
        r.status == 400 && r.text().contains("--ip"),
        "{} {}",
        r.status,
        r.text()
    );

    let w1 = run_on(c.node(1), "solo1", "att");
    let w2 = run_on(c.node(2), "solo2", "att");
    let ip1 = address(c.node(1), &w1, "att");
    let ip2 = address(c.node(2), &w2, "att");
    assert!(
        !ip1.is_empty() && !ip2.is_empty() && ip1 != ip2,
        "{ip1} {ip2}"
    );
    let all = wait(|| attached(&c, "att") == 3);
    assert!(
        all,
        "the manager lists both containers and the task: {}",
        verbose(c.node(0), "att")
    );

    let answers = |node: &Node, id: &str, ip: &str| {
        let (code, out) = exec(
            node,
            id,
            &["sh", "-c", &format!("nc -w 3 {ip} 7000 </dev/null")],
        );
        code == 0 && out.trim().len() == 12
    };
    assert!(
        wait(|| answers(c.node(1), &w1, &ip2)),
        "worker 1 → worker 2"
    );
    assert!(
        wait(|| answers(c.node(2), &w2, &task_ip)),
        "worker 2 → the task"
    );
    assert!(
        wait(|| answers(c.node(0), &task_id, &ip1)),
        "the task → worker 1"
    );
    let by_name = wait(|| {
        let (_, out) = exec(c.node(0), &task_id, &["nslookup", "solo1"]);
        out.contains(&ip1)
    });
    assert!(by_name, "solo1 resolves from the task");
    // Like a task, a standalone container on an overlay with a way out has its default
    // route through the node's gateway bridge, not the overlay.
    let (_, routes) = exec(c.node(1), &w1, &["ip", "route"]);
    let default = routes
        .lines()
        .find(|l| l.starts_with("default"))
        .unwrap_or("");
    assert!(
        !default.is_empty() && !default.contains(&ip1[..ip1.rfind('.').unwrap()]),
        "default route of solo1: {routes}"
    );

    // A running container on worker 2's default bridge joins the network (network connect),
    // answers the task, and leaves it (disconnect gives the address back).
    let late = run_on(c.node(2), "late", "bridge");
    let connect = |verb: &str| {
        let r = c
            .node(2)
            .send(
                "POST",
                &format!("/networks/att/{verb}"),
                &json!({ "Container": late }),
            )
            .unwrap();
        assert_eq!(r.status, 200, "{verb}: {}", r.text());
    };
    connect("connect");
    let late_ip = address(c.node(2), &late, "att");
    assert!(!late_ip.is_empty(), "an address on att");
    assert!(
        wait(|| answers(c.node(0), &task_id, &late_ip)),
        "the task → the connected container"
    );
    assert!(wait(|| attached(&c, "att") == 4), "four endpoints");
    connect("disconnect");
    assert!(
        wait(|| attached(&c, "att") == 3),
        "its address is given back"
    );
    // Its link on the network went, not only the address's record: the container, still
    // running, sees no interface with that address.
    let (code, addrs) = exec(c.node(2), &late, &["ip", "-o", "-4", "addr"]);
    assert_eq!(code, 0, "ip addr: {addrs}");
    assert!(
        !addrs.contains(&format!(" {late_ip}/")),
        "the disconnected container still has {late_ip}: {addrs}"
    );

    // Worker 1 probes the others' VXLAN endpoints from its container: both answer. With UDP
    // 4789 dropped on worker 2 (its control plane untouched), worker 2 stops answering.
    let peers_of = |want: &[(usize, bool)]| {
        let seen = health(c.node(1), "att");
        want.iter().all(|(i, ok)| {
            let ip = c.node(*i).ip().to_string();
            seen.iter().any(|(p, h)| *p == ip && *h == json!(ok))
        })
    };
    let healthy = wait(|| peers_of(&[(0, true), (2, true)]));
    assert!(
        healthy,
        "peers from worker 1: {:?}",
        health(c.node(1), "att")
    );
    // Inspect without verbose lists the peers too, as moby's, on a worker and on the manager.
    for node in [c.node(1), c.node(0)] {
        let plain = node
            .send("GET", "/networks/att", &Value::Null)
            .unwrap()
            .json();
        let ips: Vec<&str> = plain["Peers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["IP"].as_str())
            .collect();
        for i in [0, 2] {
            let ip = c.node(i).ip().to_string();
            assert!(ips.contains(&ip.as_str()), "{ip} in {plain}");
        }
    }
    let nft = |script: &str| {
        let out = std::process::Command::new("nsenter")
            .arg(format!("--net={}", c.node(2).netns_path().display()))
            .args(["nft", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "nft {script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let table = format!("{}_vxdrop", c.names().prefix());
    nft(&format!(
        "add table inet {table}; add chain inet {table} in {{ type filter hook input priority 0; }}; add rule inet {table} in udp dport 4789 drop"
    ));
    let unhealthy = wait(|| peers_of(&[(0, true), (2, false)]));
    nft(&format!("delete table inet {table}"));
    assert!(unhealthy, "worker 2 silent: {:?}", health(c.node(1), "att"));
    let back = wait(|| peers_of(&[(0, true), (2, true)]));
    assert!(
        back,
        "worker 2 answers again: {:?}",
        health(c.node(1), "att")
    );

    let r = c
        .node(1)
        .send(
            "DELETE",
            &format!("/containers/{w1}?force=true"),
            &Value::Null,
        )
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    let released = wait(|| attached(&c, "att") == 2);
    assert!(released, "solo1's address is given back");
}

#[test]
fn a_worker_container_starts_on_an_attachable_overlay_whose_copy_went_after_its_create() {
    // A worker keeps a copy of a swarm network only while it serves it or a container of its
    // has an endpoint there: one created but not started has none, so the copy its create
    // fetched can go before the start (a session reply is enough). The start fetches it again,
    // as Docker attaches at start.
    require_root!();
    let c = three_node_swarm(1);
    let _logs = LogsOnFailure::new(&c);
    let body = json!({ "Name": "att", "Driver": "overlay", "Attachable": true });
    let r = c.node(0).send("POST", "/networks/create", &body).unwrap();
    assert_eq!(r.status, 201, "network create: {}", r.text());
    let worker = c.node(1);
    let body = json!({
        "Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": { "NetworkMode": "att" },
    });
    // The swarm gives a new network its address space a moment after creating it.
    let created = wait(|| {
        worker
            .send("POST", "/containers/create?name=later", &body)
            .is_ok_and(|r| r.status == 201)
    });
    assert!(created, "create on att");
    // A global service sends every node a session reply; the worker then drops its copy.
    c.node(0).create_service(&global_spec("tick")).unwrap();
    let gone = wait(|| {
        worker
            .send("GET", "/networks/att", &Value::Null)
            .is_ok_and(|r| r.status == 404)
    });
    assert!(gone, "the worker's unused copy of att was not dropped");
    let r = worker
        .send("POST", "/containers/later/start", &Value::Null)
        .unwrap();
    assert_eq!(r.status, 204, "start: {}", r.text());
    let ip = address(worker, "later", "att");
    assert!(!ip.is_empty(), "later has an address on att");
}
