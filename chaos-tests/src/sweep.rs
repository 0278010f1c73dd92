//! Tearing a cluster down from what is on disk and in the kernel: used by `Cluster`'s own
//! cleanup and by `sweep_leftovers` for the clusters of killed runs. A cluster whose owner
//! still holds its lock is never touched.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cleanup;
use crate::error::ClusterError;
use crate::lock::OwnerLock;
use crate::names::{self, Names, NETNS_DIR};
use crate::net;

/// How long killed processes get to disappear and cgroups to empty.
const PATIENCE: Duration = Duration::from_secs(10);

/// The named network namespaces whose names carry `prefix`.
pub fn netns_of(prefix: &str) -> Vec<String> {
    list_names(Path::new(NETNS_DIR))
        .into_iter()
        .filter(|n| n.strip_prefix(prefix).is_some_and(|r| r.starts_with('-')))
        .collect()
}

fn list_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Removes everything of the cluster `names` whose directory is `root`: processes of its
/// nodes (berthd and berth-monitor naming the root, monitors whose parent is in `parents`),
/// container processes and cgroups recorded under the nodes' data roots and the nodes' cgroup
/// parents (`Names::cgroup_parent`) with what runs in them, mounts under the
/// root, its namespaces (which takes the bridge and veths along) and the root itself.
/// Returns what could not be removed. The owner's lock is left to the caller.
pub fn remove_cluster(names: &Names, root: &Path, parents: &[i32]) -> Vec<String> {
    let mut left = Vec::new();
    let needle = cleanup::dir_needle(root);
    let procs = cleanup::processes();
    cleanup::kill_matching(
        &procs,
        |p| match p.program() {
            "berth-monitor" => parents.contains(&p.ppid) || p.mentions(&needle),
            "berthd" => p.mentions(&needle),
            _ => false,
        },
        PATIENCE,
    );
    for node in list_names(root).into_iter().filter(|n| n.starts_with('n')) {
        let data = root.join(node).join("data");
        for d in cleanup::remove_container_cgroups(&data, PATIENCE) {
            left.push(format!("cgroup {}", d.display()));
        }
    }
    for cgroup in cleanup::top_cgroup_names() {
        // The nodes' cgroup parents (`Names::cgroup_parent`).
        if cgroup.starts_with(&format!("{}-n", names.prefix())) {
            for d in cleanup::remove_cgroup_parent(&cgroup, PATIENCE) {
                left.push(format!("cgroup {}", d.display()));
            }
        }
    }
    cleanup::remove_empty_berth_parents();
    for m in cleanup::unmount_under(root) {
        left.push(format!("mount {}", m.display()));
    }
    for ns in netns_of(names.prefix()) {
        if let Err(e) = net::remove_netns(&ns) {
            left.push(format!("netns {ns}: {e}"));
        }
    }
    if let Err(e) = std::fs::remove_dir_all(root) {
        if e.kind() != std::io::ErrorKind::NotFound {
            left.push(format!("directory {}: {e}", root.display()));
        }
    }
    left
}

/// Removes the leftovers of every dead cluster whose prefix starts with `head` (see
/// `names::PREFIX_HEAD`): a cluster is dead when nobody holds its lock. Returns the prefixes
/// swept; `Err` lists what would not go.
pub fn sweep(head: &str) -> Result<Vec<String>, ClusterError> {
    let base = names::base_dir();
    let mut prefixes: Vec<String> = list_names(Path::new(NETNS_DIR))
        .iter()
        .chain(list_names(&base).iter())
        .chain(cleanup::top_cgroup_names().iter())
        .filter_map(|n| names::prefix_of(n, head).map(str::to_string))
        .collect();
    prefixes.sort();
    prefixes.dedup();
    let mut swept = Vec::new();
    let mut left = Vec::new();
    for prefix in prefixes {
        let names = Names::new(&prefix);
        let lock_path = names.lock(&base);
        // No lock file: the owner never got as far as creating anything, or is gone.
        let lock = match lock_path.exists() {
            true => match OwnerLock::claim(&lock_path) {
                Some(l) => Some(l),
                None => continue,
            },
            false => None,
        };
        let root: PathBuf = names.root(&base);
        left.extend(remove_cluster(&names, &root, &[]));
        if let Some(l) = lock {
            l.release();
        }
        swept.push(prefix);
    }
    if left.is_empty() {
        Ok(swept)
    } else {
        Err(ClusterError::Cleanup {
            prefix: head.to_string(),
            left,
        })
    }
}

/// What still carries `prefix`: named namespaces, links of the host's namespace, processes
/// whose command line names it, mounts, top-level cgroups (the nodes' cgroup parents) and
/// entries of the harness's base directory.
pub fn leftovers(prefix: &str) -> Vec<String> {
    let mut found: Vec<String> = netns_of(prefix)
        .into_iter()
        .map(|n| format!("netns {n}"))
        .collect();
    match net::host_link_names() {
        Ok(links) => found.extend(
            links
                .into_iter()
                .filter(|l| l.starts_with(prefix))
                .map(|l| format!("host link {l}")),
        ),
        Err(e) => found.push(format!("host links unreadable: {e}")),
    }
    found.extend(
        cleanup::processes()
            .into_iter()
            .filter(|p| p.mentions(prefix))
            .map(|p| format!("process {} {}", p.pid, p.argv.join(" "))),
    );
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    found.extend(
        table
            .lines()
            .filter(|l| l.contains(prefix))
            .map(|l| format!("mount {l}")),
    );
    found.extend(
        cleanup::top_cgroup_names()
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .map(|n| format!("cgroup {n}")),
    );
    found.extend(
        list_names(&names::base_dir())
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .map(|n| format!("file {n}")),
    );
    found
}
