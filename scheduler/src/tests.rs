//! Table-driven tests of `schedule` as a whole: each filter's explanation, the spread order,
//! charging within a batch, preferences over several levels, invalid requests, determinism.

use super::*;

const GIB: u64 = 1 << 30;
const CPU: u64 = 1_000_000_000;

/// A ready, active worker with 4 CPUs and 8 GiB (the failing-node tests use it too).
pub(crate) fn node(id: &str) -> Node {
    Node {
        id: id.into(),
        hostname: format!("host-{id}"),
        platform: Platform::new("linux", "x86_64"),
        resources: Resources {
            nano_cpus: 4 * CPU,
            memory_bytes: 8 * GIB,
            ..Resources::default()
        },
        ..Node::default()
    }
}

fn with_label(mut n: Node, key: &str, value: &str) -> Node {
    n.labels.insert(key.into(), value.into());
    n
}

fn with_tasks(mut n: Node, service: &str, count: u32) -> Node {
    n.tasks_by_service.insert(service.into(), count);
    n
}

fn task(id: &str, service: &str) -> TaskRequest {
    TaskRequest {
        id: id.into(),
        service_id: service.into(),
        spec_version: 1,
        ..TaskRequest::default()
    }
}

fn tasks(n: usize, service: &str, template: &TaskRequest) -> Vec<TaskRequest> {
    (0..n)
        .map(|i| TaskRequest {
            id: format!("{service}.{i}"),
            service_id: service.into(),
            ..template.clone()
        })
        .collect()
}

fn nodes_of(decisions: &[Decision]) -> Vec<&str> {
    decisions
        .iter()
        .map(|d| d.node_id().unwrap_or("-"))
        .collect()
}

fn pending_text(d: &Decision) -> String {
    match &d.outcome {
        Outcome::Pending(e) => e.to_string(),
        other => panic!("{} not pending: {other:?}", d.task_id),
    }
}

#[test]
fn each_filter_rejects_with_its_explanation() {
    type Case = (
        &'static str,
        fn(Node) -> Node,
        fn(&mut TaskRequest),
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "down",
            |n| Node {
                state: NodeState::Down,
                ..n
            },
            |_| {},
            "1 node: down",
        ),
        (
            "paused",
            |n| Node {
                availability: Availability::Pause,
                ..n
            },
            |_| {},
            "1 node: paused",
        ),
        (
            "drained",
            |n| Node {
                availability: Availability::Drain,
                ..n
            },
            |_| {},
            "1 node: drained",
        ),
        (
            "cpu",
            |n| n,
            |t| t.reservations.nano_cpus = 5 * CPU,
            "1 node: insufficient CPU",
        ),
        (
            "memory",
            |n| n,
            |t| t.reservations.memory_bytes = 9 * GIB,
            "1 node: insufficient memory",
        ),
        (
            "reserved memory",
            |mut n| {
                n.reserved.memory_bytes = 7 * GIB;
                n
            },
            |t| t.reservations.memory_bytes = 2 * GIB,
            "1 node: insufficient memory",
        ),
        (
            "generic",
            |mut n| {
                n.resources.generic.insert("gpu".into(), 1);
                n
            },
            |t| {
                t.reservations.generic.insert("gpu".into(), 2);
            },
            "1 node: insufficient generic resource gpu",
        ),
        (
            "constraint",
            |n| with_label(n, "zone", "a"),
            |t| t.constraints = vec!["node.labels.zone==b".into()],
            "1 node: constraint node.labels.zone==b",
        ),
        (
            "role",
            |n| Node {
                role: Role::Manager,
                ..n
            },
            |t| t.constraints = vec!["node.role!=manager".into()],
            "1 node: constraint node.role!=manager",
        ),
        (
            "platform",
            |n| n,
            |t| t.platforms = vec![Platform::new("linux", "arm64")],
            "1 node: unsupported platform",
        ),
        (
            "host port",
            |mut n| {
                n.host_ports.insert(HostPort::tcp(8080));
                n
            },
            |t| t.host_ports = vec![HostPort::tcp(8080)],
            "1 node: host port 8080/tcp in use",
        ),
        (
            "max replicas",
            |n| with_tasks(n, "svc", 2),
            |t| t.max_replicas = 2,
            "1 node: max replicas per node (2) reached",
        ),
    ];
    for (name, shape_node, shape_task, want) in cases {
        let snapshot = Snapshot {
            nodes: vec![shape_node(node("n1"))],
        };
        let mut t = task("t1", "svc");
        shape_task(&mut t);
        let d = schedule(&snapshot, &[t]);
        assert_eq!(
            pending_text(&d[0]),
            format!("no suitable node ({want})"),
            "{name}"
        );
    }
}

