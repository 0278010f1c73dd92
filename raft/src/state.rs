//! `ClusterState`: every object of the cluster in memory with its indexes, and the pure
//! `apply` that turns a committed `ClusterCommand` into changes. No I/O, no clock, no Raft:
//! the same commands in the same order give the same state on every replica.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::command::{Action, Change, ClusterCommand, ClusterResponse, Op};
use crate::error::ApplyError;
use crate::index::Indexes;
use crate::objects::{Memo, Meta, NodeRole, Object, ObjectKind, TaskState};

/// The replicated cluster state. `version` counts applied transactions.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    version: u64,
    /// Shared with the changes and watch events that carry them: an object is copied once
    /// per write, not once per holder. Hashed, not ordered: every write looks its id up, and
    /// in a tree of many ids with a common prefix those comparisons were a tenth of a write's
    /// CPU; the rarer listings sort instead. Each kind's table and the indexes are shared
    /// copy-on-write, so a clone of the state costs a few reference counts: the swarm leader
    /// reads every task of a clone, off the lock, while writes go on.
    objects: BTreeMap<ObjectKind, Arc<HashMap<String, Arc<Object>>>>,
    retired_members: BTreeSet<u64>,
    index: Arc<Indexes>,
}

/// What a transaction must put back if a later operation of it fails.
enum Undo {
    Object {
        kind: ObjectKind,
        id: String,
        previous: Option<Arc<Object>>,
    },
    Retired(u64),
}

/// The serialized form of a state (snapshots); borrowing for writing.
#[derive(Serialize)]
pub(crate) struct ImageRef<'a> {
    version: u64,
    retired_members: &'a BTreeSet<u64>,
    objects: Vec<&'a Object>,
}

/// The serialized form of a state (snapshots); owned for reading.
#[derive(Deserialize)]
pub(crate) struct Image {
    version: u64,
    retired_members: BTreeSet<u64>,
    objects: Vec<Object>,
}

impl ClusterState {
    /// The store version: the number of applied transactions.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Applies one committed transaction: all of its operations, or none of them.
    pub fn apply(&mut self, cmd: &ClusterCommand) -> ClusterResponse {
        let next = self.version + 1;
        let mut undo = Vec::new();
        let mut changes = Vec::new();
        for op in &cmd.ops {
            match self.apply_op(op, next, cmd.at, &mut undo) {
                Ok(Some(change)) => changes.push(change),
                Ok(None) => {}
                Err(error) => {
                    self.roll_back(undo);
                    return ClusterResponse::Rejected { error };
                }
            }
        }
        self.version = next;
        ClusterResponse::Applied {
            version: next,
            changes,
        }
    }

    fn apply_op(
        &mut self,
        op: &Op,
        version: u64,
        at: DateTime<Utc>,
        undo: &mut Vec<Undo>,
    ) -> Result<Option<Change>, ApplyError> {
        let (action, object) = match op {
            Op::Create {
                id,
                attrs,
                spec,
                status,
            } => {
                let kind = attrs.kind();
                // One search of the id for both the check and the insert.
                let table = Arc::make_mut(self.objects.entry(kind).or_default());
                let Entry::Vacant(slot) = table.entry(id.clone()) else {
                    return Err(ApplyError::AlreadyExists {
                        kind,
                        id: id.clone(),
                    });
                };
                self.index.check_name(attrs, id)?;
                let meta = Meta {
                    version,
                    created_at: at,
                    updated_at: at,
                };
                let object = Arc::new(Object {
                    id: id.clone(),
                    meta,
                    attrs: attrs.clone(),
                    spec: spec.clone(),
                    status: status.clone(),
                    memo: Memo::default(),
                });
                Arc::make_mut(&mut self.index).add(&object);
                slot.insert(Arc::clone(&object));
                undo.push(Undo::Object {
                    kind,
                    id: id.clone(),
                    previous: None,
                });
                return Ok(Some(Change {
                    action: Action::Create,
                    object,
                }));
            }
            Op::Update {
                id,
                expected_version,
                attrs,
                spec,
                status,
            } => {
                let current = self.current(attrs.kind(), id, *expected_version)?;
                self.index.check_name(attrs, id)?;
                let meta = Meta {
                    version,
                    created_at: current.meta.created_at,
                    updated_at: at,
                };
                let object = Object {
                    id: id.clone(),
                    meta,
                    attrs: attrs.clone(),
                    spec: spec.clone(),
                    status: status.clone(),
                    memo: Memo::default(),
                };
                (Action::Update, object)
            }
            Op::UpdateStatus {
                kind,
                id,
                expected_version,
                status,
            } => {
                let mut object = self.current(*kind, id, *expected_version)?.clone();
                object.meta.version = version;
                object.meta.updated_at = at;
                object.status = status.clone();
                (Action::Update, object)
            }
            Op::Delete {
                kind,
                id,
                expected_version,
            } => {
                self.current(*kind, id, *expected_version)?;
                let previous = self.take(*kind, id);
                undo.push(Undo::Object {
                    kind: *kind,
                    id: id.clone(),
                    previous: previous.clone(),
                });
                return Ok(previous.map(|object| Change {
                    action: Action::Delete,
                    object,
                }));
            }
            Op::RetireMember { id } => {
                if self.retired_members.insert(*id) {
                    undo.push(Undo::Retired(*id));
                }
                return Ok(None);
            }
        };
        let object = Arc::new(object);
        let previous = self.put(Arc::clone(&object));
        undo.push(Undo::Object {
            kind: object.kind(),
            id: object.id.clone(),
            previous,
        });
        Ok(Some(Change { action, object }))
    }

