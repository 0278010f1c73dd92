//! The orchestrators (replicated and global), as one pure function: given the cluster state and
//! the clock, the transactions that move every service toward its spec. It makes tasks for
//! empty slots (or eligible nodes), shuts down dead, surplus, drained and outdated tasks
//! (rolling updates with parallelism, delay and order), follows restart policies, marks updates
//! complete and trims task history. Placement is `placement.rs`'s job.
//!
//! Each transaction changes one object and names the version it read, so a concurrent change
//! (an agent's report, an API update) refuses only that one; the leader retries on its next pass.

use std::collections::{BTreeMap, HashMap, HashSet};

use berth_raft::{Attrs, ClusterCommand, ClusterState, Object, ObjectKind, Op, TaskState};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::model::{
    ended_by_itself, history_limit, is_live, is_terminal, new_id, observed, observed_at,
    restart_policy, same_template, service_mode, slot_of, task_attrs, task_status, template,
    template_of, update_policy, Mode, NodeView, TaskDoc,
};
use super::placement::node_matches;

/// The transactions that converge every service at `now`.
pub fn reconcile(state: &ClusterState, now: DateTime<Utc>) -> Vec<ClusterCommand> {
    let nodes: BTreeMap<String, (NodeView, &Object)> = state
        .list(ObjectKind::Node)
        .map(|n| (n.id.clone(), (NodeView::of(n), n)))
        .collect();
    let limit = history_limit(state.list(ObjectKind::Cluster).next());
    let mut out = Vec::new();
    let mut services = HashSet::new();
    for svc in state.list(ObjectKind::Service) {
        services.insert(svc.id.as_str());
        let tasks = state.tasks_by_service(&svc.id);
        Service::new(svc, &nodes, limit, now).reconcile(&tasks, &mut out);
    }
    for task in state.list(ObjectKind::Task) {
        let (service_id, _, _) = task_attrs(task);
        if !services.contains(service_id) {
            out.push(delete(task));
        }
    }
    out
}

/// One service's pass.
struct Service<'a> {
    svc: &'a Object,
    nodes: &'a BTreeMap<String, (NodeView, &'a Object)>,
    limit: usize,
    now: DateTime<Utc>,
    template: &'a Value,
    mode: Mode,
}

/// The tasks of one slot (replicated) or one node (global).
#[derive(Default)]
struct Group<'a> {
    tasks: Vec<&'a Object>,
}

impl<'a> Service<'a> {
    fn new(
        svc: &'a Object,
        nodes: &'a BTreeMap<String, (NodeView, &'a Object)>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Self {
        Service {
            svc,
            nodes,
            limit,
            now,
            template: template(&svc.spec),
            mode: service_mode(&svc.spec),
        }
    }

    fn name(&self) -> String {
        self.svc.spec["Name"].as_str().unwrap_or("").to_string()
    }

