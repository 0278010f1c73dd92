//! The dispatcher, run by the Raft leader: node sessions (a heartbeat that long-polls for the
//! node's assignments), task status reports, and node liveness. Heartbeats stay in the
//! leader's memory, as in swarmkit; only a change of a node's state (ready, down) is written.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use berth_raft::{ClusterCommand, ClusterState, NodeRole, Object, ObjectKind, Op};
use bollard_stubs::models::NodeDescription;
use tokio::time::Instant;

use crate::model::{Cluster, Node, NodeState, NodeStatus, Task, TaskStatus};
use crate::plan::Plan;

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

    /// Follows the cluster's `Dispatcher.HeartbeatPeriod`, when set (at least 100 ms).
    pub fn follow(&self, cluster: &Cluster<'_>) {
        let Some(period) = cluster.heartbeat_period() else {
            return;
        };
        if period >= Duration::from_millis(100) {
            *self.period.lock().unwrap_or_else(PoisonError::into_inner) = period;
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
    pub fn expire(&self, state: &ClusterState) -> Plan {
        let mut plan = Plan::default();
        let now = Instant::now();
        match state.list(ObjectKind::Cluster).next().map(Cluster::parse) {
            Some(Ok(c)) => self.follow(&c),
            Some(Err(e)) => plan.problem(e),
            None => {}
        }
        let limit = self.period() * MISSED_HEARTBEATS;
        for n in state.list(ObjectKind::Node) {
            let node = match Node::parse(n) {
                Ok(node) => node,
                Err(e) => {
                    plan.problem(e);
                    continue;
                }
            };
            let silent = self.silent_for(node.id(), now) > limit;
            if node.state() == NodeState::Ready
                && (silent || self.lost_for_a_period(node.id(), now))
            {
                let message = "heartbeat failure for node in \"unknown\" state";
                plan.push(set_node_state(&node, NodeState::Down, message));
            }
        }
        plan
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
pub fn set_node_state(node: &Node<'_>, state: NodeState, message: &str) -> ClusterCommand {
    let mut status = node.status.clone().into_owned();
    status.status.state = state;
    status.status.message = Some(message.to_string());
    ClusterCommand::single(Op::UpdateStatus {
        kind: ObjectKind::Node,
        id: node.id().to_string(),
        expected_version: Some(node.object.meta.version),
        status: status.to_value(),
    })
}

/// The write a session makes when the node's reported state differs from the store's.
pub fn session_update(
    node: &Node<'_>,
    description: &NodeDescription,
    addr: &str,
    advertise: &str,
) -> Option<ClusterCommand> {
    let status = &node.status;
    if node.state() == NodeState::Ready
        && status.status.addr.as_deref() == Some(addr)
        && status.description.as_ref() == Some(description)
        && (advertise.is_empty() || status.advertise_addr.as_deref() == Some(advertise))
    {
        return None;
    }
    let mut new = status.as_ref().clone();
    new.description = Some(description.clone());
    new.status = NodeStatus {
        state: NodeState::Ready,
        message: None,
        addr: Some(addr.to_string()),
    };
    if !advertise.is_empty() {
        new.advertise_addr = Some(advertise.to_string());
    }
    Some(ClusterCommand::single(Op::UpdateStatus {
        kind: ObjectKind::Node,
        id: node.id().to_string(),
        expected_version: None,
        status: new.to_value(),
    }))
}

/// The tasks assigned to a node and their version (`assignments_version`). A task still
/// waiting for its network addresses is held back: a global service's tasks are created on
/// their node, and one sent early would start without its networks.
pub fn assignments(state: &ClusterState, node_id: &str) -> (u64, Vec<Arc<Object>>) {
    let mut sorted = assigned(state, node_id);
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let tasks = sorted
        .iter()
        .filter_map(|t| state.get_shared(ObjectKind::Task, &t.id))
        .collect();
    (version_of(&sorted), tasks)
}

/// The version of a node's assignments (a hash of ids and what the node acts on of each,
/// `assignment_print`, so a removal changes it too, and the node's own reports do not),
/// without copying them: every session wakes at every commit and most wakes change nothing
/// for the node.
pub fn assignments_version(state: &ClusterState, node_id: &str) -> u64 {
    let mut tasks = assigned(state, node_id);
    tasks.sort_by(|a, b| a.id.cmp(&b.id));
    version_of(&tasks)
}

fn assigned<'s>(state: &'s ClusterState, node_id: &str) -> Vec<&'s Object> {
    state
        .tasks_by_node(node_id)
        .into_iter()
        .filter(|o| !crate::model::awaits_allocation(o))
        .collect()
}

fn version_of(sorted: &[&Object]) -> u64 {
    let mut h = DefaultHasher::new();
    for t in sorted {
        t.id.hash(&mut h);
        crate::model::assignment_print(t).hash(&mut h);
    }
    h.finish().max(1)
}

/// The status writes of a report: only for tasks on that node whose state or error changed.
pub fn report_updates(
    state: &ClusterState,
    node_id: &str,
    updates: &[(String, TaskStatus)],
) -> Plan {
    let mut plan = Plan::default();
    for (id, status) in updates {
        let Some(object) = state.get(ObjectKind::Task, id) else {
            continue;
        };
        let task = match Task::parse(object) {
            Ok(task) => task,
            Err(e) => {
                plan.problem(e);
                continue;
            }
        };
        let unchanged = task.status.state == status.state && task.status.err == status.err;
        if task.node_id != Some(node_id) || unchanged {
            continue;
        }
        plan.push(ClusterCommand::single(Op::UpdateStatus {
            kind: ObjectKind::Task,
            id: id.clone(),
            expected_version: None,
            status: status.to_value(),
        }));
    }
    plan
}

/// The managers' swarm addresses as the store knows them (sorted).
pub fn manager_addrs(state: &ClusterState) -> Vec<String> {
    let mut v: Vec<String> = state
        .nodes_by_role(NodeRole::Manager)
        .into_iter()
        .filter_map(|n| Node::parse(n).ok()?.status.manager_addr.clone())
        .collect();
    v.sort();
    v
}

#[cfg(test)]
#[path = "dispatcher_tests.rs"]
mod tests;
