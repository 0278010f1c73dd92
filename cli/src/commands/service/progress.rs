//! Convergence progress of a service, as docker's `service create/update/scale` show it: per-slot
//! (replicated) or per-node (global) task states, "overall progress: N out of M tasks", then a
//! monitoring period (`converge.rs`). Pure: callers pass what they polled and get display events
//! back (rendered by `display.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};

use bollard::models::{Service, Task, TaskState};

/// Task bars are drawn only for services this small, as docker does.
pub(super) const MAX_PROGRESS_BARS: usize = 20;
/// The rank of `running`: a task bar's full length.
const MAX_PROGRESS: i64 = 9;
/// Width of the state column: the longest state a bar shows ("allocated", "preparing").
const STATE_WIDTH: usize = 9;

/// One thing to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A line keyed by `id` ("1/3", "overall progress", "verify"), redrawn in place on a
    /// terminal; `bar` is (current, total) for a task's state.
    Line {
        /// The key before the colon.
        id: String,
        /// The text after it.
        action: String,
        /// A progress bar, when the line has one.
        bar: Option<(i64, i64)>,
    },
    /// A plain message; it ends the block of in-place lines.
    Message(String),
}

/// A keyed line without a bar.
pub(super) fn line(id: impl Into<String>, action: impl Into<String>) -> Event {
    Event::Line {
        id: id.into(),
        action: action.into(),
        bar: None,
    }
}

/// Docker's ordering of task states; 0 for states progress ignores.
pub(super) fn rank(state: Option<TaskState>) -> i64 {
    match state {
        Some(TaskState::NEW) => 1,
        Some(TaskState::ALLOCATED) => 2,
        Some(TaskState::PENDING) => 3,
        Some(TaskState::ASSIGNED) => 4,
        Some(TaskState::ACCEPTED) => 5,
        Some(TaskState::PREPARING) => 6,
        Some(TaskState::READY) => 7,
        Some(TaskState::STARTING) => 8,
        Some(TaskState::RUNNING) => 9,
        Some(TaskState::COMPLETE) => 10,
        Some(TaskState::SHUTDOWN) => 11,
        Some(TaskState::FAILED) => 12,
        Some(TaskState::REJECTED) => 13,
        _ => 0,
    }
}

fn is_terminal(state: Option<TaskState>) -> bool {
    rank(state) > MAX_PROGRESS
}

fn observed(t: &Task) -> Option<TaskState> {
    t.status.as_ref().and_then(|s| s.state)
}

fn task_error(t: &Task) -> Option<&str> {
    t.status
        .as_ref()
        .and_then(|s| s.err.as_deref())
        .filter(|e| !e.is_empty())
}

/// Newlines removed and at most 75 characters, so a task's error fits on one line.
fn trunc_error(msg: &str) -> String {
    let msg = msg.replace('\n', " ");
    if msg.chars().count() > 75 {
        let mut cut: String = msg.chars().take(74).collect();
        cut.push('…');
        cut
    } else {
        msg
    }
}

/// Of two tasks for one slot (or node), the one with the lower desired state wins, then the
/// lower observed state (a restart or a start-first update shows both for a while).
fn prefer(existing: &Task, candidate: &Task) -> bool {
    let (ed, cd) = (rank(existing.desired_state), rank(candidate.desired_state));
    if ed < cd {
        return false;
    }
    !(ed == cd && rank(observed(existing)) <= rank(observed(candidate)))
}

fn overall(running: usize, total: usize, rollback: bool) -> Event {
    let action = if rollback {
        format!("rolling back update: {running} out of {total} tasks")
    } else {
        format!("{running} out of {total} tasks")
    };
    line("overall progress", action)
}

/// A job task's bar (up to `complete`) or error line.
pub(super) fn job_task_line(id: String, t: &Task) -> Event {
    if let Some(err) = task_error(t) {
        return line(id, trunc_error(err));
    }
    let state = observed(t);
    let name = state.map(|s| s.to_string()).unwrap_or_default();
    Event::Line {
        id,
        action: format!("{name:<STATE_WIDTH$}"),
        bar: Some((rank(state), rank(Some(TaskState::COMPLETE)))),
    }
}