    /// The object an update or delete names, checked against the version the caller read.
    fn current(
        &self,
        kind: ObjectKind,
        id: &str,
        expected: Option<u64>,
    ) -> Result<&Object, ApplyError> {
        let object = self.get(kind, id).ok_or_else(|| ApplyError::NotFound {
            kind,
            id: id.to_owned(),
        })?;
        match expected {
            Some(expected) if expected != object.meta.version => Err(ApplyError::Conflict {
                kind,
                id: id.to_owned(),
                expected,
                current: object.meta.version,
            }),
            _ => Ok(object),
        }
    }

    fn roll_back(&mut self, undo: Vec<Undo>) {
        for step in undo.into_iter().rev() {
            match step {
                Undo::Object { kind, id, previous } => {
                    self.take(kind, &id);
                    if let Some(previous) = previous {
                        self.put(previous);
                    }
                }
                Undo::Retired(id) => {
                    self.retired_members.remove(&id);
                }
            }
        }
    }

    /// Stores an object, keeping the indexes; returns what it replaced. Replacing searches
    /// the id once, and leaves the indexes alone unless the attributes changed.
    fn put(&mut self, object: Arc<Object>) -> Option<Arc<Object>> {
        let objects = Arc::make_mut(self.objects.entry(object.kind()).or_default());
        if let Some(slot) = objects.get_mut(object.id.as_str()) {
            let previous = std::mem::replace(slot, object);
            if previous.attrs != slot.attrs {
                let index = Arc::make_mut(&mut self.index);
                index.remove(&previous);
                index.add(slot);
            }
            return Some(previous);
        }
        Arc::make_mut(&mut self.index).add(&object);
        objects.insert(object.id.clone(), object);
        None
    }

    /// Removes an object, keeping the indexes.
    fn take(&mut self, kind: ObjectKind, id: &str) -> Option<Arc<Object>> {
        let object = Arc::make_mut(self.objects.get_mut(&kind)?).remove(id)?;
        Arc::make_mut(&mut self.index).remove(&object);
        Some(object)
    }

    /// The object of `kind` with `id`.
    pub fn get(&self, kind: ObjectKind, id: &str) -> Option<&Object> {
        self.objects.get(&kind)?.get(id).map(Arc::as_ref)
    }

    /// Every object of `kind`, by id.
    pub fn list(&self, kind: ObjectKind) -> impl Iterator<Item = &Object> {
        let mut objects: Vec<&Object> = self
            .objects
            .get(&kind)
            .into_iter()
            .flat_map(|m| m.values().map(Arc::as_ref))
            .collect();
        objects.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        objects.into_iter()
    }

    /// Every object, by kind then id.
    pub fn list_all(&self) -> impl Iterator<Item = &Object> {
        self.objects.keys().flat_map(|kind| self.list(*kind))
    }

