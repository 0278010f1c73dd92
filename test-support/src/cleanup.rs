//! Removing what berthd and its containers leave behind under a root directory: monitor and
//! daemon processes (found by parent PID or by a command line naming the root), container
//! processes and cgroups (of containers recorded under the root), and mounts. Signals go only
//! to processes tied to the harness's own roots this way; nothing else is touched.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// One process as `/proc` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: i32,
    pub ppid: i32,
    /// argv, NUL-split.
    pub argv: Vec<String>,
}

impl ProcInfo {
    /// The file name of argv[0] (`berth-monitor`).
    pub fn program(&self) -> &str {
        self.argv
            .first()
            .map(|a| a.rsplit('/').next().unwrap_or(a))
            .unwrap_or("")
    }

    /// Whether any argument mentions `needle`.
    pub fn mentions(&self, needle: &str) -> bool {
        self.argv.iter().any(|a| a.contains(needle))
    }
}

/// Every process currently visible in `/proc` (kernel threads have an empty argv).
pub fn processes() -> Vec<ProcInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some(ProcInfo {
                pid,
                ppid: parse_ppid(&stat)?,
                argv: cmdline
                    .split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect(),
            })
        })
        .collect()
}

/// The parent PID from a `/proc/<pid>/stat` line (after the parenthesized command name).
fn parse_ppid(stat: &str) -> Option<i32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// A directory as it appears in command lines and mount tables, with a trailing slash so
/// that `…/n1/` does not match `…/n10`.
pub fn dir_needle(dir: &Path) -> String {
    format!("{}/", dir.display())
}

