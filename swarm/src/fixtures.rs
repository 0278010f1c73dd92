//! Hand-built cluster states for the unit tests: nodes, services and tasks written through
//! `ClusterState::apply` as the leader would write them, and readers of a pass's output.

use berth_raft::{Attrs, ClusterCommand, ClusterResponse, ClusterState, NodeRole, ObjectKind, Op};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::model::{DesiredState, TaskDoc, TaskState, TaskStatus};
use crate::plan::Plan;

/// A fixed "now" so that outputs compare exactly.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Applies `ops` as one transaction, which must be accepted.
pub fn apply(state: &mut ClusterState, ops: Vec<Op>) {
    let r = state.apply(&ClusterCommand::new(ops));
    assert!(matches!(r, ClusterResponse::Applied { .. }), "{r:?}");
}

/// Applies each command of a plan; refused ones (version conflicts) are skipped, as the
/// leader's next pass would retry them.
pub fn commit(state: &mut ClusterState, plan: &Plan) -> usize {
    let mut applied = 0;
    for cmd in &plan.commands {
        if matches!(state.apply(cmd), ClusterResponse::Applied { .. }) {
            applied += 1;
        }
    }
    applied
}

/// A node object.
pub fn node(id: &str, role: NodeRole, availability: &str, state: &str) -> Op {
    Op::Create {
        id: id.into(),
        attrs: Attrs::Node { role },
        spec: json!({ "Availability": availability, "Labels": {} }),
        status: json!({ "Status": { "State": state, "Addr": "10.0.0.1" },
                        "Description": { "Hostname": format!("host-{id}") } }),
    }
}

/// A node object with labels.
pub fn labelled_node(id: &str, labels: Value) -> Op {
    Op::Create {
        id: id.into(),
        attrs: Attrs::Node {
            role: NodeRole::Worker,
        },
        spec: json!({ "Availability": "active", "Labels": labels }),
        status: json!({ "Status": { "State": "ready" },
                        "Description": { "Hostname": format!("host-{id}") } }),
    }
}

/// A busybox template with one env var and a 5 s restart delay.
pub fn template(env: &str) -> Value {
    json!({ "ContainerSpec": { "Image": "busybox", "Env": [env] },
            "RestartPolicy": { "Condition": "any", "Delay": 5_000_000_000u64 } })
}

/// A replicated service `svc` named `web`.
pub fn service(replicas: u64, update: Value) -> Op {
    service_with(
        "svc",
        "web",
        template("V=1"),
        json!({ "Replicated": { "Replicas": replicas } }),
        update,
    )
}

/// A service from its parts.
pub fn service_with(id: &str, name: &str, template: Value, mode: Value, update: Value) -> Op {
    Op::Create {
        id: id.into(),
        attrs: Attrs::Service { name: name.into() },
        spec: json!({ "Name": name, "TaskTemplate": template, "Mode": mode,
                      "UpdateConfig": update }),
        status: json!({}),
    }
}

/// The cluster object (history limit `limit`).
pub fn cluster(limit: u64) -> Op {
    Op::Create {
        id: "cl".into(),
        attrs: Attrs::Cluster {
            name: "default".into(),
        },
        spec: json!({ "Orchestration": { "TaskHistoryRetentionLimit": limit } }),
        status: json!({ "RootCa": { "Cert": "", "Key": "" },
                        "Tokens": { "Worker": "w", "Manager": "m" },
                        "DefaultAddrPool": ["10.0.0.0/8"], "SubnetSize": 24,
                        "DataPathPort": 4789 }),
    }
}

/// A task of `svc` in `slot` on `node`, made from `template(env)`, in `state` since `at`.
pub struct TaskFixture<'a> {
    pub id: &'a str,
    pub service: &'a str,
    pub slot: u64,
    pub env: &'a str,
    pub node: Option<&'a str>,
    pub desired: DesiredState,
    pub state: TaskState,
    pub at: DateTime<Utc>,
}

impl<'a> TaskFixture<'a> {
    /// A running task of `svc` on `n1`, made from `V=1`, reported a minute before `t0`.
    pub fn running(id: &'a str, slot: u64) -> Self {
        TaskFixture {
            id,
            service: "svc",
            slot,
            env: "V=1",
            node: Some("n1"),
            desired: DesiredState::Running,
            state: TaskState::Running,
            at: t0() - Duration::seconds(60),
        }
    }

    /// The create op.
    pub fn op(&self) -> Op {
        let doc = TaskDoc {
            slot: self.slot,
            service_name: "web".into(),
            template: template(self.env),
            host_ports: Value::Null,
            networks: Value::Null,
            generic_resources: serde_json::Value::Null,
            job_iteration: None,
            log_driver: None,
        };
        Op::Create {
            id: self.id.into(),
            attrs: Attrs::Task {
                service_id: self.service.into(),
                node_id: self.node.map(str::to_string),
                desired_state: self.desired,
            },
            spec: doc.to_value(),
            status: TaskStatus::new(self.state, "", None, self.at).to_value(),
        }
    }
}

/// Sets a node's status state.
pub fn set_node_state(state: &mut ClusterState, id: &str, s: &str) {
    let mut status = state
        .get(ObjectKind::Node, id)
        .map(|n| n.status.clone())
        .unwrap_or_default();
    status["Status"]["State"] = json!(s);
    set_status(state, ObjectKind::Node, id, status);
}

/// Replaces an object's status document.
pub fn set_status(state: &mut ClusterState, kind: ObjectKind, id: &str, status: Value) {
    apply(
        state,
        vec![Op::UpdateStatus {
            kind,
            id: id.into(),
            expected_version: None,
            status,
        }],
    );
}

/// What a plan does, in short: (tasks created, desired-state changes, service statuses,
/// deleted task ids).
#[derive(Debug, Default, PartialEq)]
pub struct Summary {
    pub creates: Vec<(String, Value, Value)>,
    pub desired: Vec<(String, DesiredState)>,
    pub status: Vec<Value>,
    pub deleted: Vec<String>,
    pub assigned: Vec<(String, Option<String>, Value)>,
}

/// Reads a plan.
pub fn summary(plan: &Plan) -> Summary {
    let mut s = Summary::default();
    for op in plan.commands.iter().flat_map(|c| &c.ops) {
        match op {
            Op::Create {
                id, spec, status, ..
            } => s.creates.push((id.clone(), spec.clone(), status.clone())),
            Op::Update {
                id,
                attrs:
                    Attrs::Task {
                        desired_state,
                        node_id,
                        ..
                    },
                status,
                ..
            } => {
                s.desired.push((id.clone(), *desired_state));
                s.assigned
                    .push((id.clone(), node_id.clone(), status.clone()));
            }
            Op::UpdateStatus {
                kind: ObjectKind::Service,
                status,
                ..
            } => s.status.push(status.clone()),
            Op::Delete {
                kind: ObjectKind::Task,
                id,
                ..
            } => s.deleted.push(id.clone()),
            _ => {}
        }
    }
    s.desired.sort_by(|a, b| a.0.cmp(&b.0));
    s
}

/// A stored object as the store would hold it (version 1, made at `t0`).
pub fn object(id: &str, attrs: Attrs, spec: Value, status: Value) -> berth_raft::Object {
    berth_raft::Object {
        id: id.into(),
        meta: berth_raft::Meta {
            version: 1,
            created_at: t0(),
            updated_at: t0(),
        },
        attrs,
        spec,
        status,
        memo: berth_raft::Memo::default(),
    }
}