#[test]
fn the_explanation_counts_nodes_per_reason() {
    let mut small1 = node("n1");
    small1.resources.memory_bytes = GIB;
    let mut small2 = node("n2");
    small2.resources.memory_bytes = 2 * GIB;
    let snapshot = Snapshot {
        nodes: vec![
            with_label(small1, "zone", "a"),
            with_label(small2, "zone", "a"),
            with_label(node("n3"), "zone", "b"),
            Node {
                availability: Availability::Drain,
                ..with_label(node("n4"), "zone", "a")
            },
        ],
    };
    let t = TaskRequest {
        reservations: Resources {
            memory_bytes: 4 * GIB,
            ..Resources::default()
        },
        constraints: vec!["node.labels.zone==a".into()],
        ..task("t1", "svc")
    };
    let d = schedule(&snapshot, &[t]);
    assert_eq!(
        pending_text(&d[0]),
        "no suitable node (2 nodes: insufficient memory; 1 node: constraint node.labels.zone==a; 1 node: drained)"
    );
}

#[test]
fn an_empty_cluster_leaves_tasks_pending_without_reasons() {
    let d = schedule(&Snapshot::default(), &[task("t1", "svc")]);
    assert_eq!(pending_text(&d[0]), "no suitable node");
}

#[test]
fn spread_prefers_fewest_service_tasks_then_fewest_tasks_then_node_id() {
    type Case = (&'static str, Vec<Node>, usize, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (
            "ties by id",
            vec![node("b"), node("c"), node("a")],
            4,
            vec!["a", "b", "c", "a"],
        ),
        (
            "service count first",
            vec![
                with_tasks(node("n1"), "web", 2),
                with_tasks(node("n2"), "db", 5),
                with_tasks(node("n3"), "db", 1),
            ],
            3,
            vec!["n3", "n2", "n3"],
        ),
        (
            "fills the emptiest up to the others",
            vec![with_tasks(node("n1"), "web", 3), node("n2")],
            4,
            vec!["n2", "n2", "n2", "n1"],
        ),
    ];
    for (name, nodes, count, want) in cases {
        let d = schedule(&Snapshot { nodes }, &tasks(count, "web", &task("", "web")));
        assert_eq!(nodes_of(&d), want, "{name}");
    }
}

#[test]
fn reservations_are_charged_so_a_batch_never_overcommits() {
    let mut nodes = vec![node("n1"), node("n2"), node("n3")];
    for n in &mut nodes {
        n.resources.memory_bytes = 2 * GIB;
    }
    let template = TaskRequest {
        reservations: Resources {
            memory_bytes: GIB,
            nano_cpus: CPU,
            ..Resources::default()
        },
        ..task("", "web")
    };
    let d = schedule(&Snapshot { nodes }, &tasks(7, "web", &template));
    assert_eq!(nodes_of(&d), ["n1", "n2", "n3", "n1", "n2", "n3", "-"]);
    assert_eq!(
        pending_text(&d[6]),
        "no suitable node (3 nodes: insufficient memory)"
    );
}

#[test]
fn later_services_see_what_earlier_ones_reserved() {
    let mut n1 = node("n1");
    n1.resources.generic.insert("gpu".into(), 1);
    let gpu = TaskRequest {
        reservations: Resources {
            generic: [("gpu".to_string(), 1)].into(),
            ..Resources::default()
        },
        ..task("", "")
    };
    let mut batch = tasks(1, "a", &gpu);
    batch.extend(tasks(1, "b", &gpu));
    let d = schedule(
        &Snapshot {
            nodes: vec![n1, node("n2")],
        },
        &batch,
    );
    assert_eq!(d[0].node_id(), Some("n1"));
    assert_eq!(
        pending_text(&d[1]),
        "no suitable node (2 nodes: insufficient generic resource gpu)"
    );
}

#[test]
fn a_kind_reserved_by_name_waits_on_every_node_saying_so() {
    let mut n1 = node("n1");
    n1.resources.generic.insert("gpu".into(), 2);
    let named = TaskRequest {
        named_generic: vec!["gpu".into()],
        ..task("", "")
    };
    // A plain task first in the batch: the named one must not share its pool of nodes.
    let mut batch = tasks(1, "plain", &task("", ""));
    batch.extend(tasks(1, "a", &named));
    let d = schedule(
        &Snapshot {
            nodes: vec![n1, node("n2")],
        },
        &batch,
    );
    assert!(d[0].node_id().is_some());
    assert_eq!(
        pending_text(&d[1]),
        "no suitable node (2 nodes: generic resource gpu reserved by name (a task reserves a count: gpu=N))"
    );
}

