//! Task and update states, and a task's observed status (Docker's `TaskStatus`). The enums
//! compare in swarmkit's order: a later state is greater.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the orchestrator wants a task to be (the store's indexed attribute).
pub use berth_raft::TaskState as DesiredState;

/// A task's observed state, as its node reports it (Docker's `TaskState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Created, nothing done yet.
    New,
    /// Waiting for a node.
    Pending,
    /// Given to a node.
    Assigned,
    /// The node accepted it.
    Accepted,
    /// The node prepares it (image, container).
    Preparing,
    /// Prepared, not started.
    Ready,
    /// Starting.
    Starting,
    /// Its container runs.
    Running,
    /// Exited with status 0.
    Complete,
    /// Stopped as asked.
    Shutdown,
    /// Exited non-zero, or could not start.
    Failed,
    /// Could never run here (bad spec, missing image).
    Rejected,
    /// Marked for removal.
    Remove,
    /// Its node is gone for good.
    Orphaned,
}

impl TaskState {
    /// Whether the state is final: the task's container is gone or will never run.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Complete
                | Self::Failed
                | Self::Shutdown
                | Self::Rejected
                | Self::Orphaned
                | Self::Remove
        )
    }

    /// Whether the task ended by itself (exited or could not start), not by being stopped.
    pub fn ended_by_itself(self) -> bool {
        matches!(self, Self::Complete | Self::Failed | Self::Rejected)
    }
}

/// Where a rolling update or rollback stands (Docker's `UpdateStatus.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateState {
    /// Tasks are being replaced.
    Updating,
    /// Stopped after failures (failure action `pause`).
    Paused,
    /// Every task runs the new spec.
    Completed,
    /// Going back to the previous spec.
    RollbackStarted,
    /// A rollback stopped after failures.
    RollbackPaused,
    /// Every task runs the previous spec again.
    RollbackCompleted,
}

/// The container of a task, as last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerStatus {
    /// The container id.
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    /// Its main process (0 once stopped).
    #[serde(rename = "PID")]
    pub pid: i64,
    /// Its exit code (0 while running).
    #[serde(rename = "ExitCode")]
    pub exit_code: i64,
}

/// A task's observed status (Docker's `TaskStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// When it was reported.
    #[serde(rename = "Timestamp", with = "super::time::required")]
    pub timestamp: DateTime<Utc>,
    /// The state.
    #[serde(rename = "State")]
    pub state: TaskState,
    /// What happened, in Docker's words ("started", "pending task scheduling", …).
    #[serde(rename = "Message")]
    pub message: String,
    /// Why it failed or waits, when it did.
    #[serde(rename = "Err", default, skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    /// Its container, once it has one.
    #[serde(
        rename = "ContainerStatus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub container: Option<ContainerStatus>,
    /// The ports its container publishes on its node (`{}` without any, as Docker shows).
    #[serde(rename = "PortStatus", default)]
    pub port_status: super::PortStatus,
}

impl TaskStatus {
    /// A status without a container.
    pub fn new(state: TaskState, message: &str, err: Option<&str>, at: DateTime<Utc>) -> Self {
        TaskStatus {
            timestamp: at,
            state,
            message: message.to_string(),
            err: err.map(str::to_string),
            container: None,
            port_status: super::PortStatus::default(),
        }
    }

    /// The status as the store keeps it.
    pub fn to_value(&self) -> serde_json::Value {
        // Plain strings, enums and numbers: serializing cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn states_use_dockers_spellings_and_swarmkits_order() {
        assert_eq!(json!(TaskState::Running), json!("running"));
        assert_eq!(
            json!(UpdateState::RollbackStarted),
            json!("rollback_started")
        );
        assert_eq!(json!(DesiredState::Shutdown), json!("shutdown"));
        assert!(TaskState::Running < TaskState::Complete);
        assert!(TaskState::Failed.is_terminal() && !TaskState::Starting.is_terminal());
        assert!(TaskState::Rejected.ended_by_itself() && !TaskState::Shutdown.ended_by_itself());
    }

    #[test]
    fn a_status_reads_back_as_docker_wrote_it_and_an_unknown_state_is_an_error() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut s = TaskStatus::new(TaskState::Failed, "started", Some("exit 1"), at);
        s.container = Some(ContainerStatus {
            container_id: "c1".into(),
            pid: 0,
            exit_code: 1,
        });
        let v = s.to_value();
        assert_eq!(v["Timestamp"], "2026-01-02T03:04:05.500000000Z");
        assert_eq!(v["ContainerStatus"]["ExitCode"], 1);
        assert_eq!(serde_json::from_value::<TaskStatus>(v).unwrap(), s);
        let bad =
            json!({ "Timestamp": "2026-01-02T03:04:05Z", "State": "exploded", "Message": "" });
        assert!(serde_json::from_value::<TaskStatus>(bad).is_err());
    }
}
