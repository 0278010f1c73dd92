//! Progress of a job (`replicated-job`, `global-job`), as docker's CLI shows it while it waits:
//! "job progress: N out of M complete", for a replicated job "active tasks: A out of B tasks"
//! and a bar per slot (numbered from 1, the slots from 0), for a global job one per node; only
//! the tasks of the job's current run count. Done when every slot or node has completed.

use std::collections::{BTreeMap, HashSet};

use bollard::models::{Service, Task, TaskState};

use super::progress::{job_task_line, line, rank, Event, MAX_PROGRESS_BARS};

/// The run of the job its tasks must belong to.
fn run_of(service: &Service) -> u64 {
    service
        .job_status
        .as_ref()
        .and_then(|j| j.job_iteration.as_ref())
        .and_then(|v| v.index)
        .unwrap_or(0)
}

fn of_run(t: &Task, run: u64) -> bool {
    t.job_iteration.as_ref().map(|v| v.index.unwrap_or(0)) == Some(run)
}

fn state(t: &Task) -> Option<TaskState> {
    t.status.as_ref().and_then(|s| s.state)
}

/// Of two tasks of one slot or node, the one in the lower state.
fn keep_lower<'a>(map: &mut BTreeMap<String, &'a Task>, key: String, t: &'a Task) {
    match map.get(&key) {
        Some(existing) if rank(state(existing)) <= rank(state(t)) => {}
        _ => {
            map.insert(key, t);
        }
    }
}

fn job_progress(completed: usize, total: usize) -> Event {
    Event::Line {
        id: "job progress".into(),
        action: format!("{completed} out of {total} complete"),
        bar: Some((
            i64::try_from(completed).unwrap_or(0),
            i64::try_from(total).unwrap_or(0),
        )),
    }
}

/// A replicated job's progress.
#[derive(Debug, Default)]
pub(super) struct ReplicatedJob {
    initialized: bool,
}

impl ReplicatedJob {
    /// This poll's events; true once every completion asked for is done.
    pub(super) fn update(
        &mut self,
        service: &Service,
        tasks: &[Task],
        out: &mut Vec<Event>,
    ) -> bool {
        let job = service
            .spec
            .as_ref()
            .and_then(|s| s.mode.as_ref())
            .and_then(|m| m.replicated_job.as_ref());
        let total = job.and_then(|j| j.total_completions).unwrap_or(1);
        let total = usize::try_from(total).unwrap_or(0);
        let concurrent = job.and_then(|j| j.max_concurrent).unwrap_or(1);
        let concurrent = usize::try_from(concurrent).unwrap_or(0);
        if !self.initialized {
            out.push(job_progress(0, total));
            if total <= MAX_PROGRESS_BARS {
                out.extend((1..=total).map(|i| line(format!("{i}/{total}"), " ")));
            }
            self.initialized = true;
        }
        let run = run_of(service);
        let mut by_slot: BTreeMap<String, &Task> = BTreeMap::new();
        for t in tasks.iter().filter(|t| of_run(t, run)) {
            if rank(t.desired_state) == 0 || rank(state(t)) == 0 {
                continue;
            }
            // Zero-padded, so the map keeps the slots in order.
            keep_lower(&mut by_slot, format!("{:020}", t.slot.unwrap_or(0)), t);
        }
        let (mut active, mut complete) = (0, 0);
        for t in by_slot.values() {
            if total <= MAX_PROGRESS_BARS {
                let slot = t.slot.unwrap_or(0) + 1;
                out.push(job_task_line(format!("{slot}/{total}"), t));
            }
            if rank(state(t)) < rank(Some(TaskState::COMPLETE)) {
                active += 1;
            }
            if state(t) == Some(TaskState::COMPLETE) {
                complete += 1;
            }
        }
        out.push(job_progress(complete, total));
        let wanted_now = concurrent.min(total.saturating_sub(complete));
        out.push(line(
            "active tasks",
            format!("{active} out of {wanted_now} tasks"),
        ));
        complete == total
    }
}