#[test]
fn host_ports_and_max_replicas_are_charged_within_a_batch() {
    let ports = TaskRequest {
        host_ports: vec![HostPort::tcp(80)],
        ..task("", "")
    };
    let d = schedule(
        &Snapshot {
            nodes: vec![node("n1"), node("n2")],
        },
        &tasks(3, "web", &ports),
    );
    assert_eq!(nodes_of(&d), ["n1", "n2", "-"]);
    assert_eq!(
        pending_text(&d[2]),
        "no suitable node (2 nodes: host port 80/tcp in use)"
    );

    let capped = TaskRequest {
        max_replicas: 2,
        ..task("", "")
    };
    let d = schedule(
        &Snapshot {
            nodes: vec![node("n1"), node("n2")],
        },
        &tasks(5, "web", &capped),
    );
    assert_eq!(nodes_of(&d), ["n1", "n2", "n1", "n2", "-"]);
    assert_eq!(
        pending_text(&d[4]),
        "no suitable node (2 nodes: max replicas per node (2) reached)"
    );
}

fn rack(id: &str, zone: Option<&str>, rack: &str) -> Node {
    let n = with_label(node(id), "rack", rack);
    match zone {
        Some(z) => with_label(n, "zone", z),
        None => n,
    }
}

#[test]
fn preferences_split_a_service_evenly_over_several_levels() {
    let nodes = vec![
        rack("a1", Some("a"), "r1"),
        rack("a2", Some("a"), "r1"),
        rack("a3", Some("a"), "r2"),
        rack("b1", Some("b"), "r1"),
        rack("x1", None, "r9"),
    ];
    let spread = TaskRequest {
        preferences: vec![
            Preference::spread("node.labels.zone"),
            Preference::spread("node.labels.rack"),
        ],
        ..task("", "")
    };
    let d = schedule(&Snapshot { nodes }, &tasks(9, "web", &spread));
    let mut per_node: std::collections::BTreeMap<&str, usize> = Default::default();
    for n in nodes_of(&d) {
        *per_node.entry(n).or_default() += 1;
    }
    // Zones "", a, b get 3 each; zone a splits 2 + 1 over its racks, r1 over its two nodes.
    let want: Vec<(&str, usize)> = vec![("a1", 1), ("a2", 1), ("a3", 1), ("b1", 3), ("x1", 3)];
    assert_eq!(per_node.into_iter().collect::<Vec<_>>(), want);
}

#[test]
fn preferences_count_existing_tasks_per_label_value() {
    let nodes = vec![
        with_tasks(rack("a1", Some("a"), "r1"), "web", 2),
        rack("a2", Some("a"), "r2"),
        rack("b1", Some("b"), "r1"),
        with_tasks(rack("c1", Some("c"), "r1"), "web", 1),
        // A drained node still counts for its zone, as in swarmkit.
        Node {
            availability: Availability::Drain,
            ..with_tasks(rack("d1", Some("d"), "r1"), "web", 3)
        },
        rack("d2", Some("d"), "r1"),
    ];
    let spread = TaskRequest {
        preferences: vec![Preference::spread("node.labels.zone")],
        ..task("", "")
    };
    let d = schedule(&Snapshot { nodes }, &tasks(4, "web", &spread));
    assert_eq!(nodes_of(&d), ["b1", "b1", "c1", "a2"]);
}

#[test]
fn engine_labels_and_case_insensitive_prefixes_work_as_preferences() {
    let mut n1 = node("n1");
    n1.engine_labels.insert("dc".into(), "x".into());
    let mut n2 = node("n2");
    n2.engine_labels.insert("dc".into(), "x".into());
    let mut n3 = node("n3");
    n3.engine_labels.insert("dc".into(), "y".into());
    let spread = TaskRequest {
        preferences: vec![Preference::spread("Engine.Labels.dc")],
        ..task("", "")
    };
    let d = schedule(
        &Snapshot {
            nodes: vec![n1, n2, n3],
        },
        &tasks(4, "web", &spread),
    );
    assert_eq!(nodes_of(&d), ["n1", "n3", "n2", "n3"]);
}

