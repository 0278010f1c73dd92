//! The runtime settings' part of the OCI spec (`RuntimeSettings`): shared namespaces, the cgroup
//! namespace and path, rlimits, sysctls, OOM settings, cpusets, memory reservation and
//! swappiness, devices and device rules, annotations, the domain name. Pure: `spec::build` calls
//! it with the namespace paths the engine resolved at start.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::settings::{DeviceRule, NamespaceMode, RuntimeSettings, ThrottleDevice, ULIMIT_NAMES};
use super::types::ContainerRecord;

/// Another container's namespaces this one joins (`/proc/<pid>/ns/<kind>` of its init),
/// resolved at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedNamespaces {
    pub pid: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub net: Option<PathBuf>,
    /// The `/dev/shm` to bind instead of a tmpfs of its own (IPC shared with the host or
    /// another container).
    pub shm: Option<PathBuf>,
}

/// Docker's default `RLIMIT_NOFILE` soft limit: programs that walk every descriptor stay fast;
/// the hard limit is `nofile_hard`, what the host allows up to Docker's 1048576.
pub const NOFILE_SOFT: i64 = 1024;

/// The namespaces of the container: `pid`, `ipc`, `uts`, `mount`, `network` unless shared
/// with the host, with a path when shared with another container, and `cgroup` when private.
pub fn namespaces(rec: &ContainerRecord, shared: &SharedNamespaces) -> Vec<Value> {
    let r = &rec.host.runtime;
    let mut out = Vec::new();
    let mut add = |kind: &str, mode: &NamespaceMode, path: &Option<PathBuf>| match (mode, path) {
        (NamespaceMode::Host, _) => {}
        (_, Some(p)) => out.push(json!({"type": kind, "path": p})),
        _ => out.push(json!({"type": kind})),
    };
    add("pid", &r.pid_mode, &shared.pid);
    add("ipc", &r.ipc_mode, &shared.ipc);
    add("uts", &r.uts_mode, &None);
    out.push(json!({"type": "mount"}));
    if rec.host.network_mode != "host" {
        match &shared.net {
            Some(p) => out.push(json!({"type": "network", "path": p})),
            None => out.push(json!({"type": "network"})),
        }
    }
    if r.cgroupns_private {
        out.push(json!({"type": "cgroup"}));
    }
    out
}

