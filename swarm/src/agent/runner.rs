//! The agent's hands: makes the node's executor match its assignments (start the tasks that
//! should run, stop the ones that should not, remove containers of tasks that are gone) and
//! reports what it sees (running, exited, failed to start), each state once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use berth_raft::Object;
use tokio::sync::{mpsc, Semaphore};

use super::container::{
    container_task, image_of, stop_timeout, task_files, template_context, SecretStore,
};
use crate::clock::Clock;
use crate::executor::{ContainerHealth, ExecError, Executor, TaskContainer};
use crate::model::{ContainerStatus, DesiredState, PortStatus, Task, TaskState, TaskStatus};

/// Containers started at once.
const PARALLEL_STARTS: usize = 8;

/// A status report: (task id, Docker `TaskStatus`).
pub type Report = (String, TaskStatus);

/// The containers of swarm tasks the executor has, by task id; `None` when it cannot say.
pub async fn task_containers(executor: &dyn Executor) -> Option<HashMap<String, TaskContainer>> {
    match executor.task_containers().await {
        Ok(list) => Some(list.into_iter().map(|c| (c.task_id.clone(), c)).collect()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the task containers");
            None
        }
    }
}

/// Runs one node's tasks on its executor.
pub struct Runner {
    executor: Arc<dyn Executor>,
    clock: Arc<dyn Clock>,
    busy: Mutex<HashSet<String>>,
    reported: Mutex<HashMap<String, TaskState>>,
    reports: mpsc::UnboundedSender<Report>,
    starts: Semaphore,
    /// The secret and config data the dispatcher sent last (memory only, never written).
    secrets: Mutex<SecretStore>,
    /// The dispatcher's last assignment list; `None` before the first (a restarted agent
    /// keeps its containers until it hears what it should run).
    assigned: Mutex<Option<Arc<Vec<Object>>>>,
    /// Held by the one `apply` at a time: an apply of an older list beside a newer one's
    /// would take a container that list's start just made for one it does not know and
    /// remove it, and the task would then read as removed by hand and fail.
    applying: tokio::sync::Mutex<()>,
}

impl Runner {
    /// A runner sending its reports to `reports`, stamped by `clock`.
    pub fn new(
        executor: Arc<dyn Executor>,
        clock: Arc<dyn Clock>,
        reports: mpsc::UnboundedSender<Report>,
    ) -> Self {
        Runner {
            executor,
            clock,
            busy: Mutex::default(),
            reported: Mutex::default(),
            reports,
            starts: Semaphore::new(PARALLEL_STARTS),
            secrets: Mutex::default(),
            assigned: Mutex::default(),
            applying: tokio::sync::Mutex::default(),
        }
    }

    /// Replaces the secret and config data the node holds with what the dispatcher sent.
    pub fn set_secrets(&self, payloads: &[crate::delivery::SecretPayload]) {
        let store: SecretStore = payloads
            .iter()
            .map(|p| ((p.kind, p.id.clone()), (p.bytes(), p.templated)))
            .collect();
        *self.secrets.lock().unwrap_or_else(PoisonError::into_inner) = store;
    }

    /// Takes `tasks`, the node's full assignment list from the dispatcher, as the one to run,
    /// and brings the executor in line with it.
    pub async fn assign(self: &Arc<Self>, tasks: Arc<Vec<Object>>) {
        *self.assigned.lock().unwrap_or_else(PoisonError::into_inner) = Some(tasks);
        self.recheck().await;
    }

    /// Brings the executor in line with the last assignment list again (exits, drift).
    pub async fn recheck(self: &Arc<Self>) {
        let _turn = self.applying.lock().await;
        // Read in turn: the newest list, never one an apply ahead of this one replaced.
        let current = self
            .assigned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(tasks) = current {
            self.apply(&tasks).await;
        }
    }

    /// Brings the executor in line with `tasks`.
    async fn apply(self: &Arc<Self>, tasks: &[Object]) {
        // Taken before the containers are listed: a start that ends between the listing and
        // the check below made its container after the listing, so "no container and not
        // busy now" would wrongly read as "never started" (a second container for the task)
        // or "removed by hand" (a needless replacement).
        let busy_before = self.busy_tasks();
        let Some(local) = task_containers(self.executor.as_ref()).await else {
            return;
        };
        let assigned: HashSet<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        for object in tasks {
            let task = match Task::parse(object) {
                Ok(task) => task,
                Err(e) => {
                    if self.first_report(&object.id, TaskState::Rejected) {
                        tracing::warn!(error = %e, "assigned task cannot be read; not run");
                    }
                    continue;
                }
            };
            let busy = busy_before.contains(task.id()) || self.is_busy(task.id());
            self.apply_one(&task, local.get(task.id()), busy);
        }
        for (task_id, c) in local {
            if !assigned.contains(task_id.as_str()) && self.claim(&task_id) {
                let runner = self.clone();
                tokio::spawn(async move {
                    let _ = runner.executor.remove(&c.id).await;
                    runner.release(&task_id);
                    runner.forget(&task_id);
                });
            }
        }
    }

