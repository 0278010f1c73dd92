//! The secondary indexes of `ClusterState`: tasks by service, node and desired state, nodes by
//! role, unique names. Kept in step by `ClusterState::put`/`take`; rebuilt from the objects
//! when a state is loaded, never serialized.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::ApplyError;
use crate::objects::{Attrs, NodeRole, Object, ObjectKind, TaskState};

/// Secondary indexes, rebuilt from the objects; never serialized.
#[derive(Debug, Clone, Default)]
pub(crate) struct Indexes {
    pub(crate) tasks_by_service: BTreeMap<String, BTreeSet<String>>,
    pub(crate) tasks_by_node: BTreeMap<String, BTreeSet<String>>,
    /// Tasks on no node yet: the scheduler's every pass starts from them.
    pub(crate) tasks_unassigned: BTreeSet<String>,
    pub(crate) tasks_by_desired: BTreeMap<TaskState, BTreeSet<String>>,
    pub(crate) nodes_by_role: BTreeMap<NodeRole, BTreeSet<String>>,
    /// Holder ids by kind, then name: looked up by `&str`, without building a key, and
    /// hashed, as every write of a named object checks its name.
    names: BTreeMap<ObjectKind, HashMap<String, String>>,
}

impl Indexes {
    pub(crate) fn add(&mut self, object: &Object) {
        let id = object.id.clone();
        match &object.attrs {
            Attrs::Task {
                service_id,
                node_id,
                desired_state,
            } => {
                self.tasks_by_service
                    .entry(service_id.clone())
                    .or_default()
                    .insert(id.clone());
                match node_id {
                    Some(node) => {
                        self.tasks_by_node
                            .entry(node.clone())
                            .or_default()
                            .insert(id.clone());
                    }
                    None => {
                        self.tasks_unassigned.insert(id.clone());
                    }
                }
                self.tasks_by_desired
                    .entry(*desired_state)
                    .or_default()
                    .insert(id);
            }
            Attrs::Node { role } => {
                self.nodes_by_role.entry(*role).or_default().insert(id);
            }
            attrs => {
                if let Some(name) = attrs.unique_name() {
                    self.names
                        .entry(attrs.kind())
                        .or_default()
                        .insert(name.to_owned(), id);
                }
            }
        }
    }

    /// Refuses `attrs` for object `id` if their unique name is held by another object.
    pub(crate) fn check_name(&self, attrs: &Attrs, id: &str) -> Result<(), ApplyError> {
        let Some(name) = attrs.unique_name() else {
            return Ok(());
        };
        match self.name_holder(attrs.kind(), name) {
            Some(holder) if holder != id => Err(ApplyError::NameInUse {
                kind: attrs.kind(),
                name: name.to_owned(),
                id: holder.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// The id holding unique name `name` of `kind`.
    pub(crate) fn name_holder(&self, kind: ObjectKind, name: &str) -> Option<&String> {
        self.names.get(&kind)?.get(name)
    }

    pub(crate) fn remove(&mut self, object: &Object) {
        let id = &object.id;
        match &object.attrs {
            Attrs::Task {
                service_id,
                node_id,
                desired_state,
            } => {
                remove_from(&mut self.tasks_by_service, service_id, id);
                match node_id {
                    Some(node) => remove_from(&mut self.tasks_by_node, node, id),
                    None => {
                        self.tasks_unassigned.remove(id);
                    }
                }
                remove_from(&mut self.tasks_by_desired, desired_state, id);
            }
            Attrs::Node { role } => remove_from(&mut self.nodes_by_role, role, id),
            attrs => {
                if let Some(name) = attrs.unique_name() {
                    if let Some(names) = self.names.get_mut(&attrs.kind()) {
                        names.remove(name);
                    }
                }
            }
        }
    }
}

fn remove_from<K: Ord + Clone>(map: &mut BTreeMap<K, BTreeSet<String>>, key: &K, id: &str) {
    if let Some(set) = map.get_mut(key) {
        set.remove(id);
        if set.is_empty() {
            map.remove(key);
        }
    }
}
