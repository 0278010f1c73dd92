//! `rm`: stop (when forced), then take away everything the container had: mount, cgroups,
//! runtime state, directory, records. Each step tolerates having been done already, so a
//! container left half-made by a crash can always be removed.

use nix::mount::{umount2, MntFlags};

use crate::engine::Engine;
use crate::error::{EngineError, Result};

impl Engine {
    /// Removes a container; running ones only with `force`.
    pub async fn remove_container(&self, key: &str, force: bool) -> Result<()> {
        self.remove_container_with(key, force, false).await
    }

    /// Removes a container; with `volumes` (`rm -v`, and auto-remove) its anonymous volumes too.
    pub async fn remove_container_with(&self, key: &str, force: bool, volumes: bool) -> Result<()> {
        let handle = self.lookup(key)?;
        // Looked at again under the lock that the removal keeps: a start holding the lock
        // when the state was first read made it run meanwhile, and removing it then left its
        // monitor, container, veth and cgroups without a record (found by `chaos_engine`).
        let mut rec = loop {
            let mut rec = handle.lock().await;
            if rec.state.status == super::ContainerStatus::Restarting && !force {
                // Waiting out its restart delay: Docker refuses as for a running one.
                return Err(EngineError::Conflict(format!(
                    "You cannot remove a restarting container {}. Stop the container before attempting removal or force remove",
                    handle.id
                )));
            }
            if !rec.state.status.is_running() {
                break rec;
            }
            if !force {
                return Err(EngineError::Conflict(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    handle.id
                )));
            }
            rec.state.manually_stopped = true;
            drop(rec);
            match self.kill_and_wait(&handle).await {
                // It stopped between the look and the kill: looked at again.
                Ok(()) | Err(EngineError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        };
        if rec.state.status == super::ContainerStatus::Removing {
            return Ok(());
        }
        rec.state.status = super::ContainerStatus::Removing;
        self.network_down(&rec.id).await;
        let _ = self.networks().forget(&rec.id);
        self.purge(&rec.id, &rec.name, &rec.cgroup_rel())?;
        self.container_event(&rec, "destroy", &[]);
        if let Ok(mut map) = self.containers.lock() {
            map.remove(&rec.id);
        }
        handle.publish_removed();
        let mounts = rec.host.mounts.clone();
        drop(rec);
        if volumes {
            self.remove_anonymous_volumes(&mounts).await;
        }
        Ok(())
    }

    /// Deletes what a container left on the host, then its records.
    pub(crate) fn purge(&self, id: &str, name: &str, cgroup: &std::path::Path) -> Result<()> {
        let dir = self.paths.container_dir(id);
        for point in self.paths.rootfs_mount_points(id) {
            let _ = umount2(&point, MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir(self.paths.rootfs_dir(id));
        let _ = std::fs::remove_dir_all(self.paths.runtime_root().join(id));
        self.remove_cgroups(cgroup);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::io(format!("remove {}", dir.display()), e)),
        }
        if self.names.get::<String>(name)?.as_deref() == Some(id) {
            self.names.remove(name)?;
        }
        self.records.remove(id)
    }
}