    fn apply_one(self: &Arc<Self>, task: &Task<'_>, container: Option<&TaskContainer>, busy: bool) {
        // The list's state, or the later one this node reported since: its own reports do
        // not send it a new list (`assignment_print`).
        let state = self.state_of(task);
        let running = container.is_some_and(|c| c.running);
        match task.desired {
            DesiredState::Running => match container {
                // It ran here and its container is gone (removed by hand): the task failed;
                // the orchestrator makes a new one.
                None if matches!(state, TaskState::Starting | TaskState::Running) && !busy => {
                    let err = "task: its container was removed";
                    self.report(task, TaskState::Failed, "removed", Some(err), None);
                }
                None if !state.is_terminal() && !self.was_reported_terminal(task.id()) && !busy => {
                    self.spawn(task.object, Action::Start)
                }
                Some(c) if running => {
                    let verdict = self.judge_running(task, c);
                    if verdict == Verdict::Unhealthy {
                        self.spawn(task.object, Action::Stop { remove: false });
                    }
                }
                Some(c) => self.report_exit(task, c),
                None => {}
            },
            DesiredState::Shutdown | DesiredState::Remove => {
                let remove = task.desired == DesiredState::Remove;
                if running || (remove && container.is_some()) {
                    self.spawn(task.object, Action::Stop { remove });
                } else if let Some(c) = container {
                    self.report_exit(task, c);
                } else if !state.is_terminal() {
                    self.report(task, TaskState::Shutdown, "shutdown", None, None);
                }
            }
            _ => {}
        }
    }

    /// The later of the task's listed state and the one last reported for it here.
    fn state_of(&self, task: &Task<'_>) -> TaskState {
        let reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = reported.get(task.id()).copied();
        mine.map_or(task.state(), |s| s.max(task.state()))
    }

    fn was_reported_terminal(&self, task_id: &str) -> bool {
        let reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        reported.get(task_id).is_some_and(|s| s.is_terminal())
    }

    /// Records `state` as reported for `task_id`; false when it (or a final state) already was.
    fn first_report(&self, task_id: &str, state: TaskState) -> bool {
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        let before = reported.get(task_id).copied();
        if before == Some(state) || before.is_some_and(TaskState::is_terminal) {
            return false;
        }
        reported.insert(task_id.to_string(), state);
        true
    }