    /// Number of objects of every kind.
    pub fn len(&self) -> usize {
        self.objects.values().map(|t| t.len()).sum()
    }

    /// Whether the store holds no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The object of a unique-name kind (service, network, secret, config) with `name`.
    pub fn by_name(&self, kind: ObjectKind, name: &str) -> Option<&Object> {
        let id = self.index.name_holder(kind, name)?;
        self.get(kind, id)
    }

    /// The service named `name`.
    pub fn service_by_name(&self, name: &str) -> Option<&Object> {
        self.by_name(ObjectKind::Service, name)
    }

    /// The tasks of service `service_id`, by task id.
    pub fn tasks_by_service(&self, service_id: &str) -> Vec<&Object> {
        self.resolve(
            ObjectKind::Task,
            self.index.tasks_by_service.get(service_id),
        )
    }

    /// The ids of the services that have tasks (a service's id stays named by its tasks after
    /// the service is removed, until they are).
    pub fn services_with_tasks(&self) -> impl Iterator<Item = &str> {
        self.index
            .tasks_by_service
            .iter()
            .filter(|(_, tasks)| !tasks.is_empty())
            .map(|(id, _)| id.as_str())
    }

    /// The tasks assigned to node `node_id`, by task id.
    pub fn tasks_by_node(&self, node_id: &str) -> Vec<&Object> {
        self.resolve(ObjectKind::Task, self.index.tasks_by_node.get(node_id))
    }

    /// The object `id` of `kind`, shared: for a reader that keeps it past the read.
    pub fn get_shared(&self, kind: ObjectKind, id: &str) -> Option<Arc<Object>> {
        self.objects.get(&kind)?.get(id).cloned()
    }

    /// The tasks assigned to no node, by task id.
    pub fn unassigned_tasks(&self) -> Vec<&Object> {
        self.resolve(ObjectKind::Task, Some(&self.index.tasks_unassigned))
    }

    /// Every object of `kind`, in no particular order: for scans that sort (or need no
    /// order) themselves, as `list` sorts them all.
    pub fn each(&self, kind: ObjectKind) -> impl Iterator<Item = &Object> {
        self.objects
            .get(&kind)
            .into_iter()
            .flat_map(|m| m.values().map(Arc::as_ref))
    }

    /// The tasks whose desired state is `state`, by task id.
    pub fn tasks_by_desired_state(&self, state: TaskState) -> Vec<&Object> {
        self.resolve(ObjectKind::Task, self.index.tasks_by_desired.get(&state))
    }

    /// The nodes with `role`, by node id.
    pub fn nodes_by_role(&self, role: NodeRole) -> Vec<&Object> {
        self.resolve(ObjectKind::Node, self.index.nodes_by_role.get(&role))
    }

    /// Whether Raft member id `id` was removed once and may not be used again.
    pub fn is_member_retired(&self, id: u64) -> bool {
        self.retired_members.contains(&id)
    }

    /// The highest retired member id, if any.
    pub fn max_retired_member(&self) -> Option<u64> {
        self.retired_members.last().copied()
    }

    fn resolve(&self, kind: ObjectKind, ids: Option<&BTreeSet<String>>) -> Vec<&Object> {
        ids.into_iter()
            .flatten()
            .filter_map(|id| self.get(kind, id))
            .collect()
    }

    /// A borrowed image for snapshot serialization.
    pub(crate) fn image(&self) -> ImageRef<'_> {
        ImageRef {
            version: self.version,
            retired_members: &self.retired_members,
            objects: self.list_all().collect(),
        }
    }

    /// Rebuilds a state (and its indexes) from an image.
    pub(crate) fn from_image(image: Image) -> Self {
        let mut state = Self {
            version: image.version,
            retired_members: image.retired_members,
            ..Self::default()
        };
        for object in image.objects {
            state.put(Arc::new(object));
        }
        state
    }

    /// Rebuilds a state from its persisted parts (the sled state machine's rows).
    pub(crate) fn from_parts(
        version: u64,
        retired_members: BTreeSet<u64>,
        objects: impl IntoIterator<Item = Object>,
    ) -> Self {
        Self::from_image(Image {
            version,
            retired_members,
            objects: objects.into_iter().collect(),
        })
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
