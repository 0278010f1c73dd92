//! The scheduling pass: turns the store into the scheduler crate's snapshot, asks it where the
//! unassigned tasks go, and writes the answers (a node, or the reason none fits, which
//! `docker service ps` shows). Pure but for the leader's log of recent task failures, which
//! its walk over the assigned tasks brings up to date: no I/O.

use std::collections::hash_map::DefaultHasher;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use berth_raft::{Attrs, ClusterCommand, ClusterState, Meta, NodeRole, Object, ObjectKind, Op};
use berth_scheduler::{
    Availability as SchedAvailability, HostPort as SchedPort, Outcome, Platform, Preference,
    Protocol as SchedProtocol, Resources, Role, Snapshot, TaskRequest,
};
use bollard_stubs::models::{ResourceObject, TaskSpecPlacement, TaskSpecResources};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::failure_log::FailureLog;
use crate::generic_resources;
use crate::generic_view::GenericView;
use crate::model::{
    Availability, DesiredState, HostPort, ModelError, Node, NodeState, Protocol, Service, Task,
    TaskState, TaskStatus, TemplatePrint,
};
use crate::plan::Plan;

/// The scheduler's view of a node; tasks and reservations are added by `snapshot`.
pub fn sched_node(node: &Node<'_>) -> berth_scheduler::Node {
    let desc = node.status.description.clone().unwrap_or_default();
    let platform = desc.platform.unwrap_or_default();
    let resources = desc.resources.unwrap_or_default();
    let engine_labels = desc.engine.and_then(|e| e.labels).unwrap_or_default();
    berth_scheduler::Node {
        id: node.id().to_string(),
        hostname: node.hostname().to_string(),
        role: match node.role {
            NodeRole::Manager => Role::Manager,
            NodeRole::Worker => Role::Worker,
        },
        availability: match node.availability() {
            Availability::Active => SchedAvailability::Active,
            Availability::Pause => SchedAvailability::Pause,
            Availability::Drain => SchedAvailability::Drain,
        },
        state: match node.state() {
            NodeState::Ready => berth_scheduler::NodeState::Ready,
            _ => berth_scheduler::NodeState::Down,
        },
        addr: node
            .status
            .status
            .addr
            .as_deref()
            .and_then(|a| a.parse().ok()),
        labels: node.labels(),
        engine_labels: engine_labels.into_iter().collect(),
        platform: Platform::new(
            platform.os.as_deref().unwrap_or("linux"),
            platform.architecture.as_deref().unwrap_or(""),
        ),
        resources: Resources {
            generic: generic_resources::node_totals(
                resources.generic_resources.as_deref().unwrap_or_default(),
            ),
            ..resources_of(Some(&resources))
        },
        ..berth_scheduler::Node::default()
    }
}

/// Whether a node satisfies placement constraints (`Err` for a malformed one).
pub fn node_matches(node: &Node<'_>, constraints: &[String]) -> Result<bool, String> {
    let parsed = berth_scheduler::parse_constraints(constraints).map_err(|e| e.to_string())?;
    let n = sched_node(node);
    Ok(parsed.iter().all(|c| c.matches(&n)))
}

fn resources_of(r: Option<&ResourceObject>) -> Resources {
    let n = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
    Resources {
        nano_cpus: n(r.and_then(|r| r.nano_cpus)),
        memory_bytes: n(r.and_then(|r| r.memory_bytes)),
        generic: BTreeMap::new(),
    }
}

fn sched_ports(ports: &[HostPort]) -> Vec<SchedPort> {
    let port = |p: &HostPort| SchedPort {
        protocol: match p.protocol {
            Protocol::Tcp => SchedProtocol::Tcp,
            Protocol::Udp => SchedProtocol::Udp,
            Protocol::Sctp => SchedProtocol::Sctp,
        },
        port: p.published,
    };
    // A port the node picks cannot clash with another.
    ports
        .iter()
        .filter(|p| p.published != 0)
        .map(port)
        .collect()
}

