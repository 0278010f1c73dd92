//! The monitor's own mount namespace, where libcontainer creates the container. Every start
//! reads the mount table many times (libcontainer's cgroup v1 manager once per controller, the
//! init for rootfs and cgroup mounts), and the host's table grows by two lines per running
//! container (its overlay rootfs with a long option string, its network namespace file), so
//! each start was slower than the one before: 110 ms with none running, 190 ms with 150. The
//! monitor's copy of the table keeps only what this container uses. Dropping the rest also
//! keeps the copy from pinning it: a removed container's network namespace must not live on
//! in another container's monitor.
//!
//! Dropping the rest costs one unmount per berth directory, not one per mount (each unmount
//! waits for an RCU grace period): berthd makes the berth directories (`Paths::berth_dirs`:
//! the containers' files, their rootfs mounts, namespace files, volumes) mount points of their
//! own (`make_mount_points`), and the monitor clones the mounts it needs under them
//! (`open_tree`), detaches the directories in its namespace, and puts the clones back
//! (`move_mount`). Where a directory could not be made a mount point (containers kept running
//! across an upgrade), the monitor detaches the foreign mounts one by one.
//!
//! Even so, `unshare` copies the whole host table first (two mounts per running container),
//! and the copy is torn down again: ~5 ms per start with 1,000 running, under the kernel's
//! global namespace lock that every other start's mounts wait for. So berthd makes, once at
//! start-up, a template namespace with the berth directories already detached
//! (`make_template`), and hands it to each monitor as an inherited descriptor; the monitor
//! enters it and unshares from there, a copy of a table that does not grow with the
//! containers. The template is a snapshot of the host as berthd started; what the container
//! takes from the host outside the berth directories (bind sources) is cloned from the host's
//! namespace at the monitor's start, as it was. A source inside a mount the template lacks (a
//! swarm task's secrets tmpfs) has nowhere to attach: that monitor copies the host's table.
//!
//! The rootfs is mounted in the host's namespace first, so berthd reads and writes it (`cp`,
//! `export`, exec's user lookup) by its path; the monitor goes back to the host's namespace to
//! unmount it at the end.

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use super::mount_api::attach;
use super::syscall_fd::fd_of;

/// The host's mount namespace, kept open to go back to at the end.
static HOST: OnceLock<OwnedFd> = OnceLock::new();

// From <linux/mount.h>.
const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;

/// Makes each of `dirs` a mount point of its own (a private bind of itself) when it is not one
/// yet and nothing is mounted below it (a mount made earlier below it would end up hidden
/// under the bind). Best effort: a directory left as it is only costs monitors more unmounts.
pub fn make_mount_points(dirs: &[PathBuf]) {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let points: Vec<PathBuf> = table
        .lines()
        .filter_map(point_and_type)
        .map(|(p, _)| p)
        .collect();
    for dir in dirs {
        if points.iter().any(|p| p.starts_with(dir)) {
            continue;
        }
        if mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>).is_ok() {
            // Private: containers' overlays mounted below must not spread to other mounts.
            let _ = mount(
                None::<&str>,
                dir,
                None::<&str>,
                MsFlags::MS_PRIVATE,
                None::<&str>,
            );
        }
    }
}

/// A mount namespace like the host's but with nothing under the berth directories `dirs`
/// and no namespace files, for monitors to start from (`enter_private`). Made on a thread of
/// its own that ends right after: `unshare` moves only the calling thread (it also gives it
/// its own root and working directory), and the namespace lives on through the descriptor,
/// which children inherit (no close-on-exec).
pub fn make_template(dirs: &[PathBuf]) -> io::Result<OwnedFd> {
    let dirs = dirs.to_vec();
    let made = std::thread::spawn(move || -> io::Result<OwnedFd> {
        // Private, as the monitors' copies are: nothing mounted or unmounted here reaches the host.
        unshare_private(None)?;
        for dir in &dirs {
            let _ = umount2(dir, MntFlags::MNT_DETACH);
        }
        // This thread's table: /proc/self is the main thread's, still in the host's namespace.
        let table = std::fs::read_to_string("/proc/thread-self/mountinfo")?;
        for point in foreign_mounts(&table, &[], &dirs) {
            let _ = umount2(&point, MntFlags::MNT_DETACH);
        }
        let ns = OwnedFd::from(std::fs::File::open("/proc/thread-self/ns/mnt")?);
        nix::fcntl::fcntl(
            &ns,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )?;
        Ok(ns)
    });
    made.join()
        .map_err(|_| io::Error::other("mount namespace template: thread panicked"))?
}

