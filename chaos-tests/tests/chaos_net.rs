//! Network fault family: the injectors themselves on a three-node cluster (an isolated node,
//! a split, a one-way drop seen with datagrams, total loss, a tbf limit; each healed, and
//! nothing left for `clear_net_faults`), then a swarm whose manager loses packets at random
//! while a client keeps writing, checked with the history checker.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod chaos_support;
mod swarm_support;

use std::net::UdpSocket;
use std::time::Duration;

use berth_chaos_tests::partition::NetFault;
use berth_chaos_tests::{require_root, Cluster, PREFIX_HEAD};
use chaos_support::*;

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