/// A task's reservations, read from its template's `Resources` alone (every live task's
/// are counted on every pass), and the generic kinds it reserves by name.
fn reservations(task: &Task<'_>) -> Result<(Resources, Vec<String>), ModelError> {
    let r = match task.template().get("Resources") {
        None | Some(Value::Null) => return Ok((Resources::default(), Vec::new())),
        Some(r) => TaskSpecResources::deserialize(r)
            .map_err(|e| ModelError::of(task.object, format!("task resources: {e}")))?,
    };
    let generic = r
        .reservations
        .as_ref()
        .and_then(|r| r.generic_resources.as_deref())
        .unwrap_or_default();
    let generic =
        generic_resources::task_request(generic).map_err(|e| ModelError::of(task.object, e))?;
    let resources = Resources {
        generic: generic.counts,
        ..resources_of(r.reservations.as_ref())
    };
    Ok((resources, generic.named))
}

/// What placement reads of a task template: its `Placement` and `Resources`, parsed alone
/// (a full `TaskSpec` per waiting task made the leader's passes slower while 100s wait).
#[derive(Debug, Clone, Default)]
struct Wants {
    placement: TaskSpecPlacement,
    reservations: Resources,
    named_generic: Vec<String>,
}

impl Wants {
    fn of(task: &Task<'_>) -> Result<Wants, ModelError> {
        let part = |key: &str| task.template().get(key).filter(|v| !v.is_null());
        let placement = match part("Placement") {
            None => TaskSpecPlacement::default(),
            Some(p) => TaskSpecPlacement::deserialize(p)
                .map_err(|e| ModelError::of(task.object, format!("task placement: {e}")))?,
        };
        let (reservations, named_generic) = reservations(task)?;
        Ok(Wants {
            placement,
            reservations,
            named_generic,
        })
    }
}

/// The hash of a task's template: tasks of one spec version share it (and their `Wants`).
fn spec_version(task: &Task<'_>) -> u64 {
    let mut h = DefaultHasher::new();
    task.print.hash(&mut h);
    h.finish()
}

