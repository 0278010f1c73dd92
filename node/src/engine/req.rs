//! Typed requests into the engine, built by `api::convert` from Docker's JSON and query strings.

use std::collections::BTreeMap;

use super::container::types::HostSettings;

/// `POST /containers/create`.
#[derive(Debug, Clone, Default)]
pub struct CreateContainer {
    pub name: Option<String>,
    pub image: String,
    /// `None` keeps the image's; `Some(vec![])` clears it.
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    /// `Config.AttachStdin/Stdout/Stderr`: what the client meant to attach (the docker CLI's
    /// `start` reads them back); kept for inspect.
    pub attach: super::container::types::AttachFlags,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub exposed_ports: Vec<String>,
    pub healthcheck: Option<super::container::types::HealthConfig>,
    pub host: HostSettings,
    /// `platform=`: the local image must be of it (Docker's 404 otherwise, so the client
    /// pulls that platform's).
    pub platform: Option<super::image::registry::Platform>,
}

/// When `wait` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    #[default]
    NotRunning,
    NextExit,
    Removed,
}

/// `GET /containers/json` filters (Docker's names).
#[derive(Debug, Clone, Default)]
pub struct ListFilters {
    pub status: Vec<String>,
    pub name: Vec<String>,
    pub label: Vec<String>,
    pub id: Vec<String>,
    pub ancestor: Vec<String>,
    pub exited: Vec<i64>,
    /// Containers created before / after this one (name or id).
    pub before: Option<String>,
    pub since: Option<String>,
    /// Network name or id.
    pub network: Vec<String>,
    /// Volume name or mount destination.
    pub volume: Vec<String>,
    /// `port[/proto]` or `start-end[/proto]`.
    pub publish: Vec<String>,
    pub expose: Vec<String>,
    /// `starting`, `healthy`, `unhealthy` or `none`.
    pub health: Vec<String>,
    pub isolation: Vec<String>,
    pub is_task: Option<bool>,
}

/// `GET /containers/json`.
#[derive(Debug, Clone, Default)]
pub struct ListContainers {
    pub all: bool,
    pub limit: Option<usize>,
    pub filters: ListFilters,
}

/// `GET /containers/{id}/logs`: the swarm executor's log options, which are Docker's logs
/// query without the HTTP, so a task's logs reach the engine as they were asked.
pub type LogsRequest = berth_swarm::executor::LogOptions;