/// A global job's progress, over the nodes it first had tasks on.
#[derive(Debug, Default)]
pub(super) struct GlobalJob {
    nodes: Option<HashSet<String>>,
}

impl GlobalJob {
    /// This poll's events; true once the job completed on each of those nodes.
    pub(super) fn update(
        &mut self,
        service: &Service,
        tasks: &[Task],
        out: &mut Vec<Event>,
    ) -> bool {
        let run = run_of(service);
        let ours: Vec<&Task> = tasks.iter().filter(|t| of_run(t, run)).collect();
        let nodes = match &self.nodes {
            Some(n) => n,
            None if ours.is_empty() => {
                out.push(line("job progress", "waiting for tasks"));
                return false;
            }
            None => {
                let first: HashSet<String> =
                    ours.iter().filter_map(|t| t.node_id.clone()).collect();
                out.push(job_progress(0, first.len()));
                self.nodes.insert(first)
            }
        };
        let mut by_node: BTreeMap<String, &Task> = BTreeMap::new();
        for t in ours {
            let node = t.node_id.clone().unwrap_or_default();
            if nodes.contains(&node) {
                keep_lower(&mut by_node, node, t);
            }
        }
        let total = nodes.len();
        let mut complete = 0;
        for (node, t) in &by_node {
            if total <= MAX_PROGRESS_BARS {
                out.push(job_task_line(node.clone(), t));
            }
            if state(t) == Some(TaskState::COMPLETE) {
                complete += 1;
            }
        }
        out.push(job_progress(complete, total));
        complete == total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ObjectVersion, ServiceJobStatus, ServiceSpec, ServiceSpecMode,
        ServiceSpecModeReplicatedJob, TaskStatus,
    };

    fn job(run: Option<i64>) -> Service {
        Service {
            spec: Some(ServiceSpec {
                mode: Some(ServiceSpecMode {
                    replicated_job: Some(ServiceSpecModeReplicatedJob {
                        max_concurrent: Some(2),
                        total_completions: Some(3),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            job_status: Some(ServiceJobStatus {
                job_iteration: Some(ObjectVersion {
                    index: run.map(|i| u64::try_from(i).unwrap()),
                }),
                last_execution: None,
            }),
            ..Default::default()
        }
    }

    fn task(slot: i64, state: TaskState, run: Option<u64>) -> Task {
        Task {
            slot: Some(slot),
            desired_state: Some(TaskState::COMPLETE),
            job_iteration: Some(ObjectVersion { index: run }),
            status: Some(TaskStatus {
                state: Some(state),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn said(out: &[Event], id: &str) -> Vec<String> {
        out.iter()
            .filter_map(|e| match e {
                Event::Line { id: i, action, .. } if i == id => Some(action.trim().to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_replicated_job_is_done_when_every_slot_of_its_run_completed() {
        let mut u = ReplicatedJob::default();
        let mut out = Vec::new();
        let first = [
            task(0, TaskState::COMPLETE, None),
            task(1, TaskState::RUNNING, None),
            // An earlier run's task does not count.
            task(2, TaskState::COMPLETE, Some(7)),
        ];
        assert!(!u.update(&job(None), &first, &mut out));
        assert_eq!(
            said(&out, "job progress").last().unwrap(),
            "1 out of 3 complete"
        );
        assert_eq!(
            said(&out, "active tasks").last().unwrap(),
            "1 out of 2 tasks"
        );
        assert_eq!(said(&out, "1/3").last().unwrap(), "complete");
        let all: Vec<Task> = (0..3).map(|s| task(s, TaskState::COMPLETE, None)).collect();
        out.clear();
        assert!(u.update(&job(None), &all, &mut out));
        assert_eq!(
            said(&out, "job progress").last().unwrap(),
            "3 out of 3 complete"
        );
        assert_eq!(
            said(&out, "active tasks").last().unwrap(),
            "0 out of 0 tasks"
        );
    }
}
