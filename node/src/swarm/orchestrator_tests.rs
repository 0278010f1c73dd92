//! The orchestrator's decisions on hand-built states: slots filled and trimmed, restart
//! policies, nodes that go away, rolling updates and their failure action.

use berth_raft::{
    Attrs, ClusterCommand, ClusterResponse, ClusterState, NodeRole, ObjectKind, Op, TaskState,
};
use chrono::{Duration, Utc};
use serde_json::{json, Value};

use super::reconcile;
use crate::swarm::model::{task_status, TaskDoc};

fn apply(state: &mut ClusterState, ops: Vec<Op>) {
    let r = state.apply(&ClusterCommand::new(ops));
    assert!(matches!(r, ClusterResponse::Applied { .. }), "{r:?}");
}

fn template(env: &str) -> Value {
    json!({ "ContainerSpec": { "Image": "busybox", "Env": [env] },
            "RestartPolicy": { "Condition": "any", "Delay": 5_000_000_000u64 } })
}

fn with_service(replicas: u64, update: Value) -> ClusterState {
    let mut s = ClusterState::default();
    apply(
        &mut s,
        vec![
            Op::Create {
                id: "n1".into(),
                attrs: Attrs::Node {
                    role: NodeRole::Manager,
                },
                spec: json!({ "Availability": "active" }),
                status: json!({ "Status": { "State": "ready" } }),
            },
            Op::Create {
                id: "svc".into(),
                attrs: Attrs::Service { name: "web".into() },
                spec: json!({ "Name": "web", "TaskTemplate": template("V=1"),
                              "Mode": { "Replicated": { "Replicas": replicas } },
                              "UpdateConfig": update }),
                status: json!({}),
            },
        ],
    );
    s
}

fn add_task(s: &mut ClusterState, id: &str, slot: u64, env: &str, state: &str, ago: i64) {
    let doc = TaskDoc {
        slot,
        service_name: "web".into(),
        template: template(env),
        host_ports: Value::Null,
    };
    apply(
        s,
        vec![Op::Create {
            id: id.into(),
            attrs: Attrs::Task {
                service_id: "svc".into(),
                node_id: Some("n1".into()),
                desired_state: TaskState::Running,
            },
            spec: serde_json::to_value(doc).unwrap(),
            status: task_status(state, "", None, Utc::now() - Duration::seconds(ago)),
        }],
    );
}

/// (creates, desired-state changes as (task, state), service status updates).
fn summary(cmds: &[ClusterCommand]) -> (usize, Vec<(String, TaskState)>, Vec<Value>) {
    let mut creates = 0;
    let mut desired = Vec::new();
    let mut status = Vec::new();
    for op in cmds.iter().flat_map(|c| &c.ops) {
        match op {
            Op::Create { .. } => creates += 1,
            Op::Update {
                id,
                attrs: Attrs::Task { desired_state, .. },
                ..
            } => desired.push((id.clone(), *desired_state)),
            Op::UpdateStatus {
                kind: ObjectKind::Service,
                status: st,
                ..
            } => status.push(st.clone()),
            _ => {}
        }
    }
    desired.sort_by(|a, b| a.0.cmp(&b.0));
    (creates, desired, status)
}

#[test]
fn empty_slots_get_tasks_and_surplus_slots_are_removed() {
    let s = with_service(3, json!({}));
    assert_eq!(summary(&reconcile(&s, Utc::now())).0, 3);
    let mut s = with_service(1, json!({}));
    for (i, id) in ["t1", "t2", "t3"].iter().enumerate() {
        add_task(&mut s, id, i as u64 + 1, "V=1", "running", 10);
    }
    let (creates, desired, _) = summary(&reconcile(&s, Utc::now()));
    assert_eq!(creates, 0);
    assert_eq!(
        desired,
        vec![
            ("t2".into(), TaskState::Remove),
            ("t3".into(), TaskState::Remove)
        ]
    );
}

#[test]
fn a_failed_task_is_replaced_after_the_restart_delay_only() {
    let mut s = with_service(1, json!({}));
    add_task(&mut s, "t1", 1, "V=1", "failed", 1);
    let (creates, desired, _) = summary(&reconcile(&s, Utc::now()));
    assert_eq!(desired, vec![("t1".into(), TaskState::Shutdown)]);
    assert_eq!(creates, 0, "replaced before the 5 s delay");
    let later = Utc::now() + Duration::seconds(10);
    assert_eq!(summary(&reconcile(&s, later)).0, 1);
}

#[test]
fn tasks_on_a_down_node_are_replaced_at_once() {
    let mut s = with_service(1, json!({}));
    add_task(&mut s, "t1", 1, "V=1", "running", 1);
    apply(
        &mut s,
        vec![Op::UpdateStatus {
            kind: ObjectKind::Node,
            id: "n1".into(),
            expected_version: None,
            status: json!({ "Status": { "State": "down" } }),
        }],
    );
    let (creates, desired, _) = summary(&reconcile(&s, Utc::now()));
    assert_eq!(desired, vec![("t1".into(), TaskState::Shutdown)]);
    assert_eq!(creates, 1);
}

fn start_update(s: &mut ClusterState, update: Value) {
    let svc = s.get(ObjectKind::Service, "svc").unwrap().clone();
    let mut spec = svc.spec.clone();
    spec["TaskTemplate"] = template("V=2");
    spec["UpdateConfig"] = update;
    apply(
        s,
        vec![Op::Update {
            id: "svc".into(),
            expected_version: None,
            attrs: svc.attrs.clone(),
            spec,
            status: json!({ "PreviousSpec": svc.spec,
                            "UpdateStatus": { "State": "updating",
                                              "StartedAt": (Utc::now() - Duration::seconds(60)).to_rfc3339() } }),
        }],
    );
}

#[test]
fn a_rolling_update_replaces_parallelism_tasks_at_a_time() {
    let mut s = with_service(4, json!({}));
    for i in 1..=4 {
        add_task(&mut s, &format!("t{i}"), i, "V=1", "running", 100);
    }
    start_update(&mut s, json!({ "Parallelism": 2 }));
    let (creates, desired, status) = summary(&reconcile(&s, Utc::now()));
    assert_eq!(creates, 2);
    assert_eq!(
        desired,
        vec![
            ("t1".into(), TaskState::Shutdown),
            ("t2".into(), TaskState::Shutdown)
        ]
    );
    assert_eq!(status[0]["UpdateStatus"]["State"], "updating");
}

#[test]
fn a_failing_update_pauses() {
    let mut s = with_service(2, json!({}));
    add_task(&mut s, "t1", 1, "V=1", "running", 100);
    add_task(&mut s, "t2", 2, "V=1", "running", 100);
    start_update(
        &mut s,
        json!({ "Parallelism": 1, "FailureAction": "pause" }),
    );
    add_task(&mut s, "t3", 1, "V=2", "failed", 1);
    let (creates, _, status) = summary(&reconcile(&s, Utc::now()));
    assert_eq!(creates, 0, "the update went on after a failure");
    assert_eq!(status[0]["UpdateStatus"]["State"], "paused");
    assert!(status[0]["UpdateStatus"]["Message"]
        .as_str()
        .unwrap()
        .contains("t3"));
}