/// Adds the settings to a spec built by `spec::build`: process rlimits and OOM score,
/// `linux` sysctls, devices and resources, annotations, domain name, cgroups path.
pub fn apply(spec: &mut Value, rec: &ContainerRecord, nofile_hard: i64) {
    let r = &rec.host.runtime;
    spec["linux"]["cgroupsPath"] = json!(format!("/{}", r.cgroup_rel(&rec.id).display()));
    spec["process"]["rlimits"] = json!(rlimits(r, nofile_hard));
    if r.oom_score_adj != 0 {
        spec["process"]["oomScoreAdj"] = json!(r.oom_score_adj);
    }
    let mut sysctls = r.sysctls.clone();
    // Docker's defaults (since 20.10) in a network namespace of the container's own: a
    // process without CAP_NET_BIND_SERVICE may bind ports below 1024, and one without
    // CAP_NET_RAW may ping. The container's own `--sysctl`s win.
    let mode = rec.host.network_mode.as_str();
    if mode != "host" && !mode.starts_with("container:") {
        for (key, value) in [
            ("net.ipv4.ip_unprivileged_port_start", "0"),
            ("net.ipv4.ping_group_range", "0 2147483647"),
        ] {
            sysctls.entry(key.into()).or_insert_with(|| value.into());
        }
    }
    if !sysctls.is_empty() {
        spec["linux"]["sysctl"] = json!(sysctls);
    }
    if !r.annotations.is_empty() {
        spec["annotations"] = json!(r.annotations);
    }
    if r.uts_mode == NamespaceMode::Host {
        // The host's UTS namespace keeps the host's names; runtimes refuse to set them there.
        if let Some(s) = spec.as_object_mut() {
            s.remove("hostname");
            s.remove("domainname");
        }
    } else if !rec.config.domainname.is_empty() {
        spec["domainname"] = json!(rec.config.domainname);
    }
    if !r.devices.is_empty() {
        spec["linux"]["devices"] = json!(r
            .devices
            .iter()
            .map(|d| json!({
                "path": d.path_in_container, "type": d.kind.to_string(),
                "major": d.major, "minor": d.minor, "fileMode": d.file_mode,
                "uid": d.uid, "gid": d.gid,
            }))
            .collect::<Vec<_>>());
    }
    let resources = &mut spec["linux"]["resources"];
    if !rec.host.privileged {
        if let Some(rules) = resources["devices"].as_array_mut() {
            rules.extend(r.devices.iter().map(|d| {
                json!({"allow": true, "type": d.kind.to_string(), "major": d.major,
                    "minor": d.minor, "access": d.permissions})
            }));
            rules.extend(r.device_rules.iter().map(device_rule));
        }
    }
    let memory = &mut resources["memory"];
    if r.memory_reservation > 0 {
        memory["reservation"] = json!(r.memory_reservation);
    }
    if let Some(s) = r.memory_swappiness {
        memory["swappiness"] = json!(s);
    }
    if r.oom_kill_disable {
        memory["disableOOMKiller"] = json!(true);
    }
    if !r.cpuset_cpus.is_empty() {
        resources["cpu"]["cpus"] = json!(r.cpuset_cpus);
    }
    if !r.cpuset_mems.is_empty() {
        resources["cpu"]["mems"] = json!(r.cpuset_mems);
    }
    if r.blkio_weight > 0 {
        resources["blockIO"]["weight"] = json!(r.blkio_weight);
    }
    let t = &r.blkio_throttle;
    let limits = |devs: &[ThrottleDevice]| -> Value {
        devs.iter()
            .map(|d| json!({"major": d.major, "minor": d.minor, "rate": d.rate}))
            .collect()
    };
    for (key, devs) in [
        ("throttleReadBpsDevice", &t.read_bps),
        ("throttleWriteBpsDevice", &t.write_bps),
        ("throttleReadIOPSDevice", &t.read_iops),
        ("throttleWriteIOPSDevice", &t.write_iops),
    ] {
        if !devs.is_empty() {
            resources["blockIO"][key] = limits(devs);
        }
    }
}

/// The container's process rlimits (its `--ulimit`s, and the default open-files limit), which
/// its execs get too.
pub fn rlimits(r: &RuntimeSettings, nofile_hard: i64) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    if !r.ulimits.iter().any(|u| u.name == "nofile") {
        let soft = NOFILE_SOFT.min(nofile_hard);
        out.push(json!({"type": "RLIMIT_NOFILE", "soft": soft, "hard": nofile_hard}));
    }
    for u in &r.ulimits {
        if let Some((_, rlimit)) = ULIMIT_NAMES.iter().find(|(n, _)| *n == u.name) {
            // Docker's -1 is "unlimited" (RLIM_INFINITY).
            let value = |v: i64| if v < 0 { u64::MAX } else { v.unsigned_abs() };
            out.push(json!({"type": rlimit, "soft": value(u.soft), "hard": value(u.hard)}));
        }
    }
    out
}

fn device_rule(d: &DeviceRule) -> Value {
    let mut rule = json!({"allow": true, "access": d.access});
    if d.kind != 'a' {
        rule["type"] = json!(d.kind.to_string());
    }
    if let Some(major) = d.major {
        rule["major"] = json!(major);
    }
    if let Some(minor) = d.minor {
        rule["minor"] = json!(minor);
    }
    rule
}

/// The sysctls a container may set (runc's rule): those of namespaces it owns.
pub fn check_sysctl(key: &str, r: &RuntimeSettings, network_mode: &str) -> Result<(), String> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let owns = |mode: &NamespaceMode| *mode == NamespaceMode::Private;
    let allowed = if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        owns(&r.ipc_mode)
    } else if key.starts_with("net.") {
        network_mode != "host" && !network_mode.starts_with("container:")
    } else if matches!(key, "kernel.domainname" | "kernel.hostname") {
        owns(&r.uts_mode)
    } else {
        false
    };
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "sysctl {key:?} is not allowed: it is not namespaced, or the container shares \
             that namespace"
        ))
    }
}

#[cfg(test)]
#[path = "spec_runtime_tests.rs"]
mod tests;
