//! Which secret and config data a node receives: only the objects referenced by tasks assigned
//! to it that are still meant to run (swarmkit's dispatcher does the same), so a node never
//! holds a secret none of its tasks uses, and stops receiving one when its last such task goes.
//! The agent keeps what it receives in memory only.

use std::collections::BTreeMap;

use base64::Engine as _;
use berth_raft::{Attrs, ClusterState, ObjectKind, TaskState};
use serde::{Deserialize, Serialize};

use crate::model::{SecretKind, SecretObject};

/// Where a task document keeps the template it was made from (`TaskDoc::template`).
const TEMPLATE: &str = "template";
use crate::secret_ops::{id_field, references};

/// One secret's or config's data, as a session reply carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretPayload {
    /// Which kind.
    pub kind: SecretKind,
    /// Its id.
    pub id: String,
    /// The data, base64.
    pub data: String,
    /// The data is a template, expanded for each task that uses it.
    #[serde(default)]
    pub templated: bool,
}

impl std::fmt::Debug for SecretPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the data: payloads may end up in logs.
        f.debug_struct("SecretPayload")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SecretPayload {
    /// The data, decoded.
    pub fn bytes(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .unwrap_or_default()
    }
}

/// The data of every secret and config a task assigned to `node_id` and meant to run uses.
pub fn payloads_for(state: &ClusterState, node_id: &str) -> Vec<SecretPayload> {
    // Every session reply asks: a swarm without secrets or configs answers at once, without
    // reading the node's tasks.
    let none = |kind| state.list(kind).next().is_none();
    if none(ObjectKind::Secret) && none(ObjectKind::Config) {
        return Vec::new();
    }
    let mut wanted: BTreeMap<(String, &'static str), SecretKind> = BTreeMap::new();
    for task in state.tasks_by_node(node_id) {
        let live = matches!(&task.attrs, Attrs::Task { desired_state, .. } if *desired_state <= TaskState::Running);
        if !live {
            continue;
        }
        // Only the references are read (the task document's `template`), not the whole task.
        let spec = serde_json::json!({ "TaskTemplate": { "ContainerSpec": {
            "Secrets": task.spec[TEMPLATE]["ContainerSpec"]["Secrets"],
            "Configs": task.spec[TEMPLATE]["ContainerSpec"]["Configs"],
        } } });
        for kind in [SecretKind::Secret, SecretKind::Config] {
            for r in references(&spec, kind) {
                if let Some(id) = r[id_field(kind)].as_str() {
                    wanted.insert((id.to_string(), kind.noun()), kind);
                }
            }
        }
    }
    wanted
        .into_iter()
        .filter_map(|((id, _), kind)| {
            let o = state.get(kind.object_kind(), &id)?;
            let object = SecretObject::parse(o).ok()?;
            let data = object.data().ok()?;
            Some(SecretPayload {
                kind,
                id,
                data: base64::engine::general_purpose::STANDARD.encode(data),
                templated: object.templated(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{data_status, DesiredState, TaskDoc, TaskState as Observed, TaskStatus};
    use berth_raft::Op;
    use serde_json::json;

    fn task(id: &str, node: &str, desired: DesiredState) -> Op {
        let template = json!({ "ContainerSpec": { "Image": "busybox",
            "Secrets": [{ "SecretID": "s1", "SecretName": "db", "File": { "Name": "db" } }] } });
        let doc = TaskDoc {
            slot: 1,
            service_name: "web".into(),
            template,
            host_ports: json!(null),
            networks: json!(null),
            generic_resources: serde_json::Value::Null,
            job_iteration: None,
            log_driver: None,
        };
        Op::Create {
            id: id.into(),
            attrs: Attrs::Task {
                service_id: "svc".into(),
                node_id: Some(node.into()),
                desired_state: desired,
            },
            spec: doc.to_value(),
            status: TaskStatus::new(Observed::Assigned, "", None, chrono::Utc::now()).to_value(),
        }
    }

    #[test]
    fn only_a_node_with_a_live_task_using_a_secret_receives_it() {
        let mut s = ClusterState::default();
        let secret = Op::Create {
            id: "s1".into(),
            attrs: Attrs::Secret { name: "db".into() },
            spec: json!({ "Name": "db", "Labels": {} }),
            status: data_status(b"pw"),
        };
        crate::fixtures::apply(
            &mut s,
            vec![secret, task("t1", "n1", DesiredState::Running)],
        );
        let sent = payloads_for(&s, "n1");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].bytes(), b"pw");
        assert!(payloads_for(&s, "n2").is_empty(), "no task on n2");
        assert!(
            !format!("{sent:?}").contains("cHc="),
            "Debug hides the data"
        );
        crate::fixtures::apply(
            &mut s,
            vec![
                Op::Delete {
                    kind: berth_raft::ObjectKind::Task,
                    id: "t1".into(),
                    expected_version: None,
                },
                task("t2", "n1", DesiredState::Shutdown),
            ],
        );
        assert!(
            payloads_for(&s, "n1").is_empty(),
            "a task shutting down needs no secret"
        );
    }
}
