//! The reaper: tasks marked `remove` are deleted once their node stopped them, or cannot
//! (no node, a node gone or down).

use std::collections::HashMap;

use berth_raft::{ClusterState, ObjectKind};

use super::commands::delete;
use crate::model::{DesiredState, Node, NodeState, Task};
use crate::plan::Plan;

/// Deletes tasks marked `remove` once their node stopped them (or cannot).
pub fn reap(state: &ClusterState) -> Plan {
    let mut plan = Plan::default();
    let mut nodes: HashMap<&str, Option<NodeState>> = HashMap::new();
    for n in state.list(ObjectKind::Node) {
        match Node::parse(n) {
            Ok(node) => nodes.insert(node.id(), Some(node.state())),
            // Unreadable: its tasks are not reaped on its account.
            Err(_) => nodes.insert(&n.id, None),
        };
    }
    for t in state.tasks_by_desired_state(DesiredState::Remove) {
        let task = match Task::parse(t) {
            Ok(task) => task,
            Err(e) => {
                plan.problem(e);
                continue;
            }
        };
        let stopped = task.state().is_terminal();
        let unreachable = match task.node_id {
            None => true,
            Some(n) => match nodes.get(n) {
                None => true,
                Some(state) => *state == Some(NodeState::Down),
            },
        };
        if stopped || unreachable {
            plan.push(delete(task.id()));
        }
    }
    plan
}