/// The bar or error line of one task, when docker shows one.
fn task_line(id: String, t: &Task) -> Option<Event> {
    if let Some(err) = task_error(t) {
        return Some(line(id, trunc_error(err)));
    }
    let state = observed(t);
    if is_terminal(t.desired_state) || is_terminal(state) {
        return None;
    }
    let name = state.map(|s| s.to_string()).unwrap_or_default();
    Some(Event::Line {
        id,
        action: format!("{name:<STATE_WIDTH$}"),
        bar: Some((rank(state), MAX_PROGRESS)),
    })
}

/// Per-mode progress state.
#[derive(Debug)]
pub(super) enum Updater {
    Replicated {
        slots: HashMap<i64, usize>,
        initialized: bool,
        done: bool,
    },
    Global {
        initialized: bool,
        done: bool,
    },
    ReplicatedJob(super::progress_jobs::ReplicatedJob),
    GlobalJob(super::progress_jobs::GlobalJob),
}

impl Updater {
    /// The updater for the service's mode (replicated or global).
    pub(super) fn for_service(service: &Service) -> Result<Self, String> {
        let mode = service.spec.as_ref().and_then(|s| s.mode.as_ref());
        match mode {
            Some(m) if m.replicated.as_ref().is_some_and(|r| r.replicas.is_some()) => {
                Ok(Self::Replicated {
                    slots: HashMap::new(),
                    initialized: false,
                    done: false,
                })
            }
            Some(m) if m.global.is_some() => Ok(Self::Global {
                initialized: false,
                done: false,
            }),
            Some(m) if m.replicated_job.is_some() => Ok(Self::ReplicatedJob(Default::default())),
            Some(m) if m.global_job.is_some() => Ok(Self::GlobalJob(Default::default())),
            _ => Err("unrecognized service mode".into()),
        }
    }

    /// Whether it follows a job (done once complete, with no monitoring period).
    pub(super) fn is_job(&self) -> bool {
        matches!(self, Self::ReplicatedJob(_) | Self::GlobalJob(_))
    }

    /// Emits this poll's events; true when every wanted task runs.
    pub(super) fn update(
        &mut self,
        service: &Service,
        tasks: &[Task],
        active_nodes: &HashSet<String>,
        rollback: bool,
        out: &mut Vec<Event>,
    ) -> Result<bool, String> {
        match self {
            Self::Replicated {
                slots,
                initialized,
                done,
            } => {
                let replicas = service
                    .spec
                    .as_ref()
                    .and_then(|s| s.mode.as_ref())
                    .and_then(|m| m.replicated.as_ref())
                    .and_then(|r| r.replicas)
                    .ok_or("no replica count")?;
                let replicas = usize::try_from(replicas).unwrap_or(0);
                replicated(
                    slots,
                    initialized,
                    done,
                    replicas,
                    tasks,
                    active_nodes,
                    rollback,
                    out,
                )
            }
            Self::ReplicatedJob(job) => Ok(job.update(service, tasks, out)),
            Self::GlobalJob(job) => Ok(job.update(service, tasks, out)),
            Self::Global { initialized, done } => Ok(global(
                initialized,
                done,
                tasks,
                active_nodes,
                rollback,
                out,
            )),
        }
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "the updater's fields, split for borrowing"
)]
fn replicated(
    slots: &mut HashMap<i64, usize>,
    initialized: &mut bool,
    done: &mut bool,
    replicas: usize,
    tasks: &[Task],
    active_nodes: &HashSet<String>,
    rollback: bool,
    out: &mut Vec<Event>,
) -> Result<bool, String> {
    if !*initialized {
        out.push(overall(0, replicas, rollback));
        if replicas <= MAX_PROGRESS_BARS {
            out.extend((1..=replicas).map(|i| line(format!("{i}/{replicas}"), " ")));
        }
        *initialized = true;
    }
    let mut by_slot: BTreeMap<i64, &Task> = BTreeMap::new();
    for t in tasks {
        if rank(t.desired_state) == 0 || rank(observed(t)) == 0 {
            continue;
        }
        let slot = t.slot.unwrap_or(0);
        if by_slot
            .get(&slot)
            .is_some_and(|existing| !prefer(existing, t))
        {
            continue;
        }
        let node = t.node_id.as_deref().unwrap_or("");
        if !node.is_empty() && !active_nodes.contains(node) {
            continue;
        }
        by_slot.insert(slot, t);
    }
    if *done
        && by_slot
            .values()
            .any(|t| observed(t) != Some(TaskState::RUNNING))
    {
        *done = false;
    }
    let mut running = 0;
    for (slot, t) in &by_slot {
        let next = slots.len() + 1;
        let mapped = *slots.entry(*slot).or_insert(next);
        if !is_terminal(t.desired_state) && observed(t) == Some(TaskState::RUNNING) {
            running += 1;
        }
        if !*done && replicas <= MAX_PROGRESS_BARS && mapped <= replicas {
            out.extend(task_line(format!("{mapped}/{replicas}"), t));
        }
    }
    if !*done {
        out.push(overall(running, replicas, rollback));
        *done = running == replicas;
    }
    Ok(running == replicas)
}