#[test]
fn a_full_branch_gives_way_to_the_others() {
    let mut full = rack("a1", Some("a"), "r1");
    full.resources.memory_bytes = GIB;
    let nodes = vec![
        full,
        rack("b1", Some("b"), "r1"),
        rack("b2", Some("b"), "r2"),
    ];
    let spread = TaskRequest {
        preferences: vec![Preference::spread("node.labels.zone")],
        reservations: Resources {
            memory_bytes: GIB,
            ..Resources::default()
        },
        ..task("", "")
    };
    let d = schedule(&Snapshot { nodes }, &tasks(4, "web", &spread));
    assert_eq!(nodes_of(&d), ["a1", "b1", "b2", "b1"]);
}

#[test]
fn constraints_select_nodes_including_pinned_and_inequality_ones() {
    let nodes = vec![
        Node {
            role: Role::Manager,
            ..with_label(node("m1"), "zone", "a")
        },
        with_label(node("w1"), "zone", "a"),
        with_label(node("w2"), "zone", "b"),
        with_label(node("w3"), "zone", "A"),
    ];
    type Case = (Vec<&'static str>, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (vec!["node.labels.zone==a"], vec!["m1", "w1", "w3", "m1"]),
        (
            vec!["node.labels.zone==a", "node.role!=manager"],
            vec!["w1", "w3", "w1", "w3"],
        ),
        (vec!["node.hostname==host-w2"], vec!["w2", "w2", "w2", "w2"]),
        (
            vec!["node.id!=w2", "node.role==worker"],
            vec!["w1", "w3", "w1", "w3"],
        ),
        (vec!["node.labels.zone==c"], vec!["-", "-", "-", "-"]),
    ];
    for (constraints, want) in cases {
        let t = TaskRequest {
            constraints: constraints.iter().map(|c| c.to_string()).collect(),
            ..task("", "")
        };
        let d = schedule(
            &Snapshot {
                nodes: nodes.clone(),
            },
            &tasks(4, "web", &t),
        );
        assert_eq!(nodes_of(&d), want, "{constraints:?}");
    }
}

#[test]
fn an_invalid_request_is_an_error_and_does_not_stop_the_batch() {
    let bad = TaskRequest {
        constraints: vec!["node.labels.zone=a".into()],
        ..task("bad", "x")
    };
    // A spread over nothing a node has is skipped (swarmkit's way), not an invalid request.
    let unknown_pref = TaskRequest {
        preferences: vec![Preference::spread("com.example.nothing")],
        ..task("pref", "y")
    };
    let d = schedule(
        &Snapshot {
            nodes: vec![node("n1")],
        },
        &[bad, unknown_pref, task("good", "z")],
    );
    assert_eq!(
        d[0].outcome,
        Outcome::Invalid(ScheduleError::MissingOperator {
            constraint: "node.labels.zone=a".into()
        })
    );
    assert_eq!(d[1].node_id(), Some("n1"));
    assert_eq!(d[2].node_id(), Some("n1"));
}

#[test]
fn decisions_follow_task_order_across_interleaved_services() {
    let batch = vec![
        task("a1", "a"),
        task("b1", "b"),
        task("a2", "a"),
        task("b2", "b"),
    ];
    let d = schedule(
        &Snapshot {
            nodes: vec![node("n1"), node("n2")],
        },
        &batch,
    );
    let ids: Vec<&str> = d.iter().map(|d| d.task_id.as_str()).collect();
    assert_eq!(ids, ["a1", "b1", "a2", "b2"]);
    // Service a is placed first (n1, n2), then b sees both nodes at one task each.
    assert_eq!(nodes_of(&d), ["n1", "n1", "n2", "n2"]);
}

#[test]
fn tasks_of_one_service_with_different_specs_are_placed_apart() {
    let small = task("small", "web");
    let big = TaskRequest {
        reservations: Resources {
            memory_bytes: 6 * GIB,
            ..Resources::default()
        },
        ..task("big", "web")
    };
    let mut n1 = node("n1");
    n1.resources.memory_bytes = 4 * GIB;
    let d = schedule(
        &Snapshot {
            nodes: vec![n1, node("n2")],
        },
        &[small, big],
    );
    assert_eq!(nodes_of(&d), ["n1", "n2"]);
}