/// Moves the calling (single-threaded) monitor into a mount namespace of its own holding, of
/// what lies under the berth directories `dirs`, only what the container uses. `bundle` holds
/// the container's `config.json`, `rootfs` is its root. `template` is berthd's template
/// namespace (inherited descriptor), when it made one: the new namespace is a copy of it
/// instead of the host's.
pub fn enter_private(
    bundle: &Path,
    rootfs: &Path,
    dirs: &[PathBuf],
    template: Option<i32>,
) -> io::Result<()> {
    // SAFETY: berthd passed this descriptor number for us alone; nothing else in this process
    // owns it, and it is closed when `template` drops, after use.
    let template = template.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
    let used = used_paths(bundle, rootfs);
    let under_dirs = |u: &PathBuf| dirs.iter().any(|d| u.starts_with(d) && u != d);
    // Taken while still in the host's namespace: the used mounts, to put back after the drop.
    // From the template, what the container uses from elsewhere on the host too (with what is
    // mounted below it), since the template may predate it.
    let mut kept: Vec<(PathBuf, OwnedFd)> = Vec::new();
    for u in &used {
        let clone = if under_dirs(u) {
            clone_mount(u, false)
        } else if template.is_some() && u.is_absolute() && !u.starts_with("/proc") {
            clone_mount(u, true)
        } else {
            continue;
        };
        if let Ok(fd) = clone {
            kept.push((u.clone(), fd));
        }
    }
    // Outer before inner, so that a clone of a directory does not cover one below it.
    kept.sort_by_key(|(p, _)| p.components().count());
    let host = OwnedFd::from(std::fs::File::open("/proc/self/ns/mnt")?);
    match &template {
        Some(t) => {
            unshare_private(Some(t))?;
            // A source inside a mount made on the host after the template (a swarm task's
            // secrets, on a tmpfs of its own) has no mount point here to attach to. Such a
            // container starts from a copy of the host's table instead, as every container
            // did before the template: slower with many running, but complete.
            let missing = kept
                .iter()
                .any(|(p, _)| !under_dirs(p) && std::fs::symlink_metadata(p).is_err());
            if missing {
                unshare_private(Some(&host))?;
                kept.retain(|(p, _)| under_dirs(p));
            }
        }
        None => unshare_private(None)?,
    }
    drop(template);
    let _ = HOST.set(host);
    for dir in dirs {
        // Fails (EINVAL) where the directory is not a mount point (or, from the template, is
        // gone already); the sweep below covers it.
        let _ = umount2(dir, MntFlags::MNT_DETACH);
    }
    for (path, tree) in &kept {
        attach(tree, path)?;
    }
    // What is left to drop: namespace files from elsewhere (`ip netns`), and everything under a
    // directory that was not a mount point. The table is small by now.
    let table = std::fs::read_to_string("/proc/self/mountinfo")?;
    for point in foreign_mounts(&table, &used, dirs) {
        // Best effort: one that cannot be detached only stays pinned while we run.
        let _ = umount2(&point, MntFlags::MNT_DETACH);
    }
    Ok(())
}

/// Moves the calling thread into a new mount namespace, a copy of `from` (its current one
/// when `None`), private: later mounts on the host (other containers' namespaces) never reach
/// the copy, and nothing made in it reaches the host.
fn unshare_private(from: Option<&OwnedFd>) -> io::Result<()> {
    if let Some(ns) = from {
        setns(ns, CloneFlags::CLONE_NEWNS)?;
    }
    unshare(CloneFlags::CLONE_NEWNS)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )?;
    Ok(())
}

