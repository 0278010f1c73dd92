//! An overlay network across three berthd nodes in their own network namespaces (a real
//! VXLAN underlay between them): tasks of one service on different nodes reach each other by
//! address over ICMP and TCP once the dispatcher has sent each node the others' endpoints; a
//! forwarding entry deleted by hand comes back at the next session; `tasks.<service>` lists
//! every task on every node; 100 connections to the VIP reach all three tasks; a node whose
//! berthd dies leaves the others' tables. The routing mesh carries TCP and UDP from every node
//! to a task on one of them, a port sent without a number gets one of Docker's dynamic range,
//! and another service asking for a taken port is refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod swarm_support;

use std::collections::BTreeMap;
use std::process::Command;

use berth_chaos_tests::swarm::{self, service_spec};
use berth_chaos_tests::{require_root, Cluster, PREFIX_HEAD};
use serde_json::{json, Value};
use swarm_support::*;

/// Docker's MAC of an overlay address, as `bridge fdb` prints it.
fn mac_of(ip: &str) -> String {
    let o: Vec<u8> = ip.split('.').map(|o| o.parse().unwrap()).collect();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

#[test]
fn tasks_on_three_nodes_talk_over_the_overlay_and_a_deleted_entry_comes_back() {
    require_root!();
    if let Err(e) = Cluster::sweep_leftovers(PREFIX_HEAD) {
        eprintln!("sweep: {e}");
    }
    let mut c = Cluster::builder(3)
        .default_options(swarm::node_options())
        .start()
        .unwrap();
    swarm::import_busybox(&c).unwrap();
    let _logs = LogsOnFailure::new(&c);
    c.node(0).swarm_init(Some(HEARTBEAT)).unwrap();
    join(&c, &[1, 2], 3);

    let net = "ov";
    let r = c
        .node(0)
        .send(
            "POST",
            "/networks/create",
            &json!({ "Name": net, "Driver": "overlay" }),
        )
        .unwrap();
    assert_eq!(r.status, 201, "network create: {}", r.text());
    let mut spec = service_spec("talk", 3);
    spec["TaskTemplate"]["Networks"] = json!([{ "Target": net }]);
    spec["TaskTemplate"]["Placement"] = json!({ "MaxReplicas": 1 });
    spec["TaskTemplate"]["ContainerSpec"]["Args"] = json!([
        "sh",
        "-c",
        "while true; do hostname | nc -l -p 7000; done & exec sleep 600"
    ]);
    c.node(0).create_service(&spec).unwrap();
    let mut placed = BTreeMap::new();
    let spread = wait(|| {
        placed = tasks_by_node(&c, "talk", net);
        placed.len() == 3
    });
    assert!(spread, "one task per node: {placed:?}");
    let ips: Vec<&str> = placed.values().map(|(_, ip)| ip.as_str()).collect();
    // The swarm's ingress network, made at init, has the pool's first subnet and VNI.
    assert!(ips.iter().all(|ip| ip.starts_with("10.0.1.")), "{ips:?}");

    // Every task reaches every other, by ICMP and TCP, once its node got the peers.
    for (from, (id, _)) in &placed {
        for (to, (_, ip)) in &placed {
            if from == to {
                continue;
            }
            let pinged =
                wait(|| exec(c.node(*from), id, &["ping", "-c", "1", "-W", "1", ip]).0 == 0);
            assert!(pinged, "task on node {from} cannot reach {ip} on node {to}");
            let (code, out) = exec(
                c.node(*from),
                id,
                &["sh", "-c", &format!("echo ping | nc -w 3 {ip} 7000")],
            );
            assert!(
                code == 0 && !out.trim().is_empty(),
                "TCP {from} → {to}: {code} {out}"
            );
        }
    }

    // A forwarding entry deleted by hand on node 0 comes back at the next session reply.
    let (id0, _) = &placed[&0];
    let (_, ip1) = &placed[&1];
    let sandbox = c.node(0).exec_root().join("netns").join("ov-4097");
    let fdb = |args: &[&str]| {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", sandbox.display()))
            .arg("bridge")
            .arg("fdb")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "bridge fdb {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let mac = mac_of(ip1);
    let shown = fdb(&["show", "dev", "vxlan0"]);
    let line = shown
        .lines()
        .find(|l| l.starts_with(&mac) && l.contains(" dst "))
        .unwrap_or_else(|| panic!("no entry for {mac}: {shown}"));
    let dst = line
        .split_whitespace()
        .skip_while(|w| *w != "dst")
        .nth(1)
        .unwrap()
        .to_string();
    fdb(&["del", &mac, "dev", "vxlan0", "dst", &dst, "self"]);
    // The next session reply may come at once, so the entry may already be back here.
    let has_entry = || {
        fdb(&["show", "dev", "vxlan0"])
            .lines()
            .any(|l| l.starts_with(&mac) && l.contains(" dst "))
    };
    let repaired = wait(has_entry);
    assert!(repaired, "the reconciler put the entry back");
    let pinged = wait(|| exec(c.node(0), id0, &["ping", "-c", "1", "-W", "1", ip1]).0 == 0);
    assert!(pinged, "reachable again after the repair");

    // tasks.<service> lists every task from every node; 100 connections to the VIP from
    // node 0 are spread over all three tasks.
    for (i, (id, _)) in &placed {
        let all = wait(|| {
            let (_, out) = exec(c.node(*i), id, &["nslookup", "tasks.talk"]);
            ips.iter().all(|ip| out.contains(ip))
        });
        assert!(all, "tasks.talk from node {i}");
    }
    let svc = c
        .node(0)
        .send("GET", "/services/talk", &Value::Null)
        .unwrap()
        .json();
    let vip = svc["Endpoint"]["VirtualIPs"][0]["Addr"]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let hundred = format!("for i in $(seq 100); do nc -w 2 {vip} 7000 </dev/null; done");
    let (_, out) = exec(c.node(0), id0, &["sh", "-c", &hundred]);
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    // Each answer is a task's hostname (its container's short id); the one-shot `nc -l`
    // server refuses a connection that lands between two of its runs, which is no answer.
    let hostname = |l: &&str| l.len() == 12 && l.chars().all(|c| c.is_ascii_hexdigit());
    for line in out.lines().map(str::trim).filter(hostname) {
        *answers.entry(line.to_string()).or_default() += 1;
    }
    assert_eq!(
        answers.len(),
        3,
        "every task got some of the 100: {answers:?}"
    );

    // A node whose berthd dies is marked down; the others drop its endpoints.
    let (_, ip2) = placed[&2].clone();
    let mac2 = mac_of(&ip2);
    let entry2 = || {
        fdb(&["show", "dev", "vxlan0"])
            .lines()
            .any(|l| l.starts_with(&mac2) && l.contains(" dst "))
    };
    assert!(entry2(), "node 0 knows node 2's task");
    c.kill(2).unwrap();
    let dropped = wait(|| !entry2());
    assert!(dropped, "node 2's endpoints left node 0's tables");

    // The routing mesh: with one task left and a port published in ingress mode, every live
    // node answers on it, also the one without a task.
    let mut svc_spec = c
        .node(0)
        .send("GET", "/services/talk", &Value::Null)
        .unwrap()
        .json();
    let version = svc_spec["Version"]["Index"].as_u64().unwrap();
    let mut spec = svc_spec["Spec"].take();
    spec["Mode"]["Replicated"]["Replicas"] = json!(1);
    spec["EndpointSpec"] =
        json!({ "Ports": [{ "Protocol": "tcp", "TargetPort": 7000, "PublishedPort": 18090 }] });
    let r = c
        .node(0)
        .send(
            "POST",
            &format!("/services/talk/update?version={version}"),
            &spec,
        )
        .unwrap();
    assert_eq!(r.status, 200, "publish: {}", r.text());
    let one = wait(|| tasks_by_node(&c, "talk", net).len() == 1);
    assert!(one, "one task left: {:?}", tasks_by_node(&c, "talk", net));
    for i in 0..2 {
        let answered = wait(|| {
            let out = c
                .node(i)
                .exec_in_netns(&["busybox", "nc", "-w", "3", "127.0.0.1", "18090"])
                .unwrap();
            out.status.success() && !String::from_utf8_lossy(&out.stdout).trim().is_empty()
        });
        assert!(answered, "node {i} answers on the published port");
    }
}

#[test]
fn udp_and_a_port_without_a_number_go_through_the_routing_mesh_and_a_taken_port_is_refused() {
    require_root!();
    let c = three_node_swarm(1);
    let _logs = LogsOnFailure::new(&c);
    let node_ids = ids(&c);
    // One task, on node 2, answering with its hostname (`PY_SERVER`: TCP 7000, UDP 7001).
    let mut spec = service_spec("echo", 1);
    spec["TaskTemplate"]["ContainerSpec"]["Args"] = json!(["python3", "-c", PY_SERVER]);
    spec["TaskTemplate"]["ContainerSpec"]["Mounts"] = python_mounts();
    spec["TaskTemplate"]["Placement"] =
        json!({ "Constraints": [format!("node.id=={}", node_ids[2])] });
    spec["EndpointSpec"] = json!({ "Ports": [
        { "Protocol": "udp", "TargetPort": 7001, "PublishedPort": 18095 },
        { "TargetPort": 7000 },
    ] });
    let id = c.node(0).create_service(&spec).unwrap();

    // Docker's `Endpoint.Ports`: the numberless port got the first of the dynamic range.
    let mut shown = Value::Null;
    let given = wait(|| {
        shown = c
            .node(0)
            .send("GET", "/services/echo", &Value::Null)
            .unwrap()
            .json()["Endpoint"]["Ports"]
            .clone();
        shown[1]["PublishedPort"].is_u64()
    });
    assert!(given, "{shown}");
    assert_eq!(
        shown,
        json!([
            { "Protocol": "udp", "TargetPort": 7001, "PublishedPort": 18095, "PublishMode": "ingress" },
            { "Protocol": "tcp", "TargetPort": 7000, "PublishedPort": 30000, "PublishMode": "ingress" },
        ])
    );

    // Every node answers on both with the task's hostname, also the two without the task.
    let mut task = String::new();
    let running = wait(|| {
        let containers = c.node(2).service_containers("echo").unwrap_or_default();
        let id = containers.first().and_then(|t| t["Id"].as_str());
        task = id.map(|id| id[..12].to_string()).unwrap_or_default();
        !task.is_empty()
    });
    assert!(running, "the task runs on node 2");
    for i in 0..3 {
        for (kind, port) in [("udp", "18095"), ("tcp", "30000")] {
            let mut last = String::new();
            let answered = wait(|| {
                let out = c
                    .node(i)
                    .exec_in_netns(&["python3", "-c", PY_CLIENT, kind, "127.0.0.1", port])
                    .unwrap();
                last = String::from_utf8_lossy(&out.stdout).trim().to_string();
                last == task
            });
            assert!(answered, "node {i} {kind} {port}: {last:?}, want {task}");
        }
    }

    // Another service asking for either port is refused in swarmkit's words; the same number
    // over TCP is another port.
    for (proto, port) in [("udp", 18095), ("tcp", 30000)] {
        let mut other = service_spec(&format!("other-{proto}"), 1);
        other["EndpointSpec"] = json!({ "Ports": [
            { "Protocol": proto, "TargetPort": 80, "PublishedPort": port },
        ] });
        let r = c.node(0).send("POST", "/services/create", &other).unwrap();
        refused(
            r,
            400,
            &format!("port '{port}' is already in use by service 'echo' ({id}) as an ingress port"),
        );
    }
    let mut tcp = service_spec("other-tcp", 1);
    tcp["EndpointSpec"] =
        json!({ "Ports": [{ "Protocol": "tcp", "TargetPort": 80, "PublishedPort": 18095 }] });
    let r = c.node(0).send("POST", "/services/create", &tcp).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
}
