//! Two stats readings to Docker's stats JSON (`precpu_stats` is the earlier reading), in the
//! v1 or v2 shape the cgroups had, so `docker stats` computes its percentages as usual.

use chrono::SecondsFormat;
use serde_json::{json, Map, Value};

use crate::engine::container::stats::StatsSample;

/// Docker's zero time, used for `preread` when there is no earlier reading.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The stats object for `now`, with `before` as the previous reading.
pub fn stats_json(now: &StatsSample, before: Option<&StatsSample>) -> Value {
    let cg = &now.cgroup;
    let limit = cg
        .memory_limit
        .filter(|l| now.host_memory == 0 || *l < now.host_memory)
        .unwrap_or(now.host_memory);
    let mut memory = json!({
        "usage": cg.memory_usage,
        "stats": cg.memory_stat,
        "limit": limit,
    });
    if !cg.v2 {
        memory["max_usage"] = json!(cg.memory_max_usage);
    }
    let entries = |list: &[(u64, u64, String, u64)]| -> Value {
        list.iter()
            .map(|(major, minor, op, value)| json!({"major": major, "minor": minor, "op": op, "value": value}))
            .collect()
    };
    // Docker's v1 shape has every list runc reads (the CFQ scheduler's stay empty on today's
    // schedulers); on v2 only the bytes, the rest null.
    let blkio = if cg.v2 {
        json!({"io_service_bytes_recursive": entries(&cg.io_bytes), "io_serviced_recursive": null,
            "io_queue_recursive": null, "io_service_time_recursive": null,
            "io_wait_time_recursive": null, "io_merged_recursive": null,
            "io_time_recursive": null, "sectors_recursive": null})
    } else {
        json!({"io_service_bytes_recursive": entries(&cg.io_bytes),
            "io_serviced_recursive": entries(&cg.io_serviced), "io_queue_recursive": [],
            "io_service_time_recursive": [], "io_wait_time_recursive": [],
            "io_merged_recursive": [], "io_time_recursive": [], "sectors_recursive": []})
    };
    let networks: Map<String, Value> = now
        .networks
        .iter()
        .map(|(name, n)| {
            let v = json!({
                "rx_bytes": n.rx_bytes, "rx_packets": n.rx_packets, "rx_errors": n.rx_errors,
                "rx_dropped": n.rx_dropped, "tx_bytes": n.tx_bytes, "tx_packets": n.tx_packets,
                "tx_errors": n.tx_errors, "tx_dropped": n.tx_dropped,
            });
            (name.clone(), v)
        })
        .collect();
    let mut out = json!({
        "name": format!("/{}", now.name),
        "id": now.id,
        "read": now.read.to_rfc3339_opts(SecondsFormat::Nanos, true),
        "preread": before.map_or(ZERO_TIME.to_string(), |b| b.read.to_rfc3339_opts(SecondsFormat::Nanos, true)),
        "pids_stats": pids(now),
        "blkio_stats": blkio,
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu(now),
        "precpu_stats": before.map_or_else(|| json!({"cpu_usage": {"total_usage": 0}, "throttling_data": {}}), cpu),
        "memory_stats": if now.running { memory } else { json!({}) },
    });
    // Left out without networks (`none`, `host`), as Docker's `omitempty`.
    if now.running && !networks.is_empty() {
        out["networks"] = Value::Object(networks);
    }
    out
}

fn pids(s: &StatsSample) -> Value {
    let mut v = json!({"current": s.cgroup.pids_current});
    if let Some(l) = s.cgroup.pids_limit {
        v["limit"] = json!(l);
    }
    v
}

fn cpu(s: &StatsSample) -> Value {
    let cg = &s.cgroup;
    let mut usage = json!({
        "total_usage": cg.cpu_total,
        "usage_in_kernelmode": cg.cpu_system,
        "usage_in_usermode": cg.cpu_user,
    });
    if !cg.v2 && !cg.cpu_percpu.is_empty() {
        usage["percpu_usage"] = json!(cg.cpu_percpu);
    }
    if !s.running {
        return json!({"cpu_usage": {"total_usage": 0}, "throttling_data": {}});
    }
    json!({
        "cpu_usage": usage,
        "system_cpu_usage": s.system_cpu,
        "online_cpus": s.online_cpus,
        "throttling_data": {
            "periods": cg.throttle_periods,
            "throttled_periods": cg.throttled_periods,
            "throttled_time": cg.throttled_time,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(cpu: u64, system: u64) -> StatsSample {
        let mut s = StatsSample {
            id: "abc".into(),
            name: "web".into(),
            running: true,
            system_cpu: system,
            online_cpus: 2,
            host_memory: 1 << 30,
            ..Default::default()
        };
        s.cgroup.cpu_total = cpu;
        s.cgroup.memory_usage = 1 << 20;
        s
    }

    #[test]
    fn precpu_is_the_earlier_reading_and_an_unlimited_container_gets_the_hosts_memory() {
        let v = stats_json(&sample(200, 2000), Some(&sample(100, 1000)));
        assert_eq!(v["name"], "/web");
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 200);
        assert_eq!(v["precpu_stats"]["cpu_usage"]["total_usage"], 100);
        assert_eq!(v["precpu_stats"]["system_cpu_usage"], 1000);
        assert_eq!(v["memory_stats"]["limit"], 1u64 << 30);
        assert_eq!(v["memory_stats"]["usage"], 1u64 << 20);
    }

    #[test]
    fn a_limit_below_the_hosts_memory_is_reported() {
        let mut s = sample(1, 1);
        s.cgroup.memory_limit = Some(64 << 20);
        assert_eq!(stats_json(&s, None)["memory_stats"]["limit"], 64u64 << 20);
        assert_eq!(stats_json(&s, None)["preread"], ZERO_TIME);
    }

    #[test]
    fn blkio_has_dockers_lists_for_the_cgroup_version_and_no_networks_are_left_out() {
        let mut s = sample(1, 1);
        s.cgroup.io_serviced = vec![(8, 0, "Read".into(), 3)];
        let v1 = stats_json(&s, None);
        assert_eq!(v1["blkio_stats"]["io_serviced_recursive"][0]["op"], "Read");
        assert_eq!(v1["blkio_stats"]["sectors_recursive"], json!([]));
        // A container without networks (`none`): no `networks` key, as Docker's omitempty.
        assert!(v1.get("networks").is_none(), "{v1}");
        s.cgroup.v2 = true;
        let v2 = stats_json(&s, None);
        assert_eq!(v2["blkio_stats"]["io_serviced_recursive"], Value::Null);
        assert_eq!(v2["blkio_stats"]["io_service_bytes_recursive"], json!([]));
    }
}
