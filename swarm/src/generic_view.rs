//! Which named generic resources a task placed by the leader's pass gets: the scheduler only
//! counts a kind; this picks the names, skipping those the node's tasks still hold.

use std::collections::{BTreeMap, HashMap, HashSet};

use berth_raft::{ClusterState, ObjectKind};
use serde_json::Value;

use crate::generic_resources::{self, names_held};
use crate::model::{Node, Task};

/// Each node's advertised generic resources and the names its live tasks hold, for handing
/// out named ones (the scheduler counts; this picks which).
#[derive(Default)]
pub(crate) struct GenericView {
    nodes: HashMap<String, NodeGeneric>,
}

type ResourceItem = bollard_stubs::models::GenericResourcesInner;
/// A node's advertised resources and the (kind, name) pairs its tasks hold.
type NodeGeneric = (Vec<ResourceItem>, HashSet<(String, String)>);

impl GenericView {
    /// Reads every node's advertised resources and every task's held names.
    pub(crate) fn of(state: &ClusterState) -> GenericView {
        let mut nodes: HashMap<String, NodeGeneric> = HashMap::new();
        for n in state.list(ObjectKind::Node) {
            let Ok(node) = Node::parse(n) else { continue };
            let advertised = node
                .status
                .description
                .as_ref()
                .and_then(|d| d.resources.as_ref()?.generic_resources.clone())
                .unwrap_or_default();
            nodes.insert(n.id.clone(), (advertised, HashSet::new()));
        }
        for t in state.list(ObjectKind::Task) {
            let Ok(task) = Task::parse(t) else { continue };
            let Some((_, taken)) = task.node_id.and_then(|n| nodes.get_mut(n)) else {
                continue;
            };
            // A stopping task's container still has its devices, as it still has its addresses.
            if task.holds_addresses() {
                taken.extend(names_held(&task.assigned_generic_resources()));
            }
        }
        GenericView { nodes }
    }

    /// What a task placed on `node_id` gets for `wants` (Docker's `AssignedGenericResources`).
    pub(crate) fn assign(&mut self, node_id: &str, wants: &BTreeMap<String, u64>) -> Value {
        let (advertised, taken) = self.nodes.entry(node_id.to_string()).or_default();
        let assigned = generic_resources::assign(advertised, taken, wants);
        serde_json::to_value(assigned).unwrap_or_default()
    }
}
