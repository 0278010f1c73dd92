//! One pass over every service: group its tasks by slot (replicated) or node (global), shut
//! down what must stop, make tasks for empty groups (restart policy permitting), and hand
//! outdated groups to the rolling update.

use std::collections::{BTreeMap, HashSet};

use berth_raft::{Attrs, ClusterCommand, ClusterState, ObjectKind, Op};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::commands::{delete, set_desired};
use crate::model::{
    Cluster, DesiredState, IdSource, Mode, Node, Service, Task, TaskDoc, TaskState, TaskStatus,
    TemplatePrint,
};
use crate::placement::node_matches;
use crate::plan::Plan;

/// A group's key: (slot, "") for replicated services, (0, node id) for global ones.
pub(super) type Key = (u64, String);

/// The transactions that converge every service at `now`; new tasks take ids from `ids`.
pub fn reconcile(state: &ClusterState, now: DateTime<Utc>, ids: &mut dyn IdSource) -> Plan {
    let mut plan = Plan::default();
    let mut nodes: BTreeMap<&str, Option<Node<'_>>> = BTreeMap::new();
    for n in state.list(ObjectKind::Node) {
        match Node::parse(n) {
            Ok(node) => nodes.insert(&n.id, Some(node)),
            Err(e) => {
                plan.problem(e);
                nodes.insert(&n.id, None)
            }
        };
    }
    // Without a readable cluster object, no history is trimmed.
    let (limit, log_default) = match state.list(ObjectKind::Cluster).next().map(Cluster::parse) {
        Some(Ok(c)) => (c.history_limit(), c.task_log_driver()),
        Some(Err(e)) => {
            plan.problem(e);
            (usize::MAX, None)
        }
        None => (5, None),
    };
    let mut services = HashSet::new();
    for svc in state.list(ObjectKind::Service) {
        // A malformed service keeps its tasks (they are not orphans) and gets no changes.
        services.insert(svc.id.as_str());
        let svc = match Service::parse(svc) {
            Ok(s) => s,
            Err(e) => {
                plan.problem(e);
                continue;
            }
        };
        let mut tasks = Vec::new();
        for t in state.tasks_by_service(svc.id()) {
            match Task::parse(t) {
                Ok(task) => tasks.push(task),
                Err(e) => plan.problem(e),
            }
        }
        let pass = ServicePass {
            svc: &svc,
            print: TemplatePrint::of(svc.template()),
            nodes: &nodes,
            limit,
            log_default: log_default.as_ref(),
            now,
        };
        pass.reconcile(&tasks, &mut plan, ids);
    }
    // Through the index, not every task: the orphans' services are the ones left to find.
    for orphaned in state
        .services_with_tasks()
        .filter(|s| !services.contains(s))
    {
        for t in state.tasks_by_service(orphaned) {
            plan.push(delete(&t.id));
        }
    }
    plan
}

/// One service's pass.
pub(super) struct ServicePass<'s, 'a> {
    pub svc: &'s Service<'a>,
    /// Its template's print: the tasks of the current spec have it.
    pub print: TemplatePrint,
    /// Every node; `None` for one that could not be read.
    pub nodes: &'s BTreeMap<&'a str, Option<Node<'a>>>,
    pub limit: usize,
    /// The swarm's log driver for templates that name none.
    pub log_default: Option<&'s bollard_stubs::models::TaskSpecLogDriver>,
    pub now: DateTime<Utc>,
}

