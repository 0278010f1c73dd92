//! Services: create, list (with Docker's filters and task counts), inspect, update, remove.

use std::collections::HashMap;

use berth_raft::{ClusterState, Object, ObjectKind};
use serde_json::Value;

use super::{label_matches, Envelope, Filters, ServiceInfo, TaskCounts};
use crate::error::SwarmResult;
use crate::model::{sorted, Availability, Mode, Node, NodeState, Service, Task, TaskState};
use crate::ops;
use crate::swarm::Swarm;

impl ServiceInfo {
    /// `svc` as shown, without the `ingress` network its spec holds (hidden as in Docker's).
    fn of(svc: &Service<'_>, counts: Option<TaskCounts>, ingress: Option<&Object>) -> Self {
        let shown = |spec: &Value| {
            let mut spec = crate::pull_auth::public_spec(spec);
            if let Some(template) = spec.get_mut("TaskTemplate") {
                crate::ingress::hide(template, ingress);
            }
            spec
        };
        ServiceInfo {
            envelope: Envelope::of(svc.object),
            spec: shown(&svc.object.spec),
            previous_spec: svc.status.previous_spec.as_ref().map(shown),
            update_status: svc.status.update_status.clone(),
            counts,
            virtual_ips: svc.status.virtual_ips.clone(),
            ports: svc.endpoint_ports(),
            job: svc.status.job.clone(),
        }
    }
}

/// Running, desired and completed tasks of every readable service.
pub(super) fn task_counts(state: &ClusterState) -> HashMap<String, TaskCounts> {
    let active_ready = state
        .list(ObjectKind::Node)
        .filter_map(|n| Node::parse(n).ok())
        .filter(|n| n.state() == NodeState::Ready && n.availability() == Availability::Active)
        .count() as u64;
    let mut out = HashMap::new();
    for svc in state.list(ObjectKind::Service) {
        let Ok(svc) = Service::parse(svc) else {
            continue;
        };
        let tasks: Vec<Task<'_>> = state
            .tasks_by_service(svc.id())
            .into_iter()
            .filter_map(|t| Task::parse(t).ok())
            .collect();
        // A job counts the tasks of its current run only.
        let run = svc.job_iteration();
        let current = |t: &&Task<'_>| t.job_iteration() == run;
        let running = tasks
            .iter()
            .filter(current)
            .filter(|t| t.is_live() && t.state() == TaskState::Running)
            .count() as u64;
        let completed = tasks
            .iter()
            .filter(current)
            .filter(|t| t.state() == TaskState::Complete)
            .count() as u64;
        let desired = match svc.mode {
            Mode::Replicated(n) => n,
            Mode::Global => active_ready,
            // As docker 20.10 counts them: a replicated job wants its `MaxConcurrent`
            // (`0/2 (3/3 completed)` once done), a global job the nodes still to complete.
            Mode::ReplicatedJob { concurrent, .. } => concurrent,
            Mode::GlobalJob => active_ready.saturating_sub(completed),
        };
        let counts = TaskCounts {
            running,
            desired,
            completed,
        };
        out.insert(svc.id().to_string(), counts);
    }
    out
}

pub(super) fn service_matches(svc: &Service<'_>, filters: &Filters) -> bool {
    filters.iter().all(|(k, values)| {
        values.iter().any(|v| match k.as_str() {
            "id" => svc.id().starts_with(v.as_str()),
            "name" => svc.name().starts_with(v.as_str()),
            "label" => label_matches(&svc.spec.labels.clone().unwrap_or_default(), v),
            "mode" => svc.mode.name() == v,
            _ => true,
        })
    })
}

impl Swarm {
    /// `POST /services/create`: the new service's id.
    /// `auth`: the client's `X-Registry-Auth`, for the nodes that pull its image.
    pub async fn create_service(&self, spec: Value, auth: Option<String>) -> SwarmResult<String> {
        let m = self.control().await?;
        ops::create_service(&m, spec, auth).await
    }

    /// `GET /services?filters=&status=`.
    pub async fn services(
        &self,
        filters: &Filters,
        with_counts: bool,
    ) -> SwarmResult<Vec<ServiceInfo>> {
        let m = self.control().await?;
        let filters = filters.clone();
        m.read_copy(move |s| {
            let counts = with_counts.then(|| task_counts(s));
            let mut out = Vec::new();
            let ingress = crate::ingress::network(s);
            for o in sorted(s.list(ObjectKind::Service)) {
                let svc = Service::parse(o)?;
                if service_matches(&svc, &filters) {
                    let c = counts.as_ref().and_then(|c| c.get(svc.id()).copied());
                    out.push(ServiceInfo::of(&svc, c, ingress));
                }
            }
            Ok(out)
        })
        .await?
    }

    /// `GET /services/{id}` (id, name or unique id prefix).
    pub async fn service(&self, key: &str) -> SwarmResult<ServiceInfo> {
        let m = self.control().await?;
        m.read(|s| {
            let o = ops::find(s, ObjectKind::Service, key)?;
            Ok(ServiceInfo::of(
                &Service::parse(o)?,
                None,
                crate::ingress::network(s),
            ))
        })
    }

    /// `POST /services/{id}/update?version=&rollback=`: to `spec`, or back to the previous
    /// spec.
    pub async fn update_service(
        &self,
        key: &str,
        version: u64,
        spec: Option<Value>,
        rollback: bool,
        auth: crate::pull_auth::PullAuth,
    ) -> SwarmResult<()> {
        let m = self.control().await?;
        ops::update_service(&m, key, version, spec, rollback, auth).await
    }

    /// `DELETE /services/{id}`.
    pub async fn remove_service(&self, key: &str) -> SwarmResult<()> {
        let m = self.control().await?;
        ops::remove_service(&m, key).await
    }
}
