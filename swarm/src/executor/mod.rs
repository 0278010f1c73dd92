//! The seam between the swarm and the engine a node runs its tasks on (swarmkit's
//! `agent/exec.Executor`, moby's `daemon/cluster/executor` on the other side). The agent
//! drives the engine only through this trait; `berth-node` implements it on its `Engine`, and
//! `fake::FakeExecutor` records the calls for tests.
//!
//! Object-safe: every async method returns a boxed future, so the agent holds an
//! `Arc<dyn Executor>`.

#[cfg(any(test, feature = "fakes"))]
pub mod fake;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bollard_stubs::models::{NodeDescription, TaskSpecContainerSpec, TaskSpecResources};
use tokio::sync::mpsc;

use crate::model::{HostPort, TaskAttachment};

/// A boxed future, as the trait's methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What runs a node's tasks.
pub trait Executor: Send + Sync + 'static {
    /// This node as the managers should see it (hostname, platform, resources, engine).
    fn describe(&self) -> BoxFuture<'_, NodeDescription>;

    /// The IPv4 subnets (`a.b.c.d/n`) of the engine's own local networks, whose addresses the
    /// node never advertises (moby leaves out Docker's networks when it picks one).
    fn local_subnets(&self) -> Vec<String> {
        Vec::new()
    }

    /// The containers of swarm tasks on this node (those labelled with a task id).
    fn task_containers(&self) -> BoxFuture<'_, Result<Vec<TaskContainer>, ExecError>>;

    /// The local name of `image`, pulling it when the node does not have it; with `auth` (the
    /// client's encoded `X-Registry-Auth`, from the task template) when one was given.
    fn ensure_image<'a>(
        &'a self,
        image: &'a str,
        auth: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, ExecError>>;

    /// Creates the task's container and starts it; its state after the start.
    fn start_task(&self, task: ContainerTask) -> BoxFuture<'_, Result<TaskContainer, ExecError>>;

    /// Stops a container, killing it after `grace`; its state afterwards.
    fn stop<'a>(
        &'a self,
        container_id: &'a str,
        grace: Duration,
    ) -> BoxFuture<'a, Result<TaskContainer, ExecError>>;

    /// Removes a container (stopping it first if needed).
    fn remove<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, Result<(), ExecError>>;

    /// Makes the node's overlay networks reach exactly these endpoints on other nodes (the
    /// whole list each time: a network missing from it has none).
    fn sync_peers(
        &self,
        peers: Vec<crate::peers::NetworkPeers>,
    ) -> BoxFuture<'_, Result<(), ExecError>>;

    /// A container's log records, as `options` select them; the channel closes at the end.
    fn logs<'a>(
        &'a self,
        container_id: &'a str,
        options: LogOptions,
    ) -> BoxFuture<'a, Result<mpsc::Receiver<LogRecord>, ExecError>>;
}

/// What went wrong in the executor, in the words the task's status will carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The task can never run here as asked (bad spec, image not found): the task is rejected.
    #[error("{0}")]
    Rejected(String),
    /// The container was made but did not start: the task failed.
    #[error("{0}")]
    Failed(String),
    /// No such container.
    #[error("{0}")]
    NotFound(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// A task's container as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskContainer {
    /// The container id.
    pub id: String,
    /// The task it runs (its task-id label).
    pub task_id: String,
    /// Whether its process runs.
    pub running: bool,
    /// Its main process while running (0 otherwise).
    pub pid: i64,
    /// Its exit code once stopped.
    pub exit_code: i64,
    /// Its health, when its spec has a health check.
    pub health: Option<ContainerHealth>,
    /// The ports it publishes on the node, with the numbers it got.
    pub ports: Vec<crate::model::HostPort>,
}

/// A container's health check status (Docker's `State.Health.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerHealth {
    /// No probe has passed yet (nor failed enough).
    Starting,
    Healthy,
    Unhealthy,
}

/// Whether a container spec has a health check that runs (not `NONE`).
pub fn checks_health(spec: &TaskSpecContainerSpec) -> bool {
    spec.health_check
        .as_ref()
        .and_then(|h| h.test.as_ref())
        .and_then(|t| t.first())
        .is_some_and(|first| first != "NONE")
}

/// A task turned into what the engine creates: the swarm's half of the task → container
/// conversion (names, labels, image, ports); the engine's half maps the Docker container
/// spec onto its create request.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerTask {
    /// The task id.
    pub task_id: String,
    /// The container name (`service.slot.taskid`).
    pub name: String,
    /// The local image name (from `ensure_image`).
    pub image: String,
    /// The spec's labels with Docker's swarm labels added.
    pub labels: HashMap<String, String>,
    /// Docker's `ContainerSpec`.
    pub spec: TaskSpecContainerSpec,
    /// Docker's task `Resources` (limits apply to the container).
    pub resources: Option<TaskSpecResources>,
    /// The task's log driver (`TaskSpec.LogDriver`), when set.
    pub log_driver: Option<bollard_stubs::models::TaskSpecLogDriver>,
    /// Ports published on this node.
    pub ports: Vec<HostPort>,
    /// Its places on overlay networks (the first is its main network).
    pub networks: Vec<TaskAttachment>,
    /// Seconds the container gets to stop before it is killed.
    pub stop_timeout: i64,
    /// The secret and config files to mount into it (memory-backed, read-only).
    pub files: Vec<TaskFile>,
}

/// One secret or config file of a task's container.
#[derive(Clone, PartialEq, Eq)]
pub struct TaskFile {
    /// A secret (else a config).
    pub secret: bool,
    /// Its absolute path in the container (a secret's usually under `/run/secrets`).
    pub target: String,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
    /// The content.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for TaskFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the content: a task may be logged.
        f.debug_struct("TaskFile")
            .field("secret", &self.secret)
            .field("target", &self.target)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("mode", &format_args!("{:o}", self.mode))
            .field("len", &self.data.len())
            .finish()
    }
}

/// Which log records to read (Docker's logs query, less the HTTP).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogOptions {
    /// Standard output.
    pub stdout: bool,
    /// Standard error.
    pub stderr: bool,
    /// Keep streaming new records.
    pub follow: bool,
    /// Only the last n records.
    pub tail: Option<usize>,
    /// Only records at or after (seconds since the epoch).
    pub since: Option<f64>,
    /// Only records before (seconds since the epoch).
    pub until: Option<f64>,
    /// Prefix each record with its time.
    pub timestamps: bool,
    /// Prefix each record with its log attributes and a space (`docker logs --details`).
    pub details: bool,
    /// More attributes for each record's `details`, sorted in with its own (the swarm's
    /// `com.docker.swarm.*` ids of the task a record comes from).
    pub extra_details: std::collections::BTreeMap<String, String>,
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// From standard error (else standard output).
    pub stderr: bool,
    /// The bytes, as the engine frames them.
    pub bytes: Vec<u8>,
}
