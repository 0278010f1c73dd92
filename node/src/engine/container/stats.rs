//! `stats`: one reading of a container's resource usage (cgroups, its network namespace's
//! interfaces, the host's CPU time). The API turns two readings into Docker's JSON.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::engine::Engine;
use crate::error::Result;
use crate::runtime::cgroup_stats::{self, CgroupStats};

/// One interface's counters, as `/proc/net/dev` has them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetDev {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// One reading.
#[derive(Debug, Clone, Default)]
pub struct StatsSample {
    pub id: String,
    /// Without the leading slash.
    pub name: String,
    pub read: DateTime<Utc>,
    pub running: bool,
    pub cgroup: CgroupStats,
    /// The host's total CPU time, nanoseconds.
    pub system_cpu: u64,
    pub online_cpus: u64,
    /// The host's memory, which caps a container without a limit.
    pub host_memory: u64,
    pub networks: BTreeMap<String, NetDev>,
}

impl Engine {
    /// Reads the container's usage now; a stopped container reads as zeros, as in Docker.
    pub async fn stats(&self, key: &str) -> Result<StatsSample> {
        let handle = self.lookup(key)?;
        let rec = handle.snapshot().await;
        let mut s = StatsSample {
            id: rec.id.clone(),
            name: rec.name.clone(),
            read: Utc::now(),
            running: rec.state.status.is_running(),
            ..Default::default()
        };
        if !s.running {
            return Ok(s);
        }
        let dirs =
            crate::runtime::cgroups::container_dirs(&self.paths.cgroups.all, &rec.cgroup_rel());
        let pid = rec.state.pid;
        let (cgroup, system_cpu, host_memory, networks) = tokio::task::spawn_blocking(move || {
            let cg = cgroup_stats::read(&dirs);
            let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
            let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
            let netdev =
                std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
            (
                cg,
                cgroup_stats::system_cpu_usage(&stat),
                mem_total(&meminfo),
                parse_net_dev(&netdev),
            )
        })
        .await
        .map_err(|e| crate::error::EngineError::Internal(format!("stats task: {e}")))?;
        s.online_cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        s.cgroup = cgroup;
        s.system_cpu = system_cpu;
        s.host_memory = host_memory;
        s.networks = networks;
        Ok(s)
    }
}

/// `MemTotal` from /proc/meminfo, in bytes.
fn mem_total(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// `/proc/<pid>/net/dev`, without `lo` (Docker leaves it out).
pub fn parse_net_dev(text: &str) -> BTreeMap<String, NetDev> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let name = name.trim();
            if name == "lo" {
                return None;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if v.len() < 12 {
                return None;
            }
            let dev = NetDev {
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errors: v[2],
                rx_dropped: v[3],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errors: v[10],
                tx_dropped: v[11],
            };
            Some((name.to_string(), dev))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_skips_loopback_and_reads_both_directions() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
            face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
            lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  \
            eth0:    2000      20    1    2    0     0          0         0     3000      30    3    4    0     0       0          0\n";
        let m = parse_net_dev(text);
        assert_eq!(m.len(), 1);
        let e = m["eth0"];
        assert_eq!(
            (e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped),
            (2000, 20, 1, 2)
        );
        assert_eq!(
            (e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped),
            (3000, 30, 3, 4)
        );
    }

    #[test]
    fn mem_total_is_in_bytes() {
        assert_eq!(
            mem_total("MemTotal:       2048 kB\nMemFree: 1 kB\n"),
            2048 * 1024
        );
    }
}
