//! `start`: write the runtime spec, launch a monitor, record the pids; and what happens when the
//! container ends: record the exit, then restart it or remove it as its policy says.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};

use super::handle::Handle;
use super::spec::{self, SpecPaths};
use super::types::{ContainerRecord, ContainerStatus, RestartPolicy};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::runtime::{cgroups, launch, pidfd, ExitRecord, MonitorConfig, MonitorPids};

/// Docker's restart back-off: starts at 100 ms, doubles, at most a minute, reset after 10 s of running.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(10);

/// Whether `start` did anything (Docker answers 304 when the container already runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    Started,
    AlreadyRunning,
}

impl Engine {
    /// Starts a created or exited container.
    pub async fn start_container(&self, key: &str) -> Result<StartOutcome> {
        let handle = self.lookup(key)?;
        let mut rec = handle.lock().await;
        if rec.state.status.is_running() {
            return Ok(StartOutcome::AlreadyRunning);
        }
        if !rec.state.status.can_start() && rec.state.status != ContainerStatus::Restarting {
            return Err(EngineError::Conflict(format!(
                "cannot start container {}: it is {}",
                rec.id,
                rec.state.status.as_str()
            )));
        }
        rec.state.manually_stopped = false;
        if let Err(e) = self.launch_locked(&handle, &mut rec).await {
            // Docker removes an auto-remove container whose start failed; `wait removed` ends.
            if rec.host.auto_remove {
                drop(rec);
                let _ = self.remove_container_with(&handle.id, true, true).await;
            }
            return Err(e);
        }
        Ok(StartOutcome::Started)
    }