/// The scheduler's request for a waiting task.
fn request(task: &Task<'_>, version: u64, wants: &Wants, ports: &[HostPort]) -> TaskRequest {
    let placement = &wants.placement;
    let preferences = placement.preferences.iter().flatten();
    TaskRequest {
        id: task.id().to_string(),
        service_id: task.service_id.to_string(),
        spec_version: version,
        reservations: wants.reservations.clone(),
        named_generic: wants.named_generic.clone(),
        constraints: placement.constraints.clone().unwrap_or_default(),
        preferences: preferences
            .filter_map(|p| p.spread.as_ref()?.spread_descriptor.as_deref())
            .map(Preference::spread)
            .collect(),
        max_replicas: placement
            .max_replicas
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        host_ports: sched_ports(ports),
        // The image's platforms, as docker's client resolves them into the spec.
        platforms: placement
            .platforms
            .iter()
            .flatten()
            .map(|p| Platform {
                os: p.os.clone().unwrap_or_default(),
                arch: p.architecture.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

/// The services' host-mode ports, by service id (a service that cannot be read has none).
fn service_ports(state: &ClusterState) -> HashMap<&str, Vec<HostPort>> {
    state
        .list(ObjectKind::Service)
        .filter_map(|s| Some((s.id.as_str(), Service::parse(s).ok()?.host_ports())))
        .collect()
}

/// The scheduler's snapshot: every node with the live tasks already on it and its recent
/// failures, which the walk records in `failures` as it passes the failed tasks.
fn snapshot(
    state: &ClusterState,
    plan: &mut Plan,
    failures: &mut FailureLog,
    now: DateTime<Utc>,
) -> Snapshot {
    let mut nodes: BTreeMap<String, berth_scheduler::Node> = BTreeMap::new();
    for n in state.list(ObjectKind::Node) {
        match Node::parse(n) {
            Ok(node) => {
                nodes.insert(n.id.clone(), sched_node(&node));
            }
            Err(e) => plan.problem(e),
        }
    }
    let ports = service_ports(state);
    let mut reserved: HashMap<TemplatePrint, Resources> = HashMap::new();
    for t in state.each(ObjectKind::Task) {
        // History (told to stop) is most tasks during an update: skipped before parsing,
        // unless changed since the last walk (it may have failed meanwhile).
        let Attrs::Task {
            node_id: Some(node_id),
            desired_state,
            ..
        } = &t.attrs
        else {
            continue;
        };
        if *desired_state > DesiredState::Running && !failures.is_new(t.meta.version) {
            continue;
        }
        let Some(node) = nodes.get_mut(node_id) else {
            continue;
        };
        let task = match Task::parse(t) {
            Ok(task) if task.is_live() && !task.state().is_terminal() => task,
            Ok(task) => {
                if failures.is_new(t.meta.version) {
                    failures.observe(&task, now, || spec_version(&task));
                }
                continue;
            }
            Err(e) => {
                plan.problem(e);
                continue;
            }
        };
        // Looked up before a key is made: one allocation per service, not per task.
        match node.tasks_by_service.get_mut(task.service_id) {
            Some(n) => *n += 1,
            None => {
                node.tasks_by_service.insert(task.service_id.to_string(), 1);
            }
        }
        // Read once per template: every live task is counted on every pass, and tasks of
        // one spec share it (a tenth of a pass at 10,000 tasks read each task's).
        let r = match reserved.entry(task.print) {
            Entry::Occupied(r) => Some(&*r.into_mut()),
            Entry::Vacant(slot) => match reservations(&task) {
                Ok((r, _)) => Some(&*slot.insert(r)),
                Err(e) => {
                    plan.problem(e);
                    None
                }
            },
        };
        if let Some(r) = r {
            node.reserved.nano_cpus += r.nano_cpus;
            node.reserved.memory_bytes += r.memory_bytes;
            for (kind, n) in &r.generic {
                *node.reserved.generic.entry(kind.clone()).or_default() += n;
            }
        }
        let own = ports.get(task.service_id).map_or(&[][..], Vec::as_slice);
        node.host_ports.extend(sched_ports(own));
    }
    failures.walked(state.version(), now);
    for (node, service, version, count) in failures.counts() {
        if let Some(node) = nodes.get_mut(node) {
            node.recent_failures
                .insert((service.to_string(), version), count);
        }
    }
    Snapshot {
        nodes: nodes.into_values().collect(),
    }
}

/// Places every live task without a node; unplaceable ones get the scheduler's explanation.
/// `failures` is the leader's log of recent task failures, kept from pass to pass.
pub fn place(state: &ClusterState, now: DateTime<Utc>, failures: &mut FailureLog) -> Plan {
    place_with_new(state, now, failures, &mut Plan::default())
}

/// Where a waiting task is written: an update of the stored task, or its create in the
/// same pass's plan (command, op).
#[derive(Clone, Copy)]
enum Origin {
    Stored,
    New(usize, usize),
}

/// The tasks `created` makes (the orchestrator's plan of the same pass) that placement may
/// take at once: replicated ones without a node that need no network allocation first. As
/// the store would hold them, made at `now` (after every stored task).
fn fresh_tasks(created: &Plan, now: DateTime<Utc>) -> Vec<(Origin, Object)> {
    let mut out = Vec::new();
    for (c, cmd) in created.commands.iter().enumerate() {
        for (o, op) in cmd.ops.iter().enumerate() {
            let Op::Create {
                id,
                attrs:
                    attrs @ Attrs::Task {
                        node_id: None,
                        desired_state: DesiredState::Running,
                        ..
                    },
                spec,
                status,
            } = op
            else {
                continue;
            };
            let object = Object {
                id: id.clone(),
                meta: Meta {
                    version: 0,
                    created_at: now,
                    updated_at: now,
                },
                attrs: attrs.clone(),
                spec: spec.clone(),
                status: status.clone(),
                memo: berth_raft::Memo::default(),
            };
            if !crate::model::awaits_allocation(&object) {
                out.push((Origin::New(c, o), object));
            }
        }
    }
    out
}

/// `place`, and the tasks `created` is about to make are placed too, in their create ops:
/// a rolling update's replacements then reach their nodes one leader pass (and one write of
/// each task) sooner.
pub fn place_with_new(
    state: &ClusterState,
    now: DateTime<Utc>,
    failures: &mut FailureLog,
    created: &mut Plan,
) -> Plan {
    let mut plan = Plan::default();
    let fresh = fresh_tasks(created, now);
    let mut waiting: Vec<(Task<'_>, u64, Origin)> = Vec::new();
    let mut wants: HashMap<u64, Wants> = HashMap::new();
    let stored = state
        .unassigned_tasks()
        .into_iter()
        .map(|t| (Origin::Stored, t));
    for (origin, t) in stored.chain(fresh.iter().map(|(o, t)| (*o, t))) {
        let Attrs::Task {
            node_id: None,
            desired_state: DesiredState::Running,
            ..
        } = &t.attrs
        else {
            continue;
        };
        let task = match Task::parse(t) {
            Ok(task) => task,
            Err(e) => {
                plan.problem(e);
                continue;
            }
        };
        if task.awaits_allocation() {
            continue;
        }
        let version = spec_version(&task);
        if let std::collections::hash_map::Entry::Vacant(slot) = wants.entry(version) {
            match Wants::of(&task) {
                Ok(w) => {
                    slot.insert(w);
                }
                Err(e) => {
                    plan.problem(e);
                    continue;
                }
            }
        }
        waiting.push((task, version, origin));
    }
    if waiting.is_empty() {
        return plan;
    }
    waiting.sort_by_key(|(t, _, _)| (t.object.meta.created_at, t.slot));
    let ports = service_ports(state);
    let none = Wants::default();
    let requests: Vec<TaskRequest> = waiting
        .iter()
        .map(|(t, version, _)| {
            let own = ports.get(t.service_id).map_or(&[][..], Vec::as_slice);
            request(t, *version, wants.get(version).unwrap_or(&none), own)
        })
        .collect();
    let snapshot = snapshot(state, &mut plan, failures, now);
    let decisions = berth_scheduler::schedule(&snapshot, &requests);
    let mut generic = GenericView::default();
    if requests.iter().any(|r| !r.reservations.generic.is_empty()) {
        generic = GenericView::of(state);
    }
    for ((task, version, origin), decision) in waiting.iter().zip(decisions) {
        let mut spec = task.object.spec.clone();
        let (node_id, status) = match decision.outcome {
            Outcome::Assigned { node_id } => {
                let wants = &wants.get(version).unwrap_or(&none).reservations.generic;
                if !wants.is_empty() {
                    spec["generic_resources"] = generic.assign(&node_id, wants);
                }
                let message = "scheduler assigned task to node";
                let status = TaskStatus::new(TaskState::Assigned, message, None, now);
                (Some(node_id), status)
            }
            // A task made in this pass waits as made; the next pass explains why.
            _ if matches!(origin, Origin::New(..)) => continue,
            Outcome::Pending(why) => {
                // The explanation reads "no suitable node (…)" itself.
                match pending(task, why.to_string(), now) {
                    Some(status) => (None, status),
                    None => continue,
                }
            }
            Outcome::Invalid(e) => match pending(task, format!("invalid placement: {e}"), now) {
                Some(status) => (None, status),
                None => continue,
            },
        };
        if let Origin::New(c, o) = *origin {
            let op = created
                .commands
                .get_mut(c)
                .and_then(|cmd| cmd.ops.get_mut(o));
            if let Some(Op::Create {
                attrs: Attrs::Task { node_id: to, .. },
                spec: to_spec,
                status: to_status,
                ..
            }) = op
            {
                *to = node_id;
                *to_spec = spec;
                *to_status = status.to_value();
            }
            continue;
        }
        plan.push(ClusterCommand::single(Op::Update {
            id: task.id().to_string(),
            expected_version: Some(task.object.meta.version),
            attrs: Attrs::Task {
                service_id: task.service_id.to_string(),
                node_id,
                desired_state: task.desired,
            },
            spec,
            status: status.to_value(),
        }));
    }
    plan
}

/// The pending status explaining `err`; `None` when the task already says so (no write).
fn pending(task: &Task<'_>, err: String, now: DateTime<Utc>) -> Option<TaskStatus> {
    if task.status.err.as_deref() == Some(err.as_str()) {
        return None;
    }
    let message = "pending task scheduling";
    Some(TaskStatus::new(
        TaskState::Pending,
        message,
        Some(&err),
        now,
    ))
}

#[cfg(test)]
#[path = "placement_tests.rs"]
mod tests;
