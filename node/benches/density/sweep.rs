//! Clean-up that runs however the bench ends (drop guards, so a panic unwinds through them):
//! every container of this run removed with force, 8 at a time, while its daemon still
//! runs; then any monitor, container process or cgroup that removal left under the bench's
//! work directory (the test daemon's own drop then unmounts and deletes the rest).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use berth_test_support::cleanup;

use crate::target::Target;

/// Workers removing the leftovers: docker 20.10 stopped answering container requests when 32
/// at a time removed a thousand.
const SWEEPERS: usize = 8;

/// Removes the run's containers from one engine when dropped.
pub struct Containers {
    target: Target,
}

impl Containers {
    /// Guards the containers `target` makes in this run.
    pub fn new(target: &Target) -> Self {
        Containers {
            target: target.clone(),
        }
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        let ids = match self.target.ours() {
            Ok(ids) => ids,
            Err(e) => {
                eprintln!(
                    "density: cannot list {}'s containers to remove them: {e}",
                    self.target.name
                );
                return;
            }
        };
        let next = Mutex::new(ids.iter());
        std::thread::scope(|s| {
            for _ in 0..SWEEPERS.min(ids.len()) {
                s.spawn(|| loop {
                    let Some(id) = next.lock().ok().and_then(|mut n| n.next()) else {
                        return;
                    };
                    if let Err(e) = self.target.remove(id, true) {
                        eprintln!("density: {e}");
                    }
                });
            }
        });
        match self.target.ours() {
            Ok(left) if left.is_empty() => {}
            Ok(left) => eprintln!(
                "density: {} containers of {} left",
                left.len(),
                self.target.name
            ),
            Err(e) => eprintln!("density: {e}"),
        }
    }
}

/// What removing the containers through the API may have missed; dropped before the daemon.
pub struct Leftovers {
    root: PathBuf,
}

impl Leftovers {
    /// Guards everything under `root` (the bench's work directory).
    pub fn new(root: &Path) -> Self {
        Leftovers {
            root: root.to_path_buf(),
        }
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        let patience = Duration::from_secs(10);
        let needle = cleanup::dir_needle(&self.root);
        let killed = cleanup::kill_matching(
            &cleanup::processes(),
            |p| p.program() == "berth-monitor" && p.mentions(&needle),
            patience,
        );
        if !killed.is_empty() {
            eprintln!("density: killed {} leftover monitors", killed.len());
        }
        let data = self.root.join("daemon").join("data");
        for d in cleanup::remove_container_cgroups(&data, patience) {
            eprintln!("density: cgroup left: {}", d.display());
        }
    }
}
