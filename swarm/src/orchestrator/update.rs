//! Rolling updates and rollbacks: replaces outdated tasks `parallelism` at a time with `delay`
//! between batches, applies the failure action when updated tasks fail, and records the
//! progress in the service's status (Docker's `UpdateStatus`).

use berth_raft::{ClusterCommand, ObjectKind, Op};

use super::commands::set_desired;
use super::reconcile::{Key, ServicePass};
use crate::model::{
    DesiredState, FailureAction, IdSource, Task, TaskState, UpdateState, UpdateStatus,
};
use crate::plan::Plan;

impl<'a> ServicePass<'_, 'a> {
    /// Replaces outdated tasks and records the update's progress.
    pub(super) fn roll(
        &self,
        tasks: &[Task<'a>],
        outdated: Vec<(&Key, &Task<'a>)>,
        in_flight: u64,
        plan: &mut Plan,
        ids: &mut dyn IdSource,
    ) {
        let state = self.svc.status.update_state();
        if matches!(
            state,
            Some(UpdateState::Paused | UpdateState::RollbackPaused)
        ) {
            return;
        }
        let rolling_back = state == Some(UpdateState::RollbackStarted);
        let policy = if rolling_back {
            self.svc.rollback_policy()
        } else {
            self.svc.update_policy()
        };
        let active = state == Some(UpdateState::Updating) || rolling_back;
        if active && self.update_failed(tasks, &policy, rolling_back, plan) {
            return;
        }
        if outdated.is_empty() {
            // The last batch is watched for `Monitor` before the update counts as done:
            // failures in that time still apply the failure action (Docker's updater).
            let monitored = self
                .svc
                .status
                .update_last
                .is_none_or(|l| self.now >= l + policy.monitor);
            if in_flight == 0 && monitored {
                match state {
                    Some(UpdateState::Updating) => {
                        plan.push(self.update_status(
                            UpdateState::Completed,
                            "update completed",
                            false,
                        ));
                    }
                    Some(UpdateState::RollbackStarted) => plan.push(self.update_status(
                        UpdateState::RollbackCompleted,
                        "rollback completed",
                        false,
                    )),
                    _ => {}
                }
            }
            return;
        }
        let waiting = self
            .svc
            .status
            .update_last
            .is_some_and(|l| self.now < l + policy.delay);
        if waiting && in_flight == 0 {
            return;
        }
        let allowed = if policy.parallelism == 0 {
            u64::MAX
        } else {
            policy.parallelism.saturating_sub(in_flight)
        };
        let batch: Vec<_> = outdated
            .into_iter()
            .take(usize::try_from(allowed).unwrap_or(usize::MAX))
            .collect();
        if batch.is_empty() {
            return;
        }
        for (key, old) in batch {
            if !policy.start_first {
                plan.push(set_desired(old, DesiredState::Shutdown));
            }
            plan.push(self.create(key, ids));
        }
        let (state, message) = match state {
            Some(UpdateState::RollbackStarted) => {
                (UpdateState::RollbackStarted, "rollback in progress")
            }
            _ => (UpdateState::Updating, "update in progress"),
        };
        plan.push(self.update_status(state, message, true));
    }

    /// Applies the failure action of `policy` when too many updated (or, `rolling_back`,
    /// rolled back) tasks failed; true when the update stops here (paused or rolled back).
    fn update_failed(
        &self,
        tasks: &[Task<'a>],
        policy: &crate::model::UpdatePolicy,
        rolling_back: bool,
        plan: &mut Plan,
    ) -> bool {
        if policy.failure_action == FailureAction::Continue {
            return false;
        }
        let started = self.svc.status.update_status.as_ref();
        let Some(started) = started.and_then(|u| u.started_at) else {
            return false;
        };
        let updated: Vec<&Task<'a>> = tasks
            .iter()
            .filter(|t| t.object.meta.created_at >= started && t.print == self.print)
            .collect();
        let failed: Vec<&&Task<'a>> = updated
            .iter()
            .filter(|t| matches!(t.state(), TaskState::Failed | TaskState::Rejected))
            .collect();
        let Some(first) = failed.first() else {
            return false;
        };
        let total = updated.len().max(1) as f64;
        if failed.len() as f64 <= policy.max_failure_ratio * total {
            return false;
        }
        if rolling_back {
            let why = format!(
                "rollback paused due to failure or early termination of task {}",
                first.id()
            );
            plan.push(self.update_status(UpdateState::RollbackPaused, &why, true));
            return true;
        }
        let previous = self.svc.status.previous_spec.clone();
        match (policy.failure_action, previous) {
            (FailureAction::Rollback, Some(previous)) => {
                let mut status = self.svc.status.clone();
                status.previous_spec = Some(self.svc.object.spec.clone());
                status.update_status = Some(UpdateStatus {
                    state: UpdateState::RollbackStarted,
                    started_at: Some(self.now),
                    completed_at: None,
                    message: format!(
                        "update rolled back due to failure or early termination of task {}",
                        first.id()
                    ),
                });
                status.update_last = None;
                plan.push(ClusterCommand::single(Op::Update {
                    id: self.svc.id().to_string(),
                    expected_version: Some(self.svc.object.meta.version),
                    attrs: self.svc.object.attrs.clone(),
                    spec: previous,
                    status: status.to_value(),
                }));
            }
            _ => {
                let why = format!(
                    "update paused due to failure or early termination of task {}",
                    first.id()
                );
                plan.push(self.update_status(UpdateState::Paused, &why, true));
            }
        }
        true
    }

    /// The status write that records the update at `state`: a step (a batch started) or its
    /// end (`CompletedAt`).
    fn update_status(&self, state: UpdateState, message: &str, step: bool) -> ClusterCommand {
        let mut status = self.svc.status.clone();
        let started = status.update_status.as_ref().and_then(|u| u.started_at);
        status.update_status = Some(UpdateStatus {
            state,
            started_at: Some(started.unwrap_or(self.now)),
            completed_at: (!step).then_some(self.now),
            message: message.to_string(),
        });
        if step {
            status.update_last = Some(self.now);
        }
        ClusterCommand::single(Op::UpdateStatus {
            kind: ObjectKind::Service,
            id: self.svc.id().to_string(),
            expected_version: Some(self.svc.object.meta.version),
            status: status.to_value(),
        })
    }
}
