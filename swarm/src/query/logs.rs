//! `docker service logs` and `docker task logs`: the logs of the task containers on this node,
//! merged, each record optionally carrying Docker's swarm details
//! (`com.docker.swarm.node.id=…,com.docker.swarm.service.id=…,com.docker.swarm.task.id=…`),
//! which the docker CLI reads to name the task a line came from.

use std::collections::HashMap;

use berth_raft::{Attrs, ObjectKind};
use tokio::sync::mpsc;

use crate::agent::task_containers;
use crate::error::{SwarmError, SwarmResult};
use crate::executor::{ExecError, LogOptions, LogRecord};
use crate::ops;
use crate::swarm::Swarm;

/// Whose logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Every task of a service (id, name or unique id prefix).
    Service(String),
    /// One task (id or unique id prefix).
    Task(String),
}

/// (service id, node id) of each task asked for, by task id.
type Owners = HashMap<String, (String, String)>;

impl Swarm {
    /// The merged log records of the target's task containers on this node; with
    /// `options.details`, each record carries the swarm's details among its own attributes
    /// after its timestamp.
    pub async fn logs(
        &self,
        target: &LogTarget,
        options: LogOptions,
    ) -> SwarmResult<mpsc::Receiver<LogRecord>> {
        let m = self.control().await?;
        let owners: Owners = m.read(|s| {
            let objects = match target {
                LogTarget::Service(key) => {
                    let svc = ops::find(s, ObjectKind::Service, key)?;
                    s.tasks_by_service(&svc.id)
                }
                LogTarget::Task(key) => vec![ops::find(s, ObjectKind::Task, key)?],
            };
            let owners = objects.into_iter().filter_map(|t| match &t.attrs {
                Attrs::Task {
                    service_id,
                    node_id,
                    ..
                } => Some((
                    t.id.clone(),
                    (service_id.clone(), node_id.clone().unwrap_or_default()),
                )),
                _ => None,
            });
            Ok::<Owners, SwarmError>(owners.collect())
        })?;
        let local = task_containers(self.executor.as_ref())
            .await
            .ok_or_else(|| SwarmError::Internal("cannot list the task containers".into()))?;
        let (tx, rx) = mpsc::channel::<LogRecord>(256);
        for (task_id, c) in local {
            let Some((service_id, node_id)) = owners.get(&task_id) else {
                continue;
            };
            let mut options = options.clone();
            options.extra_details = [
                ("com.docker.swarm.node.id", node_id),
                ("com.docker.swarm.service.id", service_id),
                ("com.docker.swarm.task.id", &task_id),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
            let mut records = self
                .executor
                .logs(&c.id, options)
                .await
                .map_err(|e| match e {
                    ExecError::NotFound(m) => SwarmError::NotFound(m),
                    other => SwarmError::Internal(other.to_string()),
                })?;
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(r) = records.recv().await {
                    if tx.send(r).await.is_err() {
                        return;
                    }
                }
            });
        }
        Ok(rx)
    }
}