fn global(
    initialized: &mut bool,
    done: &mut bool,
    tasks: &[Task],
    active_nodes: &HashSet<String>,
    rollback: bool,
    out: &mut Vec<Event>,
) -> bool {
    let mut by_node: BTreeMap<&str, &Task> = BTreeMap::new();
    for t in tasks {
        if rank(t.desired_state) == 0 || rank(observed(t)) == 0 {
            continue;
        }
        let node = t.node_id.as_deref().unwrap_or("");
        if by_node
            .get(node)
            .is_some_and(|existing| !prefer(existing, t))
        {
            continue;
        }
        by_node.insert(node, t);
    }
    let nodes = by_node.len();
    if !*initialized {
        if nodes == 0 {
            out.push(line("overall progress", "waiting for new tasks"));
            return false;
        }
        out.push(overall(0, nodes, rollback));
        *initialized = true;
    }
    if *done
        && by_node
            .values()
            .any(|t| observed(t) != Some(TaskState::RUNNING))
    {
        *done = false;
    }
    let mut running = 0;
    for (node, t) in &by_node {
        if !active_nodes.contains(*node) {
            continue;
        }
        if !is_terminal(t.desired_state) && observed(t) == Some(TaskState::RUNNING) {
            running += 1;
        }
        if !*done && nodes <= MAX_PROGRESS_BARS {
            out.extend(task_line(node.chars().take(12).collect(), t));
        }
    }
    if !*done {
        out.push(overall(running, nodes, rollback));
        *done = running == nodes;
    }
    running == nodes
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use bollard::models::{ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskStatus};

    pub(in crate::commands::service) fn replicated(n: i64) -> Service {
        Service {
            id: Some("svc".into()),
            spec: Some(ServiceSpec {
                mode: Some(ServiceSpecMode {
                    replicated: Some(ServiceSpecModeReplicated { replicas: Some(n) }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub(in crate::commands::service) fn task(
        slot: i64,
        desired: TaskState,
        state: TaskState,
        node: &str,
    ) -> Task {
        Task {
            slot: Some(slot),
            node_id: Some(node.into()),
            desired_state: Some(desired),
            status: Some(TaskStatus {
                state: Some(state),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub(in crate::commands::service) fn nodes() -> HashSet<String> {
        HashSet::from(["n1".to_string(), "n2".to_string()])
    }

    fn bar(id: &str, state: &str, rank: i64) -> Event {
        Event::Line {
            id: id.into(),
            action: format!("{state:<9}"),
            bar: Some((rank, 9)),
        }
    }

    #[test]
    fn replicated_progress_draws_slots_then_overall() {
        let service = replicated(2);
        let mut u = Updater::for_service(&service).unwrap();
        let mut out = Vec::new();
        let tasks = vec![
            task(1, TaskState::RUNNING, TaskState::PREPARING, "n1"),
            task(2, TaskState::RUNNING, TaskState::RUNNING, "n2"),
        ];
        assert!(!u
            .update(&service, &tasks, &nodes(), false, &mut out)
            .unwrap());
        assert_eq!(
            out,
            vec![
                line("overall progress", "0 out of 2 tasks"),
                line("1/2", " "),
                line("2/2", " "),
                bar("1/2", "preparing", 6),
                bar("2/2", "running", 9),
                line("overall progress", "1 out of 2 tasks"),
            ]
        );
        out.clear();
        let running = vec![
            task(1, TaskState::RUNNING, TaskState::RUNNING, "n1"),
            task(2, TaskState::RUNNING, TaskState::RUNNING, "n2"),
        ];
        assert!(u
            .update(&service, &running, &nodes(), true, &mut out)
            .unwrap());
        assert_eq!(
            out.last(),
            Some(&line(
                "overall progress",
                "rolling back update: 2 out of 2 tasks"
            ))
        );
        out.clear();
        // Once done, nothing is redrawn while the tasks stay up.
        assert!(u
            .update(&service, &running, &nodes(), false, &mut out)
            .unwrap());
        assert!(out.is_empty());
    }

    #[test]
    fn a_slot_prefers_the_task_meant_to_run_and_skips_down_nodes() {
        let service = replicated(1);
        let mut u = Updater::for_service(&service).unwrap();
        let mut out = Vec::new();
        let tasks = vec![
            task(1, TaskState::SHUTDOWN, TaskState::RUNNING, "n1"),
            task(1, TaskState::RUNNING, TaskState::STARTING, "n1"),
            task(1, TaskState::RUNNING, TaskState::RUNNING, "gone"),
        ];
        assert!(!u
            .update(&service, &tasks, &nodes(), false, &mut out)
            .unwrap());
        assert!(out.contains(&bar("1/1", "starting", 8)));
        assert_eq!(
            out.last(),
            Some(&line("overall progress", "0 out of 1 tasks"))
        );
    }

    #[test]
    fn task_errors_replace_the_bar() {
        let service = replicated(1);
        let mut u = Updater::for_service(&service).unwrap();
        let mut out = Vec::new();
        let mut failed = task(1, TaskState::RUNNING, TaskState::PENDING, "");
        failed.status.as_mut().unwrap().err =
            Some(format!("no suitable node\n{}", "x".repeat(100)));
        u.update(&service, &[failed], &nodes(), false, &mut out)
            .unwrap();
        let Event::Line { id, action, bar } = &out[2] else {
            panic!("not a line")
        };
        assert_eq!((id.as_str(), *bar), ("1/1", None));
        assert!(action.starts_with("no suitable node xxx") && action.ends_with('…'));
        assert_eq!(action.chars().count(), 75);
    }

    #[test]
    fn global_progress_waits_for_tasks_then_counts_nodes() {
        let service = Service {
            spec: Some(ServiceSpec {
                mode: Some(ServiceSpecMode {
                    global: Some(Default::default()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut u = Updater::for_service(&service).unwrap();
        let mut out = Vec::new();
        assert!(!u.update(&service, &[], &nodes(), false, &mut out).unwrap());
        assert_eq!(out, vec![line("overall progress", "waiting for new tasks")]);
        out.clear();
        let tasks = vec![
            task(
                0,
                TaskState::RUNNING,
                TaskState::RUNNING,
                "n1aaaaaaaaaaaaaa",
            ),
            task(0, TaskState::RUNNING, TaskState::ASSIGNED, "n2"),
        ];
        let active = HashSet::from(["n1aaaaaaaaaaaaaa".to_string(), "n2".to_string()]);
        assert!(!u
            .update(&service, &tasks, &active, false, &mut out)
            .unwrap());
        assert_eq!(out[0], line("overall progress", "0 out of 2 tasks"));
        assert!(out.contains(&bar("n1aaaaaaaaaa", "running", 9)));
        assert_eq!(
            out.last(),
            Some(&line("overall progress", "1 out of 2 tasks"))
        );
    }

    #[test]
    fn unknown_modes_are_refused() {
        assert_eq!(
            Updater::for_service(&Service::default()).unwrap_err(),
            "unrecognized service mode"
        );
    }
}
