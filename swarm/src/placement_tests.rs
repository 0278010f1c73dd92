//! The scheduling pass on hand-built states: where waiting tasks go, why one cannot go
//! anywhere, and when nothing needs writing.

use berth_raft::{Attrs, ClusterState, NodeRole, Op};
use serde_json::json;

use super::place;
use crate::fixtures::{
    apply, commit, labelled_node, node, service_with, summary, t0, template, TaskFixture,
};
use crate::model::TaskState;

fn waiting(s: &mut ClusterState, id: &str, slot: u64) {
    waiting_with(s, id, slot, template("V=1"));
}

/// A pending task made from `template`.
fn waiting_with(s: &mut ClusterState, id: &str, slot: u64, template: serde_json::Value) {
    let mut t = TaskFixture::running(id, slot);
    t.node = None;
    t.state = TaskState::Pending;
    let mut op = t.op();
    if let Op::Create { spec, .. } = &mut op {
        spec["template"] = template;
    }
    apply(s, vec![op]);
}

fn cluster(nodes: Vec<Op>, template: serde_json::Value) -> ClusterState {
    let mut s = ClusterState::default();
    let mode = json!({ "Replicated": { "Replicas": 2 } });
    let mut ops = nodes;
    ops.push(service_with("svc", "web", template, mode, json!({})));
    apply(&mut s, ops);
    s
}

/// (task, node) of each assignment in a plan.
fn assignments(s: &ClusterState) -> Vec<(String, Option<String>, String)> {
    let out = summary(&place(s, t0(), &mut Default::default()));
    out.assigned
        .into_iter()
        .map(|(id, n, st)| (id, n, st["State"].as_str().unwrap_or("").to_string()))
        .collect()
}

#[test]
fn waiting_tasks_are_assigned_and_spread_over_ready_nodes() {
    let mut s = cluster(
        vec![
            node("n1", NodeRole::Manager, "active", "ready"),
            node("n2", NodeRole::Worker, "active", "ready"),
        ],
        template("V=1"),
    );
    waiting(&mut s, "t1", 1);
    waiting(&mut s, "t2", 2);
    let got = assignments(&s);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|(_, _, st)| st == "assigned"));
    let mut nodes: Vec<_> = got.iter().filter_map(|g| g.1.clone()).collect();
    nodes.sort();
    assert_eq!(nodes, ["n1", "n2"], "one task per node");
}

#[test]
fn drained_down_and_paused_nodes_get_nothing_and_the_task_says_why() {
    let mut s = cluster(
        vec![
            node("n1", NodeRole::Worker, "drain", "ready"),
            node("n2", NodeRole::Worker, "active", "down"),
            node("n3", NodeRole::Worker, "pause", "ready"),
        ],
        template("V=1"),
    );
    waiting(&mut s, "t1", 1);
    let got = summary(&place(&s, t0(), &mut Default::default())).assigned;
    assert_eq!(got.len(), 1);
    let (_, node, status) = &got[0];
    assert_eq!(*node, None);
    assert_eq!(status["State"], "pending");
    let err = status["Err"].as_str().unwrap();
    assert!(err.starts_with("no suitable node ("), "{err}");
    // Said once (berth wrapped the explanation in its own words again).
    assert_eq!(err.matches("no suitable node").count(), 1, "{err}");
}

#[test]
fn an_unchanged_explanation_is_not_written_again() {
    let mut s = cluster(
        vec![node("n1", NodeRole::Worker, "drain", "ready")],
        template("V=1"),
    );
    waiting(&mut s, "t1", 1);
    let plan = place(&s, t0(), &mut Default::default());
    assert_eq!(commit(&mut s, &plan), 1);
    assert!(place(&s, t0(), &mut Default::default()).commands.is_empty());
}

#[test]
fn constraints_pick_the_matching_node() {
    let mut t = template("V=1");
    t["Placement"] = json!({ "Constraints": ["node.labels.disk==ssd"] });
    let mut s = cluster(
        vec![
            labelled_node("hdd", json!({ "disk": "hdd" })),
            labelled_node("ssd", json!({ "disk": "ssd" })),
        ],
        t.clone(),
    );
    waiting_with(&mut s, "t1", 1, t.clone());
    waiting_with(&mut s, "t2", 2, t);
    let got = assignments(&s);
    assert!(got.iter().all(|g| g.1.as_deref() == Some("ssd")), "{got:?}");
}

#[test]
fn an_invalid_constraint_leaves_the_task_pending_with_the_reason() {
    let mut t = template("V=1");
    t["Placement"] = json!({ "Constraints": ["node.labels.disk~~ssd"] });
    let mut s = cluster(
        vec![node("n1", NodeRole::Worker, "active", "ready")],
        t.clone(),
    );
    waiting_with(&mut s, "t1", 1, t);
    let got = summary(&place(&s, t0(), &mut Default::default())).assigned;
    let err = got[0].2["Err"].as_str().unwrap();
    assert!(err.starts_with("invalid placement: "), "{err}");
}

