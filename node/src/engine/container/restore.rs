//! Daemon start: load every record, find the monitors that kept containers running while the
//! daemon was away, record the exits that happened meanwhile, apply restart policies, and sweep
//! what a crash left without a record.

use std::sync::Arc;

use super::handle::Handle;
use super::types::{ContainerRecord, ContainerStatus, RestartPolicy};
use crate::engine::Engine;
use crate::error::Result;
use crate::runtime::{launch, pidfd, ExitRecord};

impl Engine {
    pub(crate) async fn restore(&self) -> Result<()> {
        let records: Vec<(String, ContainerRecord)> = self.records.all()?;
        let known: std::collections::HashSet<String> =
            records.iter().map(|(id, _)| id.clone()).collect();
        self.sweep_orphans(&known);
        // A name reserved by a create that crashed before writing its record.
        for (name, id) in self.names.all::<String>()? {
            if !known.contains(&id) {
                self.names.remove(&name)?;
            }
        }
        for (_, rec) in records {
            let handle = Arc::new(Handle::new(rec.clone()));
            if let Ok(mut map) = self.containers.lock() {
                map.insert(rec.id.clone(), handle.clone());
            }
            self.restore_one(handle).await;
        }
        self.stop_unowned_monitors().await;
        Ok(())
    }

    async fn restore_one(&self, handle: Arc<Handle>) {
        let dir = self.paths.container_dir(&handle.id);
        let mut rec = handle.lock().await;
        if rec.state.status == ContainerStatus::Removing {
            let (id, name, cgroup) = (rec.id.clone(), rec.name.clone(), rec.cgroup_rel());
            drop(rec);
            let _ = self.purge(&id, &name, &cgroup);
            if let Ok(mut map) = self.containers.lock() {
                map.remove(&id);
            }
            return;
        }
        // Followers of the old daemon are gone: their holds would keep every rotated file.
        crate::runtime::log_rotate::clear_holds(&dir.join("container.log"));
        // A monitor that recorded pids may be running even if the daemon died before it could
        // record the start.
        if let Ok(pids) = launch::read_pids(&dir.join("pids.json")) {
            if pidfd::is_alive_with(pids.monitor, &rec.id) {
                // A paused container stays paused: its cgroup is still frozen.
                if rec.state.status != ContainerStatus::Paused {
                    rec.state.status = ContainerStatus::Running;
                }
                rec.state.pid = pids.container;
                rec.state.monitor_pid = pids.monitor;
                let _ = handle.publish(&rec, &self.records, false);
                let health = rec.config.healthcheck.clone();
                drop(rec);
                self.watch_health(handle.clone(), health);
                self.watch_exit(handle, pids);
                return;
            }
        }
        let was_running = matches!(
            rec.state.status,
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
        );
        if was_running {
            let exit = launch::read_exit(&dir.join("exit.json")).unwrap_or_else(ExitRecord::lost);
            self.record_exit(&mut rec, &exit);
            self.detach_events(&rec);
            self.network_down(&rec.id).await;
            // A killed monitor could not clean up after its container.
            for point in self.paths.rootfs_mount_points(&rec.id) {
                let _ = nix::mount::umount2(&point, nix::mount::MntFlags::MNT_DETACH);
            }
            let _ = std::fs::remove_dir_all(self.paths.runtime_root().join(&rec.id));
        }
        let _ = handle.publish(&rec, &self.records, false);
        if rec.state.status != ContainerStatus::Exited {
            return;
        }
        let restart = match rec.host.restart_policy {
            RestartPolicy::Always => true,
            RestartPolicy::UnlessStopped => !rec.state.manually_stopped,
            RestartPolicy::OnFailure => was_running && super::start::should_restart(&rec),
            RestartPolicy::No => false,
        };
        if restart {
            rec.state.manually_stopped = false;
            if let Err(e) = self.launch_locked(&handle, &mut rec).await {
                tracing::warn!(container = %rec.id, error = %e, "restart at daemon start failed");
            }
        } else if rec.host.auto_remove && was_running {
            drop(rec);
            let _ = self.remove_container_with(&handle.id, true, true).await;
        }
    }

    /// Container, rootfs and runtime directories whose container has no record.
    fn sweep_orphans(&self, known: &std::collections::HashSet<String>) {
        let rootfs_root = self.paths.data_root.join("rootfs");
        for root in [
            self.paths.data_root.join("containers"),
            rootfs_root.clone(),
            self.paths.runtime_root(),
        ] {
            let Ok(entries) = std::fs::read_dir(&root) else {
                continue;
            };
            for e in entries.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                if !known.contains(&id) {
                    tracing::info!(container = %id, "removing leftovers of an unrecorded container");
                    for point in self.paths.rootfs_mount_points(&id) {
                        let _ = nix::mount::umount2(&point, nix::mount::MntFlags::MNT_DETACH);
                    }
                    // A mount point only when empty: were the unmount to have failed, a
                    // recursive removal would delete the container's files through it.
                    let _ = if root == rootfs_root {
                        std::fs::remove_dir(e.path())
                    } else {
                        std::fs::remove_dir_all(e.path())
                    };
                    // An unrecorded container's cgroup parent is unknown: the daemon's.
                    let parent = match self.host.default_cgroup_parent {
                        "" => "berth",
                        own => own,
                    };
                    self.remove_cgroups(&std::path::Path::new(parent).join(&id));
                }
            }
        }
    }
}
