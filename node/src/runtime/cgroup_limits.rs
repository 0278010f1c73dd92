//! Changing a running container's limits (`docker update`): writes the cgroup files of v1 or
//! v2, whichever each of the container's directories has. Values are what the runtime spec
//! would have set at start.

use std::io;
use std::path::PathBuf;

/// Limits to apply; `None` leaves a setting alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    /// The soft limit (`--memory-reservation`); 0 is none.
    pub memory_reservation: Option<i64>,
    pub cpu_shares: Option<i64>,
    /// (quota, period) in microseconds; quota -1 is unlimited.
    pub cpu_quota: Option<(i64, i64)>,
    /// CPU and memory-node lists (`0-1,3`).
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids: Option<i64>,
    /// The block I/O weight (10–1000).
    pub blkio_weight: Option<u16>,
}

/// Writes `limits` into every directory that has the matching file.
pub fn apply(dirs: &[PathBuf], limits: &Limits) -> io::Result<()> {
    for dir in dirs {
        let has = |f: &str| dir.join(f).exists();
        let write = |f: &str, v: String| std::fs::write(dir.join(f), v);
        let v2 = has("cgroup.controllers");
        if let Some(m) = limits.memory {
            let m = if m <= 0 { -1 } else { m };
            if v2 && has("memory.max") {
                write(
                    "memory.max",
                    if m < 0 { "max".into() } else { m.to_string() },
                )?;
            } else if has("memory.limit_in_bytes") {
                // v1 refuses a memory limit above memory+swap: raise the latter first.
                if has("memory.memsw.limit_in_bytes") {
                    let _ = write("memory.memsw.limit_in_bytes", "-1".into());
                }
                write("memory.limit_in_bytes", m.to_string())?;
            }
        }
        if let Some(s) = limits.memory_swap {
            if v2 && has("memory.swap.max") {
                let swap = match (s, limits.memory) {
                    (s, _) if s < 0 => "max".to_string(),
                    (s, Some(m)) if m > 0 => (s - m).max(0).to_string(),
                    (s, _) => s.to_string(),
                };
                write("memory.swap.max", swap)?;
            } else if has("memory.memsw.limit_in_bytes") {
                write("memory.memsw.limit_in_bytes", s.to_string())?;
            }
        }
        if let Some(shares) = limits.cpu_shares {
            if v2 && has("cpu.weight") {
                // runc's conversion from shares (2..262144) to weight (1..10000).
                let weight = 1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142;
                write("cpu.weight", weight.to_string())?;
            } else if has("cpu.shares") {
                write("cpu.shares", shares.to_string())?;
            }
        }
        if let Some((quota, period)) = limits.cpu_quota {
            if v2 && has("cpu.max") {
                let q = if quota < 0 {
                    "max".to_string()
                } else {
                    quota.to_string()
                };
                write("cpu.max", format!("{q} {period}"))?;
            } else if has("cpu.cfs_quota_us") {
                write("cpu.cfs_period_us", period.to_string())?;
                write("cpu.cfs_quota_us", quota.to_string())?;
            }
        }
        if let Some(r) = limits.memory_reservation {
            // As runc sets it at start: v1's soft limit, v2's protection (`memory.low`).
            if v2 && has("memory.low") {
                write("memory.low", r.to_string())?;
            } else if has("memory.soft_limit_in_bytes") {
                let r = if r <= 0 { -1 } else { r };
                write("memory.soft_limit_in_bytes", r.to_string())?;
            }
        }
        // Memory nodes before CPUs, both where the directory has them (a v1 cpuset
        // hierarchy, or v2 with the cpuset controller on).
        for (file, list) in [
            ("cpuset.mems", &limits.cpuset_mems),
            ("cpuset.cpus", &limits.cpuset_cpus),
        ] {
            if let Some(list) = list.as_ref().filter(|_| has(file)) {
                write(file, list.clone())?;
            }
        }
        if let Some(w) = limits.blkio_weight {
            // As libcontainer at start: CFQ's weight, else BFQ's (v1 only: refused on v2).
            if has("blkio.weight") {
                write("blkio.weight", w.to_string())?;
            } else if has("blkio.bfq.weight") {
                write("blkio.bfq.weight", w.to_string())?;
            }
        }
        if let Some(p) = limits.pids {
            if has("pids.max") {
                write(
                    "pids.max",
                    if p <= 0 { "max".into() } else { p.to_string() },
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(p: &std::path::Path) -> String {
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn v1_and_v2_files_get_their_own_spelling() {
        let tmp = tempfile::tempdir().unwrap();
        let (v1, v2) = (tmp.path().join("v1"), tmp.path().join("v2"));
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::create_dir_all(&v2).unwrap();
        for f in [
            "memory.limit_in_bytes",
            "memory.soft_limit_in_bytes",
            "cpu.cfs_quota_us",
            "cpu.cfs_period_us",
            "cpuset.cpus",
            "pids.max",
            "blkio.bfq.weight",
        ] {
            std::fs::write(v1.join(f), "").unwrap();
        }
        for f in [
            "cgroup.controllers",
            "memory.max",
            "memory.low",
            "cpu.max",
            "pids.max",
        ] {
            std::fs::write(v2.join(f), "").unwrap();
        }
        let limits = Limits {
            memory: Some(64 << 20),
            memory_reservation: Some(16 << 20),
            cpu_quota: Some((50_000, 100_000)),
            cpuset_cpus: Some("0".into()),
            cpuset_mems: Some("0".into()),
            pids: Some(0),
            blkio_weight: Some(300),
            ..Default::default()
        };
        apply(&[v1.clone(), v2.clone()], &limits).unwrap();
        // BFQ's weight where CFQ's is not there, as libcontainer does at start.
        assert_eq!(read_text(&v1.join("blkio.bfq.weight")), "300");
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
        assert_eq!(
            read(v1.join("memory.limit_in_bytes")),
            (64 << 20).to_string()
        );
        assert_eq!(read(v1.join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(v1.join("pids.max")), "max");
        assert_eq!(read(v2.join("memory.max")), (64 << 20).to_string());
        assert_eq!(read(v2.join("cpu.max")), "50000 100000");
        assert_eq!(
            read(v1.join("memory.soft_limit_in_bytes")),
            (16 << 20).to_string()
        );
        assert_eq!(read(v2.join("memory.low")), (16 << 20).to_string());
        assert_eq!(read(v1.join("cpuset.cpus")), "0");
        assert!(
            !v1.join("cpuset.mems").exists() && !v2.join("cpuset.cpus").exists(),
            "only the files a directory has are written"
        );
    }
}