#[test]
fn reservations_count_against_a_nodes_resources() {
    let mut t = template("V=1");
    t["Resources"] = json!({ "Reservations": { "MemoryBytes": 768u64 << 20 } });
    let big = Op::Create {
        id: "n1".into(),
        attrs: Attrs::Node {
            role: NodeRole::Worker,
        },
        spec: json!({ "Availability": "active" }),
        status: json!({ "Status": { "State": "ready" },
                        "Description": { "Hostname": "h", "Resources": {
                            "NanoCPUs": 2_000_000_000u64, "MemoryBytes": 1u64 << 30 } } }),
    };
    let mut s = cluster(vec![big], t.clone());
    waiting_with(&mut s, "t1", 1, t.clone());
    waiting_with(&mut s, "t2", 2, t);
    let got = assignments(&s);
    let placed = got.iter().filter(|g| g.1.is_some()).count();
    assert_eq!(placed, 1, "768 MiB twice does not fit in 1 GiB: {got:?}");
}

#[test]
fn only_tasks_that_should_run_are_placed() {
    let mut s = cluster(
        vec![node("n1", NodeRole::Worker, "active", "ready")],
        template("V=1"),
    );
    let mut t = TaskFixture::running("t1", 1);
    t.node = None;
    t.desired = crate::model::DesiredState::Shutdown;
    apply(&mut s, vec![t.op()]);
    assert!(place(&s, t0(), &mut Default::default()).commands.is_empty());
}

#[test]
fn a_waiting_task_that_cannot_be_read_is_reported() {
    let mut s = cluster(
        vec![node("n1", NodeRole::Worker, "active", "ready")],
        template("V=1"),
    );
    apply(
        &mut s,
        vec![Op::Create {
            id: "bad".into(),
            attrs: Attrs::Task {
                service_id: "svc".into(),
                node_id: None,
                desired_state: crate::model::DesiredState::Running,
            },
            spec: json!({ "slot": 1, "service_name": "web", "template": { "ContainerSpec": 5 } }),
            status: json!({ "State": "pending" }),
        }],
    );
    let plan = place(&s, t0(), &mut Default::default());
    assert!(plan.commands.is_empty());
    assert_eq!(plan.problems[0].id, "bad");
}

/// The names of generic resources each assigned task of `plan` was given.
fn given_names(plan: &crate::plan::Plan) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for op in plan.commands.iter().flat_map(|c| &c.ops) {
        if let Op::Update { id, spec, .. } = op {
            let names = spec["generic_resources"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["NamedResourceSpec"]["Value"].as_str())
                .map(String::from)
                .collect();
            out.push((id.clone(), names));
        }
    }
    out.sort();
    out
}

/// Worker `n1`, ready, advertising a gpu by each of `names`.
fn gpu_node(names: &[&str]) -> Op {
    let gpus: Vec<_> = names
        .iter()
        .map(|n| json!({ "NamedResourceSpec": { "Kind": "gpu", "Value": n } }))
        .collect();
    Op::Create {
        id: "n1".into(),
        attrs: Attrs::Node {
            role: NodeRole::Worker,
        },
        spec: json!({ "Availability": "active", "Labels": {} }),
        status: json!({ "Status": { "State": "ready" },
                        "Description": { "Hostname": "gpu-host",
                                         "Resources": { "GenericResources": gpus } } }),
    }
}

#[test]
fn named_generic_resources_go_to_one_task_each_and_shortage_is_explained() {
    let gpu_node = gpu_node(&["A", "B", "C"]);
    let plain_node = node("n2", NodeRole::Worker, "active", "ready");
    let mut wants = template("V=1");
    wants["Resources"] = json!({ "Reservations": { "GenericResources": [
        { "DiscreteResourceSpec": { "Kind": "gpu", "Value": 1 } } ] } });
    let mut s = cluster(vec![gpu_node, plain_node], wants.clone());
    waiting_with(&mut s, "t1", 1, wants.clone());
    let plan = place(&s, t0(), &mut Default::default());
    assert_eq!(
        given_names(&plan),
        [("t1".to_string(), vec!["A".to_string()])]
    );
    commit(&mut s, &plan);
    for (id, slot) in [("t2", 2), ("t3", 3), ("t4", 4)] {
        waiting_with(&mut s, id, slot, wants.clone());
    }
    let plan = place(&s, t0(), &mut Default::default());
    let given = given_names(&plan);
    assert_eq!(given[0], ("t2".to_string(), vec!["B".to_string()]));
    assert_eq!(given[1], ("t3".to_string(), vec!["C".to_string()]));
    let pending = summary(&plan).assigned;
    let t4 = pending.iter().find(|(id, _, _)| id == "t4").unwrap();
    assert_eq!(t4.1, None, "no gpu is left");
    let why = t4.2["Err"].as_str().unwrap_or_default();
    assert!(why.contains("insufficient generic resource gpu"), "{why}");
}

