//! Network fault family: the injectors themselves on a three-node cluster (an isolated node,
//! a split, a one-way drop seen with datagrams, total loss, a tbf limit; each healed, and
//! nothing left for `clear_net_faults`), then a swarm of three managers with tasks talking
//! over an overlay network while the leader loses packets at random and a follower's link is
//! slowed, a client writing throughout: the history checker judges the writes, and once
//! converged the tasks on different nodes reach each other again.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod chaos_support;
mod swarm_support;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use berth_chaos_tests::history::{self, Want};
use berth_chaos_tests::partition::NetFault;
use berth_chaos_tests::swarm::{self, poll};
use berth_chaos_tests::{require_root, Cluster, Node, PREFIX_HEAD};
use chaos_support::*;
use rand::Rng;
use serde_json::{json, Value};
use swarm_support::{LogsOnFailure, LONG, MANAGERS};

const PROBE: Duration = Duration::from_millis(500);

/// Whether a datagram from node `from` reaches a socket on node `to`.
fn datagram_arrives(c: &Cluster, from: usize, to: usize) -> bool {
    let dst = c.node(to).ip();
    let rx = c
        .node(to)
        .in_netns(|| UdpSocket::bind((dst, 0)).unwrap())
        .unwrap();
    rx.set_read_timeout(Some(PROBE)).unwrap();
    let addr = rx.local_addr().unwrap();
    c.node(from)
        .in_netns(|| {
            let tx = UdpSocket::bind(("0.0.0.0", 0)).unwrap();
            // A drop in the sender's output hook fails the send (EPERM): not arriving either.
            let _ = tx.send_to(b"chaos", addr);
        })
        .unwrap();
    let mut buf = [0u8; 8];
    rx.recv_from(&mut buf).is_ok()
}

fn links(c: &Cluster) -> Vec<(usize, usize, bool)> {
    let mut out = Vec::new();
    for a in 0..c.len() {
        for b in 0..c.len() {
            if a != b {
                out.push((a, b, c.reachable(a, b, PROBE).unwrap()));
            }
        }
    }
    out
}

fn all_linked(c: &Cluster) -> bool {
    links(c).iter().all(|(_, _, up)| *up)
}

fn heal(f: NetFault) {
    let what = f.describe().to_string();
    f.heal().unwrap_or_else(|e| panic!("healing {what}: {e}"));
}

#[test]
fn partitions_one_way_drops_loss_and_bandwidth_are_made_and_undone() {
    require_root!();
    if let Err(e) = Cluster::sweep_leftovers(PREFIX_HEAD) {
        eprintln!("sweep: {e}");
    }
    let c = Cluster::start(3).unwrap();
    assert!(all_linked(&c), "{:?}", links(&c));

    let f = c.isolate(1).unwrap();
    for (a, b, up) in links(&c) {
        assert_eq!(up, a != 1 && b != 1, "{a} -> {b} with node 1 isolated");
    }
    heal(f);
    assert!(all_linked(&c), "after isolation: {:?}", links(&c));

    let f = c.split(&[0]).unwrap();
    for (a, b, up) in links(&c) {
        assert_eq!(up, a != 0 && b != 0, "{a} -> {b} split [0] | [1, 2]");
    }
    drop(f);
    assert!(all_linked(&c), "after the split: {:?}", links(&c));

    // 0 -> 2 dropped: datagrams from 2 still reach 0, none from 0 reach 2.
    let f = c.drop_one_way(0, 2).unwrap();
    assert!(datagram_arrives(&c, 2, 0), "2 -> 0 must pass");
    assert!(!datagram_arrives(&c, 0, 2), "0 -> 2 must be dropped");
    assert!(datagram_arrives(&c, 0, 1), "0 -> 1 must pass");
    heal(f);
    assert!(datagram_arrives(&c, 0, 2), "0 -> 2 after healing");

    let f = c.lose(2, 100).unwrap();
    assert!(!c.reachable(0, 2, PROBE).unwrap(), "100% loss");
    assert!(c.reachable(0, 1, PROBE).unwrap());
    heal(f);
    let f = c.lose(2, 0).unwrap();
    assert!(c.reachable(0, 2, PROBE).unwrap(), "0% loss");
    heal(f);

    let f = c.limit_bandwidth(1, 512).unwrap();
    let qdisc = c
        .node(1)
        .exec_in_netns(&["tc", "qdisc", "show", "dev", &c.names().node_veth(1)])
        .unwrap();
    assert!(String::from_utf8_lossy(&qdisc.stdout).contains("tbf"));
    assert!(
        c.reachable(0, 1, Duration::from_secs(5)).unwrap(),
        "slow, not cut"
    );
    heal(f);

    // Leaked guards are found by prefix.
    std::mem::forget(c.isolate(2).unwrap());
    std::mem::forget(c.limit_bandwidth(0, 256).unwrap());
    assert!(!c.reachable(0, 2, PROBE).unwrap());
    assert_eq!(c.clear_net_faults(), Vec::<String>::new());
    assert!(all_linked(&c), "after clearing: {:?}", links(&c));
    assert!(no_fault_objects(&c), "fault tables or qdiscs left");
    let prefix = c.prefix().to_string();
    c.shutdown().unwrap();
    assert_eq!(Cluster::leftovers(&prefix), Vec::<String>::new());
}

