//! The typed cluster model: how swarm objects sit in the Raft store (Docker's shapes in each
//! object's `spec` and `status`) read into typed views and written from typed documents.
//! Docker's spellings appear only at the serde edge; a stored object that does not parse is a
//! `ModelError`, never a default. Plain data; no I/O.

mod cluster;
mod error;
mod ids;
mod network;
mod node;
mod ports;
mod secret;
mod service;
mod state;
mod task;
mod template;
mod time;

pub use cluster::{
    cert_expiry, Cluster, ClusterStatus, RootCaPem, TokenSecrets, DEFAULT_CERT_EXPIRY,
};
pub use error::ModelError;
pub use ids::{new_id, IdSource, RandomIds, SequentialIds};
pub use network::{
    ContainerAttachment, Network, NetworkAllocation, FIRST_VNI, LAST_VNI, OPT_MTU, OPT_VXLANID_LIST,
};
pub use node::{Availability, Node, NodeState, NodeStatus, NodeStatusDoc};
pub use ports::{on_mesh, published, with_defaults, HostPort, NodePort, PortStatus, Protocol};
pub use secret::{data_status, target_path, SecretKind, SecretObject};
pub use service::{
    FailureAction, JobIteration, JobStatus, Mode, RestartCondition, RestartPolicy, Service,
    ServiceStatus, UpdatePolicy, UpdateStatus, VirtualIp,
};
pub use state::{ContainerStatus, DesiredState, TaskState, TaskStatus, UpdateState};
pub use task::{
    assignment_print, awaits_allocation, data_path_port, NetworkWanted, Task, TaskAttachment,
    TaskDoc,
};
pub use template::{same_template, TemplatePrint};

use berth_raft::Object;

/// Docker's labels on a task's container.
pub const LABEL_SERVICE_NAME: &str = "com.docker.swarm.service.name";
/// The service id label.
pub const LABEL_SERVICE_ID: &str = "com.docker.swarm.service.id";
/// The task id label (what marks a container as a task's).
pub const LABEL_TASK_ID: &str = "com.docker.swarm.task.id";
/// The task name label.
pub const LABEL_TASK_NAME: &str = "com.docker.swarm.task.name";
/// The node id label.
pub const LABEL_NODE_ID: &str = "com.docker.swarm.node.id";

/// The id of the only cluster object.
pub const CLUSTER_NAME: &str = "default";

/// Objects in a stable order (by id).
pub fn sorted<'a>(objects: impl Iterator<Item = &'a Object>) -> Vec<&'a Object> {
    let mut v: Vec<&Object> = objects.collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}