#[test]
fn a_task_reserving_a_kind_by_name_waits_even_where_the_name_is_advertised() {
    let gpu_node = gpu_node(&["A"]);
    let mut wants = template("V=1");
    wants["Resources"] = json!({ "Reservations": { "GenericResources": [
        { "NamedResourceSpec": { "Kind": "gpu", "Value": "A" } } ] } });
    let mut s = cluster(vec![gpu_node], wants.clone());
    waiting_with(&mut s, "t1", 1, wants);
    let plan = place(&s, t0(), &mut Default::default());
    let pending = summary(&plan).assigned;
    let t1 = pending.iter().find(|(id, _, _)| id == "t1").unwrap();
    assert_eq!(t1.1, None, "never placed");
    let why = t1.2["Err"].as_str().unwrap_or_default();
    assert!(
        why.contains("generic resource gpu reserved by name"),
        "{why}"
    );
}

#[test]
fn tasks_the_same_pass_creates_are_placed_in_their_create_and_spread_with_the_stored_ones() {
    let mut s = cluster(
        vec![
            node("n1", NodeRole::Worker, "active", "ready"),
            node("n2", NodeRole::Worker, "active", "ready"),
        ],
        template("V=1"),
    );
    waiting(&mut s, "t1", 1);
    let mut made = crate::plan::Plan::default();
    let mut new = TaskFixture::running("t2", 2);
    new.node = None;
    new.state = TaskState::Pending;
    made.push(berth_raft::ClusterCommand::single(new.op()));
    // One that asks for a network waits for the allocator, as a stored one does.
    let mut networked = TaskFixture::running("t3", 3);
    networked.node = None;
    networked.state = TaskState::Pending;
    let mut op = networked.op();
    if let Op::Create { spec, .. } = &mut op {
        spec["template"]["Networks"] = json!([{ "Target": "net" }]);
    }
    made.push(berth_raft::ClusterCommand::single(op));
    let stored = summary(&super::place_with_new(
        &s,
        t0(),
        &mut Default::default(),
        &mut made,
    ));
    assert_eq!(stored.assigned.len(), 1, "the stored task is updated");
    let created = summary(&made).creates;
    let node_of = |id: &str| {
        made.commands
            .iter()
            .flat_map(|c| &c.ops)
            .find_map(|op| match op {
                Op::Create {
                    id: i,
                    attrs: Attrs::Task { node_id, .. },
                    ..
                } if i == id => Some(node_id.clone()),
                _ => None,
            })
    };
    let state_of = |id: &str| {
        created
            .iter()
            .find(|c| c.0 == id)
            .map(|c| c.2["State"].clone())
    };
    assert_eq!(state_of("t2"), Some(json!("assigned")));
    let mut nodes = vec![stored.assigned[0].1.clone(), node_of("t2").flatten()];
    nodes.sort();
    assert_eq!(
        nodes,
        [Some("n1".to_string()), Some("n2".to_string())],
        "spread"
    );
    assert_eq!(node_of("t3"), Some(None), "left for the allocator");
    assert_eq!(state_of("t3"), Some(json!("pending")));
}

#[test]
fn a_task_whose_reservations_cannot_be_read_still_holds_its_host_port() {
    let mut s = ClusterState::default();
    let mut svc = service_with(
        "svc",
        "web",
        template("V=1"),
        json!({ "Replicated": { "Replicas": 2 } }),
        json!({}),
    );
    if let Op::Create { spec, .. } = &mut svc {
        spec["EndpointSpec"] = json!({ "Ports": [{ "Protocol": "tcp", "TargetPort": 80,
            "PublishedPort": 8080, "PublishMode": "host" }] });
    }
    apply(
        &mut s,
        vec![node("n1", NodeRole::Manager, "active", "ready"), svc],
    );
    // Running on n1, from a template whose reservations are not numbers.
    let mut running = TaskFixture::running("t1", 1).op();
    if let Op::Create { spec, .. } = &mut running {
        spec["template"]["Resources"] = json!({ "Reservations": { "NanoCPUs": "lots" } });
    }
    apply(&mut s, vec![running]);
    waiting(&mut s, "t2", 2);
    let plan = place(&s, t0(), &mut Default::default());
    assert!(
        plan.problems.iter().any(|p| p.id == "t1"),
        "{:?}",
        plan.problems
    );
    let out = summary(&plan);
    assert!(
        out.assigned
            .iter()
            .all(|(id, node, _)| id != "t2" || node.is_none()),
        "t2 placed on n1, whose port 8080 t1 holds: {:?}",
        out.assigned
    );
}
