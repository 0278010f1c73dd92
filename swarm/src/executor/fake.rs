//! A recording executor for tests: keeps containers in memory, records every call as an
//! `ExecCall`, and can be told to fail the Nth call, to miss an image, or to have a container
//! exit or vanish as a real one would.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bollard_stubs::models::{NodeDescription, Platform, ResourceObject};
use tokio::sync::{mpsc, Notify};

use super::{
    BoxFuture, ContainerHealth, ContainerTask, ExecError, Executor, LogOptions, LogRecord,
    TaskContainer,
};

/// One call the fake received, with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecCall {
    /// `describe`.
    Describe,
    /// `task_containers`.
    TaskContainers,
    /// `ensure_image(image)`.
    EnsureImage(String),
    /// `start_task(task)`.
    StartTask(Box<ContainerTask>),
    /// `stop(container, grace)`.
    Stop(String, Duration),
    /// `remove(container)`.
    Remove(String),
    /// `logs(container, options)`.
    Logs(String, LogOptions),
}

#[derive(Debug, Default)]
struct State {
    calls: Vec<ExecCall>,
    containers: BTreeMap<String, TaskContainer>,
    fail_at: HashMap<usize, ExecError>,
    missing_images: HashSet<String>,
    logs: HashMap<String, Vec<LogRecord>>,
    next_id: u64,
    peers: Vec<crate::peers::NetworkPeers>,
    health_at_start: Option<ContainerHealth>,
    held_listing: Option<Arc<Notify>>,
}

/// The fake; `FakeExecutor::new("host")` describes a 2-CPU, 1 GiB linux node named `host`.
#[derive(Debug)]
pub struct FakeExecutor {
    hostname: String,
    state: Mutex<State>,
}

impl FakeExecutor {
    /// A fake node named `hostname`.
    pub fn new(hostname: &str) -> Self {
        FakeExecutor {
            hostname: hostname.to_string(),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<ExecCall> {
        self.state().calls.clone()
    }

    /// The `start_task` calls so far.
    pub fn started(&self) -> Vec<ContainerTask> {
        let calls = self.calls();
        calls
            .into_iter()
            .filter_map(|c| match c {
                ExecCall::StartTask(t) => Some(*t),
                _ => None,
            })
            .collect()
    }

    /// Makes call number `n` (0-based, counting every call) fail with `error`.
    pub fn fail_at(&self, n: usize, error: ExecError) {
        self.state().fail_at.insert(n, error);
    }

    /// Makes `ensure_image(image)` fail as an image no registry has.
    pub fn miss_image(&self, image: &str) {
        self.state().missing_images.insert(image.to_string());
    }

    /// The containers, by container id.
    pub fn containers(&self) -> Vec<TaskContainer> {
        self.state().containers.values().cloned().collect()
    }

    /// The container of `task_id`, if there is one.
    pub fn container_of(&self, task_id: &str) -> Option<TaskContainer> {
        let s = self.state();
        s.containers
            .values()
            .find(|c| c.task_id == task_id)
            .cloned()
    }

    /// Makes the container of `task_id` exit with `code`, as its process would.
    pub fn exit(&self, task_id: &str, code: i64) {
        let mut s = self.state();
        for c in s.containers.values_mut().filter(|c| c.task_id == task_id) {
            c.running = false;
            c.pid = 0;
            c.exit_code = code;
        }
    }

    /// Sets the health of the container of `task_id`, as its probes would.
    pub fn set_health(&self, task_id: &str, health: ContainerHealth) {
        let mut s = self.state();
        for c in s.containers.values_mut().filter(|c| c.task_id == task_id) {
            c.health = Some(health);
        }
    }

    /// Makes `start_task` return containers with a health check already `health`, as a real
    /// one does when its first probe ran before the start call returned (a loaded host).
    pub fn probe_before_start_returns(&self, health: ContainerHealth) {
        self.state().health_at_start = Some(health);
    }

    /// Holds the next `task_containers` until the returned handle is notified; it lists the
    /// containers as they are then, as a slow real listing does.
    pub fn hold_next_listing(&self) -> Arc<Notify> {
        let hold = Arc::new(Notify::new());
        self.state().held_listing = Some(hold.clone());
        hold
    }

    /// Removes the container of `task_id` behind the agent's back (`docker rm -f`).
    pub fn remove_by_hand(&self, task_id: &str) {
        self.state().containers.retain(|_, c| c.task_id != task_id);
    }

    /// Gives container `id` these log records.
    pub fn set_logs(&self, id: &str, records: Vec<LogRecord>) {
        self.state().logs.insert(id.to_string(), records);
    }

    /// The peers last given to `sync_peers` (kept apart from the call log: every session
    /// reply brings them).
    pub fn peers(&self) -> Vec<crate::peers::NetworkPeers> {
        self.state().peers.clone()
    }

    /// Records `call`; the error it was told to fail with, if any.
    fn record(&self, call: ExecCall) -> Result<(), ExecError> {
        let mut s = self.state();
        let n = s.calls.len();
        s.calls.push(call);
        s.fail_at.remove(&n).map_or(Ok(()), Err)
    }
}

impl Executor for FakeExecutor {
    fn describe(&self) -> BoxFuture<'_, NodeDescription> {
        let _ = self.record(ExecCall::Describe);
        let d = NodeDescription {
            hostname: Some(self.hostname.clone()),
            platform: Some(Platform {
                architecture: Some("x86_64".into()),
                os: Some("linux".into()),
            }),
            resources: Some(ResourceObject {
                nano_cpus: Some(2_000_000_000),
                memory_bytes: Some(1 << 30),
                generic_resources: None,
            }),
            ..NodeDescription::default()
        };
        Box::pin(async move { d })
    }

    fn task_containers(&self) -> BoxFuture<'_, Result<Vec<TaskContainer>, ExecError>> {
        let recorded = self.record(ExecCall::TaskContainers);
        let hold = self.state().held_listing.take();
        Box::pin(async move {
            if let Some(hold) = hold {
                hold.notified().await;
            }
            recorded.map(|()| self.containers())
        })
    }

