//! Tasks: list (with Docker's filters, names resolved to ids) and inspect.

use std::collections::HashMap;

use berth_raft::{ClusterState, Object, ObjectKind};

use super::{label_matches, Envelope, Filters, NetworkInfo, TaskInfo};
use crate::error::SwarmResult;
use crate::model::{sorted, DesiredState, Network, Service, Task, TemplatePrint};
use crate::ops;
use crate::swarm::Swarm;

impl TaskInfo {
    /// `t` as shown: its spec without the `ingress` network (hidden as in Docker's; its
    /// attachments show it).
    fn of(s: &ClusterState, t: &Task<'_>, (ingress, port): (Option<&Object>, u16)) -> Self {
        let mut spec = crate::pull_auth::public_template(t.template());
        crate::ingress::hide(&mut spec, ingress);
        let networks = t.attachments().unwrap_or_default();
        let network_objects = networks
            .iter()
            .filter_map(|a| s.get(ObjectKind::Network, &a.network_id))
            .filter_map(|o| Network::parse(o).ok())
            .map(|n| NetworkInfo::of(&n, port))
            .collect();
        TaskInfo {
            envelope: Envelope::of(t.object),
            spec,
            service_id: t.service_id.to_string(),
            slot: t.slot,
            node_id: t.node_id.map(str::to_string),
            status: t.status.clone().into_owned(),
            desired: desired_shown(t),
            job_iteration: t.job_iteration(),
            networks,
            network_objects,
            generic_resources: t.assigned_generic_resources(),
        }
    }
}

/// The desired state as Docker shows it: a job's task that runs, or ran, to completion wants
/// `complete` (berth keeps such a task at `running` until it ends, like a service's).
fn desired_shown(t: &Task<'_>) -> String {
    let runs_to_completion =
        t.desired == DesiredState::Running || t.state() == crate::model::TaskState::Complete;
    if t.job_iteration().is_some() && runs_to_completion {
        "complete".to_string()
    } else {
        desired_name(t.desired)
    }
}

/// Service and node names in task filters become ids, as Docker resolves them.
pub(super) fn resolve(s: &ClusterState, filters: &Filters) -> Filters {
    let mut out = filters.clone();
    for (key, kind) in [("service", ObjectKind::Service), ("node", ObjectKind::Node)] {
        if let Some(values) = out.get_mut(key) {
            *values = values
                .iter()
                .map(|v| ops::find(s, kind, v).map_or_else(|_| v.clone(), |o| o.id.clone()))
                .collect();
        }
    }
    out
}

/// Docker's `_up-to-date=true` task filter (what the CLI's progress display asks for).
fn wants_up_to_date(filters: &Filters) -> bool {
    filters
        .get("_up-to-date")
        .is_some_and(|v| v.iter().any(|x| x == "true" || x == "1"))
}

/// Whether a task was made from its service's current task template; `prints` keeps each
/// service's print, made once per listing rather than once per task.
fn up_to_date<'s>(
    s: &'s ClusterState,
    prints: &mut HashMap<&'s str, Option<TemplatePrint>>,
    t: &Task<'s>,
) -> bool {
    let print = prints.entry(t.service_id).or_insert_with(|| {
        let svc = s.get(ObjectKind::Service, t.service_id)?;
        Service::parse(svc)
            .ok()
            .map(|svc| TemplatePrint::of(svc.template()))
    });
    *print == Some(t.print)
}

/// The tasks `GET /tasks` answers with, by id.
pub(super) fn list(s: &ClusterState, filters: &Filters) -> SwarmResult<Vec<TaskInfo>> {
    let filters = resolve(s, filters);
    let mut out = Vec::new();
    let mut prints = HashMap::new();
    let shown = (crate::ingress::network(s), crate::model::data_path_port(s));
    for o in sorted(s.list(ObjectKind::Task)) {
        let t = Task::parse(o)?;
        let fresh = !wants_up_to_date(&filters) || up_to_date(s, &mut prints, &t);
        if fresh && task_matches(&t, &filters) {
            out.push(TaskInfo::of(s, &t, shown));
        }
    }
    Ok(out)
}

/// Docker's name of a desired state.
fn desired_name(d: DesiredState) -> String {
    serde_json::to_value(d)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub(super) fn task_matches(t: &Task<'_>, filters: &Filters) -> bool {
    filters.iter().all(|(k, values)| {
        values.iter().any(|v| match k.as_str() {
            "id" => t.id().starts_with(v.as_str()),
            "service" => t.service_id == v,
            "node" => t.node_id == Some(v.as_str()),
            "desired-state" => {
                let d = desired_shown(t);
                d == *v || (v == "accepted" && t.desired == DesiredState::Running)
            }
            "name" => format!("{}.{}", t.service_name(), t.slot).starts_with(v.as_str()),
            "label" => {
                let labels = t.spec().ok().and_then(|s| s.container_spec?.labels);
                label_matches(&labels.unwrap_or_default(), v)
            }
            _ => true,
        })
    })
}

impl Swarm {
    /// `GET /tasks?filters=`.
    pub async fn tasks(&self, filters: &Filters) -> SwarmResult<Vec<TaskInfo>> {
        let m = self.control().await?;
        let filters = filters.clone();
        m.read_copy(move |s| list(s, &filters)).await?
    }

    /// `GET /tasks/{id}` (id or unique id prefix).
    pub async fn task(&self, key: &str) -> SwarmResult<TaskInfo> {
        let m = self.control().await?;
        m.read(|s| {
            let o = ops::find(s, ObjectKind::Task, key)?;
            let shown = (crate::ingress::network(s), crate::model::data_path_port(s));
            Ok(TaskInfo::of(s, &Task::parse(o)?, shown))
        })
    }
}
