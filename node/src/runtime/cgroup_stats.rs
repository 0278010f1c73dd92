//! Resource usage read from a container's cgroup files, v1 or v2, whichever each directory has.
//! Parsing is split from reading so it is tested with fixture text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One reading of a container's cgroups. Times in nanoseconds, sizes in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupStats {
    pub cpu_total: u64,
    pub cpu_percpu: Vec<u64>,
    pub cpu_user: u64,
    pub cpu_system: u64,
    pub throttle_periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
    pub memory_usage: u64,
    pub memory_max_usage: u64,
    /// `None`: no limit set.
    pub memory_limit: Option<u64>,
    pub memory_stat: BTreeMap<String, u64>,
    pub pids_current: u64,
    /// `None`: no limit set.
    pub pids_limit: Option<u64>,
    /// (major, minor, op as Docker names it: `Read`/`Write` on v1, `read`/`write` on v2, bytes).
    pub io_bytes: Vec<(u64, u64, String, u64)>,
    /// v1 only, as Docker has it: (major, minor, op, operations).
    pub io_serviced: Vec<(u64, u64, String, u64)>,
    /// The directories were cgroup v2.
    pub v2: bool,
}

/// Reads what `dirs` (the container's directory in every hierarchy) hold.
pub fn read(dirs: &[PathBuf]) -> CgroupStats {
    let mut s = CgroupStats::default();
    for dir in dirs {
        let file = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        if let Some(text) = file("cgroup.controllers") {
            s.v2 = true;
            let _ = text;
            read_v2(dir, &mut s);
            continue;
        }
        if let Some(t) = file("cpuacct.usage") {
            s.cpu_total = num(&t);
        }
        if let Some(t) = file("cpuacct.usage_percpu") {
            s.cpu_percpu = t.split_whitespace().map(num).collect();
        }
        if let Some(t) = file("cpuacct.stat") {
            let kv = key_values(&t);
            // USER_HZ ticks: 100 per second on Linux.
            s.cpu_user = kv.get("user").copied().unwrap_or(0) * 10_000_000;
            s.cpu_system = kv.get("system").copied().unwrap_or(0) * 10_000_000;
        }
        if let Some(t) = file("cpu.stat") {
            let kv = key_values(&t);
            s.throttle_periods = kv.get("nr_periods").copied().unwrap_or(0);
            s.throttled_periods = kv.get("nr_throttled").copied().unwrap_or(0);
            s.throttled_time = kv.get("throttled_time").copied().unwrap_or(0);
        }
        if let Some(t) = file("memory.usage_in_bytes") {
            s.memory_usage = num(&t);
            s.memory_max_usage = file("memory.max_usage_in_bytes").map_or(0, |t| num(&t));
            // v1 says "no limit" with a huge page-aligned number.
            s.memory_limit = file("memory.limit_in_bytes")
                .map(|t| num(&t))
                .filter(|l| *l < (1u64 << 62));
            s.memory_stat = file("memory.stat")
                .map(|t| key_values(&t))
                .unwrap_or_default();
        }
        if let Some(t) = file("pids.current") {
            s.pids_current = num(&t);
            s.pids_limit = file("pids.max").and_then(|t| limit(&t));
        }
        if let Some(t) = file("blkio.throttle.io_service_bytes_recursive") {
            s.io_bytes = parse_blkio_v1(&t);
        }
        if let Some(t) = file("blkio.throttle.io_serviced_recursive") {
            s.io_serviced = parse_blkio_v1(&t);
        }
    }
    s
}

fn read_v2(dir: &Path, s: &mut CgroupStats) {
    let file = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    if let Some(t) = file("cpu.stat") {
        let kv = key_values(&t);
        let us = |k: &str| kv.get(k).copied().unwrap_or(0) * 1000;
        s.cpu_total = us("usage_usec");
        s.cpu_user = us("user_usec");
        s.cpu_system = us("system_usec");
        s.throttle_periods = kv.get("nr_periods").copied().unwrap_or(0);
        s.throttled_periods = kv.get("nr_throttled").copied().unwrap_or(0);
        s.throttled_time = us("throttled_usec");
    }
    if let Some(t) = file("memory.current") {
        s.memory_usage = num(&t);
        s.memory_max_usage = file("memory.peak").map_or(0, |t| num(&t));
        s.memory_limit = file("memory.max").and_then(|t| limit(&t));
        s.memory_stat = file("memory.stat")
            .map(|t| key_values(&t))
            .unwrap_or_default();
    }
    if let Some(t) = file("pids.current") {
        s.pids_current = num(&t);
        s.pids_limit = file("pids.max").and_then(|t| limit(&t));
    }
    if let Some(t) = file("io.stat") {
        s.io_bytes = parse_io_v2(&t);
    }
}

fn num(t: &str) -> u64 {
    t.trim().parse().unwrap_or(0)
}