    /// Launches the monitor for `rec` (whose lock the caller holds) and watches for its exit.
    pub(crate) async fn launch_locked(
        &self,
        handle: &Arc<Handle>,
        rec: &mut ContainerRecord,
    ) -> Result<()> {
        // First thing: the longer before libcontainer's cgroup write, the more of the lock's
        // grace period is hidden (`cgroup_primer`); dropped when this returns, by when the
        // container's cgroups are joined.
        let _primer = self.primer.lease();
        // A `cp` of the stopped container may have its overlay mounted: wait until it is gone.
        let _mount = handle.mount_lock().await;
        let dir = self.paths.container_dir(&rec.id);
        // Docker's logger takes its name and tag at start, before anything is made.
        let log_attrs = match &rec.host.runtime.log {
            Some(l) => super::log_attrs::attrs(&l.opts, rec)?,
            None => Default::default(),
        };
        crate::engine::volume::tmpfs_options::check(&rec.host.mounts)
            .map_err(EngineError::Runtime)?;
        let image = self.images.resolve(&rec.config.image_id)?;
        let layers = self.images.layer_dirs(&image)?;
        let rootfs = self.paths.rootfs_dir(&rec.id);
        let (shared, files_from) = self.shared_namespaces(rec).await?;
        // A container in another's network namespace shares its name files, as in Docker.
        let files_dir = files_from.map_or_else(|| dir.clone(), |id| self.paths.container_dir(&id));
        let (hostname, hosts, resolv) = (
            files_dir.join("hostname"),
            files_dir.join("hosts"),
            files_dir.join("resolv.conf"),
        );
        let init = self.paths.init_binary();
        let volumes = self.volumes_root();
        // Held until the start is done: the container has its own copy of each by then.
        let (_subpath_mounts, subpaths) = self.subpath_mounts(rec)?;
        let paths = SpecPaths {
            shared: &shared,
            volumes: &volumes,
            rootfs: &rootfs,
            hostname_file: &hostname,
            hosts_file: &hosts,
            resolv_file: &resolv,
            init: &init,
            subpaths: &subpaths,
        };
        let links = self.link_files(rec)?;
        // A bind whose propagation only the daemon-root rule chose may start private instead:
        // the spec and the monitor get the record with that change.
        let fallen_back = crate::engine::volume::mounts::propagation_at_start(&rec.host.mounts)
            .map_err(EngineError::Internal)?
            .map(|mounts| {
                let mut changed = rec.clone();
                changed.host.mounts = mounts;
                changed
            });
        let as_started: &ContainerRecord = fallen_back.as_ref().unwrap_or(rec);
        let mut runtime_spec = spec::build(as_started, &paths, self.host)?;
        let spec = &mut runtime_spec.spec;
        if !links.env.is_empty() {
            if let Some(p) = spec.process_mut().as_mut() {
                let env = p.env().clone().unwrap_or_default();
                p.set_env(Some(super::links::with_link_env(&env, &links.env)));
            }
        }
        // A worker's copy of a swarm network goes once nothing of its uses it, and a created
        // container does not count: fetch it again, as Docker attaches at start.
        let is_task = rec
            .config
            .labels
            .contains_key(berth_swarm::model::LABEL_TASK_ID);
        // Held until the endpoints are recorded, when this returns.
        let _holds = self.bring_swarm_networks(&rec.host, is_task).await?;
        let netns = match shared.net {
            None => self.netns_for(rec)?,
            Some(_) => None,
        };
        if shared.net.is_none() {
            crate::network::engine_ops::join_netns(spec, netns.as_deref());
        }
        let spec_bytes = runtime_spec.into_json()?;
        crate::runtime::files::write_replace(&dir.join("bundle/config.json"), &spec_bytes)
            .map_err(|e| EngineError::io("write runtime spec", e))?;
        let cfg = MonitorConfig {
            id: rec.id.clone(),
            bundle: dir.join("bundle"),
            rootfs: rootfs.clone(),
            runtime_root: self.paths.runtime_root(),
            lower_dirs: layers,
            upper_dir: dir.join("upper"),
            work_dir: dir.join("work"),
            log_path: dir.join("container.log"),
            log_rotation: rec
                .host
                .runtime
                .log
                .as_ref()
                .map(|l| l.rotation)
                .unwrap_or_default(),
            log_attrs,
            exit_path: dir.join("exit.json"),
            pids_path: dir.join("pids.json"),
            oom_cgroup_dirs: cgroups::container_dirs(&self.paths.cgroups.memory, &rec.cgroup_rel()),
            cgroup_dirs: cgroups::container_dirs(&self.paths.cgroups.all, &rec.cgroup_rel()),
            oom_kill_disable: rec.host.runtime.oom_kill_disable,
            cgroups_read_only: !rec.host.privileged,
            bind_propagation: crate::engine::volume::mounts::bind_propagation(
                &as_started.host.mounts,
            ),
            tty: rec.config.tty,
            console_socket: self.paths.console_socket(&rec.id),
            console_size: rec.host.console_size,
            open_stdin: rec.config.open_stdin,
            stdin_once: rec.config.stdin_once,
            control_socket: self.paths.control_socket(&rec.id),
            berth_dirs: self.paths.berth_dirs(),
            mount_template_fd: self.mount_template.as_ref().map(AsRawFd::as_raw_fd),
            seccomp_cache: self.paths.seccomp_cache(),
        };
        for stale in [&cfg.exit_path, &cfg.pids_path] {
            let _ = std::fs::remove_file(stale);
        }
        // A leftover libcontainer state dir (daemon killed mid-start) would make create fail.
        let _ = std::fs::remove_dir_all(cfg.runtime_root.join(&rec.id));
        cgroups::create_dirs(&cgroups::container_dirs(
            &self.paths.cgroups.joined,
            &rec.cgroup_rel(),
        ))
        .map_err(|e| EngineError::io("create the container's cgroups", e))?;
        // The runtime joins the namespace during create; its endpoints are set up meanwhile.
        let pending = async {
            if netns.is_some() {
                self.network.create_netns(&rec.id)?;
            }
            self.launcher.spawn(&dir, &cfg).await
        };
        let pending = match pending.await {
            Ok(p) => p,
            Err(e) => {
                self.network_down(&rec.id).await;
                self.remove_cgroups(&rec.cgroup_rel());
                return Err(e);
            }
        };
        if let Err(e) = self.network_up(rec, &links.hosts).await {
            pending.cancel().await;
            self.network_down(&rec.id).await;
            self.remove_cgroups(&rec.cgroup_rel());
            return Err(e);
        }
        let pids = match pending.go().await {
            Ok(p) => p,
            Err(e) => {
                self.network_down(&rec.id).await;
                self.remove_cgroups(&rec.cgroup_rel());
                let (e, code) =
                    classify_start_error(e, rec.args().first().map(String::as_str).unwrap_or(""));
                rec.state.error = e.to_string();
                rec.state.exit_code = code;
                let _ = handle.publish(rec, &self.records, false);
                return Err(e);
            }
        };
        rec.state.status = ContainerStatus::Running;
        rec.state.pid = pids.container;
        rec.state.monitor_pid = pids.monitor;
        rec.state.exit_code = 0;
        rec.state.oom_killed = false;
        rec.state.error.clear();
        rec.state.health = None;
        rec.state.started_at = Some(Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true));
        handle.publish(rec, &self.records, false)?;
        self.attach_events(rec);
        self.container_event(rec, "start", &[]);
        self.watch_exit(handle.clone(), pids);
        self.watch_health(handle.clone(), rec.config.healthcheck.clone());
        Ok(())
    }

    /// Mounts each volume subpath of `rec` for its start (`volume::subpath`).
    fn subpath_mounts(
        &self,
        rec: &ContainerRecord,
    ) -> Result<(
        crate::engine::volume::subpath::SubpathMounts,
        Vec<(String, std::path::PathBuf)>,
    )> {
        let wanted: Vec<(String, std::path::PathBuf, String)> = rec
            .host
            .mounts
            .iter()
            .filter(|m| !m.subpath.is_empty())
            .map(|m| {
                (
                    m.target.clone(),
                    self.volume_mountpoint(&m.source),
                    m.subpath.clone(),
                )
            })
            .collect();
        crate::engine::volume::subpath::SubpathMounts::make(
            &self.paths.container_dir(&rec.id).join("subpaths"),
            &wanted,
        )
    }

    /// Spawns the task that waits for the monitor to end and handles the exit.
    pub(crate) fn watch_exit(&self, handle: Arc<Handle>, pids: MonitorPids) {
        let Some(engine) = self.me() else { return };
        tokio::spawn(async move {
            if let Ok(fd) = pidfd::open(pids.monitor) {
                if let Err(e) = pidfd::exited(fd).await {
                    tracing::warn!(container = %handle.id, error = %e, "watching monitor failed");
                }
            }
            engine.on_exit(handle, pids).await;
        });
    }

    /// Records an exit and applies the restart policy or auto-remove.
    pub(crate) async fn on_exit(self: Arc<Self>, handle: Arc<Handle>, pids: MonitorPids) {
        let exit_path = self.paths.container_dir(&handle.id).join("exit.json");
        let exit = launch::read_exit(&exit_path).unwrap_or_else(ExitRecord::lost);
        let mut rec = handle.lock().await;
        if rec.state.monitor_pid != pids.monitor || !rec.state.status.is_running() {
            return; // an older run, already handled
        }
        self.record_exit(&mut rec, &exit);
        self.detach_events(&rec);
        self.network_down(&rec.id).await;
        let restart = should_restart(&rec);
        if restart {
            rec.state.status = ContainerStatus::Restarting;
        }
        if let Err(e) = handle.publish(&rec, &self.records, true) {
            tracing::error!(container = %rec.id, error = %e, "recording exit failed");
        }
        let auto_remove = rec.host.auto_remove && !restart;
        let delay = if restart {
            backoff(&rec)
        } else {
            Duration::ZERO
        };
        drop(rec);
        if restart {
            tokio::spawn(self.clone().restart_after(handle, delay));
        } else if auto_remove {
            self.wait_for_log_followers(&handle.id).await;
            if let Err(e) = self.remove_container_with(&handle.id, true, true).await {
                tracing::warn!(container = %handle.id, error = %e, "auto-remove failed");
            }
        }
    }

    /// Lets attached clients read what rotation moved aside before `--rm` deletes it: they
    /// hold the log until they have read to its end (at most a few seconds).
    async fn wait_for_log_followers(&self, id: &str) {
        let log = self.paths.container_dir(id).join("container.log");
        crate::runtime::log_rotate::wait_unheld(&log, Duration::from_secs(10)).await;
    }

    pub(crate) fn record_exit(&self, rec: &mut ContainerRecord, exit: &ExitRecord) {
        rec.state.status = ContainerStatus::Exited;
        rec.state.exit_code = exit.exit_code;
        rec.state.oom_killed = exit.oom_killed;
        rec.state.pid = 0;
        rec.state.finished_at = Some(exit.finished_at.clone());
        self.remove_cgroups(&rec.cgroup_rel());
        if exit.oom_killed {
            self.container_event(rec, "oom", &[]);
        }
        self.container_event(rec, "die", &[("exitCode", exit.exit_code.to_string())]);
    }

    async fn restart_after(self: Arc<Self>, handle: Arc<Handle>, delay: Duration) {
        tokio::time::sleep(delay).await;
        let mut rec = handle.lock().await;
        if rec.state.status != ContainerStatus::Restarting {
            return; // stopped or removed meanwhile
        }
        rec.restart_count += 1;
        if let Err(e) = self.launch_locked(&handle, &mut rec).await {
            tracing::warn!(container = %rec.id, error = %e, "restart failed");
            rec.state.status = ContainerStatus::Exited;
            let _ = handle.publish(&rec, &self.records, false);
        }
    }

    /// Removes the container's cgroup directories (libcontainer usually has; a crash may not).
    pub(crate) fn remove_cgroups(&self, rel: &std::path::Path) {
        // No waiting here (async context): the monitor already waited for the last tasks.
        let _ = cgroups::remove_dirs(
            &cgroups::container_dirs(&self.paths.cgroups.all, rel),
            Duration::ZERO,
        );
    }
}

