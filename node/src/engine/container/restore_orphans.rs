//! Daemon start, after every record is restored: monitors of this daemon that no record runs
//! with are stopped, with their container. A daemon killed between a monitor's start and the
//! record of it (the monitor writes its pids only once the container runs), or a removal that
//! raced a start, left a container running that nothing names; `rm -f` could not reach it and
//! its veth and cgroups stayed (found by `chaos_engine` after ~100 SIGKILLs of berthd).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::engine::Engine;
use crate::runtime::cgroups;

/// How long the cgroups of a stopped orphan get to empty before they are left to a later start.
const EMPTY_PATIENCE: Duration = Duration::from_millis(500);

/// The `berth-monitor` processes whose config lies under `containers` (this daemon's
/// `<data-root>/containers`): (pid, container id).
pub(crate) fn monitors_under(proc_root: &Path, containers: &Path) -> Vec<(i32, String)> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let mut argv = cmdline.split(|b| *b == 0).map(String::from_utf8_lossy);
        let program = argv.next().unwrap_or_default();
        if !program.ends_with("berth-monitor") {
            continue;
        }
        let Some(config) = argv.next() else {
            continue;
        };
        let id = Path::new(config.as_ref())
            .strip_prefix(containers)
            .ok()
            .and_then(|rest| rest.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        if let Some(id) = id {
            found.push((pid, id));
        }
    }
    found
}

impl Engine {
    /// Stops every monitor of this daemon whose pid no running record holds, and what runs
    /// in its container's cgroup, then removes those cgroups and the container's network.
    pub(crate) async fn stop_unowned_monitors(&self) {
        let (owned, cgroup_of) = self.monitor_owners().await;
        let containers = self.paths.data_root.join("containers");
        for (pid, id) in monitors_under(Path::new("/proc"), &containers) {
            if owned.contains(&pid) {
                continue;
            }
            tracing::warn!(container = %id, monitor = pid, "stopping a monitor no record runs with");
            // The monitor first: it would report the container's exit to nobody.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let rel = cgroup_of.get(&id).cloned().unwrap_or_else(|| {
                let parent = match self.host.default_cgroup_parent {
                    "" => "berth",
                    own => own,
                };
                Path::new(parent).join(&id)
            });
            let dirs = cgroups::container_dirs(&self.paths.cgroups.all, &rel);
            kill_cgroup_procs(&dirs);
            let left =
                tokio::task::spawn_blocking(move || cgroups::remove_dirs(&dirs, EMPTY_PATIENCE))
                    .await
                    .unwrap_or_default();
            if !left.is_empty() {
                tracing::warn!(container = %id, ?left, "cgroups of a stopped orphan still busy");
            }
            if !cgroup_of.contains_key(&id) {
                self.network_down(&id).await;
            }
        }
    }

    /// The monitor pids of running records, and every record's cgroup.
    async fn monitor_owners(&self) -> (HashSet<i32>, HashMap<String, PathBuf>) {
        let handles: Vec<_> = match self.containers.lock() {
            Ok(map) => map.values().cloned().collect(),
            Err(_) => Vec::new(),
        };
        let mut owned = HashSet::new();
        let mut cgroup_of = HashMap::new();
        for handle in handles {
            let rec = handle.lock().await;
            if rec.state.status.is_running() && rec.state.monitor_pid > 0 {
                owned.insert(rec.state.monitor_pid);
            }
            cgroup_of.insert(rec.id.clone(), rec.cgroup_rel());
        }
        (owned, cgroup_of)
    }
}

/// SIGKILLs every process in `dirs` (a container's cgroup in each hierarchy), thawed first.
fn kill_cgroup_procs(dirs: &[PathBuf]) {
    let me = std::process::id();
    for d in dirs {
        let _ = std::fs::write(d.join("freezer.state"), "THAWED");
        let _ = std::fs::write(d.join("cgroup.freeze"), "0");
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        // Never 0 or 1 (a process group, init) nor berthd itself.
        let pids = procs.lines().filter_map(|l| l.trim().parse::<i32>().ok());
        for pid in pids.filter(|p| *p > 1 && u32::try_from(*p).is_ok_and(|p| p != me)) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitors_are_found_by_their_config_under_this_daemons_containers() {
        let proc_root = tempfile::TempDir::new().unwrap();
        let write = |pid: &str, argv: &[&str]| {
            let dir = proc_root.path().join(pid);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("cmdline"), argv.join("\0") + "\0").unwrap();
        };
        write(
            "10",
            &[
                "/usr/bin/berth-monitor",
                "/d/containers/abc/monitor-config.json",
            ],
        );
        write(
            "11",
            &[
                "/usr/bin/berth-monitor",
                "/other/containers/def/monitor-config.json",
            ],
        );
        write(
            "12",
            &["/bin/sleep", "/d/containers/ghi/monitor-config.json"],
        );
        write("self", &["x"]);
        let found = monitors_under(proc_root.path(), Path::new("/d/containers"));
        assert_eq!(found, vec![(10, "abc".to_string())]);
    }
}
