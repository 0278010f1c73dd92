//! The cluster object model: nodes, services, tasks, networks, secrets, configs and the cluster
//! object. Each object is an envelope (id, version, times) around typed attributes that the
//! store indexes and a free-form `spec` and `status` that the swarm layer fills with Docker's
//! shapes. Plain data only: no storage, no Raft.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kinds of objects the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A member of the swarm (manager or worker).
    Node,
    /// A service: desired replicas of a task template.
    Service,
    /// One slot of a service placed (or to be placed) on a node.
    Task,
    /// An overlay network.
    Network,
    /// A secret.
    Secret,
    /// A config.
    Config,
    /// The cluster object (swarm-wide settings, CA, join tokens).
    Cluster,
}

impl ObjectKind {
    /// Every kind, in the order snapshots list them.
    pub const ALL: [ObjectKind; 7] = [
        Self::Node,
        Self::Service,
        Self::Task,
        Self::Network,
        Self::Secret,
        Self::Config,
        Self::Cluster,
    ];

    /// Whether names of this kind must be unique (Docker refuses duplicates for these).
    pub fn has_unique_names(self) -> bool {
        matches!(
            self,
            Self::Service | Self::Network | Self::Secret | Self::Config
        )
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Node => "node",
            Self::Service => "service",
            Self::Task => "task",
            Self::Network => "network",
            Self::Secret => "secret",
            Self::Config => "config",
            Self::Cluster => "cluster",
        };
        f.write_str(name)
    }
}

/// A node's role in the swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// Holds Raft state and may lead.
    Manager,
    /// Runs tasks only.
    Worker,
}

/// A task's state, desired or observed (swarmkit's ordering: later states compare greater).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Created, not yet allocated.
    New,
    /// Waiting for a node.
    Pending,
    /// Assigned to a node.
    Assigned,
    /// Should be running.
    Running,
    /// Should stop (scale down, update).
    Shutdown,
    /// Should be removed.
    Remove,
}

/// Version and times of an object. `version` is the store version of the transaction that last
/// changed the object; an update naming an older version is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The store version of the last change.
    pub version: u64,
    /// When the object was created (the proposer's clock, replicated with the command).
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The typed, indexed attributes of an object; their variant fixes the object's kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Attrs {
    /// A node, indexed by role.
    Node {
        /// Manager or worker.
        role: NodeRole,
    },
    /// A service, indexed by its unique name.
    Service {
        /// The service name.
        name: String,
    },
    /// A task, indexed by service, node and desired state.
    Task {
        /// The service it belongs to.
        service_id: String,
        /// The node it is assigned to, once assigned.
        node_id: Option<String>,
        /// What the orchestrator wants it to be.
        desired_state: TaskState,
    },
    /// A network with a unique name.
    Network {
        /// The network name.
        name: String,
    },
    /// A secret with a unique name.
    Secret {
        /// The secret name.
        name: String,
    },
    /// A config with a unique name.
    Config {
        /// The config name.
        name: String,
    },
    /// The cluster object.
    Cluster {
        /// The cluster name (`default` in Docker).
        name: String,
    },
}

impl Attrs {
    /// The kind these attributes belong to.
    pub fn kind(&self) -> ObjectKind {
        match self {
            Self::Node { .. } => ObjectKind::Node,
            Self::Service { .. } => ObjectKind::Service,
            Self::Task { .. } => ObjectKind::Task,
            Self::Network { .. } => ObjectKind::Network,
            Self::Secret { .. } => ObjectKind::Secret,
            Self::Config { .. } => ObjectKind::Config,
            Self::Cluster { .. } => ObjectKind::Cluster,
        }
    }

    /// The unique name, for kinds whose names are unique.
    pub fn unique_name(&self) -> Option<&str> {
        match self {
            Self::Service { name }
            | Self::Network { name }
            | Self::Secret { name }
            | Self::Config { name } => Some(name),
            _ => None,
        }
    }
}

/// One stored object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    /// The id, unique within its kind.
    pub id: String,
    /// Version and times.
    pub meta: Meta,
    /// Indexed attributes; fix the kind.
    pub attrs: Attrs,
    /// What the user asked for (Docker's spec shape for the kind).
    pub spec: Value,
    /// What the cluster observed.
    pub status: Value,
    /// A typed reading of the documents, made by the first reader that asks (`Memo`).
    #[serde(skip)]
    pub memo: Memo,
}

/// A typed reading of an object's documents (the swarm's task status), kept with the object
/// by the first reader that makes one. A stored object never changes (a change stores a new
/// one, and a clone starts without), so the reading never goes stale: the leader's passes
/// read every task each time, and decoding 50,000 statuses per pass was most of their cost.
#[derive(Default)]
pub struct Memo(std::sync::OnceLock<Box<dyn std::any::Any + Send + Sync>>);

impl Memo {
    /// The reading of type `T`, made by `make` if none was made yet; `None` when a reading
    /// of another type was kept (the caller then makes its own, uncached).
    pub fn get_or_init<T: std::any::Any + Send + Sync>(
        &self,
        make: impl FnOnce() -> T,
    ) -> Option<&T> {
        self.0.get_or_init(|| Box::new(make())).downcast_ref()
    }
}

impl Clone for Memo {
    /// Empty: a clone is made to be changed.
    fn clone(&self) -> Self {
        Memo::default()
    }
}

impl PartialEq for Memo {
    /// Always: a reading is derived from the documents, which are compared.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Memo {}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Memo")
    }
}

impl Object {
    /// The object's kind.
    pub fn kind(&self) -> ObjectKind {
        self.attrs.kind()
    }
}