#[test]
fn output_is_the_same_whatever_the_node_order_or_the_run() {
    let mut nodes: Vec<Node> = (0..20)
        .map(|i| {
            let n = with_label(node(&format!("n{i:02}")), "zone", ["a", "b", "c"][i % 3]);
            with_tasks(n, "other", u32::try_from(i % 4).unwrap())
        })
        .collect();
    let spread = TaskRequest {
        preferences: vec![Preference::spread("node.labels.zone")],
        ..task("", "")
    };
    let mut batch = tasks(30, "web", &spread);
    batch.extend(tasks(10, "db", &task("", "")));
    let first = schedule(
        &Snapshot {
            nodes: nodes.clone(),
        },
        &batch,
    );
    assert_eq!(
        schedule(
            &Snapshot {
                nodes: nodes.clone()
            },
            &batch
        ),
        first
    );
    nodes.reverse();
    nodes.swap(3, 11);
    assert_eq!(schedule(&Snapshot { nodes }, &batch), first);
}

#[test]
fn a_repeated_node_id_keeps_the_first_node() {
    let drained = Node {
        availability: Availability::Drain,
        ..node("n1")
    };
    let d = schedule(
        &Snapshot {
            nodes: vec![node("n1"), drained],
        },
        &[task("t", "s")],
    );
    assert_eq!(d[0].node_id(), Some("n1"));
}

#[test]
fn a_later_service_breaks_label_value_ties_by_what_earlier_ones_placed() {
    let nodes = vec![
        rack("a1", Some("a"), "r1"),
        rack("b1", Some("b"), "r1"),
        rack("c1", Some("c"), "r1"),
    ];
    let spread = TaskRequest {
        preferences: vec![Preference::spread("node.labels.zone")],
        ..task("", "")
    };
    let mut batch = tasks(1, "s1", &spread);
    batch.extend(tasks(1, "s2", &spread));
    let d = schedule(&Snapshot { nodes }, &batch);
    assert_eq!(nodes_of(&d), ["a1", "b1"]);
}

#[test]
fn a_repeated_failing_demand_is_explained_afresh_after_a_placement() {
    let mut n1 = node("n1");
    n1.resources.nano_cpus = 2 * CPU;
    n1.resources.memory_bytes = 2 * GIB;
    let mut n2 = node("n2");
    n2.host_ports.insert(HostPort::tcp(80));
    let big = TaskRequest {
        reservations: Resources {
            nano_cpus: CPU,
            memory_bytes: 5 * GIB,
            ..Resources::default()
        },
        host_ports: vec![HostPort::tcp(80)],
        ..task("", "")
    };
    let cpu_hog = TaskRequest {
        reservations: Resources {
            nano_cpus: 4 * CPU,
            ..Resources::default()
        },
        ..task("", "")
    };
    let mut batch = tasks(1, "s1", &big);
    batch.extend(tasks(1, "s2", &big));
    batch.extend(tasks(1, "s3", &cpu_hog));
    batch.extend(tasks(1, "s4", &big));
    let d = schedule(
        &Snapshot {
            nodes: vec![n1, n2],
        },
        &batch,
    );
    let before = "no suitable node (1 node: host port 80/tcp in use; 1 node: insufficient memory)";
    assert_eq!(pending_text(&d[0]), before);
    assert_eq!(pending_text(&d[1]), before);
    assert_eq!(d[2].node_id(), Some("n2"));
    assert_eq!(
        pending_text(&d[3]),
        "no suitable node (1 node: insufficient CPU; 1 node: insufficient memory)"
    );
}

#[test]
fn node_attributes_work_as_preferences_and_others_are_named_as_ignored() {
    // Two managers and a worker: spread over the role splits the tasks between the roles
    // first (swarmkit skips such a level; it then spreads over the three nodes alike).
    let mut m1 = node("m1");
    m1.role = Role::Manager;
    let mut m2 = node("m2");
    m2.role = Role::Manager;
    let spread = TaskRequest {
        preferences: vec![Preference::spread("node.role")],
        ..task("", "")
    };
    let d = schedule(
        &Snapshot {
            nodes: vec![m1, m2, node("w1")],
        },
        &tasks(4, "web", &spread),
    );
    let on_worker = nodes_of(&d).iter().filter(|n| **n == "w1").count();
    assert_eq!(on_worker, 2, "{:?}", nodes_of(&d));
    // Over the node id: one group per node, the default spread.
    let by_id = TaskRequest {
        preferences: vec![Preference::spread("node.id")],
        ..task("", "")
    };
    let d = schedule(
        &Snapshot {
            nodes: vec![node("n1"), node("n2")],
        },
        &tasks(4, "web", &by_id),
    );
    assert_eq!(nodes_of(&d), ["n1", "n2", "n1", "n2"]);
    assert_eq!(
        crate::ignored_preferences(&[
            Preference::spread("node.ip"),
            Preference::spread("node.id"),
            Preference::spread("com.dockerpy.test"),
        ]),
        ["node.ip", "com.dockerpy.test"]
    );
}
