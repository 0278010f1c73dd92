//! The dispatcher's pure parts: assignment versions, which reports are written, liveness
//! (with tokio's clock paused) and what a session writes about its node.

use std::time::Duration;

use berth_raft::{Attrs, ClusterState, NodeRole, ObjectKind, Op};
use bollard_stubs::models::NodeDescription;
use serde_json::json;

use super::*;
use crate::fixtures::{apply, commit, node, service, t0, TaskFixture};
use crate::model::{DesiredState, Node, NodeState, TaskState, TaskStatus};

fn two_nodes() -> ClusterState {
    let mut s = ClusterState::default();
    apply(
        &mut s,
        vec![
            node("n1", NodeRole::Manager, "active", "ready"),
            node("n2", NodeRole::Worker, "active", "ready"),
            service(2, json!({})),
        ],
    );
    let mut t2 = TaskFixture::running("t2", 2);
    t2.node = Some("n2");
    apply(&mut s, vec![TaskFixture::running("t1", 1).op(), t2.op()]);
    s
}

fn node_state(s: &ClusterState, id: &str) -> NodeState {
    Node::parse(s.get(ObjectKind::Node, id).unwrap())
        .unwrap()
        .state()
}

#[test]
fn a_nodes_assignments_are_its_own_tasks_and_their_version_follows_changes() {
    let mut s = two_nodes();
    let (v1, tasks) = assignments(&s, "n1");
    assert_eq!(
        tasks.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["t1"]
    );
    assert_eq!(assignments(&s, "n1").0, v1, "stable while nothing changes");
    let set_state = |s: &mut ClusterState, state| {
        let status = TaskStatus::new(state, "x", None, t0()).to_value();
        apply(
            s,
            vec![Op::UpdateStatus {
                kind: ObjectKind::Task,
                id: "t1".into(),
                expected_version: None,
                status,
            }],
        );
    };
    // What the node reports itself (swarmkit's dispatcher sends nothing for it either).
    set_state(&mut s, TaskState::Failed);
    assert_eq!(assignments(&s, "n1").0, v1, "the node's own report");
    // What the scheduler writes, below `Assigned`, the node learns.
    set_state(&mut s, TaskState::Pending);
    let pending = assignments(&s, "n1").0;
    assert_ne!(pending, v1);
    set_state(&mut s, TaskState::Assigned);
    let assigned = assignments(&s, "n1").0;
    assert_ne!(assigned, pending);
    // The node's first report after it was given the task.
    set_state(&mut s, TaskState::Starting);
    assert_eq!(assignments(&s, "n1").0, assigned, "the node's first report");
    let o = s.get(ObjectKind::Task, "t1").unwrap().clone();
    let Attrs::Task {
        service_id,
        node_id,
        ..
    } = o.attrs
    else {
        unreachable!()
    };
    let attrs = Attrs::Task {
        service_id,
        node_id,
        desired_state: DesiredState::Shutdown,
    };
    apply(
        &mut s,
        vec![Op::Update {
            id: "t1".into(),
            expected_version: None,
            attrs,
            spec: o.spec,
            status: o.status,
        }],
    );
    assert_ne!(assignments(&s, "n1").0, assigned, "the desired state");
    let before = assignments(&s, "n1").0;
    apply(
        &mut s,
        vec![Op::Delete {
            kind: ObjectKind::Task,
            id: "t2".into(),
            expected_version: None,
        }],
    );
    assert_eq!(
        assignments(&s, "n1").0,
        before,
        "another node's task does not count"
    );
}

