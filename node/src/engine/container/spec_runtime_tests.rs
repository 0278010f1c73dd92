//! The runtime settings in the OCI spec, field by field.

use std::path::PathBuf;

use serde_json::json;

use super::*;
use crate::engine::container::settings::{DeviceMapping, Ulimit};

fn record() -> ContainerRecord {
    ContainerRecord {
        id: "abc".into(),
        ..Default::default()
    }
}

fn applied(rec: &ContainerRecord) -> Value {
    let mut spec = json!({"process": {}, "linux": {"resources": {
        "devices": [{"allow": false, "access": "rwm"}], "memory": {}, "cpu": {}}}});
    apply(&mut spec, rec, 20_000);
    spec
}

#[test]
fn namespaces_follow_the_modes_and_shared_paths() {
    let mut rec = record();
    rec.host.network_mode = "default".into();
    let kinds = |ns: &[Value]| ns.iter().map(|n| n["type"].clone()).collect::<Vec<_>>();
    let ns = namespaces(&rec, &SharedNamespaces::default());
    assert_eq!(kinds(&ns), vec!["pid", "ipc", "uts", "mount", "network"]);
    rec.host.runtime.pid_mode = NamespaceMode::Host;
    rec.host.runtime.uts_mode = NamespaceMode::Host;
    rec.host.runtime.ipc_mode = NamespaceMode::Container("def".into());
    rec.host.runtime.cgroupns_private = true;
    rec.host.network_mode = "container:def".into();
    let shared = SharedNamespaces {
        ipc: Some(PathBuf::from("/proc/7/ns/ipc")),
        net: Some(PathBuf::from("/proc/7/ns/net")),
        ..Default::default()
    };
    let ns = namespaces(&rec, &shared);
    assert_eq!(kinds(&ns), vec!["ipc", "mount", "network", "cgroup"]);
    assert_eq!(ns[0]["path"], "/proc/7/ns/ipc");
    assert_eq!(ns[2]["path"], "/proc/7/ns/net");
}

#[test]
fn rlimits_default_nofile_within_the_host_and_ulimits_replace_it() {
    let rec = record();
    let s = applied(&rec);
    assert_eq!(
        s["process"]["rlimits"],
        json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 20000}])
    );
    let mut rec = record();
    rec.host.runtime.ulimits = vec![
        Ulimit {
            name: "nofile".into(),
            soft: 100,
            hard: 200,
        },
        Ulimit {
            name: "core".into(),
            soft: -1,
            hard: -1,
        },
    ];
    let s = applied(&rec);
    assert_eq!(
        s["process"]["rlimits"][0],
        json!({"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200})
    );
    assert_eq!(s["process"]["rlimits"][1]["hard"], json!(u64::MAX));
}

#[test]
fn resources_devices_sysctls_and_cgroup_path_are_written() {
    let mut rec = record();
    let r = &mut rec.host.runtime;
    r.cgroup_parent = "custom/sub".into();
    r.cpuset_cpus = "0".into();
    r.memory_reservation = 1 << 20;
    r.memory_swappiness = Some(0);
    r.oom_kill_disable = true;
    r.oom_score_adj = -500;
    r.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
    r.devices.push(DeviceMapping {
        path_on_host: "/dev/null".into(),
        path_in_container: "/dev/x".into(),
        permissions: "rw".into(),
        kind: 'c',
        major: 1,
        minor: 3,
        file_mode: 0o666,
        ..Default::default()
    });
    r.device_rules.push(DeviceRule {
        kind: 'c',
        major: Some(42),
        minor: None,
        access: "rwm".into(),
    });
    rec.config.domainname = "example.org".into();
    let s = applied(&rec);
    assert_eq!(s["linux"]["cgroupsPath"], "/custom/sub/abc");
    assert_eq!(s["linux"]["resources"]["cpu"]["cpus"], "0");
    assert_eq!(s["linux"]["resources"]["memory"]["reservation"], 1 << 20);
    assert_eq!(s["linux"]["resources"]["memory"]["swappiness"], 0);
    assert_eq!(s["linux"]["resources"]["memory"]["disableOOMKiller"], true);
    assert_eq!(s["process"]["oomScoreAdj"], -500);
    assert_eq!(s["linux"]["sysctl"]["net.ipv4.ip_forward"], "1");
    assert_eq!(s["linux"]["devices"][0]["path"], "/dev/x");
    let rules = s["linux"]["resources"]["devices"].as_array().unwrap();
    assert_eq!(
        rules[1],
        json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"})
    );
    assert_eq!(
        rules[2],
        json!({"allow": true, "type": "c", "major": 42, "access": "rwm"})
    );
    assert_eq!(s["domainname"], "example.org");
    assert_eq!(applied(&record())["linux"]["cgroupsPath"], "/berth/abc");
}

#[test]
fn only_namespaced_sysctls_of_owned_namespaces_are_allowed() {
    let mut r = RuntimeSettings::default();
    assert!(check_sysctl("net.core.somaxconn", &r, "bridge").is_ok());
    assert!(check_sysctl("net.core.somaxconn", &r, "host").is_err());
    assert!(check_sysctl("kernel.shmmax", &r, "bridge").is_ok());
    assert!(check_sysctl("fs.mqueue.msg_max", &r, "bridge").is_ok());
    assert!(check_sysctl("vm.swappiness", &r, "bridge").is_err());
    assert!(check_sysctl("kernel.pid_max", &r, "bridge").is_err());
    r.ipc_mode = NamespaceMode::Host;
    assert!(check_sysctl("kernel.shmmax", &r, "bridge").is_err());
}
