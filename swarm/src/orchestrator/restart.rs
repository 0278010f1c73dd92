//! Restart policies: whether an empty group gets a new task now.

use super::reconcile::ServicePass;
use crate::model::{RestartCondition, RestartPolicy, Task, TaskState};
use crate::plan::Plan;

impl<'a> ServicePass<'_, 'a> {
    /// Whether a new task may replace the last one of the group: restart condition, delay and
    /// attempts when it ended by itself; at once when it was stopped or never existed.
    pub(super) fn may_restart(&self, group: Option<&[&Task<'a>]>, plan: &mut Plan) -> bool {
        let Some(last) = group.and_then(|g| g.iter().max_by_key(|t| t.object.meta.created_at))
        else {
            return true;
        };
        let state = last.state();
        if !state.ended_by_itself() {
            return true;
        }
        let policy = match last.spec() {
            Ok(spec) => RestartPolicy::of(&spec),
            Err(e) => {
                plan.problem(e);
                return false;
            }
        };
        match policy.condition {
            RestartCondition::Never => return false,
            RestartCondition::OnFailure if state == TaskState::Complete => return false,
            _ => {}
        }
        if self.now < last.status.timestamp + policy.delay {
            return false;
        }
        if policy.max_attempts > 0 {
            let since =
                (policy.window > chrono::Duration::zero()).then(|| self.now - policy.window);
            let attempts = group.map_or(0, |g| {
                g.iter()
                    .filter(|t| t.state().ended_by_itself())
                    .filter(|t| since.is_none_or(|s| t.status.timestamp >= s))
                    .count()
            });
            if attempts as u64 > policy.max_attempts {
                return false;
            }
        }
        true
    }
}
