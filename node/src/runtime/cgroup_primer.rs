//! Hides the RCU grace period of the first cgroup migration of a container start.
//!
//! Every write to a `cgroup.procs` file takes the kernel's global `cgroup_threadgroup_rwsem`
//! for writing. Unless the hierarchy is mounted with `favordynmods`, that lock lives in a
//! reader-biased mode and the first writer waits one RCU grace period (~10 ms here) to switch
//! it; the switch back waits for another grace period without writers. libcontainer's
//! intermediate process writes its pid into the container's cgroups ~15 ms into a start, so
//! that wait sat on the path of every `run`.
//!
//! While a start or an exec is under way, and for a second after the last one, a thread of
//! berthd "moves" berthd into the cgroup it is already in, every few ms: a no-op migration that
//! takes the same lock, pays the grace period beside the rest of the start, and keeps the lock
//! in its writer-ready mode until libcontainer's write comes. The start takes its lease first
//! thing (and a create, almost always followed by its start, kicks it), because since the
//! network is set up while the monitor creates the container, libcontainer's write comes
//! ~5 ms into a start, before a grace period (6-16 ms here) has passed. The second of linger
//! is for starts that follow each other (`compose up`, a script's `docker run`s, a swarm
//! node's tasks): they never wait for the lock. The lock is global (every hierarchy, v1 and
//! v2), so any one of berthd's own `cgroup.procs` files does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the no-op migration repeats: well under one grace period.
const EVERY: Duration = Duration::from_millis(3);
/// How long priming goes on after the last lease ends.
const LINGER: Duration = Duration::from_secs(1);

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

/// The daemon's primer: one thread at most, running while leases are held and for `LINGER`
/// after. Cheap to clone.
#[derive(Clone, Default)]
pub struct Primer {
    shared: Option<Arc<Shared>>,
}

struct Shared {
    procs: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    leases: usize,
    /// When the last lease ended, or the primer was kicked.
    idle_since: Option<Instant>,
    running: bool,
    /// Threads started so far (each runs until it lingered out).
    threads: usize,
}

/// Keeps the primer going while held.
#[must_use = "priming stops (after the linger) once the lease is dropped"]
pub struct Lease {
    shared: Option<Arc<Shared>>,
}

impl Primer {
    /// A primer writing to `procs` (berthd's own `cgroup.procs`); `None` primes nothing.
    pub fn new(procs: Option<PathBuf>) -> Self {
        Primer {
            shared: procs.map(|procs| {
                Arc::new(Shared {
                    procs,
                    state: Mutex::new(State::default()),
                })
            }),
        }
    }

    /// Primes until the lease is dropped, and `LINGER` after.
    pub fn lease(&self) -> Lease {
        self.take(true);
        Lease {
            shared: self.shared.clone(),
        }
    }

    /// Primes for `LINGER`: something that needs a migration is likely to follow.
    pub fn kick(&self) {
        self.take(false);
    }

    fn take(&self, lease: bool) {
        let Some(shared) = &self.shared else { return };
        let Ok(mut st) = shared.state.lock() else {
            return;
        };
        if lease {
            st.leases += 1;
        }
        st.idle_since = Some(Instant::now());
        if st.running {
            return;
        }
        let worker = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("cgroup-primer".into())
            .spawn(move || worker.run());
        match spawned {
            Ok(_) => {
                st.running = true;
                st.threads += 1;
            }
            Err(e) => tracing::debug!(error = %e, "cgroup primer not started"),
        }
    }

    #[cfg(test)]
    fn threads_started(&self) -> usize {
        self.shared
            .as_ref()
            .and_then(|s| s.state.lock().ok().map(|st| st.threads))
            .unwrap_or(0)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(Ok(mut st)) = self.shared.as_ref().map(|s| s.state.lock()) {
            st.leases = st.leases.saturating_sub(1);
            st.idle_since = Some(Instant::now());
        }
    }
}

impl Shared {
    fn run(&self) {
        let pid = std::process::id().to_string();
        loop {
            // Errors change nothing: the lock is taken before the kernel checks the move.
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&self.procs) {
                let _ = f.write_all(pid.as_bytes());
            }
            std::thread::sleep(EVERY);
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            let lingered = st.idle_since.is_none_or(|t| t.elapsed() >= LINGER);
            if st.leases == 0 && lingered {
                st.running = false;
                return;
            }
        }
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

    /// Waits (a minute at most) for `cond`.
    fn until(cond: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !cond() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    #[test]
    fn a_lease_primes_one_thread_that_lingers_then_stops() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cgroup.procs");
        std::fs::write(&file, "").unwrap();
        let primer = Primer::new(Some(file.clone()));
        let pid = std::process::id().to_string();
        let first = primer.lease();
        assert!(until(|| std::fs::read_to_string(&file).unwrap() == pid));
        // Starts that overlap or follow each other share the one thread.
        let second = primer.lease();
        drop(first);
        drop(second);
        primer.kick();
        let third = primer.lease();
        drop(third);
        assert_eq!(primer.threads_started(), 1);
        // Once the linger is over the writes stop, and a later lease starts a thread again.
        assert!(until(|| primer
            .shared
            .as_ref()
            .is_some_and(|s| s.state.lock().is_ok_and(|st| !st.running))));
        std::fs::write(&file, "").unwrap();
        std::thread::sleep(EVERY * 10);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "", "still writing");
        let again = primer.lease();
        assert!(until(|| std::fs::read_to_string(&file).unwrap() == pid));
        drop(again);
        assert_eq!(primer.threads_started(), 2);
    }

    #[test]
    fn without_a_file_nothing_runs() {
        let primer = Primer::new(None);
        drop(primer.lease());
        primer.kick();
        assert_eq!(primer.threads_started(), 0);
    }
}
