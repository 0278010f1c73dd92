//! Hides the RCU grace period of the first cgroup migration of a container start.
//!
//! Every write to a `cgroup.procs` file takes the kernel's global `cgroup_threadgroup_rwsem`
//! for writing. Unless the hierarchy is mounted with `favordynmods`, that lock lives in a
//! reader-biased mode and the first writer waits one RCU grace period (~10 ms here) to switch
//! it; the switch back waits for another grace period without writers. libcontainer's
//! intermediate process writes its pid into the container's cgroups ~15 ms into a start, so
//! that wait sat on the path of every `run`.
//!
//! While a start is under way, a thread of berthd "moves" berthd into the cgroup it is already
//! in, every few ms: a no-op migration that takes the same lock, pays the grace period while
//! berthd sets up the network and the monitor starts, and keeps the lock in its writer-ready
//! mode until libcontainer's write comes. The lock is global (every hierarchy, v1 and v2), so
//! any one of berthd's own `cgroup.procs` files does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the no-op migration repeats: well under one grace period.
const EVERY: Duration = Duration::from_millis(3);
/// The longest a primer runs if nobody stops it.
const AT_MOST: Duration = Duration::from_millis(500);

/// berthd's own `cgroup.procs` in a hierarchy that is mounted, from `/proc/self/mountinfo` and
/// `/proc/self/cgroup`; the cgroup2 one when there is one.
pub fn own_procs_file(mountinfo: &str, self_cgroup: &str) -> Option<PathBuf> {
    let mut v1: Vec<(Vec<&str>, &str)> = Vec::new();
    let mut v2 = None;
    for line in self_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            v2 = Some(path);
        } else {
            v1.push((ctrls.split(',').collect(), path));
        }
    }
    let mut found_v1 = None;
    for m in super::cgroups::cgroup_mounts(mountinfo) {
        let path = if m.v2 {
            v2
        } else {
            v1.iter()
                .find(|(ctrls, _)| ctrls.iter().all(|c| m.opts.split(',').any(|o| o == *c)))
                .map(|(_, p)| *p)
        };
        let Some(path) = path else { continue };
        let rel = Path::new(path)
            .strip_prefix(m.root)
            .unwrap_or_else(|_| Path::new(""));
        let file = Path::new(m.mount_point).join(rel).join("cgroup.procs");
        if m.v2 {
            return Some(file);
        }
        found_v1.get_or_insert(file);
    }
    found_v1
}

/// Primes migrations until dropped (or `AT_MOST`).
pub struct Primer {
    stop: Arc<AtomicBool>,
}

impl Drop for Primer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts priming through `procs` (berthd's own `cgroup.procs`); `None` primes nothing.
pub fn prime(procs: Option<&Path>) -> Primer {
    let stop = Arc::new(AtomicBool::new(false));
    if let Some(procs) = procs {
        let (procs, flag) = (procs.to_path_buf(), stop.clone());
        let spawned = std::thread::Builder::new()
            .name("cgroup-primer".into())
            .spawn(move || run(&procs, &flag));
        if let Err(e) = spawned {
            tracing::debug!(error = %e, "cgroup primer not started");
        }
    }
    Primer { stop }
}

fn run(procs: &Path, stop: &AtomicBool) {
    let pid = std::process::id().to_string();
    let until = Instant::now() + AT_MOST;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        // Errors change nothing: the lock is taken before the kernel checks the move.
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(procs) {
            let _ = f.write_all(pid.as_bytes());
        }
        std::thread::sleep(EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
29 25 0:25 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
31 25 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";

    #[test]
    fn the_cgroup2_file_is_preferred() {
        let own = "2:cpu,cpuacct:/system.slice/berthd.service\n\
                   1:name=systemd:/system.slice/berthd.service\n\
                   0::/system.slice/berthd.service\n";
        assert_eq!(
            own_procs_file(HYBRID, own),
            Some(PathBuf::from(
                "/sys/fs/cgroup/unified/system.slice/berthd.service/cgroup.procs"
            ))
        );
    }

    #[test]
    fn pure_v1_hosts_use_a_controller_hierarchy_and_mount_roots_are_stripped() {
        let mi = "30 25 0:26 /outer /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let own = "2:cpu,cpuacct:/outer/inner\n";
        assert_eq!(
            own_procs_file(mi, own),
            Some(PathBuf::from(
                "/sys/fs/cgroup/cpu,cpuacct/inner/cgroup.procs"
            ))
        );
    }

    #[test]
    fn no_cgroup_mounts_means_no_file() {
        assert_eq!(
            own_procs_file("33 25 0:29 / /proc rw - proc proc rw\n", "0::/\n"),
            None
        );
    }

    #[test]
    fn a_primer_writes_berthds_pid_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cgroup.procs");
        std::fs::write(&file, "").unwrap();
        let p = prime(Some(&file));
        let pid = std::process::id().to_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&file).unwrap() != pid && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(p);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), pid);
    }
}