#[test]
fn only_changed_reports_of_the_reporting_nodes_tasks_are_written() {
    let s = two_nodes();
    let running = TaskStatus::new(TaskState::Running, "started", None, t0());
    let failed = TaskStatus::new(TaskState::Failed, "started", Some("exit 1"), t0());
    let updates = vec![
        ("t1".to_string(), running.clone()),
        ("t1".to_string(), failed.clone()),
        ("t2".to_string(), failed),
        ("gone".to_string(), running),
    ];
    let plan = report_updates(&s, "n1", &updates);
    let ids: Vec<&str> = plan
        .commands
        .iter()
        .flat_map(|c| &c.ops)
        .filter_map(|op| match op {
            Op::UpdateStatus { id, status, .. } => {
                assert_eq!(status["State"], "failed");
                Some(id.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(ids, ["t1"], "t1 was running already; t2 is n2's");
}

#[tokio::test(start_paused = true)]
async fn a_node_silent_for_three_heartbeats_is_marked_down() {
    let mut s = two_nodes();
    let live = Liveness::new(Duration::from_secs(1));
    live.lead();
    tokio::time::advance(Duration::from_millis(2900)).await;
    live.beat("n2");
    assert!(
        live.expire(&s).commands.is_empty(),
        "a full grace period after leading"
    );
    tokio::time::advance(Duration::from_millis(200)).await;
    let plan = live.expire(&s);
    assert_eq!(commit(&mut s, &plan), 1);
    assert_eq!(node_state(&s, "n1"), NodeState::Down);
    assert_eq!(node_state(&s, "n2"), NodeState::Ready, "it beat 200 ms ago");
    let status = &s.get(ObjectKind::Node, "n1").unwrap().status;
    assert_eq!(
        status["Status"]["Message"],
        "heartbeat failure for node in \"unknown\" state"
    );
    assert!(live.expire(&s).commands.is_empty(), "down is written once");
}

#[tokio::test(start_paused = true)]
async fn a_broken_session_marks_its_node_down_after_one_period_unless_it_returns() {
    let s = two_nodes();
    let live = Liveness::new(Duration::from_secs(1));
    live.lead();
    live.beat("n1");
    live.beat("n2");
    {
        let _g = SessionGuard::new(&live, "n1");
        let g = SessionGuard::new(&live, "n2");
        g.answered();
    }
    tokio::time::advance(Duration::from_millis(1100)).await;
    live.beat("n2");
    let plan = live.expire(&s);
    let downed: Vec<&str> = plan
        .commands
        .iter()
        .flat_map(|c| &c.ops)
        .filter_map(|op| match op {
            Op::UpdateStatus { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(downed, ["n1"]);
    live.beat("n1");
    assert!(live.expire(&s).commands.is_empty(), "it came back");
}

#[test]
fn the_heartbeat_follows_the_cluster_spec_but_never_below_100_ms() {
    let mut s = two_nodes();
    apply(&mut s, vec![crate::fixtures::cluster(5)]);
    let live = Liveness::new(Duration::from_secs(5));
    let mut spec = s.get(ObjectKind::Cluster, "cl").unwrap().spec.clone();
    spec["Dispatcher"] = json!({ "HeartbeatPeriod": 2_000_000_000u64 });
    let o = crate::fixtures::object(
        "cl",
        berth_raft::Attrs::Cluster {
            name: "default".into(),
        },
        spec.clone(),
        s.get(ObjectKind::Cluster, "cl").unwrap().status.clone(),
    );
    live.follow(&crate::model::Cluster::parse(&o).unwrap());
    assert_eq!(live.period(), Duration::from_secs(2));
    spec["Dispatcher"] = json!({ "HeartbeatPeriod": 1_000_000u64 });
    let o = crate::fixtures::object(
        "cl",
        berth_raft::Attrs::Cluster {
            name: "default".into(),
        },
        spec,
        o.status.clone(),
    );
    live.follow(&crate::model::Cluster::parse(&o).unwrap());
    assert_eq!(live.period(), Duration::from_secs(2));
}

#[test]
fn a_session_writes_its_node_only_when_something_changed() {
    let mut s = two_nodes();
    let desc = NodeDescription {
        hostname: Some("h2".into()),
        ..NodeDescription::default()
    };
    let n = s.get(ObjectKind::Node, "n2").unwrap().clone();
    let update = session_update(
        &Node::parse(&n).unwrap(),
        &desc,
        "10.0.0.2",
        "10.0.0.2:2377",
    );
    let update = update.expect("new description and address");
    let r = s.apply(&update);
    assert!(matches!(r, berth_raft::ClusterResponse::Applied { .. }));
    let n = s.get(ObjectKind::Node, "n2").unwrap().clone();
    let node = Node::parse(&n).unwrap();
    assert_eq!(node.status.advertise_addr.as_deref(), Some("10.0.0.2:2377"));
    assert_eq!(node.hostname(), "h2");
    assert!(session_update(&node, &desc, "10.0.0.2", "10.0.0.2:2377").is_none());
    assert!(
        session_update(&node, &desc, "10.0.0.3", "").is_some(),
        "a new address"
    );
}

#[test]
fn a_down_node_that_calls_again_is_ready() {
    let mut s = two_nodes();
    crate::fixtures::set_node_state(&mut s, "n2", "down");
    let n = s.get(ObjectKind::Node, "n2").unwrap().clone();
    let node = Node::parse(&n).unwrap();
    let desc = node.status.description.clone().unwrap_or_default();
    let addr = node.status.status.addr.clone().unwrap_or_default();
    let update = session_update(&node, &desc, &addr, "").expect("down → ready");
    s.apply(&update);
    assert_eq!(node_state(&s, "n2"), NodeState::Ready);
}

#[test]
fn manager_addresses_come_from_manager_nodes_sorted() {
    let mut s = ClusterState::default();
    let mut a = node("m2", NodeRole::Manager, "active", "ready");
    let mut b = node("m1", NodeRole::Manager, "active", "ready");
    for (op, addr) in [(&mut a, "10.0.0.9:2377"), (&mut b, "10.0.0.1:2377")] {
        if let Op::Create { status, .. } = op {
            status["ManagerAddr"] = json!(addr);
        }
    }
    apply(
        &mut s,
        vec![a, b, node("w", NodeRole::Worker, "active", "ready")],
    );
    assert_eq!(manager_addrs(&s), ["10.0.0.1:2377", "10.0.0.9:2377"]);
}
