//! A node where a spec's tasks keep failing: it comes after every other node that fits, the
//! one with fewer failures first, and still takes the task when it is the only fit.

use super::*;
use crate::tests::node;

fn failing(mut n: Node, service: &str, version: u64, count: u32) -> Node {
    n.recent_failures.insert((service.into(), version), count);
    n
}

fn with_tasks(mut n: Node, service: &str, count: u32) -> Node {
    n.tasks_by_service.insert(service.into(), count);
    n
}

fn tasks(n: usize, service: &str, version: u64) -> Vec<TaskRequest> {
    (0..n)
        .map(|i| TaskRequest {
            id: format!("{service}.{i}"),
            service_id: service.into(),
            spec_version: version,
            ..TaskRequest::default()
        })
        .collect()
}

fn placed(nodes: Vec<Node>, tasks: &[TaskRequest]) -> Vec<String> {
    schedule(&Snapshot { nodes }, tasks)
        .iter()
        .map(|d| d.node_id().unwrap_or("-").to_string())
        .collect()
}

#[test]
fn a_node_with_max_failures_comes_after_every_busier_node() {
    let nodes = vec![
        failing(node("a"), "web", 1, MAX_FAILURES),
        with_tasks(node("b"), "web", 3),
        with_tasks(node("c"), "web", 5),
    ];
    assert_eq!(placed(nodes, &tasks(4, "web", 1)), ["b", "b", "b", "c"]);
}

#[test]
fn fewer_failures_or_another_spec_change_nothing() {
    let cases = [
        (
            "below the limit",
            failing(node("a"), "web", 1, MAX_FAILURES - 1),
        ),
        ("another spec version", failing(node("a"), "web", 2, 9)),
        ("another service", failing(node("a"), "db", 1, 9)),
    ];
    for (what, a) in cases {
        let nodes = vec![a, with_tasks(node("b"), "web", 1)];
        assert_eq!(placed(nodes, &tasks(1, "web", 1)), ["a"], "{what}");
    }
}

#[test]
fn the_only_node_that_fits_still_takes_the_tasks() {
    let mut full = node("b");
    full.reserved.memory_bytes = full.resources.memory_bytes;
    let mut wanted = tasks(3, "web", 1);
    for t in &mut wanted {
        t.reservations.memory_bytes = 1 << 20;
    }
    let nodes = vec![failing(node("a"), "web", 1, 8), full];
    assert_eq!(placed(nodes, &wanted), ["a", "a", "a"]);
}

#[test]
fn of_failing_nodes_the_one_with_fewer_failures_goes_first() {
    let nodes = vec![
        failing(node("a"), "web", 1, MAX_FAILURES + 2),
        failing(with_tasks(node("b"), "web", 4), "web", 1, MAX_FAILURES),
    ];
    assert_eq!(placed(nodes, &tasks(2, "web", 1)), ["b", "b"]);
}

#[test]
fn a_spread_preference_does_not_bring_a_failing_node_back() {
    let zone = |n: Node, z: &str| {
        let mut n = n;
        n.labels.insert("zone".into(), z.into());
        n
    };
    let nodes = vec![
        zone(failing(node("a"), "web", 1, MAX_FAILURES), "x"),
        zone(node("b"), "y"),
    ];
    let mut wanted = tasks(2, "web", 1);
    for t in &mut wanted {
        t.preferences = vec![Preference::spread("node.labels.zone")];
    }
    assert_eq!(placed(nodes, &wanted), ["b", "b"]);
}