/// Runs `cmd` in container `id` on `node`; its exit code.
fn exec(node: &Node, id: &str, cmd: &[&str]) -> i64 {
    let body = json!({ "Cmd": cmd, "AttachStdout": true, "AttachStderr": true });
    let Ok(r) = node.send("POST", &format!("/containers/{id}/exec"), &body) else {
        return -1;
    };
    let Some(exec_id) = r
        .try_json()
        .ok()
        .and_then(|v| v["Id"].as_str().map(str::to_string))
    else {
        return -1;
    };
    let start = json!({ "Detach": false, "Tty": false });
    let _ = node.send("POST", &format!("/exec/{exec_id}/start"), &start);
    node.send("GET", &format!("/exec/{exec_id}/json"), &Value::Null)
        .ok()
        .and_then(|r| r.try_json().ok())
        .and_then(|v| v["ExitCode"].as_i64())
        .unwrap_or(-1)
}

/// The running container of service `talk` on each node, with its overlay address.
fn talkers(c: &Cluster) -> BTreeMap<usize, (String, String)> {
    let mut out = BTreeMap::new();
    for (i, n) in c.nodes().iter().enumerate() {
        for ctr in n.service_containers("talk").unwrap_or_default() {
            let id = ctr["Id"].as_str().unwrap_or("").to_string();
            let Ok(r) = n.send("GET", &format!("/containers/{id}/json"), &Value::Null) else {
                continue;
            };
            let inspect = r.try_json().unwrap_or(Value::Null);
            let ip = inspect["NetworkSettings"]["Networks"]["chaosnet"]["IPAddress"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if inspect["State"]["Running"] == true && !ip.is_empty() {
                out.insert(i, (id, ip));
            }
        }
    }
    out
}

/// Whether every talker reaches every other one's TCP listener over the overlay.
fn all_talk(c: &Cluster) -> bool {
    let t = talkers(c);
    t.len() == c.len()
        && t.iter().all(|(from, (id, _))| {
            t.iter().filter(|(to, _)| *to != from).all(|(_, (_, ip))| {
                let probe = format!("echo hi | nc -w 3 {ip} 7000");
                exec(c.node(*from), id, &["sh", "-c", &probe]) == 0
            })
        })
}

#[test]
fn writes_and_overlay_traffic_survive_random_loss_and_a_slow_link() {
    require_root!();
    let mut rng = seeded("chaos_net");
    let mut c = swarm_with(3, 3, swarm::node_options());
    let _logs = LogsOnFailure::new(&c);
    let net = json!({ "Name": "chaosnet", "Driver": "overlay" });
    c.node(0)
        .call("POST", "/networks/create", &net, 201)
        .unwrap();
    let mut spec = history::spec(
        "talk",
        &Want {
            replicas: 3,
            tag: "talk".into(),
        },
    );
    spec["TaskTemplate"]["Networks"] = json!([{ "Target": "chaosnet" }]);
    spec["TaskTemplate"]["Placement"] = json!({ "MaxReplicas": 1 });
    spec["TaskTemplate"]["ContainerSpec"]["Args"] = json!([
        "sh",
        "-c",
        "while true; do nc -l -p 7000 >/dev/null; done & exec sleep 600"
    ]);
    c.node(0).create_service(&spec).unwrap();
    assert!(
        poll(LONG, Duration::from_millis(500), || all_talk(&c)),
        "the overlay never carried traffic: {:?}",
        talkers(&c)
    );
    let mut figures = Figures::default();
    epochs(|epoch| {
        let seed = rng.random();
        let e = swarm_epoch(&mut c, epoch, "net", 3, &MANAGERS, seed, |c, _live| {
            let mut last = Instant::now();
            let mut round = 0;
            while epoch.another_round(round, 1) {
                round += 1;
                let leader = swarm::leader(c, &MANAGERS).unwrap_or(0);
                let slow = (leader + 1) % 3;
                let percent = rng.random_range(20..50);
                let loss = c.lose(leader, percent).unwrap();
                let limit = c.limit_bandwidth(slow, 256).unwrap();
                figures.faults += 2;
                eprintln!("{} and {}", loss.describe(), limit.describe());
                std::thread::sleep(Duration::from_millis(rng.random_range(8000..12000)));
                loss.heal().unwrap();
                limit.heal().unwrap();
                last = Instant::now();
            }
            std::thread::sleep(Duration::from_secs(2));
            last
        });
        figures.add_epoch(&e);
        let talking = poll(LONG, Duration::from_millis(500), || all_talk(&c));
        eprintln!(
            "chaos_net epoch {}: overlay traffic between all three nodes again {:?} after the \
             last fault",
            epoch.n,
            e.last_fault.elapsed()
        );
        assert!(
            talking,
            "the overlay does not carry traffic again: {:?}",
            talkers(&c)
        );
    });
    figures.print("chaos_net");
    assert_eq!(figures.lost, 0, "see VIOLATION lines");
    assert!(no_fault_objects(&c), "a fault was left in place");
}
