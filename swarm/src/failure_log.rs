//! The task failures the leader remembers for placement: tasks that failed or were rejected on
//! a node, per (node, service, spec version), for five minutes. From
//! `berth_scheduler::MAX_FAILURES` of them on, the scheduler tries that node last for the
//! spec's tasks (swarmkit's scheduler does the same), so a task rejected for a full disk, a
//! missing image or a bad mount is not sent back to the same node again and again.
//!
//! The log lives in the leader's memory across passes, as swarmkit's does: history trimming
//! deletes failed tasks long before five of them could be counted from the store (a one-replica
//! service keeps four). A pass's walk over the assigned tasks (which it makes anyway) records
//! the failed ones changed since the last walk, dated by the pass's clock, so no manager's or
//! node's clock skew moves the window. A new leader starts with an empty log and takes the
//! failed tasks the store still holds, dated by their last change (never later than now):
//! a failover keeps what task history retains instead of forgetting everything.

use std::collections::HashMap;

use berth_scheduler::MAX_FAILURES;
use chrono::{DateTime, TimeDelta, Utc};

use crate::model::{Task, TaskState};

/// How long a failure counts (swarmkit's `monitorFailures`).
pub const FAILURE_WINDOW: TimeDelta = TimeDelta::minutes(5);

/// (node id, service id, spec version).
type Key = (String, String, u64);

/// Recent task failures by node and spec, kept by the leader between passes.
#[derive(Debug, Default)]
pub struct FailureLog {
    /// The store version the last walk read; `None` before the first.
    seen: Option<u64>,
    /// Per key: (task id, when it counts from), for failures inside the window.
    recent: HashMap<Key, Vec<(String, DateTime<Utc>)>>,
}

impl FailureLog {
    /// Whether the walk must look at a task last changed at store `version`: only tasks
    /// changed since the last walk can have failed since.
    pub(crate) fn is_new(&self, version: u64) -> bool {
        self.seen.is_none_or(|seen| version > seen)
    }

    /// Records `task` if it failed or was rejected on its node; `version` gives its spec
    /// version as the scheduler sees it, hashed only for a failure that counts (a rolling
    /// update changes thousands of tasks that did not fail). A task seen again (changed again
    /// after failing) counts once.
    pub(crate) fn observe(
        &mut self,
        task: &Task<'_>,
        now: DateTime<Utc>,
        version: impl FnOnce() -> u64,
    ) {
        if !matches!(task.state(), TaskState::Failed | TaskState::Rejected) {
            return;
        }
        let Some(node) = task.node_id else { return };
        let at = match self.seen {
            Some(_) => now,
            None => task.object.meta.updated_at.min(now),
        };
        if now - at >= FAILURE_WINDOW {
            return;
        }
        let key = (node.to_string(), task.service_id.to_string(), version());
        let list = self.recent.entry(key).or_default();
        if list.iter().any(|(id, _)| id == task.id()) {
            return;
        }
        list.retain(|(_, t)| now - *t < FAILURE_WINDOW);
        list.push((task.id().to_string(), at));
        if list.len() == MAX_FAILURES as usize {
            tracing::warn!(
                node,
                service = task.service_id,
                failures = MAX_FAILURES,
                window_secs = FAILURE_WINDOW.num_seconds(),
                "its tasks keep failing on this node: placing them there last"
            );
        }
    }

    /// Ends a walk of the store at `version`: later walks look only at newer changes, and
    /// failures older than the window are dropped.
    pub(crate) fn walked(&mut self, version: u64, now: DateTime<Utc>) {
        self.seen = Some(version);
        self.recent.retain(|_, list| {
            list.retain(|(_, at)| now - *at < FAILURE_WINDOW);
            !list.is_empty()
        });
    }

    /// The failures counted at the last walk: (node id, service id, spec version, count).
    pub(crate) fn counts(&self) -> impl Iterator<Item = (&str, &str, u64, u32)> + '_ {
        self.recent.iter().map(|((node, service, version), list)| {
            let count = u32::try_from(list.len()).unwrap_or(u32::MAX);
            (node.as_str(), service.as_str(), *version, count)
        })
    }

    /// Forgets everything, as a manager that starts leading again must not trust what it
    /// saw before: the next walk reads the store afresh.
    pub fn reset(&mut self) {
        *self = FailureLog::default();
    }
}

#[cfg(test)]
#[path = "failure_log_tests.rs"]
mod tests;