/// Docker's wording and exit code for a failed start: clients (the docker CLI among them) turn
/// "executable file not found" into exit 127 and "permission denied" into 126.
pub fn classify_start_error(e: EngineError, cmd: &str) -> (EngineError, i64) {
    let msg = e.to_string();
    if msg.contains("not found in $PATH") {
        let m = format!(
            "failed to create task for container: {}",
            command_not_found(cmd)
        );
        return (EngineError::InvalidArgument(m), 127);
    }
    if msg.contains("does not have correct permissions") {
        let m = format!("failed to create task for container: exec: \"{cmd}\": permission denied");
        return (EngineError::InvalidArgument(m), 126);
    }
    (e, 128)
}

/// runc's words for a command that is not there: Go's `exec.LookPath` searches `$PATH` only
/// for a name without a slash, and stats a path (libcontainer said "not found in $PATH" of
/// `/nosuch` too).
pub(crate) fn command_not_found(cmd: &str) -> String {
    if cmd.contains('/') {
        format!("exec: \"{cmd}\": stat {cmd}: no such file or directory")
    } else {
        format!("exec: \"{cmd}\": executable file not found in $PATH")
    }
}

/// Whether the policy restarts a container that just exited.
pub fn should_restart(rec: &ContainerRecord) -> bool {
    if rec.state.manually_stopped {
        return false;
    }
    match rec.host.restart_policy {
        RestartPolicy::No => false,
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        RestartPolicy::OnFailure => {
            rec.state.exit_code != 0
                && (rec.host.restart_max <= 0 || rec.restart_count < rec.host.restart_max)
        }
    }
}

