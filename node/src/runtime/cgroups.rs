//! Where a container's cgroups live and how they go away. libcontainer creates them under
//! `/berth/<id>` in every hierarchy; removing them is a few rmdirs, much cheaper than
//! libcontainer's generic delete (which re-reads the mount table for every controller).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The cgroup hierarchies of this host, read from /proc/self/mountinfo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hierarchies {
    /// Every cgroup (v1) and cgroup2 mount point.
    pub all: Vec<PathBuf>,
    /// Where OOM kills are counted: the v1 memory hierarchy, or the v2 root (not hybrid's `unified`).
    pub memory: Vec<PathBuf>,
    /// The hierarchies libcontainer puts a container in: the v1 controller hierarchies, or the
    /// cgroup2 mount when there are none (a hybrid host's `unified` and named hierarchies such
    /// as `name=systemd` are left alone).
    pub joined: Vec<PathBuf>,
    /// berthd's own `cgroup.procs`, for `cgroup_primer` (`None`: no priming).
    pub own_procs: Option<PathBuf>,
}

/// One cgroup or cgroup2 mount of a mountinfo table.
pub struct CgroupMount<'a> {
    /// The path inside the hierarchy that is mounted (not `/` in a cgroup namespace).
    pub root: &'a str,
    pub mount_point: &'a str,
    pub v2: bool,
    /// The super options: the controllers of a v1 hierarchy, or `name=…`.
    pub opts: &'a str,
}

/// The cgroup and cgroup2 mounts of a mountinfo table.
pub fn cgroup_mounts(mountinfo: &str) -> impl Iterator<Item = CgroupMount<'_>> {
    mountinfo.lines().filter_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut l = left.split_whitespace();
        let (root, mount_point) = (l.nth(3)?, l.next()?);
        let mut r = right.split_whitespace();
        let v2 = match r.next()? {
            "cgroup" => false,
            "cgroup2" => true,
            _ => return None,
        };
        let opts = r.nth(1).unwrap_or("");
        Some(CgroupMount {
            root,
            mount_point,
            v2,
            opts,
        })
    })
}

/// Parses a mountinfo table.
pub fn hierarchies(mountinfo: &str) -> Hierarchies {
    let mut h = Hierarchies::default();
    let mut v2 = Vec::new();
    for m in cgroup_mounts(mountinfo) {
        let mount_point = PathBuf::from(m.mount_point);
        let is_v1_mem = !m.v2 && m.opts.split(',').any(|o| o == "memory");
        let is_v2_root = m.v2 && !mount_point.ends_with("unified");
        if is_v1_mem || is_v2_root {
            h.memory.push(mount_point.clone());
        }
        if m.v2 {
            v2.push(mount_point.clone());
        } else if !m.opts.split(',').any(|o| o.starts_with("name=")) {
            h.joined.push(mount_point.clone());
        }
        h.all.push(mount_point);
    }
    if h.joined.is_empty() {
        h.joined = v2;
    }
    h
}

/// The directories of a container's cgroup `rel` (`berth/<id>`, or under its cgroup parent;
/// `ContainerRecord::cgroup_rel`) in `mounts`.
pub fn container_dirs(mounts: &[PathBuf], rel: &Path) -> Vec<PathBuf> {
    mounts.iter().map(|m| m.join(rel)).collect()
}

