//! The facade the HTTP API calls: typed queries and commands on `Swarm`, answered with typed
//! results the API turns into Docker's JSON. The API never reads the Raft store itself.

mod cluster;
mod logs;
mod network_detail;
mod networks;
mod nodes;
mod secrets;
mod services;
mod tasks;

use std::collections::{BTreeMap, HashMap};

use berth_raft::{NodeRole, Object};
use bollard_stubs::models::{NetworkCreateRequest, NodeDescription, NodeSpec};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::model::{NetworkAllocation, NodeStatus, TaskStatus, UpdateStatus};

pub use logs::LogTarget;
pub use network_detail::{EndpointOnNetwork, NetworkDetail, ServiceOnNetwork};
pub use secrets::SecretInfo;

/// Docker's filters of a list (`{"label": ["a=b"], …}`).
pub type Filters = BTreeMap<String, Vec<String>>;

/// Id, version and times of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The id.
    pub id: String,
    /// The version (`Version.Index`).
    pub version: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Envelope {
    fn of(o: &Object) -> Self {
        Envelope {
            id: o.id.clone(),
            version: o.meta.version,
            created_at: o.meta.created_at,
            updated_at: o.meta.updated_at,
        }
    }
}

/// The cluster (Docker's `ClusterInfo`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterInfo {
    /// Id, version, times.
    pub envelope: Envelope,
    /// The swarm spec as stored (Docker's `SwarmSpec`).
    pub spec: Value,
    /// The root CA certificate (`TLSInfo.TrustRoot`).
    pub ca_cert: String,
    /// Its `TLSInfo` (the issuer's subject and public key too); None if it does not parse.
    pub tls: Option<bollard_stubs::models::TlsInfo>,
    /// Address pools.
    pub default_addr_pool: Vec<String>,
    /// Subnet size.
    pub subnet_size: u32,
    /// VXLAN port.
    pub data_path_port: u32,
}

/// The full join tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinTokens {
    /// For workers.
    pub worker: String,
    /// For managers.
    pub manager: String,
}

/// A manager's status as `docker node ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerInfo {
    /// Whether it leads.
    pub leader: bool,
    /// Whether it is ready.
    pub reachable: bool,
    /// Its swarm address.
    pub addr: Option<String>,
}

/// A node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// Id, version, times.
    pub envelope: Envelope,
    /// Its spec, the role as the cluster holds it.
    pub spec: NodeSpec,
    /// What it reported of itself.
    pub description: Option<NodeDescription>,
    /// State, message, address.
    pub status: NodeStatus,
    /// For managers.
    pub manager: Option<ManagerInfo>,
}

/// Running, desired and completed tasks of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskCounts {
    /// Live tasks that run.
    pub running: u64,
    /// Replicas, or eligible nodes for global services.
    pub desired: u64,
    /// Tasks that completed.
    pub completed: u64,
}

/// A service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceInfo {
    /// Id, version, times.
    pub envelope: Envelope,
    /// The spec as stored (Docker's `ServiceSpec`).
    pub spec: Value,
    /// The spec before the last update.
    pub previous_spec: Option<Value>,
    /// The last update's progress.
    pub update_status: Option<UpdateStatus>,
    /// Task counts, when asked for.
    pub counts: Option<TaskCounts>,
    /// Its virtual IPs on overlay networks.
    pub virtual_ips: Vec<crate::model::VirtualIp>,
    /// Its published ports as Docker shows them (`Endpoint.Ports`).
    pub ports: Vec<bollard_stubs::models::EndpointPortConfig>,
    /// A job's current run (`JobStatus`).
    pub job: Option<crate::model::JobStatus>,
}

/// A task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInfo {
    /// Id, version, times.
    pub envelope: Envelope,
    /// The task template it was made from.
    pub spec: Value,
    /// Its service.
    pub service_id: String,
    /// Its replica number (0 for global tasks).
    pub slot: u64,
    /// Its node, once assigned.
    pub node_id: Option<String>,
    /// Its observed status.
    pub status: TaskStatus,
    /// What the orchestrator wants, in Docker's words (`running`, `shutdown`, a job's
    /// `complete`, …).
    pub desired: String,
    /// The run of its job it belongs to.
    pub job_iteration: Option<u64>,
    /// Its places on overlay networks, once allocated.
    pub networks: Vec<crate::model::TaskAttachment>,
    /// Those networks as the swarm holds them now, where they still exist (moby shows each
    /// attachment's whole network).
    pub network_objects: Vec<NetworkInfo>,
    /// The generic resources it was given when placed.
    pub generic_resources: Vec<bollard_stubs::models::GenericResourcesInner>,
}

/// An overlay network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkInfo {
    /// Id, version, times.
    pub envelope: Envelope,
    /// The request it was created with (Docker's `NetworkCreateRequest`, scope `swarm`).
    pub spec: NetworkCreateRequest,
    /// Its VXLAN id, subnet and gateway, once the leader allocated them.
    pub allocation: Option<NetworkAllocation>,
    /// The swarm's VXLAN port.
    pub port: u16,
}

/// This node's part in the swarm (the `Swarm` field of `/info`).
#[derive(Debug, Clone, PartialEq)]
pub struct SwarmInfo {
    /// This node's id.
    pub node_id: String,
    /// Its address.
    pub node_addr: String,
    /// Whether it is a manager.
    pub control_available: bool,
    /// The managers: (node id, when known; address).
    pub remote_managers: Vec<(String, String)>,
    /// Node and manager counts and the cluster, on managers.
    pub managed: Option<(usize, usize, Option<ClusterInfo>)>,
}

/// Whether `labels` match Docker's `key` or `key=value` filter.
pub fn label_matches(labels: &HashMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|l| l == v),
        None => labels.contains_key(filter),
    }
}

/// Docker's name of a node role.
fn role_name(role: NodeRole) -> &'static str {
    match role {
        NodeRole::Manager => "manager",
        NodeRole::Worker => "worker",
    }
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