/// `max` (or nothing) is no limit.
fn limit(t: &str) -> Option<u64> {
    t.trim().parse().ok()
}

/// `key value` lines.
pub fn key_values(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

/// v1 `8:0 Read 4096` lines, the operation spelled as the kernel does (`Read`, as Docker shows
/// it on cgroup v1; v2's are lowercase); the `Total` lines are dropped, as Docker does.
pub fn parse_blkio_v1(text: &str) -> Vec<(u64, u64, String, u64)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (major, minor) = it.next()?.split_once(':')?;
            let op = it.next()?.to_string();
            let value = it.next()?.parse().ok()?;
            Some((major.parse().ok()?, minor.parse().ok()?, op, value))
        })
        .collect()
}

/// v2 `8:0 rbytes=4096 wbytes=0 …` lines, as read/write entries.
pub fn parse_io_v2(text: &str) -> Vec<(u64, u64, String, u64)> {
    let mut out = Vec::new();
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let Some((major, minor)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in it {
            let op = match kv.split_once('=') {
                Some(("rbytes", v)) => ("read", v),
                Some(("wbytes", v)) => ("write", v),
                _ => continue,
            };
            out.push((major, minor, op.0.to_string(), op.1.parse().unwrap_or(0)));
        }
    }
    out
}

/// The host's total CPU time in nanoseconds (`/proc/stat`'s first line), as Docker's
/// `system_cpu_usage`.
pub fn system_cpu_usage(proc_stat: &str) -> u64 {
    proc_stat
        .lines()
        .next()
        .filter(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum::<u64>()
                * 10_000_000
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_files_are_read_and_an_unlimited_memory_has_no_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let (cpu, mem, pids) = (
            tmp.path().join("cpu"),
            tmp.path().join("mem"),
            tmp.path().join("pids"),
        );
        for d in [&cpu, &mem, &pids] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(cpu.join("cpuacct.usage"), "123456\n").unwrap();
        std::fs::write(cpu.join("cpuacct.usage_percpu"), "100000 23456 \n").unwrap();
        std::fs::write(cpu.join("cpuacct.stat"), "user 3\nsystem 1\n").unwrap();
        std::fs::write(mem.join("memory.usage_in_bytes"), "4096\n").unwrap();
        std::fs::write(mem.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        std::fs::write(
            mem.join("memory.stat"),
            "total_inactive_file 1024\ncache 2048\n",
        )
        .unwrap();
        std::fs::write(pids.join("pids.current"), "2\n").unwrap();
        std::fs::write(pids.join("pids.max"), "max\n").unwrap();
        let s = read(&[cpu, mem, pids]);
        assert_eq!(s.cpu_total, 123_456);
        assert_eq!(s.cpu_percpu, vec![100_000, 23_456]);
        assert_eq!(s.cpu_user, 30_000_000);
        assert_eq!(s.memory_usage, 4096);
        assert_eq!(s.memory_limit, None);
        assert_eq!(s.memory_stat["total_inactive_file"], 1024);
        assert_eq!((s.pids_current, s.pids_limit), (2, None));
        assert!(!s.v2);
    }

    #[test]
    fn v2_files_are_read_in_nanoseconds() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("c");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("cgroup.controllers"), "cpu memory pids io\n").unwrap();
        std::fs::write(
            d.join("cpu.stat"),
            "usage_usec 10\nuser_usec 7\nsystem_usec 3\n",
        )
        .unwrap();
        std::fs::write(d.join("memory.current"), "8192\n").unwrap();
        std::fs::write(d.join("memory.max"), "1048576\n").unwrap();
        std::fs::write(d.join("pids.current"), "1\n").unwrap();
        std::fs::write(d.join("pids.max"), "64\n").unwrap();
        std::fs::write(d.join("io.stat"), "8:0 rbytes=10 wbytes=20 rios=1 wios=2\n").unwrap();
        let s = read(&[d]);
        assert!(s.v2);
        assert_eq!((s.cpu_total, s.cpu_user), (10_000, 7_000));
        assert_eq!((s.memory_usage, s.memory_limit), (8192, Some(1_048_576)));
        assert_eq!(s.pids_limit, Some(64));
        assert_eq!(
            s.io_bytes,
            vec![(8, 0, "read".into(), 10), (8, 0, "write".into(), 20)]
        );
    }

    #[test]
    fn blkio_v1_lines_keep_the_kernels_spelling() {
        let v = parse_blkio_v1("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
        assert_eq!(
            v,
            vec![(8, 0, "Read".into(), 4096), (8, 0, "Write".into(), 0)]
        );
    }

    #[test]
    fn system_cpu_usage_sums_the_first_eight_fields() {
        let stat = "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1 1 0 0\n";
        assert_eq!(system_cpu_usage(stat), 36 * 10_000_000);
    }
}
