use berth_raft::{Attrs, ClusterState, ObjectKind, Op};
use serde_json::{json, Value};

use super::allocate;
use crate::fixtures::{apply, cluster, commit};
use crate::model::{Network, NetworkAllocation};

fn network(id: &str, name: &str, ipam: Value) -> Op {
    Op::Create {
        id: id.into(),
        attrs: Attrs::Network { name: name.into() },
        spec: json!({ "Name": name, "Driver": "overlay", "IPAM": ipam }),
        status: json!({}),
    }
}

fn allocation(s: &ClusterState, id: &str) -> Option<NetworkAllocation> {
    let o = s.get(ObjectKind::Network, id)?;
    Network::parse(o).ok()?.allocation
}

/// Allocates and commits, as the leader would.
fn pass(s: &mut ClusterState) {
    let plan = allocate(s);
    commit(s, &plan);
}

fn state(ops: Vec<Op>) -> ClusterState {
    let mut s = ClusterState::default();
    apply(&mut s, vec![cluster(5)]);
    apply(&mut s, ops);
    s
}

#[test]
fn networks_get_the_lowest_free_vni_and_the_first_free_subnet_of_the_pool() {
    let mut s = state(vec![
        network("n1", "a", json!({})),
        network("n2", "b", json!({})),
    ]);
    let plan = allocate(&s);
    assert_eq!(commit(&mut s, &plan), 2);
    let a = allocation(&s, "n1").expect("n1 allocated");
    let b = allocation(&s, "n2").expect("n2 allocated");
    assert_eq!(
        (a.vni, a.subnet.as_str(), a.gateway.to_string().as_str()),
        (4096, "10.0.0.0/24", "10.0.0.1")
    );
    assert_eq!((b.vni, b.subnet.as_str()), (4097, "10.0.1.0/24"));
    assert!(allocate(&s).commands.is_empty(), "nothing left to allocate");
}

#[test]
fn an_asked_subnet_and_gateway_are_kept_and_the_pool_skips_them() {
    let mut s = state(vec![network(
        "n1",
        "a",
        json!({ "Config": [{ "Subnet": "10.0.0.0/24", "Gateway": "10.0.0.254" }] }),
    )]);
    pass(&mut s);
    apply(&mut s, vec![network("n2", "b", json!({}))]);
    pass(&mut s);
    let a = allocation(&s, "n1").expect("n1");
    assert_eq!(
        (a.subnet.as_str(), a.gateway.to_string().as_str()),
        ("10.0.0.0/24", "10.0.0.254")
    );
    assert_eq!(allocation(&s, "n2").expect("n2").subnet, "10.0.1.0/24");
}

#[test]
fn an_overlapping_subnet_is_left_unallocated_and_reported() {
    let mut s = state(vec![network("n1", "a", json!({}))]);
    pass(&mut s);
    apply(
        &mut s,
        vec![network(
            "n2",
            "b",
            json!({ "Config": [{ "Subnet": "10.0.0.128/25" }] }),
        )],
    );
    let plan = allocate(&s);
    assert!(plan.commands.is_empty());
    assert_eq!(plan.problems.len(), 1);
    assert!(
        plan.problems[0].to_string().contains("overlaps"),
        "{}",
        plan.problems[0]
    );
}

#[test]
fn a_removed_networks_vni_and_subnet_are_free_again() {
    let mut s = state(vec![
        network("n1", "a", json!({})),
        network("n2", "b", json!({})),
    ]);
    pass(&mut s);
    apply(
        &mut s,
        vec![Op::Delete {
            kind: ObjectKind::Network,
            id: "n1".into(),
            expected_version: None,
        }],
    );
    apply(&mut s, vec![network("n3", "c", json!({}))]);
    pass(&mut s);
    let c = allocation(&s, "n3").expect("n3");
    assert_eq!((c.vni, c.subnet.as_str()), (4096, "10.0.0.0/24"));
}

#[test]
fn a_gateway_outside_the_subnet_is_refused_and_a_malformed_network_is_a_problem() {
    let mut s = state(vec![network(
        "n1",
        "a",
        json!({ "Config": [{ "Subnet": "10.9.0.0/24", "Gateway": "10.8.0.1" }] }),
    )]);
    apply(
        &mut s,
        vec![Op::Create {
            id: "n2".into(),
            attrs: Attrs::Network { name: "bad".into() },
            spec: json!({ "Name": 7 }),
            status: json!({}),
        }],
    );
    let plan = allocate(&s);
    assert!(plan.commands.is_empty());
    assert_eq!(plan.problems.len(), 2, "{:?}", plan.problems);
}