/// A detached copy of the mount at `path` (a bind of it when it is not a mount point), with
/// the mounts below it when `recursive`.
fn clone_mount(path: &Path, recursive: bool) -> io::Result<OwnedFd> {
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    let flags = if recursive {
        flags | AT_RECURSIVE
    } else {
        flags
    };
    let c = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: open_tree reads the NUL-terminated path and returns a new descriptor or -1.
    fd_of(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) })
}

/// Unmounts `target` in the host's namespace (going back to it, when we left it).
pub fn unmount_in_host(target: &Path) {
    if let Some(host) = HOST.get() {
        // Single-threaded, so the whole process may switch namespaces.
        let _ = setns(host, CloneFlags::CLONE_NEWNS);
    }
    let _ = umount2(target, MntFlags::MNT_DETACH);
}

/// Host paths the container's spec names: its root, its mounts' sources, its namespace files.
fn used_paths(bundle: &Path, rootfs: &Path) -> Vec<PathBuf> {
    let mut used = vec![rootfs.to_path_buf()];
    let Ok(text) = std::fs::read(bundle.join("config.json")) else {
        return used;
    };
    let Ok(spec) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return used;
    };
    let strings = |list: &serde_json::Value, key: &str| -> Vec<PathBuf> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m[key].as_str())
            .map(PathBuf::from)
            .collect()
    };
    used.extend(strings(&spec["mounts"], "source"));
    used.extend(strings(&spec["linux"]["namespaces"], "path"));
    used
}

/// Mount points in `mountinfo` to drop: anything below one of `dirs`, and namespace files
/// wherever they are; except what the container uses (a used path at, above or below it).
fn foreign_mounts(mountinfo: &str, used: &[PathBuf], dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((point, fstype)) = point_and_type(line) else {
            continue;
        };
        let berths = fstype == "nsfs" || dirs.iter().any(|d| point.starts_with(d) && point != *d);
        let needed = used
            .iter()
            .any(|u| u.starts_with(&point) || point.starts_with(u));
        if berths && !needed {
            out.push(point);
        }
    }
    // Deepest first, so that a parent's detach does not hide a child we also meant to drop.
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out
}

/// A mountinfo line's mount point (octal escapes decoded) and filesystem type.
fn point_and_type(line: &str) -> Option<(PathBuf, &str)> {
    super::mountinfo::parse_line(line).map(|e| (e.point, e.fstype))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
27 1 0:30 / / rw,relatime - overlay overlay rw,lowerdir=/x
43 27 0:4 net:[1] /run/berth/netns/aaa rw - nsfs nsfs rw
44 27 0:4 net:[2] /run/berth/netns/bbb rw - nsfs nsfs rw
45 27 0:4 net:[3] /run/netns/test\\040ns rw - nsfs nsfs rw
46 27 0:39 / /var/lib/berth/containers/bbb/bundle/rootfs rw - overlay overlay rw,lowerdir=/l
47 27 0:40 / /var/lib/berth/volumes/used/_data rw - tmpfs tmpfs rw
48 27 0:41 / /var/lib/berth/volumes/other/_data rw - tmpfs tmpfs rw
49 27 0:42 / /proc rw - proc proc rw
50 27 0:43 / /var/lib/berth/containers/aaa/bundle/rootfs rw - overlay overlay rw,lowerdir=/l
";

    #[test]
    fn detaches_what_the_container_does_not_use() {
        let used = vec![
            PathBuf::from("/var/lib/berth/containers/aaa/bundle/rootfs"),
            PathBuf::from("/run/berth/netns/aaa"),
            PathBuf::from("/var/lib/berth/volumes/used/_data"),
            PathBuf::from("/proc"),
        ];
        let dirs = [
            PathBuf::from("/var/lib/berth/containers"),
            PathBuf::from("/var/lib/berth/volumes"),
            PathBuf::from("/run/berth/netns"),
        ];
        let mut got = foreign_mounts(TABLE, &used, &dirs);
        got.sort();
        assert_eq!(
            got,
            vec![
                PathBuf::from("/run/berth/netns/bbb"),
                PathBuf::from("/run/netns/test ns"),
                PathBuf::from("/var/lib/berth/containers/bbb/bundle/rootfs"),
                PathBuf::from("/var/lib/berth/volumes/other/_data"),
            ]
        );
    }
}
