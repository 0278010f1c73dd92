//! Jobs (`replicated-job`, `global-job`), as swarmkit runs them: the tasks of the job's current
//! run go on until each slot (one per completion asked for) or each eligible node has a
//! completed one. A replicated job runs at most `MaxConcurrent` tasks at once; a task that
//! fails is replaced as its restart policy says, in its slot; a completed one is never run
//! again. Tasks of an earlier run (the service was updated: it runs again) stop.

use std::collections::{BTreeMap, HashSet};

use super::commands::set_desired;
use super::reconcile::{Key, ServicePass};
use crate::model::{DesiredState, IdSource, Mode, Task, TaskState};
use crate::plan::Plan;

impl<'a> ServicePass<'_, 'a> {
    /// One job's pass.
    pub(super) fn reconcile_job(
        &self,
        tasks: &[Task<'a>],
        plan: &mut Plan,
        ids: &mut dyn IdSource,
    ) {
        let run = self.svc.job_iteration();
        let mut groups: BTreeMap<Key, Vec<&Task<'a>>> = BTreeMap::new();
        let mut earlier: BTreeMap<Key, Vec<&Task<'a>>> = BTreeMap::new();
        for t in tasks {
            let of_this_run = t.job_iteration() == run;
            if !of_this_run && t.is_live() {
                plan.push(set_desired(t, DesiredState::Shutdown));
            }
            let into = if of_this_run {
                &mut groups
            } else {
                &mut earlier
            };
            into.entry(self.key_of(t)).or_default().push(t);
        }
        let wanted = self.wanted(plan);
        let mut running = 0u64;
        let mut to_start: Vec<&Key> = Vec::new();
        for key in &wanted {
            let group = groups.get(key).map(Vec::as_slice).unwrap_or_default();
            let mut going = false;
            for &t in group.iter().filter(|t| t.is_live()) {
                if t.state().is_terminal() || self.node_sheds(t) {
                    // Ended (a completed one is the slot's result) or lost with its node.
                    plan.push(set_desired(t, DesiredState::Shutdown));
                } else {
                    going = true;
                }
            }
            if group.iter().any(|t| t.state() == TaskState::Complete) {
                continue;
            }
            if going {
                running += 1;
            } else if self.may_restart(Some(group), plan) {
                to_start.push(key);
            }
        }
        // Tasks in slots or on nodes the job no longer has stop.
        let wanted_keys: HashSet<&Key> = wanted.iter().collect();
        for (key, group) in &groups {
            if !wanted_keys.contains(key) {
                for t in group.iter().filter(|t| t.is_live()) {
                    plan.push(set_desired(t, DesiredState::Shutdown));
                }
            }
        }
        for (key, group) in &earlier {
            let mut all = group.clone();
            all.extend(groups.get(key).into_iter().flatten());
            self.trim_history(&all, plan);
        }
        for (key, group) in &groups {
            if !earlier.contains_key(key) {
                self.trim_history(group, plan);
            }
        }
        let room = match self.svc.mode {
            Mode::ReplicatedJob { concurrent, .. } => concurrent.saturating_sub(running),
            _ => u64::MAX,
        };
        let room = usize::try_from(room).unwrap_or(usize::MAX);
        for key in to_start.into_iter().take(room) {
            plan.push(self.create(key, ids));
        }
    }
}
