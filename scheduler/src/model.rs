//! The scheduler's input and output: nodes as the manager sees them, pending task requests and
//! the decisions. Plain data with Docker's nouns; no placement logic lives here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use crate::error::ScheduleError;
use crate::explain::Explanation;

/// A node's role in the swarm; constraints see it as `worker` or `manager`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Role {
    /// Runs tasks only.
    #[default]
    Worker,
    /// Takes part in Raft and may also run tasks.
    Manager,
}

impl Role {
    /// The name constraints compare against (`node.role==manager`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::Manager => "manager",
        }
    }
}

/// What the operator allows on a node (`docker node update --availability`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Availability {
    /// New tasks may be placed.
    #[default]
    Active,
    /// Running tasks stay; no new ones.
    Pause,
    /// Tasks are moved away; no new ones.
    Drain,
}

/// Whether the manager currently hears from the node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Heartbeats arrive.
    #[default]
    Ready,
    /// The node is down or unreachable.
    Down,
}

/// An operating system and architecture, as a node reports it or an image supports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    /// `linux`, `windows`, …; empty in an image platform means any.
    pub os: String,
    /// `amd64`/`x86_64`, `arm64`/`aarch64`, …; empty in an image platform means any.
    pub arch: String,
}

impl Platform {
    /// A platform from its two parts.
    pub fn new(os: &str, arch: &str) -> Self {
        Platform {
            os: os.to_owned(),
            arch: arch.to_owned(),
        }
    }
}

/// An amount of CPU, memory and generic resources (`--generic-resource gpu=2`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Resources {
    /// CPU in billionths of a core.
    pub nano_cpus: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Discrete generic resources by kind; named resources are counted per kind by the caller.
    pub generic: BTreeMap<String, u64>,
}

/// The transport protocol of a published port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

/// A host-mode published port; two tasks publishing the same one cannot share a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    /// The protocol.
    pub protocol: Protocol,
    /// The port on the host; 0 (let the engine choose) never conflicts.
    pub port: u16,
}

impl HostPort {
    /// A TCP host port.
    pub fn tcp(port: u16) -> Self {
        HostPort {
            protocol: Protocol::Tcp,
            port,
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let protocol = match self.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        };
        write!(f, "{}/{}", self.port, protocol)
    }
}

/// One node of the cluster as the scheduler sees it at the start of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// The node id; unique in a snapshot (a repeated id is ignored after its first node).
    pub id: String,
    /// The hostname the node reported.
    pub hostname: String,
    /// Worker or manager.
    pub role: Role,
    /// Active, pause or drain.
    pub availability: Availability,
    /// Ready or down.
    pub state: NodeState,
    /// The address the node is reached at, for `node.ip` constraints.
    pub addr: Option<IpAddr>,
    /// Node labels set by the operator (`node.labels.X`).
    pub labels: BTreeMap<String, String>,
    /// Labels the engine reported (`engine.labels.X`).
    pub engine_labels: BTreeMap<String, String>,
    /// The node's operating system and architecture.
    pub platform: Platform,
    /// Everything the node has.
    pub resources: Resources,
    /// What tasks already on the node have reserved.
    pub reserved: Resources,
    /// Host-mode ports already published on the node.
    pub host_ports: BTreeSet<HostPort>,
    /// Active tasks on the node, by service id; their sum is the node's task count.
    pub tasks_by_service: BTreeMap<String, u32>,
    /// Tasks that recently failed or were rejected on the node, by (service id, spec
    /// version). The caller keeps the window (the swarm: 5 minutes); from
    /// [`MAX_FAILURES`] on, the node is that spec's last choice.
    pub recent_failures: BTreeMap<(String, u64), u32>,
}

/// Recent failures of one service's spec on a node from which the node sorts after every
/// node with fewer (swarmkit's `maxFailures`): a node where a task keeps being rejected (a
/// missing image, a full disk, a bad mount) is not chosen again and again while others fit.
pub const MAX_FAILURES: u32 = 5;

/// The cluster at the start of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every node, in any order.
    pub nodes: Vec<Node>,
}

/// A placement preference of a service (`--placement-pref spread=node.labels.zone`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Preference {
    /// Spread the service's tasks evenly over the values of a node or engine label.
    Spread {
        /// `node.labels.<name>` or `engine.labels.<name>`.
        descriptor: String,
    },
}

impl Preference {
    /// A spread preference over `descriptor`.
    pub fn spread(descriptor: &str) -> Self {
        Preference::Spread {
            descriptor: descriptor.to_owned(),
        }
    }
}

/// A task waiting for a node. Tasks of one service and spec version are expected to share
/// every field but `id`; the scheduler places such tasks together, as swarmkit does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskRequest {
    /// The task id, echoed in the decision.
    pub id: String,
    /// The service the task belongs to.
    pub service_id: String,
    /// The service spec version the task was made from.
    pub spec_version: u64,
    /// What the task reserves on its node.
    pub reservations: Resources,
    /// Generic resource kinds the task reserves by name. No node can give one: only counts
    /// are reserved (swarmkit stores such a spec and its tasks wait), so the task waits and
    /// says why.
    pub named_generic: Vec<String>,
    /// Placement constraints in Docker's syntax (`node.labels.zone==east`).
    pub constraints: Vec<String>,
    /// Placement preferences, outermost first.
    pub preferences: Vec<Preference>,
    /// At most this many tasks of the service per node; 0 means no limit.
    pub max_replicas: u64,
    /// Host-mode published ports.
    pub host_ports: Vec<HostPort>,
    /// Platforms the image supports; empty means any.
    pub platforms: Vec<Platform>,
}

impl TaskRequest {
    /// Whether `other` asks for the same placement (all fields but the id are equal).
    pub fn has_same_spec(&self, other: &TaskRequest) -> bool {
        self.service_id == other.service_id
            && self.spec_version == other.spec_version
            && self.reservations == other.reservations
            && self.named_generic == other.named_generic
            && self.constraints == other.constraints
            && self.preferences == other.preferences
            && self.max_replicas == other.max_replicas
            && self.host_ports == other.host_ports
            && self.platforms == other.platforms
    }
}

/// What the scheduler decided for one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The task's id.
    pub task_id: String,
    /// Where it goes, or why it stays.
    pub outcome: Outcome,
}

impl Decision {
    /// The chosen node's id, if the task was assigned.
    pub fn node_id(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Assigned { node_id } => Some(node_id),
            _ => None,
        }
    }
}

/// The result for one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The task goes to this node; its reservations and ports are charged there.
    Assigned {
        /// The chosen node's id.
        node_id: String,
    },
    /// No node can take the task now; the explanation counts the nodes each filter rejected.
    Pending(Explanation),
    /// The request itself is invalid (a malformed constraint or preference).
    Invalid(ScheduleError),
}