    fn ensure_image<'a>(
        &'a self,
        image: &'a str,
        _auth: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, ExecError>> {
        let r = self
            .record(ExecCall::EnsureImage(image.into()))
            .and_then(|()| {
                if self.state().missing_images.contains(image) {
                    Err(ExecError::Rejected(format!("No such image: {image}")))
                } else {
                    Ok(image.to_string())
                }
            });
        Box::pin(async move { r })
    }

    fn start_task(&self, task: ContainerTask) -> BoxFuture<'_, Result<TaskContainer, ExecError>> {
        let task_id = task.task_id.clone();
        let checked = super::checks_health(&task.spec);
        let asked = task.ports.clone();
        let r = self.record(ExecCall::StartTask(Box::new(task))).map(|()| {
            let mut s = self.state();
            let health = checked.then(|| s.health_at_start.unwrap_or(ContainerHealth::Starting));
            s.next_id += 1;
            // The node picks 32768 and up for a port asked without a number.
            let picked = 32767 + u16::try_from(s.next_id).unwrap_or(0);
            let ports = asked
                .iter()
                .map(|p| crate::model::HostPort {
                    published: if p.published == 0 {
                        picked
                    } else {
                        p.published
                    },
                    ..*p
                })
                .collect();
            let c = TaskContainer {
                id: format!("c{}", s.next_id),
                task_id,
                running: true,
                pid: 1000 + i64::try_from(s.next_id).unwrap_or(0),
                exit_code: 0,
                health,
                ports,
            };
            s.containers.insert(c.id.clone(), c.clone());
            c
        });
        Box::pin(async move { r })
    }

    fn stop<'a>(
        &'a self,
        container_id: &'a str,
        grace: Duration,
    ) -> BoxFuture<'a, Result<TaskContainer, ExecError>> {
        let r = self
            .record(ExecCall::Stop(container_id.into(), grace))
            .and_then(|()| {
                let mut s = self.state();
                let c = s.containers.get_mut(container_id).ok_or_else(|| {
                    ExecError::NotFound(format!("No such container: {container_id}"))
                })?;
                if c.running {
                    // A stopped process: SIGTERM's status, as a shell's `sleep` gives.
                    c.running = false;
                    c.pid = 0;
                    c.exit_code = 143;
                }
                Ok(c.clone())
            });
        Box::pin(async move { r })
    }

    fn remove<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, Result<(), ExecError>> {
        let r = self
            .record(ExecCall::Remove(container_id.into()))
            .and_then(|()| {
                let gone = self.state().containers.remove(container_id);
                gone.map(|_| ()).ok_or_else(|| {
                    ExecError::NotFound(format!("No such container: {container_id}"))
                })
            });
        Box::pin(async move { r })
    }

    fn sync_peers(
        &self,
        peers: Vec<crate::peers::NetworkPeers>,
    ) -> BoxFuture<'_, Result<(), ExecError>> {
        self.state().peers = peers;
        Box::pin(async { Ok(()) })
    }

    fn logs<'a>(
        &'a self,
        container_id: &'a str,
        options: LogOptions,
    ) -> BoxFuture<'a, Result<mpsc::Receiver<LogRecord>, ExecError>> {
        let r = self
            .record(ExecCall::Logs(container_id.into(), options))
            .map(|()| {
                let records = self.state().logs.get(container_id).cloned();
                let records = records.unwrap_or_default();
                let (tx, rx) = mpsc::channel(records.len().max(1));
                for r in records {
                    let _ = tx.try_send(r);
                }
                rx
            });
        Box::pin(async move { r })
    }
}
