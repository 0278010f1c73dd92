//! `stats`: docker's live table (cleared and redrawn every second) or one snapshot with
//! `--no-stream`, rows computed from the stats JSON exactly as docker's CLI does. The figures
//! come from pure functions over the API's JSON so they are tested without a daemon.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use bollard::query_parameters::{ListContainersOptionsBuilder, StatsOptionsBuilder};
use bollard::Docker;
use clap::Args;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::output::{render_rows, units};

const DEFAULT_FORMAT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// `berth stats`
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Format output using a Go template, "table …" or "json"
    #[arg(long)]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// CONTAINER...
    pub containers: Vec<String>,
}

fn u(v: &Value, path: &str) -> u64 {
    v.pointer(path).and_then(Value::as_u64).unwrap_or(0)
}

/// Docker's `calculateCPUPercentUnix`: container CPU time over system CPU time since the
/// previous sample, times the online CPUs.
pub fn cpu_percent(stats: &Value) -> f64 {
    let cpu_delta = u(stats, "/cpu_stats/cpu_usage/total_usage")
        .saturating_sub(u(stats, "/precpu_stats/cpu_usage/total_usage"));
    let system_delta = u(stats, "/cpu_stats/system_cpu_usage")
        .saturating_sub(u(stats, "/precpu_stats/system_cpu_usage"));
    let mut online = u(stats, "/cpu_stats/online_cpus");
    if online == 0 {
        online = stats
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map_or(0, |a| a.len() as u64);
    }
    if system_delta == 0 || cpu_delta == 0 {
        return 0.0;
    }
    cpu_delta as f64 / system_delta as f64 * online as f64 * 100.0
}

/// Docker's `calculateMemUsageUnixNoCache`: usage minus the inactive page cache
/// (`total_inactive_file` on cgroup v1, `inactive_file` on v2).
pub fn memory_usage(stats: &Value) -> u64 {
    let usage = u(stats, "/memory_stats/usage");
    for key in ["total_inactive_file", "inactive_file"] {
        if let Some(inactive) = stats
            .pointer(&format!("/memory_stats/stats/{key}"))
            .and_then(Value::as_u64)
        {
            if inactive < usage {
                return usage - inactive;
            }
        }
    }
    usage
}

/// Bytes received and sent over all interfaces.
pub fn network_io(stats: &Value) -> (u64, u64) {
    let nets = stats.get("networks").and_then(Value::as_object);
    nets.into_iter().flatten().fold((0, 0), |(rx, tx), (_, n)| {
        (rx + u(n, "/rx_bytes"), tx + u(n, "/tx_bytes"))
    })
}

/// Bytes read and written, from `io_service_bytes_recursive`.
pub fn block_io(stats: &Value) -> (u64, u64) {
    let entries = stats
        .pointer("/blkio_stats/io_service_bytes_recursive")
        .and_then(Value::as_array);
    entries.into_iter().flatten().fold((0, 0), |(r, w), e| {
        match e["op"].as_str().map(str::to_lowercase).as_deref() {
            Some("read") => (r + u(e, "/value"), w),
            Some("write") => (r, w + u(e, "/value")),
            _ => (r, w),
        }
    })
}

/// One table row with docker's template field names, from one stats sample.
pub fn row(stats: &Value, given: &str, trunc: bool) -> Value {
    let id = stats["id"].as_str().unwrap_or(given);
    let id = if trunc {
        super::ps::short_id(id)
    } else {
        id.to_string()
    };
    let name = stats["name"].as_str().unwrap_or("").trim_start_matches('/');
    let mem = memory_usage(stats);
    let limit = u(stats, "/memory_stats/limit");
    let mem_percent = if limit == 0 {
        0.0
    } else {
        mem as f64 / limit as f64 * 100.0
    };
    let (rx, tx) = network_io(stats);
    let (read, write) = block_io(stats);
    let h = |n: u64| units::human_size(n as f64, 3);
    json!({
        "Container": given,
        "ID": id,
        "Name": if name.is_empty() { "--" } else { name },
        "CPUPerc": format!("{:.2}%", cpu_percent(stats)),
        "MemUsage": format!("{} / {}", units::bytes_size(mem as f64), units::bytes_size(limit as f64)),
        "MemPerc": format!("{mem_percent:.2}%"),
        "NetIO": format!("{} / {}", h(rx), h(tx)),
        "BlockIO": format!("{} / {}", h(read), h(write)),
        "PIDs": u(stats, "/pids_stats/current").to_string(),
    })
}

