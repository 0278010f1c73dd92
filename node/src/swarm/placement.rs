//! The scheduling pass: turns the store into the scheduler crate's snapshot, asks it where the
//! unassigned tasks go, and writes the answers (a node, or the reason none fits, which
//! `docker service ps` shows). Pure: no I/O.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use berth_raft::{Attrs, ClusterCommand, ClusterState, Object, ObjectKind, Op, TaskState};
use berth_scheduler::{
    Availability, HostPort, Node, NodeState, Outcome, Platform, Preference, Protocol, Resources,
    Role, Snapshot, TaskRequest,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::model::{is_live, is_terminal, observed, slot_of, task_attrs, task_status, template_of};

/// The scheduler's view of a node object; tasks and reservations are added by `snapshot`.
pub fn sched_node(node: &Object) -> Node {
    let spec = &node.spec;
    let desc = &node.status["Description"];
    let labels = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    Node {
        id: node.id.clone(),
        hostname: desc["Hostname"].as_str().unwrap_or("").to_string(),
        role: match node.attrs {
            Attrs::Node {
                role: berth_raft::NodeRole::Manager,
            } => Role::Manager,
            _ => Role::Worker,
        },
        availability: match spec["Availability"].as_str() {
            Some("pause") => Availability::Pause,
            Some("drain") => Availability::Drain,
            _ => Availability::Active,
        },
        state: match node.status["Status"]["State"].as_str() {
            Some("ready") => NodeState::Ready,
            _ => NodeState::Down,
        },
        addr: node.status["Status"]["Addr"]
            .as_str()
            .and_then(|a| a.parse().ok()),
        labels: labels(&spec["Labels"]),
        engine_labels: labels(&desc["Engine"]["Labels"]),
        platform: Platform::new(
            desc["Platform"]["OS"].as_str().unwrap_or("linux"),
            desc["Platform"]["Architecture"].as_str().unwrap_or(""),
        ),
        resources: Resources {
            nano_cpus: desc["Resources"]["NanoCPUs"].as_u64().unwrap_or(0),
            memory_bytes: desc["Resources"]["MemoryBytes"].as_u64().unwrap_or(0),
            generic: BTreeMap::new(),
        },
        ..Node::default()
    }
}

/// Whether a node satisfies a task template's constraints (`Err` for a malformed one).
pub fn node_matches(node: &Object, template: &Value) -> Result<bool, String> {
    let texts = constraints(template);
    let parsed = berth_scheduler::parse_constraints(&texts).map_err(|e| e.to_string())?;
    let n = sched_node(node);
    Ok(parsed.iter().all(|c| c.matches(&n)))
}

fn constraints(template: &Value) -> Vec<String> {
    template["Placement"]["Constraints"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn reservations(template: &Value) -> Resources {
    let r = &template["Resources"]["Reservations"];
    Resources {
        nano_cpus: r["NanoCPUs"].as_u64().unwrap_or(0),
        memory_bytes: r["MemoryBytes"].as_u64().unwrap_or(0),
        generic: BTreeMap::new(),
    }
}

fn host_ports(svc: Option<&Object>) -> Vec<HostPort> {
    let Some(svc) = svc else { return Vec::new() };
    svc.spec["EndpointSpec"]["Ports"]
        .as_array()
        .map(|ports| {
            ports
                .iter()
                .filter(|p| p["PublishMode"].as_str() == Some("host"))
                .filter_map(|p| {
                    let port = u16::try_from(p["PublishedPort"].as_u64()?).ok()?;
                    let protocol = match p["Protocol"].as_str() {
                        Some("udp") => Protocol::Udp,
                        Some("sctp") => Protocol::Sctp,
                        _ => Protocol::Tcp,
                    };
                    Some(HostPort { protocol, port })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn request(task: &Object, svc: Option<&Object>) -> TaskRequest {
    let t = template_of(task);
    let mut h = DefaultHasher::new();
    t.to_string().hash(&mut h);
    TaskRequest {
        id: task.id.clone(),
        service_id: task_attrs(task).0.to_string(),
        spec_version: h.finish(),
        reservations: reservations(t),
        constraints: constraints(t),
        preferences: t["Placement"]["Preferences"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["Spread"]["SpreadDescriptor"].as_str())
                    .map(Preference::spread)
                    .collect()
            })
            .unwrap_or_default(),
        max_replicas: t["Placement"]["MaxReplicas"].as_u64().unwrap_or(0),
        host_ports: host_ports(svc),
        platforms: Vec::new(),
    }
}

/// The scheduler's snapshot: every node with the live tasks already on it.
pub fn snapshot(state: &ClusterState) -> Snapshot {
    let mut nodes: BTreeMap<String, Node> = state
        .list(ObjectKind::Node)
        .map(|n| (n.id.clone(), sched_node(n)))
        .collect();
    for task in state.list(ObjectKind::Task) {
        let (service_id, node_id, _) = task_attrs(task);
        let Some(node) = node_id.and_then(|n| nodes.get_mut(n)) else {
            continue;
        };
        if !is_live(task) || is_terminal(observed(task)) {
            continue;
        }
        *node
            .tasks_by_service
            .entry(service_id.to_string())
            .or_default() += 1;
        let req = request(task, state.get(ObjectKind::Service, service_id));
        node.reserved.nano_cpus += req.reservations.nano_cpus;
        node.reserved.memory_bytes += req.reservations.memory_bytes;
        node.host_ports.extend(req.host_ports);
    }
    Snapshot {
        nodes: nodes.into_values().collect(),
    }
}

/// Places every live task without a node; unplaceable ones get the scheduler's explanation.
pub fn place(state: &ClusterState, now: DateTime<Utc>) -> Vec<ClusterCommand> {
    let mut waiting: Vec<&Object> = state
        .list(ObjectKind::Task)
        .filter(|t| task_attrs(t).1.is_none() && task_attrs(t).2 == TaskState::Running)
        .collect();
    if waiting.is_empty() {
        return Vec::new();
    }
    waiting.sort_by_key(|t| (t.meta.created_at, slot_of(t)));
    let requests: Vec<TaskRequest> = waiting
        .iter()
        .map(|t| request(t, state.get(ObjectKind::Service, task_attrs(t).0)))
        .collect();
    let decisions = berth_scheduler::schedule(&snapshot(state), &requests);
    let mut out = Vec::new();
    for (task, decision) in waiting.iter().zip(decisions) {
        let (service_id, _, desired) = task_attrs(task);
        let (node_id, status) = match decision.outcome {
            Outcome::Assigned { node_id } => (
                Some(node_id),
                task_status("assigned", "scheduler assigned task to node", None, now),
            ),
            Outcome::Pending(why) => {
                let err = format!("no suitable node ({why})");
                if task.status["Err"].as_str() == Some(err.as_str()) {
                    continue;
                }
                (
                    None,
                    task_status("pending", "pending task scheduling", Some(&err), now),
                )
            }
            Outcome::Invalid(e) => {
                let err = format!("invalid placement: {e}");
                if task.status["Err"].as_str() == Some(err.as_str()) {
                    continue;
                }
                (
                    None,
                    task_status("pending", "pending task scheduling", Some(&err), now),
                )
            }
        };
        out.push(ClusterCommand::single(Op::Update {
            id: task.id.clone(),
            expected_version: Some(task.meta.version),
            attrs: Attrs::Task {
                service_id: service_id.to_string(),
                node_id,
                desired_state: desired,
            },
            spec: task.spec.clone(),
            status,
        }));
    }
    out
}