    fn reconcile(&self, tasks: &[&'a Object], out: &mut Vec<ClusterCommand>) {
        let mut groups: BTreeMap<(u64, String), Group<'a>> = BTreeMap::new();
        for &t in tasks {
            let slot = slot_of(t);
            let key = match self.mode {
                Mode::Replicated(_) => (slot, String::new()),
                Mode::Global => (0, task_attrs(t).1.unwrap_or("").to_string()),
            };
            groups.entry(key).or_default().tasks.push(t);
        }
        let wanted: Vec<(u64, String)> = match self.mode {
            Mode::Replicated(n) => (1..=n).map(|s| (s, String::new())).collect(),
            Mode::Global => self
                .nodes
                .iter()
                .filter(|(_, (view, obj))| {
                    view.takes_tasks() && node_matches(obj, self.template).unwrap_or(false)
                })
                .map(|(id, _)| (0, id.clone()))
                .collect(),
        };
        let wanted_set: HashSet<&(u64, String)> = wanted.iter().collect();
        let mut in_flight = 0u64;
        let mut outdated: Vec<(&(u64, String), &'a Object)> = Vec::new();
        let mut empty: Vec<&(u64, String)> = Vec::new();
        for key in &wanted {
            if !groups.contains_key(key) {
                empty.push(key);
            }
        }
        for (key, group) in &groups {
            let keep = wanted_set.contains(key) || self.keeps_paused(key);
            let mut healthy = Vec::new();
            for &t in group.tasks.iter().filter(|t| is_live(t)) {
                if !keep {
                    out.push(set_desired(t, TaskState::Remove));
                } else if is_terminal(observed(t)) || self.node_sheds(t) {
                    out.push(set_desired(t, TaskState::Shutdown));
                } else {
                    healthy.push(t);
                }
            }
            let (current, old): (Vec<&Object>, Vec<&Object>) = healthy
                .into_iter()
                .partition(|t| same_template(template_of(t), self.template));
            if let Some((first, extra)) = current.split_first() {
                for t in extra {
                    out.push(set_desired(t, TaskState::Shutdown));
                }
                if observed(first) == "running" {
                    for t in &old {
                        out.push(set_desired(t, TaskState::Shutdown));
                    }
                } else {
                    in_flight += 1;
                }
            } else if let Some((first, extra)) = old.split_first() {
                for t in extra {
                    out.push(set_desired(t, TaskState::Shutdown));
                }
                outdated.push((key, first));
            } else if keep && wanted_set.contains(key) {
                empty.push(key);
            }
            self.trim_history(group, out);
        }
        for key in empty {
            if self.may_restart(groups.get(key)) {
                out.push(self.create(key));
            }
        }
        self.roll(tasks, outdated, in_flight, out);
    }

    /// A paused node keeps the global tasks it has.
    fn keeps_paused(&self, key: &(u64, String)) -> bool {
        self.mode == Mode::Global
            && self
                .nodes
                .get(&key.1)
                .is_some_and(|(v, _)| v.availability == "pause" && v.state == "ready")
    }

    fn node_sheds(&self, task: &Object) -> bool {
        match task_attrs(task).1 {
            Some(node) => self.nodes.get(node).is_none_or(|(v, _)| v.sheds_tasks()),
            None => false,
        }
    }

    /// Whether a new task may replace the last one of the group: restart condition, delay and
    /// attempts when it ended by itself; at once when it was stopped or never existed.
    fn may_restart(&self, group: Option<&Group<'a>>) -> bool {
        let Some(last) = group.and_then(|g| g.tasks.iter().max_by_key(|t| t.meta.created_at))
        else {
            return true;
        };
        let state = observed(last);
        if !ended_by_itself(state) {
            return true;
        }
        let policy = restart_policy(template_of(last));
        match policy.condition.as_str() {
            "none" => return false,
            "on-failure" if state == "complete" => return false,
            _ => {}
        }
        if self.now < observed_at(last) + policy.delay {
            return false;
        }
        if policy.max_attempts > 0 {
            let since =
                (policy.window > chrono::Duration::zero()).then(|| self.now - policy.window);
            let attempts = group.map_or(0, |g| {
                g.tasks
                    .iter()
                    .filter(|t| ended_by_itself(observed(t)))
                    .filter(|t| since.is_none_or(|s| observed_at(t) >= s))
                    .count()
            });
            if attempts as u64 > policy.max_attempts {
                return false;
            }
        }
        true
    }

    fn create(&self, key: &(u64, String)) -> ClusterCommand {
        let global = self.mode == Mode::Global;
        let doc = TaskDoc {
            slot: key.0,
            service_name: self.name(),
            template: self.template.clone(),
            host_ports: host_mode_ports(&self.svc.spec),
        };
        let status = if global {
            task_status(
                "assigned",
                "scheduler assigned task to node",
                None,
                self.now,
            )
        } else {
            task_status("pending", "pending task scheduling", None, self.now)
        };
        ClusterCommand::single(Op::Create {
            id: new_id(),
            attrs: Attrs::Task {
                service_id: self.svc.id.clone(),
                node_id: global.then(|| key.1.clone()),
                desired_state: TaskState::Running,
            },
            spec: serde_json::to_value(doc).unwrap_or(Value::Null),
            status,
        })
    }

    /// Replaces outdated tasks, `parallelism` at a time with `delay` between batches, and
    /// records the update's progress in the service's status.
    fn roll(
        &self,
        tasks: &[&'a Object],
        outdated: Vec<(&(u64, String), &'a Object)>,
        in_flight: u64,
        out: &mut Vec<ClusterCommand>,
    ) {
        let update_state = self.svc.status["UpdateStatus"]["State"]
            .as_str()
            .unwrap_or("");
        if update_state == "paused" {
            return;
        }
        if update_state == "updating" && self.update_failed(tasks, out) {
            return;
        }
        if outdated.is_empty() {
            if in_flight == 0 && matches!(update_state, "updating" | "rollback_started") {
                let done = if update_state == "updating" {
                    ("completed", "update completed")
                } else {
                    ("rollback_completed", "rollback completed")
                };
                out.push(self.update_status(done.0, done.1, false));
            }
            return;
        }
        let policy = update_policy(&self.svc.spec);
        let last = self.svc.status["UpdateLast"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        if last.is_some_and(|l| self.now < l + policy.delay) && in_flight == 0 {
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
                out.push(set_desired(old, TaskState::Shutdown));
            }
            out.push(self.create(key));
        }
        let (state, message) = match update_state {
            "rollback_started" => ("rollback_started", "rollback in progress"),
            _ => ("updating", "update in progress"),
        };
        out.push(self.update_status(state, message, true));
    }

    /// Applies the update's failure action when too many updated tasks failed; true when the
    /// update stops here (paused or rolled back).
    fn update_failed(&self, tasks: &[&'a Object], out: &mut Vec<ClusterCommand>) -> bool {
        let policy = update_policy(&self.svc.spec);
        if policy.failure_action == "continue" {
            return false;
        }
        let started = self.svc.status["UpdateStatus"]["StartedAt"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let Some(started) = started else { return false };
        let updated: Vec<&&Object> = tasks
            .iter()
            .filter(|t| {
                same_template(template_of(t), self.template) && t.meta.created_at >= started
            })
            .collect();
        let failed: Vec<&&Object> = updated
            .iter()
            .copied()
            .filter(|t| matches!(observed(t), "failed" | "rejected"))
            .collect();
        let Some(first) = failed.first() else {
            return false;
        };
        let total = updated.len().max(1) as f64;
        if failed.len() as f64 <= policy.max_failure_ratio * total {
            return false;
        }
        let why = format!(
            "update paused due to failure or early termination of task {}",
            first.id
        );
        if policy.failure_action == "rollback" && !self.svc.status["PreviousSpec"].is_null() {
            let mut status = self.svc.status.clone();
            status["PreviousSpec"] = self.svc.spec.clone();
            status["UpdateStatus"] = json!({
                "State": "rollback_started",
                "StartedAt": self.now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                "Message": format!("update rolled back due to failure or early termination of task {}", first.id),
            });
            if let Some(o) = status.as_object_mut() {
                o.remove("UpdateLast");
            }
            out.push(ClusterCommand::single(Op::Update {
                id: self.svc.id.clone(),
                expected_version: Some(self.svc.meta.version),
                attrs: self.svc.attrs.clone(),
                spec: self.svc.status["PreviousSpec"].clone(),
                status,
            }));
        } else {
            out.push(self.update_status("paused", &why, true));
        }
        true
    }

    fn update_status(&self, state: &str, message: &str, step: bool) -> ClusterCommand {
        let mut status = self.svc.status.clone();
        if !status.is_object() {
            status = json!({});
        }
        let now = self.now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let started = status["UpdateStatus"]["StartedAt"].clone();
        let mut update = json!({ "State": state, "Message": message });
        update["StartedAt"] = if started.is_null() {
            json!(now)
        } else {
            started
        };
        if !step {
            update["CompletedAt"] = json!(now);
        }
        status["UpdateStatus"] = update;
        if step {
            status["UpdateLast"] = json!(now);
        }
        ClusterCommand::single(Op::UpdateStatus {
            kind: ObjectKind::Service,
            id: self.svc.id.clone(),
            expected_version: Some(self.svc.meta.version),
            status,
        })
    }

    /// Deletes the oldest finished tasks of a group beyond the history limit.
    fn trim_history(&self, group: &Group<'a>, out: &mut Vec<ClusterCommand>) {
        let mut done: Vec<&Object> = group
            .tasks
            .iter()
            .copied()
            .filter(|t| !is_live(t))
            .collect();
        let keep = self.limit.saturating_sub(1);
        if done.len() <= keep {
            return;
        }
        done.sort_by_key(|t| t.meta.created_at);
        let excess = done.len() - keep;
        for t in &done[..excess] {
            if is_terminal(observed(t)) || self.node_sheds(t) || task_attrs(t).1.is_none() {
                out.push(delete(t));
            }
        }
    }
}

/// Deletes tasks marked `remove` once their node stopped them (or cannot).
pub fn reap(state: &ClusterState) -> Vec<ClusterCommand> {
    let nodes: HashMap<String, NodeView> = state
        .list(ObjectKind::Node)
        .map(|n| (n.id.clone(), NodeView::of(n)))
        .collect();
    state
        .tasks_by_desired_state(TaskState::Remove)
        .into_iter()
        .filter(|t| {
            let node = task_attrs(t).1;
            is_terminal(observed(t))
                || node.is_none_or(|n| nodes.get(n).is_none_or(|v| v.state == "down"))
        })
        .map(delete)
        .collect()
}

fn set_desired(task: &Object, desired: TaskState) -> ClusterCommand {
    let (service_id, node_id, _) = task_attrs(task);
    ClusterCommand::single(Op::Update {
        id: task.id.clone(),
        expected_version: Some(task.meta.version),
        attrs: Attrs::Task {
            service_id: service_id.to_string(),
            node_id: node_id.map(str::to_string),
            desired_state: desired,
        },
        spec: task.spec.clone(),
        status: task.status.clone(),
    })
}

fn delete(task: &Object) -> ClusterCommand {
    ClusterCommand::single(Op::Delete {
        kind: ObjectKind::Task,
        id: task.id.clone(),
        expected_version: None,
    })
}

/// The host-mode published ports of a service spec.
fn host_mode_ports(spec: &Value) -> Value {
    let ports: Vec<Value> = spec["EndpointSpec"]["Ports"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|p| p["PublishMode"].as_str() == Some("host"))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Value::Array(ports)
}

#[cfg(test)]
#[path = "orchestrator_tests.rs"]
mod tests;
