//! The agent's hands: makes the local engine match the node's assignments (start the tasks that
//! should run, stop the ones that should not, remove containers of tasks that are gone) and
//! reports what it sees (running, exited, failed to start), each state once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use berth_raft::{Object, TaskState};
use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};

use super::spec::{container_body, image_of, stop_timeout, without_digest};
use crate::engine::container::ContainerRecord;
use crate::engine::req::{ListContainers, ListFilters};
use crate::engine::Engine;
use crate::swarm::model::{is_terminal, observed, task_attrs, task_status, LABEL_TASK_ID};

/// The containers of swarm tasks on `engine`, by task id (what the agent, `swarm leave` and
/// the service logs look at).
pub async fn task_containers(engine: &Engine) -> HashMap<String, ContainerRecord> {
    let req = ListContainers {
        all: true,
        limit: None,
        filters: ListFilters {
            label: vec![LABEL_TASK_ID.to_string()],
            ..ListFilters::default()
        },
    };
    let list = engine.list_containers(&req).await.unwrap_or_default();
    list.into_iter()
        .filter_map(|c| {
            let task = c.config.labels.get(LABEL_TASK_ID)?.clone();
            Some((task, c))
        })
        .collect()
}

/// Containers started at once.
const PARALLEL_STARTS: usize = 8;

/// A status report: (task id, Docker `TaskStatus`).
pub type Report = (String, Value);

/// Runs one node's tasks on its engine.
pub struct Runner {
    engine: Arc<Engine>,
    busy: Mutex<HashSet<String>>,
    reported: Mutex<HashMap<String, String>>,
    reports: mpsc::UnboundedSender<Report>,
    starts: Semaphore,
}

impl Runner {
    /// A runner sending its reports to `reports`.
    pub fn new(engine: Arc<Engine>, reports: mpsc::UnboundedSender<Report>) -> Self {
        Runner {
            engine,
            busy: Mutex::default(),
            reported: Mutex::default(),
            reports,
            starts: Semaphore::new(PARALLEL_STARTS),
        }
    }

    /// The containers of swarm tasks on this engine, by task id.
    pub async fn local_tasks(&self) -> HashMap<String, ContainerRecord> {
        task_containers(&self.engine).await
    }

    /// Brings the engine in line with `tasks`, the node's full assignment list.
    pub async fn apply(self: &Arc<Self>, tasks: &[Object]) {
        // Taken before the containers are listed: a start that ends between the listing and
        // the check below made its container after the listing, so "no container and not
        // busy now" would wrongly read as "never started" (a second container for the task)
        // or "removed by hand" (a needless replacement).
        let busy_before = self.busy_tasks();
        let local = self.local_tasks().await;
        let assigned: HashSet<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        for task in tasks {
            let desired = task_attrs(task).2;
            let container = local.get(&task.id);
            let running = container.is_some_and(|c| c.state.status.is_running());
            let busy = busy_before.contains(&task.id) || self.is_busy(&task.id);
            match desired {
                TaskState::Running => match container {
                    // It ran here and its container is gone (removed by hand): the task failed;
                    // the orchestrator makes a new one.
                    None if matches!(observed(task), "starting" | "running") && !busy => {
                        let err = "task: its container was removed";
                        self.report(task, "failed", "removed", Some(err), None);
                    }
                    None if !is_terminal(observed(task))
                        && !self.was_reported_terminal(task)
                        && !busy =>
                    {
                        self.spawn(task, Action::Start)
                    }
                    Some(c) if running => self.report_running(task, c),
                    Some(c) => self.report_exit(task, c),
                    None => {}
                },
                TaskState::Shutdown | TaskState::Remove => {
                    let remove = desired == TaskState::Remove;
                    if running || (remove && container.is_some()) {
                        self.spawn(task, Action::Stop { remove });
                    } else if let Some(c) = container {
                        self.report_exit(task, c);
                    } else if !is_terminal(observed(task)) {
                        self.report(task, "shutdown", "shutdown", None, None);
                    }
                }
                _ => {}
            }
        }
        for (task_id, c) in local {
            if !assigned.contains(task_id.as_str()) && self.claim(&task_id) {
                let runner = self.clone();
                tokio::spawn(async move {
                    let _ = runner.engine.remove_container(&c.id, true).await;
                    runner.release(&task_id);
                    runner.forget(&task_id);
                });
            }
        }
    }