/// SIGKILLs the processes in `procs` chosen by `pick` (never this process), then waits up to
/// `patience` for them to be gone. Returns the PIDs signalled.
pub fn kill_matching(
    procs: &[ProcInfo],
    pick: impl Fn(&ProcInfo) -> bool,
    patience: Duration,
) -> Vec<i32> {
    let me = std::process::id();
    let pids: Vec<i32> = procs
        .iter()
        .filter(|p| p.pid > 1 && u32::try_from(p.pid).is_ok_and(|p| p != me) && pick(p))
        .map(|p| p.pid)
        .collect();
    for pid in &pids {
        let _ = nix::sys::signal::kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    let end = Instant::now() + patience;
    while pids.iter().any(|p| is_alive(*p)) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    pids
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    state_of(pid).is_some_and(|s| s != 'Z' && s != 'X')
}

/// The state letter of process `pid` from `/proc/<pid>/stat` (`Z` for a zombie), while it
/// exists.
pub fn state_of(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// The mount points in a mountinfo table at or under `dir`, deepest first.
pub fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let exact = dir.display().to_string();
    let needle = dir_needle(dir);
    let mut found: Vec<String> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|m| *m == exact || m.starts_with(&needle))
        .collect();
    let key = |m: &String| (m.matches('/').count(), m.len(), m.clone());
    found.sort_by_key(|m| std::cmp::Reverse(key(m)));
    found.dedup();
    found.into_iter().map(PathBuf::from).collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lazily unmounts everything at or under `dir`, deepest first, until nothing is left (stacked
/// mounts take several rounds). Returns the mount points still there.
pub fn unmount_under(dir: &Path) -> Vec<PathBuf> {
    let table = || std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for _ in 0..8 {
        let mounts = mounts_under(&table(), dir);
        if mounts.is_empty() {
            return mounts;
        }
        for m in &mounts {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    mounts_under(&table(), dir)
}

/// The cgroup (v1 and v2) mount points in a mountinfo table.
pub fn cgroup_mounts(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split_whitespace().next()?;
            let mount_point = left.split(' ').nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2")
                .then(|| PathBuf::from(unescape(mount_point)))
        })
        .collect()
}

/// Container ids recorded under a data root (`<data>/containers/<id>`).
pub fn recorded_containers(data_root: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(data_root.join("containers")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect()
}

/// Removes `/sys/fs/cgroup/*/berth/<id>` of every container recorded under `data_root`:
/// thaws it, SIGKILLs what still runs in it, and rmdirs it (children first). Returns the
/// directories that would not go.
pub fn remove_container_cgroups(data_root: &Path, patience: Duration) -> Vec<PathBuf> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let hierarchies = cgroup_mounts(&table);
    let mut dirs: Vec<PathBuf> = Vec::new();
    for id in recorded_containers(data_root) {
        for h in &hierarchies {
            collect_tree(&h.join("berth").join(&id), &mut dirs);
        }
    }
    remove_cgroup_dirs(dirs, patience)
}

/// The names of the top-level cgroups of every hierarchy (a daemon's `cgroup-parent`s).
pub fn top_cgroup_names() -> Vec<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut names: Vec<String> = cgroup_mounts(&table)
        .iter()
        .filter_map(|h| std::fs::read_dir(h).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Removes the top-level cgroup `name` (a daemon's own `cgroup-parent`) of every hierarchy
/// with everything below it, as `remove_container_cgroups` does. Returns what would not go.
pub fn remove_cgroup_parent(name: &str, patience: Duration) -> Vec<PathBuf> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut dirs = Vec::new();
    if name.is_empty() || name.contains('/') || name == ".." || name == "." {
        return dirs;
    }
    for h in cgroup_mounts(&table) {
        collect_tree(&h.join(name), &mut dirs);
    }
    remove_cgroup_dirs(dirs, patience)
}

/// A top-level cgroup a test names as a `cgroup-parent`: removed from every hierarchy with
/// what is below it when dropped, so a failing test leaves none behind either.
pub struct CgroupParent(String);

impl CgroupParent {
    /// `name` must be a single path component.
    pub fn new(name: &str) -> CgroupParent {
        assert!(!name.is_empty() && !name.contains('/'), "{name:?}");
        CgroupParent(name.to_string())
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}

impl Drop for CgroupParent {
    fn drop(&mut self) {
        let left = remove_cgroup_parent(&self.0, Duration::from_secs(10));
        if !left.is_empty() && !std::thread::panicking() {
            panic!("cgroups left behind: {left:?}");
        }
    }
}

/// Thaws `dirs`, SIGKILLs what runs in them and removes them, deepest first.
fn remove_cgroup_dirs(mut dirs: Vec<PathBuf>, patience: Duration) -> Vec<PathBuf> {
    let me = std::process::id();
    for d in &dirs {
        // A paused container is frozen and would never see the SIGKILL.
        let _ = std::fs::write(d.join("freezer.state"), "THAWED");
        let _ = std::fs::write(d.join("cgroup.freeze"), "0");
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        let pids = procs.lines().filter_map(|l| l.trim().parse::<i32>().ok());
        // Never 0 or -1 (a process group, everything) nor ourselves.
        for pid in pids.filter(|p| *p > 1 && u32::try_from(*p).is_ok_and(|p| p != me)) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    // Deepest first: a cgroup with children cannot be removed.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    let end = Instant::now() + patience;
    loop {
        dirs.retain(|d| match std::fs::remove_dir(d) {
            Ok(()) => false,
            Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        });
        if dirs.is_empty() || Instant::now() >= end {
            return dirs;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes the `berth` parent cgroup of every hierarchy once it is empty. berthd leaves it
/// behind (as dockerd leaves `docker`); rmdir refuses while another berthd's containers use it.
pub fn remove_empty_berth_parents() {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for h in cgroup_mounts(&table) {
        let _ = std::fs::remove_dir(h.join("berth"));
    }
}

/// `dir` and its subdirectories, if it exists.
fn collect_tree(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    out.push(dir.to_path_buf());
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect_tree(&e.path(), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppid_is_read_after_the_command_name() {
        assert_eq!(parse_ppid("42 (a b) c) S 7 42 42 0"), Some(7));
        assert_eq!(parse_ppid("garbage"), None);
    }

    #[test]
    fn mounts_under_a_root_come_deepest_first_and_unescaped() {
        let table = "\
            22 1 0:1 / /tmp/r/n1/data/x rw - overlay o rw\n\
            23 22 0:2 / /tmp/r/n1/data/x/proc rw - proc p rw\n\
            24 1 0:3 / /tmp/r/n10/data rw - tmpfs t rw\n\
            25 1 0:4 / /tmp/r/n1/exec/a\\040b rw - nsfs n rw\n\
            26 1 0:5 / /tmp/r/n1 rw - tmpfs t rw\n";
        let m = mounts_under(table, Path::new("/tmp/r/n1"));
        assert_eq!(
            m,
            [
                "/tmp/r/n1/data/x/proc",
                "/tmp/r/n1/exec/a b",
                "/tmp/r/n1/data/x",
                "/tmp/r/n1"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn cgroup_hierarchies_are_both_versions() {
        let table = "\
            31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
            35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
            41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup_mounts(table),
            ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified"].map(PathBuf::from)
        );
    }

    #[test]
    fn a_process_mentions_a_node_root_only_with_the_slash() {
        let p = ProcInfo {
            pid: 9,
            ppid: 1,
            argv: vec!["/t/berth-monitor".into(), "/r/n10/data/c/m.json".into()],
        };
        assert_eq!(p.program(), "berth-monitor");
        assert!(p.mentions(&dir_needle(Path::new("/r/n10"))));
        assert!(!p.mentions(&dir_needle(Path::new("/r/n1"))));
    }

    #[test]
    fn recorded_containers_are_hex_directory_names() {
        let d = std::env::temp_dir().join(format!("berth-chaos-rec-{}", std::process::id()));
        std::fs::create_dir_all(d.join("containers/abc123")).unwrap();
        std::fs::create_dir_all(d.join("containers/tmp-x")).unwrap();
        assert_eq!(recorded_containers(&d), vec!["abc123".to_string()]);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
