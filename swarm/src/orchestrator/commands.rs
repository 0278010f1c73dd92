//! The writes the orchestrator makes on tasks.

use berth_raft::{Attrs, ClusterCommand, ObjectKind, Op};

use crate::model::{DesiredState, Task};

/// The write that changes a task's desired state (at the version read).
pub fn set_desired(task: &Task<'_>, desired: DesiredState) -> ClusterCommand {
    ClusterCommand::single(Op::Update {
        id: task.id().to_string(),
        expected_version: Some(task.object.meta.version),
        attrs: Attrs::Task {
            service_id: task.service_id.to_string(),
            node_id: task.node_id.map(str::to_string),
            desired_state: desired,
        },
        spec: task.object.spec.clone(),
        status: task.object.status.clone(),
    })
}

/// The write that deletes a task.
pub fn delete(id: &str) -> ClusterCommand {
    ClusterCommand::single(Op::Delete {
        kind: ObjectKind::Task,
        id: id.to_string(),
        expected_version: None,
    })
}