    fn busy_tasks(&self) -> HashSet<String> {
        self.busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn is_busy(&self, task_id: &str) -> bool {
        let busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        busy.contains(task_id)
    }

    fn claim(&self, task_id: &str) -> bool {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        busy.insert(task_id.to_string())
    }

    fn release(&self, task_id: &str) {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        busy.remove(task_id);
    }

    /// Forgets what was reported for a task, so the next check reports it again.
    pub fn forget(&self, task_id: &str) {
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        reported.remove(task_id);
    }

    fn spawn(self: &Arc<Self>, task: &Object, action: Action) {
        if !self.claim(&task.id) {
            return;
        }
        let runner = self.clone();
        let task = task.clone();
        tokio::spawn(async move {
            if let Ok(t) = Task::parse(&task) {
                match action {
                    Action::Start => runner.start(&t).await,
                    Action::Stop { remove } => runner.stop(&t, remove).await,
                }
            }
            runner.release(&task.id);
        });
    }

    /// Sends a report unless this state was already reported.
    fn report(
        &self,
        task: &Task<'_>,
        state: TaskState,
        message: &str,
        err: Option<&str>,
        container: Option<ContainerStatus>,
    ) {
        let mut status = TaskStatus::new(state, message, err, self.clock.now());
        status.container = container;
        self.send(task, status);
    }

    fn send(&self, task: &Task<'_>, status: TaskStatus) {
        // A final state is final: a later look at the stopped container must not turn a
        // failure into a shutdown (which would skip the restart delay).
        if task.state().is_terminal() || !self.first_report(task.id(), status.state) {
            return;
        }
        if task.state() == status.state && status.container.is_none() {
            return;
        }
        let _ = self.reports.send((task.id().to_string(), status));
    }

    fn report_running(&self, task: &Task<'_>, c: &TaskContainer) {
        let mut status = TaskStatus::new(TaskState::Running, "started", None, self.clock.now());
        status.container = Some(ContainerStatus {
            container_id: c.id.clone(),
            pid: c.pid,
            exit_code: 0,
        });
        status.port_status = PortStatus::of(&c.ports);
        self.send(task, status);
    }

    /// Reports a running container's task as Docker's swarm does: a task with a health check
    /// runs once its container is healthy and fails when it turns unhealthy (the caller stops
    /// that container).
    fn judge_running(&self, task: &Task<'_>, c: &TaskContainer) -> Verdict {
        match c.health {
            Some(ContainerHealth::Starting) => Verdict::NotYet,
            Some(ContainerHealth::Unhealthy) => {
                let err = "task: unhealthy container";
                self.report(task, TaskState::Failed, "unhealthy", Some(err), None);
                Verdict::Unhealthy
            }
            Some(ContainerHealth::Healthy) | None => {
                self.report_running(task, c);
                Verdict::Running
            }
        }
    }

    fn report_exit(&self, task: &Task<'_>, c: &TaskContainer) {
        let code = c.exit_code;
        let container = Some(ContainerStatus {
            container_id: c.id.clone(),
            pid: 0,
            exit_code: code,
        });
        if task.desired > DesiredState::Running {
            self.report(task, TaskState::Shutdown, "shutdown", None, container);
        } else if code == 0 {
            self.report(task, TaskState::Complete, "finished", None, container);
        } else {
            let err = format!("task: non-zero exit ({code})");
            self.report(task, TaskState::Failed, "started", Some(&err), container);
        }
    }

    async fn start(&self, task: &Task<'_>) {
        let Ok(_permit) = self.starts.acquire().await else {
            return;
        };
        let reject = |e: &str| self.report(task, TaskState::Rejected, "preparing", Some(e), None);
        let spec = match task.spec() {
            Ok(spec) => spec,
            Err(e) => return reject(&e.to_string()),
        };
        let Some(wanted) = image_of(&spec) else {
            return reject("ContainerSpec: image reference must be provided");
        };
        let auth = crate::pull_auth::of_template(task.template());
        let image = match self.executor.ensure_image(wanted, auth).await {
            Ok(image) => image,
            Err(e) => return reject(&e.to_string()),
        };
        let node = self.executor.describe().await;
        let mut container = match container_task(task, &spec, image, &node) {
            Ok(c) => c,
            Err(e) => return reject(&e.to_string()),
        };
        let files = {
            let store = self.secrets.lock().unwrap_or_else(PoisonError::into_inner);
            task_files(&container.spec, &store, &template_context(task, &node))
        };
        container.files = match files {
            Ok(files) => files,
            Err(e) => return reject(&e),
        };
        self.report(task, TaskState::Starting, "starting", None, None);
        match self.executor.start_task(container).await {
            // A probe may already have run (a loaded host); still starting: a later pass.
            Ok(c) if c.running => {
                if self.judge_running(task, &c) == Verdict::Unhealthy {
                    self.stop(task, false).await;
                }
            }
            Ok(c) => self.report_exit(task, &c),
            Err(ExecError::Rejected(e)) => reject(&e),
            Err(e) => {
                let err = e.to_string();
                self.report(task, TaskState::Failed, "starting", Some(&err), None);
            }
        }
    }

    async fn stop(&self, task: &Task<'_>, remove: bool) {
        let Some(mut local) = task_containers(self.executor.as_ref()).await else {
            return;
        };
        let Some(c) = local.remove(task.id()) else {
            return;
        };
        // A template that cannot be read was never started here; stop with Docker's default.
        let seconds = task
            .spec()
            .ok()
            .map_or(10, |s| stop_timeout(&s.container_spec.unwrap_or_default()));
        let grace = Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
        let code = match self.executor.stop(&c.id, grace).await {
            Ok(after) => after.exit_code,
            Err(_) => 0,
        };
        let container = ContainerStatus {
            container_id: c.id.clone(),
            pid: 0,
            exit_code: code,
        };
        self.report(task, TaskState::Shutdown, "shutdown", None, Some(container));
        if remove {
            let _ = self.executor.remove(&c.id).await;
        }
    }
}

/// What a running container's health makes of its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Its health checks have not passed yet.
    NotYet,
    Running,
    Unhealthy,
}

enum Action {
    Start,
    Stop { remove: bool },
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
