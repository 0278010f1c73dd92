//! `pause` and `unpause`: the cgroup freezer stops every task of a running container.

use super::ContainerStatus;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::runtime::{cgroups, freezer};

impl Engine {
    /// Freezes a running container; its state becomes `paused`.
    pub async fn pause_container(&self, key: &str) -> Result<()> {
        let handle = self.lookup(key)?;
        let mut rec = handle.lock().await;
        match rec.state.status {
            ContainerStatus::Running => {}
            ContainerStatus::Paused => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is already paused",
                    rec.id
                )))
            }
            _ => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is not running",
                    rec.id
                )))
            }
        }
        let dirs = cgroups::container_dirs(&self.paths.cgroups.all, &rec.cgroup_rel());
        tokio::task::spawn_blocking(move || freezer::freeze(&dirs))
            .await
            .map_err(|e| EngineError::Internal(format!("pause task: {e}")))?
            .map_err(|e| EngineError::io(format!("pause {}", rec.id), e))?;
        rec.state.status = ContainerStatus::Paused;
        self.container_event(&rec, "pause", &[]);
        handle.publish(&rec, &self.records, false)
    }

    /// Thaws a paused container.
    pub async fn unpause_container(&self, key: &str) -> Result<()> {
        let handle = self.lookup(key)?;
        let mut rec = handle.lock().await;
        if rec.state.status != ContainerStatus::Paused {
            return Err(EngineError::Conflict(format!(
                "Container {} is not paused",
                rec.id
            )));
        }
        let dirs = cgroups::container_dirs(&self.paths.cgroups.all, &rec.cgroup_rel());
        freezer::thaw(&dirs).map_err(|e| EngineError::io(format!("unpause {}", rec.id), e))?;
        rec.state.status = ContainerStatus::Running;
        self.container_event(&rec, "unpause", &[]);
        handle.publish(&rec, &self.records, false)
    }
}
