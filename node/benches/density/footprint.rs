//! Memory of an engine with its containers running: the daemon's resident set (with berth's
//! monitor spawner, a helper process of berthd's), and each
//! per-container process that keeps a container (berth's `berth-monitor`, docker's
//! `containerd-shim-runc-v2`), found in `/proc` by the container id in its command line.

use std::collections::HashSet;

use crate::target::Target;

/// Resident memory, KiB.
#[derive(Debug, Default, Clone)]
pub struct Footprint {
    pub daemon_rss: u64,
    /// Per container process: (RSS, PSS). PSS shares the binary's pages among them.
    pub monitors: Vec<(u64, u64)>,
    /// Ports of the default bridge, where known.
    pub bridge_ports: Option<usize>,
}

/// Reads the footprint of `target`'s daemon and of the monitors of `ids`.
pub fn measure(target: &Target, ids: &[String]) -> Footprint {
    let daemon = target.daemon_pid();
    let mut daemon_rss = daemon.map(|p| status_kib(p, "VmRSS:")).unwrap_or(0);
    let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut monitors = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Footprint::default();
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let argv: Vec<String> = argv
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if monitor_of(&argv).is_some_and(|id| wanted.contains(id)) {
            monitors.push((status_kib(pid, "VmRSS:"), pss_kib(pid)));
        } else if argv.get(1).is_some_and(|a| a == "--spawner") && parent(pid) == daemon {
            daemon_rss += status_kib(pid, "VmRSS:");
        }
    }
    Footprint {
        daemon_rss,
        monitors,
        bridge_ports: target.bridge_ports(),
    }
}

/// The container id a monitor's argv names: berth's `berth-monitor
/// <data>/containers/<id>/monitor-config.json`, docker's `containerd-shim-runc-v2 … -id <id>`.
fn monitor_of(argv: &[String]) -> Option<&str> {
    let program = argv.first()?.rsplit('/').next()?;
    match program {
        "berth-monitor" => argv.get(1)?.rsplit('/').nth(1),
        p if p.starts_with("containerd-shim") => {
            let at = argv.iter().position(|a| a == "-id")?;
            argv.get(at + 1).map(String::as_str)
        }
        _ => None,
    }
}

fn parent(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|p| p.trim().parse().ok())
}

fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    field_kib(&status, key)
}

fn pss_kib(pid: u32) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    field_kib(&rollup, "Pss:")
}

/// `key   123 kB` in a /proc table.
fn field_kib(table: &str, key: &str) -> u64 {
    table
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