/// The delay before the next restart.
pub fn backoff(rec: &ContainerRecord) -> Duration {
    let ran = match (&rec.state.started_at, &rec.state.finished_at) {
        (Some(s), Some(f)) => chrono::DateTime::parse_from_rfc3339(f)
            .ok()
            .zip(chrono::DateTime::parse_from_rfc3339(s).ok())
            .and_then(|(f, s)| (f - s).to_std().ok())
            .unwrap_or_default(),
        _ => Duration::ZERO,
    };
    if ran >= BACKOFF_RESET_AFTER {
        return BACKOFF_START;
    }
    let exp = u32::try_from(rec.restart_count.clamp(0, 20)).unwrap_or(20);
    BACKOFF_START
        .saturating_mul(2u32.saturating_pow(exp))
        .min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(policy: RestartPolicy, max: i64, code: i64, count: i64) -> ContainerRecord {
        let mut r = ContainerRecord::default();
        r.host.restart_policy = policy;
        r.host.restart_max = max;
        r.state.exit_code = code;
        r.restart_count = count;
        r
    }

    #[test]
    fn on_failure_restarts_only_failures_up_to_the_maximum() {
        assert!(should_restart(&exited(RestartPolicy::OnFailure, 2, 1, 0)));
        assert!(should_restart(&exited(RestartPolicy::OnFailure, 2, 1, 1)));
        assert!(!should_restart(&exited(RestartPolicy::OnFailure, 2, 1, 2)));
        assert!(!should_restart(&exited(RestartPolicy::OnFailure, 2, 0, 0)));
        assert!(should_restart(&exited(RestartPolicy::OnFailure, 0, 1, 50)));
    }

    #[test]
    fn manual_stop_prevents_restart_and_no_never_restarts() {
        let mut r = exited(RestartPolicy::Always, 0, 0, 0);
        assert!(should_restart(&r));
        r.state.manually_stopped = true;
        assert!(!should_restart(&r));
        assert!(!should_restart(&exited(RestartPolicy::No, 0, 1, 0)));
    }

    #[test]
    fn missing_executables_read_like_docker_and_exit_127() {
        let e =
            EngineError::Runtime("create container: executable 'nope' not found in $PATH".into());
        let (e, code) = classify_start_error(e, "nope");
        assert_eq!(code, 127);
        assert!(e
            .to_string()
            .contains("exec: \"nope\": executable file not found in $PATH"));
        assert_eq!(e.kind(), crate::error::ErrorKind::InvalidArgument);
        // A path is not looked up in $PATH: runc's stat fails (the CLI's 127 either way).
        let e =
            EngineError::Runtime("create container: executable '/nope' not found in $PATH".into());
        let (e, code) = classify_start_error(e, "/nope");
        assert_eq!(code, 127);
        assert!(
            e.to_string()
                .ends_with("exec: \"/nope\": stat /nope: no such file or directory"),
            "{e}"
        );
    }

    #[test]
    fn backoff_doubles_and_caps_at_a_minute() {
        assert_eq!(
            backoff(&exited(RestartPolicy::Always, 0, 0, 0)),
            Duration::from_millis(100)
        );
        assert_eq!(
            backoff(&exited(RestartPolicy::Always, 0, 0, 3)),
            Duration::from_millis(800)
        );
        assert_eq!(
            backoff(&exited(RestartPolicy::Always, 0, 0, 19)),
            Duration::from_secs(60)
        );
    }
}
