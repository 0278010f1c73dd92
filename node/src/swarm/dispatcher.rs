//! The dispatcher, run by the Raft leader: node sessions (a heartbeat that long-polls for the
//! node's assignments), task status reports, and node liveness. Heartbeats stay in the
//! leader's memory, as in swarmkit; only a change of a node's state (ready, down) is written.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use berth_raft::{Attrs, ClusterCommand, ClusterState, NodeRole, Object, ObjectKind, Op};
use serde_json::{json, Value};
use tokio::time::Instant;

/// How many heartbeat periods of silence make a node down.
pub const MISSED_HEARTBEATS: u32 = 3;

/// The leader's memory of node heartbeats.
#[derive(Debug)]
pub struct Liveness {
    period: Mutex<Duration>,
    seen: Mutex<HashMap<String, Instant>>,
    /// Nodes whose session connection broke (the node's daemon died or its link went down),
    /// with when; cleared by the next heartbeat.
    lost: Mutex<HashMap<String, Instant>>,
    since: Mutex<Option<Instant>>,
}

impl Liveness {
    /// Liveness with heartbeats expected every `period`.
    pub fn new(period: Duration) -> Self {
        Liveness {
            period: Mutex::new(period),
            seen: Mutex::default(),
            lost: Mutex::default(),
            since: Mutex::default(),
        }
    }

    /// The heartbeat period.
    pub fn period(&self) -> Duration {
        *self.period.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Follows the cluster's `Dispatcher.HeartbeatPeriod` (nanoseconds), when set.
    pub fn follow(&self, cluster: Option<&Object>) {
        let Some(ns) = cluster.and_then(|c| c.spec["Dispatcher"]["HeartbeatPeriod"].as_u64())
        else {
            return;
        };
        if ns >= 100_000_000 {
            *self.period.lock().unwrap_or_else(PoisonError::into_inner) = Duration::from_nanos(ns);
        }
    }

    /// Starts a term as leader: every node gets a full grace period from now.
    pub fn lead(&self) {
        *self.since.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Records a heartbeat.
    pub fn beat(&self, node_id: &str) {
        self.lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(node_id);
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(node_id.to_string(), Instant::now());
    }

    /// Records that a node's session ended without an answer (its connection closed).
    pub fn session_lost(&self, node_id: &str) {
        self.lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(node_id.to_string(), Instant::now());
    }

    /// Whether a node's session broke more than one heartbeat period ago and it has not come
    /// back: a killed daemon closes its connection at once, so it need not wait for three
    /// missed heartbeats; a daemon restarting within a period is not affected.
    fn lost_for_a_period(&self, node_id: &str, now: Instant) -> bool {
        let period = self.period();
        self.lost
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(node_id)
            .is_some_and(|at| now.saturating_duration_since(*at) > period)
    }

    fn silent_for(&self, node_id: &str, now: Instant) -> Duration {
        let last = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(node_id)
            .copied()
            .or(*self.since.lock().unwrap_or_else(PoisonError::into_inner));
        last.map_or(Duration::ZERO, |l| now.saturating_duration_since(l))
    }

    /// Marks down every ready node silent for too long.
    pub fn expire(&self, state: &ClusterState) -> Vec<ClusterCommand> {
        let now = Instant::now();
        self.follow(state.list(ObjectKind::Cluster).next());
        let limit = self.period() * MISSED_HEARTBEATS;
        state
            .list(ObjectKind::Node)
            .filter(|n| n.status["Status"]["State"].as_str() == Some("ready"))
            .filter(|n| self.silent_for(&n.id, now) > limit || self.lost_for_a_period(&n.id, now))
            .map(|n| set_node_state(n, "down", "heartbeat failure for node in \"unknown\" state"))
            .collect()
    }
}

/// Marks a node's session lost if dropped before it answered (the client went away).
pub struct SessionGuard<'a> {
    liveness: &'a Liveness,
    node_id: &'a str,
    answered: bool,
}

impl<'a> SessionGuard<'a> {
    /// A guard for one session call of `node_id`.
    pub fn new(liveness: &'a Liveness, node_id: &'a str) -> Self {
        SessionGuard {
            liveness,
            node_id,
            answered: false,
        }
    }

    /// The call answered normally.
    pub fn answered(mut self) {
        self.answered = true;
    }
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.liveness.session_lost(self.node_id);
        }
    }
}

/// The status write that puts a node in `state`.
pub fn set_node_state(node: &Object, state: &str, message: &str) -> ClusterCommand {
    let mut status = node.status.clone();
    if !status.is_object() {
        status = json!({});
    }
    status["Status"]["State"] = json!(state);
    status["Status"]["Message"] = json!(message);
    ClusterCommand::single(Op::UpdateStatus {
        kind: ObjectKind::Node,
        id: node.id.clone(),
        expected_version: Some(node.meta.version),
        status,
    })
}

/// The write a session makes when the node's reported state differs from the store's.
pub fn session_update(
    node: &Object,
    description: &Value,
    addr: &str,
    advertise: &str,
) -> Option<ClusterCommand> {
    let status = &node.status;
    let ready = status["Status"]["State"].as_str() == Some("ready");
    if ready
        && status["Status"]["Addr"].as_str() == Some(addr)
        && &status["Description"] == description
        && (advertise.is_empty() || status["AdvertiseAddr"].as_str() == Some(advertise))
    {
        return None;
    }
    let mut new = status.clone();
    if !new.is_object() {
        new = json!({});
    }
    new["Description"] = description.clone();
    new["Status"] = json!({ "State": "ready", "Addr": addr });
    if !advertise.is_empty() {
        new["AdvertiseAddr"] = json!(advertise);
    }
    Some(ClusterCommand::single(Op::UpdateStatus {
        kind: ObjectKind::Node,
        id: node.id.clone(),
        expected_version: None,
        status: new,
    }))
}

/// The tasks assigned to a node and their version (a hash of ids and object versions, so a
/// removal changes it too).
pub fn assignments(state: &ClusterState, node_id: &str) -> (u64, Vec<Object>) {
    let mut tasks: Vec<Object> = state.tasks_by_node(node_id).into_iter().cloned().collect();
    tasks.sort_by(|a, b| a.id.cmp(&b.id));
    let mut h = DefaultHasher::new();
    for t in &tasks {
        t.id.hash(&mut h);
        t.meta.version.hash(&mut h);
    }
    (h.finish().max(1), tasks)
}

/// The status writes of a report: only for tasks on that node whose state changed.
pub fn report_updates(
    state: &ClusterState,
    node_id: &str,
    updates: &[(String, Value)],
) -> Vec<ClusterCommand> {
    updates
        .iter()
        .filter_map(|(id, status)| {
            let task = state.get(ObjectKind::Task, id)?;
            let Attrs::Task { node_id: on, .. } = &task.attrs else {
                return None;
            };
            if on.as_deref() != Some(node_id)
                || (task.status["State"] == status["State"] && task.status["Err"] == status["Err"])
            {
                return None;
            }
            Some(ClusterCommand::single(Op::UpdateStatus {
                kind: ObjectKind::Task,
                id: id.clone(),
                expected_version: None,
                status: status.clone(),
            }))
        })
        .collect()
}

/// The managers' swarm addresses as the store knows them.
pub fn manager_addrs(state: &ClusterState) -> Vec<String> {
    let mut v: Vec<String> = state
        .nodes_by_role(NodeRole::Manager)
        .into_iter()
        .filter_map(|n| n.status["ManagerAddr"].as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}