/// Creates a container's cgroup directories (and the `berth` parents) in the hierarchies it
/// joins (`Hierarchies::joined`) before libcontainer does. A parent holding a child cannot be
/// removed, so someone pruning empty `berth` parents (as an admin might, or another berthd's
/// clean-up) can no longer make the start fail between libcontainer's creation of the parent
/// and of the child. A parent removed between our own two steps is retried.
pub fn create_dirs(dirs: &[PathBuf]) -> std::io::Result<()> {
    for dir in dirs {
        if let Some(parent) = dir.parent() {
            inherit_cpusets(parent);
        }
        let mut tries = 0;
        loop {
            match std::fs::create_dir_all(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 3 => tries += 1,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// cgroup v1 cpuset: a new cgroup starts with no CPUs and no memory nodes, and libcontainer
/// copies its parent's into it. The kernel checks that write against every sibling and then
/// rebuilds the scheduler's domains, walking every cpuset: ~0.5 ms of CPU per start with 1,000
/// containers, growing with each. With `cgroup.clone_children` on the parent, the kernel copies
/// them as it creates the child and libcontainer finds nothing to write. Only a parent that has
/// CPUs and memory nodes to give (libcontainer fills an empty one on the first start); the
/// setting changes nothing else, and a parent of another hierarchy has no `cpuset.cpus`.
fn inherit_cpusets(parent: &Path) {
    let read = |file: &str| std::fs::read_to_string(parent.join(file)).ok();
    let filled = |file: &str| read(file).is_some_and(|v| !v.trim().is_empty());
    // In that order: once the flag is set, a start reads two small files here and nothing more.
    if !filled("cpuset.cpus")
        || read("cgroup.clone_children").is_none_or(|v| v.trim() != "0")
        || !filled("cpuset.mems")
    {
        return;
    }
    // Best effort: without it libcontainer writes the values, as before.
    let _ = std::fs::write(parent.join("cgroup.clone_children"), "1");
}

/// Removes the directories that exist, retrying while the kernel still tears down the last
/// tasks (EBUSY) for at most `patience`. Returns the ones that could not be removed.
pub fn remove_dirs(dirs: &[PathBuf], patience: Duration) -> Vec<PathBuf> {
    let deadline = Instant::now() + patience;
    let mut left: Vec<PathBuf> = dirs.iter().filter(|d| d.exists()).cloned().collect();
    loop {
        left.retain(|d| !remove_one(d));
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// True when `dir` is gone.
fn remove_one(dir: &Path) -> bool {
    release_memory(dir);
    match std::fs::remove_dir(dir) {
        Ok(()) => true,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Frees the page cache still charged to a memory cgroup whose tasks are gone (what they read
/// or wrote: image files, a volume's files). Otherwise a removed cgroup lives on unseen
/// ("dying") until memory pressure evicts those pages, and every start walks the dying ones
/// too: after a few thousand containers came and went, 2,252 of them were left and
/// create+start took 35 ms instead of 22. Refused (EBUSY) while a task remains; the caller
/// retries. On v2, kernel memory the group holds cannot be reclaimed: the write then fails
/// after the kernel's retries, harmlessly.
fn release_memory(dir: &Path) {
    // Never created: a hierarchy without these files has nothing to release.
    let write = |file: &str, value: &str| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join(file))
            .and_then(|mut f| std::io::Write::write_all(&mut f, value.as_bytes()))
    };
    // cgroup v1: reclaims everything charged to the group.
    if write("memory.force_empty", "0").is_ok() {
        return;
    }
    // cgroup v2 (Linux 5.19+): asks for as much as is charged.
    if let Ok(current) = std::fs::read_to_string(dir.join("memory.current")) {
        let current = current.trim();
        if current != "0" && !current.is_empty() {
            let _ = write("memory.reclaim", current);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_hosts_count_ooms_in_v1_memory_and_list_every_hierarchy() {
        let mi =
            "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n\
                  31 25 0:27 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw\n\
                  32 25 0:28 / /sys/fs/cgroup/pids rw shared:11 - cgroup cgroup rw,pids\n\
                  33 25 0:29 / /proc rw - proc proc rw\n";
        let h = hierarchies(mi);
        assert_eq!(h.memory, vec![PathBuf::from("/sys/fs/cgroup/memory")]);
        assert_eq!(h.all.len(), 3);
        // libcontainer's v1 manager never puts the container in `unified`.
        assert_eq!(
            h.joined,
            vec![
                PathBuf::from("/sys/fs/cgroup/memory"),
                PathBuf::from("/sys/fs/cgroup/pids")
            ]
        );
    }

    #[test]
    fn named_hierarchies_are_not_joined() {
        let h = hierarchies(
            "29 25 0:25 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n\
             30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n",
        );
        assert_eq!(h.joined, vec![PathBuf::from("/sys/fs/cgroup/cpu")]);
        assert_eq!(h.all.len(), 2);
    }

    #[test]
    fn pure_v2_hosts_use_the_root() {
        let h = hierarchies("30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        assert_eq!(h.memory, vec![PathBuf::from("/sys/fs/cgroup")]);
        assert_eq!(h.joined, vec![PathBuf::from("/sys/fs/cgroup")]);
        assert_eq!(
            container_dirs(&h.all, Path::new("berth/abc")),
            vec![PathBuf::from("/sys/fs/cgroup/berth/abc")]
        );
    }

    #[test]
    fn a_filled_cpuset_parent_hands_its_cpus_to_new_children() {
        let root = tempfile::tempdir().unwrap();
        let (cpuset, memory) = (root.path().join("cpuset"), root.path().join("memory"));
        for (h, files) in [
            (
                &cpuset,
                &[("cpuset.cpus", "0-1\n"), ("cpuset.mems", "0\n")][..],
            ),
            (&memory, &[][..]),
        ] {
            std::fs::create_dir_all(h.join("berth")).unwrap();
            for (f, v) in files {
                std::fs::write(h.join("berth").join(f), v).unwrap();
            }
            std::fs::write(h.join("berth/cgroup.clone_children"), "0\n").unwrap();
        }
        let rel = Path::new("berth/abc");
        create_dirs(&container_dirs(&[cpuset.clone(), memory.clone()], rel)).unwrap();
        let flag = |h: &Path| std::fs::read_to_string(h.join("berth/cgroup.clone_children"));
        assert_eq!(flag(&cpuset).unwrap().trim(), "1");
        assert_eq!(flag(&memory).unwrap().trim(), "0", "not a cpuset hierarchy");
        assert!(cpuset.join(rel).is_dir() && memory.join(rel).is_dir());
        // An empty parent is left for libcontainer to fill first.
        std::fs::write(cpuset.join("berth/cpuset.cpus"), "\n").unwrap();
        std::fs::write(cpuset.join("berth/cgroup.clone_children"), "0\n").unwrap();
        create_dirs(&container_dirs(
            std::slice::from_ref(&cpuset),
            Path::new("berth/def"),
        ))
        .unwrap();
        assert_eq!(flag(&cpuset).unwrap().trim(), "0");
    }

    #[test]
    fn removing_missing_dirs_succeeds_and_real_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("berth/x");
        std::fs::create_dir_all(&d).unwrap();
        let left = remove_dirs(
            &[d.clone(), dir.path().join("nope")],
            Duration::from_millis(10),
        );
        assert!(left.is_empty());
        assert!(!d.exists());
    }
}
