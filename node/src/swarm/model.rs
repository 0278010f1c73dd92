//! How swarm objects sit in the cluster store: which Docker shapes go in each object's `spec`
//! and `status`, the accessors the orchestrator, scheduler, dispatcher and API share, and the
//! ids. Plain data; no I/O.

use std::collections::BTreeMap;

use berth_raft::{Object, TaskState};
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Docker's labels on a task's container.
pub const LABEL_SERVICE_NAME: &str = "com.docker.swarm.service.name";
/// The service id label.
pub const LABEL_SERVICE_ID: &str = "com.docker.swarm.service.id";
/// The task id label.
pub const LABEL_TASK_ID: &str = "com.docker.swarm.task.id";
/// The task name label.
pub const LABEL_TASK_NAME: &str = "com.docker.swarm.task.name";
/// The node id label.
pub const LABEL_NODE_ID: &str = "com.docker.swarm.node.id";

/// The id of the only cluster object.
pub const CLUSTER_NAME: &str = "default";

/// A new object id: 25 lowercase base-36 characters, as swarmkit's.
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..25)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// What a task object's `spec` holds: its slot and the service's task template when it was
/// made (Docker's `TaskSpec`); an update compares templates to find outdated tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDoc {
    /// The replica number (0 for global tasks).
    pub slot: u64,
    /// The service's name, for container names and labels.
    pub service_name: String,
    /// Docker's `TaskSpec` JSON.
    pub template: Value,
    /// The service's host-mode published ports (`EndpointSpec.Ports` entries).
    #[serde(default)]
    pub host_ports: Value,
}

impl TaskDoc {
    /// The doc of a task object; a malformed one reads as slot 0 with an empty template.
    pub fn of(task: &Object) -> TaskDoc {
        serde_json::from_value(task.spec.clone()).unwrap_or(TaskDoc {
            slot: 0,
            service_name: String::new(),
            template: Value::Null,
            host_ports: Value::Null,
        })
    }
}

/// A task's observed state (Docker's `TaskStatus.State`), `new` when nothing was reported.
pub fn observed(task: &Object) -> &str {
    task.status
        .get("State")
        .and_then(Value::as_str)
        .unwrap_or("new")
}

/// When the observed state was reported.
pub fn observed_at(task: &Object) -> DateTime<Utc> {
    task.status
        .get("Timestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(task.meta.updated_at, |t| t.with_timezone(&Utc))
}

/// Whether an observed state is final: the task's container is gone or will never run.
pub fn is_terminal(state: &str) -> bool {
    matches!(
        state,
        "complete" | "failed" | "shutdown" | "rejected" | "orphaned" | "remove"
    )
}

/// Whether the task ended by itself (exited or could not start), as opposed to being stopped.
pub fn ended_by_itself(state: &str) -> bool {
    matches!(state, "complete" | "failed" | "rejected")
}

/// A task status JSON (Docker's `TaskStatus`).
pub fn task_status(state: &str, message: &str, err: Option<&str>, at: DateTime<Utc>) -> Value {
    let mut s = json!({
        "Timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "State": state,
        "Message": message,
    });
    if let Some(err) = err {
        s["Err"] = json!(err);
    }
    s
}

/// The attributes of a task (service, node, desired state).
pub fn task_attrs(task: &Object) -> (&str, Option<&str>, TaskState) {
    match &task.attrs {
        berth_raft::Attrs::Task {
            service_id,
            node_id,
            desired_state,
        } => (service_id, node_id.as_deref(), *desired_state),
        _ => ("", None, TaskState::Remove),
    }
}

/// Whether the orchestrator still wants the task to run.
pub fn is_live(task: &Object) -> bool {
    task_attrs(task).2 <= TaskState::Running
}

/// Docker's name for a desired state.
pub fn desired_name(state: TaskState) -> &'static str {
    match state {
        TaskState::New => "new",
        TaskState::Pending => "pending",
        TaskState::Assigned => "assigned",
        TaskState::Running => "running",
        TaskState::Shutdown => "shutdown",
        TaskState::Remove => "remove",
    }
}

/// The container name of a task: `service.slot.taskid` (`service.nodeid.taskid` for global).
pub fn container_name(task: &Object) -> String {
    let doc = TaskDoc::of(task);
    let (_, node, _) = task_attrs(task);
    if doc.slot == 0 {
        format!("{}.{}.{}", doc.service_name, node.unwrap_or(""), task.id)
    } else {
        format!("{}.{}.{}", doc.service_name, doc.slot, task.id)
    }
}

/// What the service is asked to run: `Replicated(n)` or `Global`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `n` replicas.
    Replicated(u64),
    /// One task on every eligible node.
    Global,
}

/// The mode of a service spec (Docker's default: one replica).
pub fn service_mode(spec: &Value) -> Mode {
    let mode = &spec["Mode"];
    if mode.get("Global").is_some() {
        return Mode::Global;
    }
    let replicas = mode["Replicated"]["Replicas"].as_u64().unwrap_or(1);
    Mode::Replicated(replicas)
}

/// The cluster's root CA, as the cluster object keeps it (certificate and key).
pub fn cluster_ca(cluster: &Object) -> Result<super::ca::RootCa, super::ca::CaError> {
    super::ca::RootCa::from_pem(
        cluster.status["RootCa"]["Cert"].as_str().unwrap_or(""),
        cluster.status["RootCa"]["Key"].as_str().unwrap_or(""),
    )
}