impl<'a> ServicePass<'_, 'a> {
    fn reconcile(&self, tasks: &[Task<'a>], plan: &mut Plan, ids: &mut dyn IdSource) {
        if self.svc.mode.is_job() {
            self.reconcile_job(tasks, plan, ids);
            return;
        }
        let mut groups: BTreeMap<Key, Vec<&Task<'a>>> = BTreeMap::new();
        for t in tasks {
            groups.entry(self.key_of(t)).or_default().push(t);
        }
        let wanted = self.wanted(plan);
        // A replicated service's groups are checked by their slot: hashing 10,000 keys per
        // pass was a tenth of it.
        let wanted_nodes: HashSet<&str> = if self.svc.mode.is_per_node() {
            wanted.iter().map(|k| k.1.as_str()).collect()
        } else {
            HashSet::new()
        };
        let is_wanted = |key: &Key| match self.svc.mode {
            Mode::Replicated(n) => key.1.is_empty() && (1..=n).contains(&key.0),
            _ => key.0 == 0 && wanted_nodes.contains(key.1.as_str()),
        };
        let mut in_flight = 0u64;
        let mut outdated: Vec<(&Key, &Task<'a>)> = Vec::new();
        let mut empty: Vec<&Key> = wanted.iter().filter(|k| !groups.contains_key(*k)).collect();
        for (key, group) in &groups {
            let keep = is_wanted(key) || self.keeps_paused(key);
            let mut healthy = Vec::new();
            for &t in group.iter().filter(|t| t.is_live()) {
                if !keep {
                    plan.push(set_desired(t, DesiredState::Remove));
                } else if t.state().is_terminal() || self.node_sheds(t) {
                    plan.push(set_desired(t, DesiredState::Shutdown));
                } else {
                    healthy.push(t);
                }
            }
            let (current, old): (Vec<&Task<'a>>, Vec<&Task<'a>>) =
                healthy.into_iter().partition(|t| t.print == self.print);
            if let Some((first, extra)) = current.split_first() {
                for t in extra {
                    plan.push(set_desired(t, DesiredState::Shutdown));
                }
                if first.state() == TaskState::Running {
                    for t in &old {
                        plan.push(set_desired(t, DesiredState::Shutdown));
                    }
                } else {
                    in_flight += 1;
                }
            } else if let Some((first, extra)) = old.split_first() {
                for t in extra {
                    plan.push(set_desired(t, DesiredState::Shutdown));
                }
                outdated.push((key, first));
            } else if keep && is_wanted(key) {
                empty.push(key);
            }
            self.trim_history(group, plan);
        }
        for key in empty {
            if self.may_restart(groups.get(key).map(Vec::as_slice), plan) {
                plan.push(self.create(key, ids));
            }
        }
        self.roll(tasks, outdated, in_flight, plan, ids);
    }

    /// A task's group: its slot, or its node for one task per node.
    pub(super) fn key_of(&self, t: &Task<'_>) -> Key {
        if self.svc.mode.is_per_node() {
            (0, t.node_id.unwrap_or("").to_string())
        } else {
            (t.slot, String::new())
        }
    }

    /// The groups the service should have: its slots, or the eligible nodes.
    pub(super) fn wanted(&self, plan: &mut Plan) -> Vec<Key> {
        match self.svc.mode {
            Mode::Replicated(n) => (1..=n).map(|s| (s, String::new())).collect(),
            // From 0, as swarmkit numbers a job's slots (docker's progress display reads them
            // so).
            Mode::ReplicatedJob { total, .. } => (0..total).map(|s| (s, String::new())).collect(),
            Mode::Global | Mode::GlobalJob => {
                let constraints = self.svc.constraints();
                let mut keys = Vec::new();
                for (id, node) in self.nodes {
                    let Some(node) = node.as_ref().filter(|n| n.takes_tasks()) else {
                        continue;
                    };
                    match node_matches(node, &constraints) {
                        Ok(true) => keys.push((0, id.to_string())),
                        Ok(false) => {}
                        // Refused at create and update; a stored one is reported, not placed.
                        Err(e) => {
                            plan.problem(crate::model::ModelError::of(self.svc.object, e));
                            return Vec::new();
                        }
                    }
                }
                keys
            }
        }
    }

    /// A paused node keeps the global tasks it has.
    fn keeps_paused(&self, key: &Key) -> bool {
        self.svc.mode.is_per_node()
            && self.nodes.get(key.1.as_str()).is_some_and(|n| {
                n.as_ref().is_some_and(|n| {
                    n.availability() == crate::model::Availability::Pause
                        && n.state() == crate::model::NodeState::Ready
                })
            })
    }

    /// Whether the task's node is gone, down or drained (an unreadable node keeps its tasks).
    pub(super) fn node_sheds(&self, task: &Task<'_>) -> bool {
        match task.node_id {
            Some(node) => match self.nodes.get(node) {
                None => true,
                Some(n) => n.as_ref().is_some_and(Node::sheds_tasks),
            },
            None => false,
        }
    }

    /// A new task for group `key` of the current spec.
    pub(super) fn create(&self, key: &Key, ids: &mut dyn IdSource) -> ClusterCommand {
        let global = self.svc.mode.is_per_node();
        let doc = TaskDoc {
            slot: key.0,
            service_name: self.svc.name().to_string(),
            template: self.svc.template().clone(),
            host_ports: self.svc.host_ports_value(),
            networks: serde_json::Value::Null,
            generic_resources: serde_json::Value::Null,
            job_iteration: self.svc.job_iteration(),
            log_driver: self
                .log_default
                .filter(|_| {
                    self.svc
                        .template()
                        .get("LogDriver")
                        .is_none_or(Value::is_null)
                })
                .cloned(),
        };
        let status = if global {
            let message = "scheduler assigned task to node";
            TaskStatus::new(TaskState::Assigned, message, None, self.now)
        } else {
            let message = "pending task scheduling";
            TaskStatus::new(TaskState::Pending, message, None, self.now)
        };
        ClusterCommand::single(Op::Create {
            id: ids.next_id(),
            attrs: Attrs::Task {
                service_id: self.svc.id().to_string(),
                node_id: global.then(|| key.1.clone()),
                desired_state: DesiredState::Running,
            },
            spec: doc.to_value(),
            status: status.to_value(),
        })
    }

    /// Deletes the oldest finished tasks of a group beyond the history limit.
    pub(super) fn trim_history(&self, group: &[&Task<'a>], plan: &mut Plan) {
        let mut done: Vec<&Task<'a>> = group.iter().copied().filter(|t| !t.is_live()).collect();
        let keep = self.limit.saturating_sub(1);
        if done.len() <= keep {
            return;
        }
        done.sort_by_key(|t| t.object.meta.created_at);
        let excess = done.len() - keep;
        for t in &done[..excess] {
            if t.state().is_terminal() || self.node_sheds(t) || t.node_id.is_none() {
                plan.push(delete(t.id()));
            }
        }
    }
}
