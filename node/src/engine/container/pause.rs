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
        let dirs = cgroups::container_dirs(&self.paths.cgroups.all, &rec.id);
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
        let dirs = cgroups::container_dirs(&self.paths.cgroups.all, &rec.id);
        freezer::thaw(&dirs).map_err(|e| EngineError::io(format!("unpause {}", rec.id), e))?;
        rec.state.status = ContainerStatus::Running;
        self.container_event(&rec, "unpause", &[]);
        handle.publish(&rec, &self.records, false)
    }

    /// Renames a container; the new name must be free.
    pub async fn rename_container(&self, key: &str, new_name: &str) -> Result<()> {
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        if new_name.is_empty() {
            return Err(EngineError::InvalidArgument(
                "Neither old nor new names may be empty".into(),
            ));
        }
        super::create::validate_name(new_name)?;
        let handle = self.lookup(key)?;
        let mut rec = handle.lock().await;
        if rec.name == new_name {
            return Err(EngineError::InvalidArgument(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if !self.names.put_new(new_name, &rec.id)? {
            let holder: String = self.names.get(new_name)?.unwrap_or_default();
            return Err(EngineError::Conflict(format!(
                "Conflict. The container name \"/{new_name}\" is already in use by container \"{holder}\". \
                 You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        let old = std::mem::replace(&mut rec.name, new_name.to_string());
        if let Err(e) = self.records.put(&rec.id, &*rec) {
            rec.name = old;
            let _ = self.names.remove(new_name);
            return Err(e);
        }
        self.names.remove(&old)?;
        self.container_event(&rec, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }
}