/// Whether two task templates ask for the same thing: absent, null, empty-object and
/// empty-list fields are the same (clients re-send a spec with such fields added or dropped,
/// which must not start a rolling update).
pub fn same_template(a: &Value, b: &Value) -> bool {
    // Tasks keep the very template they were made from: equal without normalizing, mostly.
    a == b || normalized(a) == normalized(b)
}

/// A task's slot, read in place (the leader's passes read it for every task).
pub fn slot_of(task: &Object) -> u64 {
    task.spec["slot"].as_u64().unwrap_or(0)
}

/// A task's template, borrowed.
pub fn template_of(task: &Object) -> &Value {
    &task.spec["template"]
}

fn normalized(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), normalized(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The task template of a service spec.
pub fn template(spec: &Value) -> &Value {
    &spec["TaskTemplate"]
}

/// A service's update settings (Docker's defaults where unset).
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatePolicy {
    /// Tasks replaced at once; 0 means all.
    pub parallelism: u64,
    /// Pause between batches.
    pub delay: chrono::Duration,
    /// Start the new task before stopping the old.
    pub start_first: bool,
    /// `pause` (Docker's default), `continue` or `rollback` when updated tasks fail.
    pub failure_action: String,
    /// The share of updated tasks that may fail before the failure action.
    pub max_failure_ratio: f64,
}

/// The update policy of a service spec.
pub fn update_policy(spec: &Value) -> UpdatePolicy {
    let u = &spec["UpdateConfig"];
    UpdatePolicy {
        parallelism: u["Parallelism"].as_u64().unwrap_or(1),
        delay: nanos(&u["Delay"]),
        start_first: u["Order"].as_str() == Some("start-first"),
        failure_action: u["FailureAction"].as_str().unwrap_or("pause").to_string(),
        max_failure_ratio: u["MaxFailureRatio"].as_f64().unwrap_or(0.0),
    }
}

/// A task template's restart policy (Docker's defaults: any, 5 s, unlimited).
#[derive(Debug, Clone, PartialEq)]
pub struct RestartPolicy {
    /// `none`, `on-failure` or `any`.
    pub condition: String,
    /// Wait after the task ended before its replacement.
    pub delay: chrono::Duration,
    /// Restarts allowed within `window` (0: unlimited).
    pub max_attempts: u64,
    /// The window attempts are counted in (zero: forever).
    pub window: chrono::Duration,
}

/// The restart policy of a task template.
pub fn restart_policy(template: &Value) -> RestartPolicy {
    let r = &template["RestartPolicy"];
    RestartPolicy {
        condition: r["Condition"].as_str().unwrap_or("any").to_string(),
        delay: if r["Delay"].is_null() {
            chrono::Duration::seconds(5)
        } else {
            nanos(&r["Delay"])
        },
        max_attempts: r["MaxAttempts"].as_u64().unwrap_or(0),
        window: nanos(&r["Window"]),
    }
}

fn nanos(v: &Value) -> chrono::Duration {
    chrono::Duration::nanoseconds(v.as_i64().unwrap_or(0))
}

/// The task history kept per slot (`Orchestration.TaskHistoryRetentionLimit`, default 5).
pub fn history_limit(cluster: Option<&Object>) -> usize {
    cluster
        .and_then(|c| c.spec["Orchestration"]["TaskHistoryRetentionLimit"].as_u64())
        .map_or(5, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// The node settings the managers read (Docker's `NodeSpec` in `spec`, description and state
/// in `status`).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    /// The node id.
    pub id: String,
    /// `active`, `pause` or `drain`.
    pub availability: String,
    /// `ready`, `down` or `unknown`.
    pub state: String,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// The reported hostname.
    pub hostname: String,
    /// Whether it is a manager.
    pub manager: bool,
}

impl NodeView {
    /// The view of a node object.
    pub fn of(node: &Object) -> NodeView {
        let labels = node.spec["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        NodeView {
            id: node.id.clone(),
            availability: node.spec["Availability"]
                .as_str()
                .unwrap_or("active")
                .to_string(),
            state: node.status["Status"]["State"]
                .as_str()
                .unwrap_or("unknown")
                .to_string(),
            labels,
            hostname: node.status["Description"]["Hostname"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            manager: matches!(
                node.attrs,
                berth_raft::Attrs::Node {
                    role: berth_raft::NodeRole::Manager
                }
            ),
        }
    }

    /// Whether new tasks may go there.
    pub fn takes_tasks(&self) -> bool {
        self.state == "ready" && self.availability == "active"
    }

    /// Whether its tasks must move away.
    pub fn sheds_tasks(&self) -> bool {
        self.state == "down" || self.availability == "drain"
    }
}

/// The objects of `kind` in a stable order.
pub fn sorted<'a>(objects: impl Iterator<Item = &'a Object>) -> Vec<&'a Object> {
    let mut v: Vec<&Object> = objects.collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_differing_only_in_empty_fields_are_the_same() {
        let a = json!({ "ContainerSpec": { "Image": "busybox", "Env": ["A=1"] } });
        let b = json!({ "ContainerSpec": { "Image": "busybox", "Env": ["A=1"], "Mounts": [],
                        "Labels": {} }, "Placement": {}, "ForceUpdate": null });
        assert!(same_template(&a, &b));
        let c = json!({ "ContainerSpec": { "Image": "busybox", "Env": ["A=2"] } });
        assert!(!same_template(&a, &c));
        let forced =
            json!({ "ContainerSpec": { "Image": "busybox", "Env": ["A=1"] }, "ForceUpdate": 1 });
        assert!(!same_template(&a, &forced));
    }
}