    fn was_reported_terminal(&self, task: &Object) -> bool {
        self.reported
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&task.id)
            .is_some_and(|s| is_terminal(s))
    }

    fn busy_tasks(&self) -> HashSet<String> {
        self.busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn is_busy(&self, task_id: &str) -> bool {
        self.busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(task_id)
    }

    fn claim(&self, task_id: &str) -> bool {
        self.busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(task_id.to_string())
    }

    fn release(&self, task_id: &str) {
        self.busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(task_id);
    }

    /// Forgets what was reported for a task, so the next check reports it again.
    pub fn forget(&self, task_id: &str) {
        self.reported
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(task_id);
    }

    fn spawn(self: &Arc<Self>, task: &Object, action: Action) {
        if !self.claim(&task.id) {
            return;
        }
        let runner = self.clone();
        let task = task.clone();
        tokio::spawn(async move {
            match action {
                Action::Start => runner.start(&task).await,
                Action::Stop { remove } => runner.stop(&task, remove).await,
            }
            runner.release(&task.id);
        });
    }

    /// Sends a report unless this state was already reported.
    fn report(
        &self,
        task: &Object,
        state: &str,
        message: &str,
        err: Option<&str>,
        container: Option<Value>,
    ) {
        // A final state is final: a later look at the stopped container must not turn a
        // failure into a shutdown (which would skip the restart delay).
        if is_terminal(observed(task)) {
            return;
        }
        {
            let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
            let before = reported.get(&task.id).map(String::as_str);
            if before == Some(state) || before.is_some_and(is_terminal) {
                return;
            }
            reported.insert(task.id.clone(), state.to_string());
        }
        if observed(task) == state && container.is_none() {
            return;
        }
        let mut status = task_status(state, message, err, Utc::now());
        if let Some(c) = container {
            status["ContainerStatus"] = c;
        }
        let _ = self.reports.send((task.id.clone(), status));
    }

    fn report_running(&self, task: &Object, c: &ContainerRecord) {
        self.report(
            task,
            "running",
            "started",
            None,
            Some(json!({ "ContainerID": c.id, "PID": c.state.pid, "ExitCode": 0 })),
        );
    }

    fn report_exit(&self, task: &Object, c: &ContainerRecord) {
        let code = c.state.exit_code;
        let container = Some(json!({ "ContainerID": c.id, "PID": 0, "ExitCode": code }));
        if task_attrs(task).2 > TaskState::Running {
            self.report(task, "shutdown", "shutdown", None, container);
        } else if code == 0 {
            self.report(task, "complete", "finished", None, container);
        } else {
            let err = format!("task: non-zero exit ({code})");
            self.report(task, "failed", "started", Some(&err), container);
        }
    }

    async fn start(&self, task: &Object) {
        let Ok(_permit) = self.starts.acquire().await else {
            return;
        };
        let template = &crate::swarm::model::TaskDoc::of(task).template;
        let wanted = image_of(template);
        let image = match self.ensure_image(&wanted).await {
            Ok(image) => image,
            Err(e) => {
                self.report(task, "rejected", "preparing", Some(&e), None);
                return;
            }
        };
        let (name, body) = container_body(task, &image);
        let created = match body {
            Err(e) => Err(format!("invalid container spec: {e}")),
            Ok(body) => match crate::api::convert::container::create_request(body, Some(name)) {
                Err(e) => Err(e.message),
                Ok(req) => self
                    .engine
                    .create_container(req)
                    .await
                    .map(|(id, _)| id)
                    .map_err(|e| e.to_string()),
            },
        };
        let id = match created {
            Ok(id) => id,
            Err(e) => {
                self.report(task, "rejected", "preparing", Some(&e), None);
                return;
            }
        };
        self.report(task, "starting", "starting", None, None);
        if let Err(e) = self.engine.start_container(&id).await {
            let err = e.to_string();
            self.report(task, "failed", "starting", Some(&err), None);
            return;
        }
        match self.engine.inspect_container(&id).await {
            Ok(c) if c.state.status.is_running() => self.report_running(task, &c),
            Ok(c) => self.report_exit(task, &c),
            Err(e) => {
                let err = e.to_string();
                self.report(task, "failed", "starting", Some(&err), None);
            }
        }
    }

    /// The local name of `wanted`, pulling it when the engine does not have it.
    async fn ensure_image(&self, wanted: &str) -> Result<String, String> {
        let images = self.engine.images();
        if images.resolve(wanted).is_ok() {
            return Ok(wanted.to_string());
        }
        let plain = without_digest(wanted);
        if images.resolve(plain).is_ok() {
            return Ok(plain.to_string());
        }
        let reference = crate::engine::image::Reference::parse(wanted)
            .map_err(|e| format!("invalid image {wanted:?}: {e}"))?;
        let req = crate::engine::image::PullRequest {
            reference,
            platform: None,
            credentials: Default::default(),
        };
        let pulled = async {
            let prepared = images.prepare_pull(&req).await?;
            prepared
                .run(&crate::engine::image::ProgressSink::discard())
                .await
        };
        match pulled.await {
            Ok(_) if images.resolve(plain).is_ok() => Ok(plain.to_string()),
            Ok(_) => Ok(wanted.to_string()),
            Err(e) => Err(format!("No such image: {wanted} ({e})")),
        }
    }

    async fn stop(&self, task: &Object, remove: bool) {
        let Some(c) = self.local_tasks().await.remove(&task.id) else {
            return;
        };
        let timeout = stop_timeout(&crate::swarm::model::TaskDoc::of(task).template);
        let _ = self.engine.stop_container(&c.id, Some(timeout), None).await;
        let after = self.engine.inspect_container(&c.id).await.ok();
        let code = after.as_ref().map_or(0, |c| c.state.exit_code);
        self.report(
            task,
            "shutdown",
            "shutdown",
            None,
            Some(json!({ "ContainerID": c.id, "PID": 0, "ExitCode": code })),
        );
        if remove {
            let _ = self.engine.remove_container(&c.id, true).await;
        }
    }
}

enum Action {
    Start,
    Stop { remove: bool },
}