fn header() -> Value {
    json!({
        "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    })
}

async fn running(docker: &Docker, all: bool) -> Result<Vec<String>> {
    let options = ListContainersOptionsBuilder::new().all(all).build();
    let list = docker.list_containers(Some(options)).await?;
    Ok(list.into_iter().filter_map(|c| c.id).collect())
}

/// `berth stats`
pub async fn stats(client: &Client, args: StatsArgs) -> Result<i32> {
    let docker = client.docker()?;
    let format = args
        .format
        .clone()
        .unwrap_or_else(|| DEFAULT_FORMAT.to_string());
    if args.no_stream {
        return snapshot(client, &docker, &args, &format).await;
    }
    let rows: Rows = Arc::new(Mutex::new(HashMap::new()));
    let mut order: Vec<String> = args.containers.clone();
    let mut watchers: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        if args.containers.is_empty() {
            order = running(&docker, args.all).await?;
            watchers.retain(|id, task| {
                let keep = order.contains(id);
                if !keep {
                    task.abort();
                }
                keep
            });
        }
        for name in &order {
            if !watchers.contains_key(name) {
                let task = watch(
                    docker.clone(),
                    name.clone(),
                    Arc::clone(&rows),
                    args.no_trunc,
                );
                watchers.insert(name.clone(), task);
            }
        }
        let shown: Vec<Value> = {
            let rows = rows
                .lock()
                .map_err(|_| anyhow::anyhow!("stats state poisoned"))?;
            order.iter().filter_map(|n| rows.get(n).cloned()).collect()
        };
        // Docker clears the screen and homes the cursor before each redraw.
        let table = render_rows(&format, &header(), &shown)?;
        let mut out = std::io::stdout().lock();
        if write!(out, "\x1b[2J\x1b[H{table}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return Ok(0);
        }
        drop(out);
        tick.tick().await;
    }
}

type Rows = Arc<Mutex<HashMap<String, Value>>>;

fn watch(docker: Docker, name: String, rows: Rows, no_trunc: bool) -> JoinHandle<()> {
    tokio::spawn(async move {
        let options = StatsOptionsBuilder::new().stream(true).build();
        let mut stream = docker.stats(&name, Some(options));
        while let Some(Ok(sample)) = stream.next().await {
            let Ok(value) = serde_json::to_value(&sample) else {
                continue;
            };
            if let Ok(mut rows) = rows.lock() {
                rows.insert(name.clone(), row(&value, &name, !no_trunc));
            }
        }
    })
}

async fn snapshot(client: &Client, docker: &Docker, args: &StatsArgs, format: &str) -> Result<i32> {
    let names = if args.containers.is_empty() {
        running(docker, args.all).await?
    } else {
        args.containers.clone()
    };
    let mut rows = Vec::new();
    let mut code = 0;
    for name in &names {
        let options = StatsOptionsBuilder::new().stream(false).build();
        match docker.stats(name, Some(options)).next().await {
            Some(Ok(sample)) => {
                rows.push(row(&serde_json::to_value(&sample)?, name, !args.no_trunc))
            }
            Some(Err(e)) => {
                eprintln!("{}", client.describe(&e.into()));
                code = 1;
            }
            None => {}
        }
    }
    // Like docker, a lookup failure for every container prints no empty table.
    if code == 0 || !rows.is_empty() {
        print!("{}", render_rows(format, &header(), &rows)?);
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        json!({
            "id": "0123456789abcdef0123", "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 400_000_000u64}, "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 300_000_000u64}, "system_cpu_usage": 18_000_000_000u64},
            "memory_stats": {"usage": 10_485_760u64, "limit": 104_857_600u64, "stats": {"inactive_file": 2_097_152u64}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 500}, "eth1": {"rx_bytes": 500, "tx_bytes": 0}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "read", "value": 4096},
                {"major": 8, "minor": 0, "op": "Write", "value": 1_000_000}]},
            "pids_stats": {"current": 3},
        })
    }

    #[test]
    fn cpu_percent_is_delta_over_system_delta_times_cpus() {
        assert!((cpu_percent(&sample()) - 10.0).abs() < 1e-9);
        assert_eq!(cpu_percent(&json!({})), 0.0);
    }

    #[test]
    fn memory_usage_leaves_out_inactive_file_on_v1_and_v2() {
        assert_eq!(memory_usage(&sample()), 8_388_608);
        let v1 = json!({"memory_stats": {"usage": 100, "stats": {"total_inactive_file": 40}}});
        assert_eq!(memory_usage(&v1), 60);
        let bigger = json!({"memory_stats": {"usage": 100, "stats": {"inactive_file": 400}}});
        assert_eq!(memory_usage(&bigger), 100);
    }

    #[test]
    fn row_formats_like_docker_stats() {
        let r = row(&sample(), "web", true);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["CPUPerc"], "10.00%");
        assert_eq!(r["MemUsage"], "8MiB / 100MiB");
        assert_eq!(r["MemPerc"], "8.00%");
        assert_eq!(r["NetIO"], "2kB / 500B");
        assert_eq!(r["BlockIO"], "4.1kB / 1MB");
        assert_eq!(r["PIDs"], "3");
    }

    #[test]
    fn table_has_docker_stats_header() {
        let out = render_rows(DEFAULT_FORMAT, &header(), &[row(&sample(), "web", true)]).unwrap();
        let first = out.lines().next().unwrap();
        assert!(first.starts_with("CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %"));
        assert!(first.ends_with("BLOCK I/O     PIDS"));
    }
}
