//! `HostConfig` fields beyond resources: accepted as Docker accepts them, refused with
//! Docker's messages.

use bollard_stubs::models::HostConfig;
use serde_json::json;

use super::*;

fn settings(v: serde_json::Value) -> Result<RuntimeSettings, ApiError> {
    let h: HostConfig = serde_json::from_value(v).unwrap();
    runtime_settings(&h)
}

fn refusal(v: serde_json::Value) -> String {
    settings(v).expect_err("accepted").message
}

#[test]
fn namespaces_parse_host_private_and_container_modes() {
    let s =
        settings(json!({"PidMode": "host", "IpcMode": "container:db", "UTSMode": "host"})).unwrap();
    assert_eq!(s.pid_mode, NamespaceMode::Host);
    assert_eq!(s.ipc_mode, NamespaceMode::Container("db".into()));
    assert_eq!(s.uts_mode, NamespaceMode::Host);
    assert_eq!(
        settings(json!({"IpcMode": "shareable"})).unwrap().ipc_mode,
        NamespaceMode::Private
    );
    assert!(refusal(json!({"PidMode": "nope"})).contains("invalid PID mode"));
    assert!(refusal(json!({"UTSMode": "container:x"})).contains("invalid UTS mode"));
    assert!(refusal(json!({"PidMode": "container:"})).contains("invalid PID mode"));
}

#[test]
fn limits_are_checked_with_dockers_messages() {
    let s = settings(
        json!({"Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
        "OomScoreAdj": 500, "MemorySwappiness": 10, "CpusetCpus": "0-1,3"}),
    )
    .unwrap();
    assert_eq!(
        s.ulimits,
        vec![Ulimit {
            name: "nofile".into(),
            soft: 1024,
            hard: 2048
        }]
    );
    assert_eq!((s.oom_score_adj, s.memory_swappiness), (500, Some(10)));
    assert!(
        refusal(json!({"Ulimits": [{"Name": "nofiles", "Soft": 1, "Hard": 1}]}))
            .contains("invalid ulimit type: nofiles")
    );
    assert!(
        refusal(json!({"Ulimits": [{"Name": "nofile", "Soft": 3, "Hard": 2}]})).contains("3 > 2")
    );
    assert!(refusal(json!({"OomScoreAdj": 1001})).contains("[-1000, 1000]"));
    assert!(refusal(json!({"MemorySwappiness": 101})).contains("0-100"));
    assert!(refusal(json!({"CpusetCpus": "3-1"})).contains("cpuset.cpus"));
    assert!(refusal(json!({"Memory": 10, "MemoryReservation": 20})).contains("reservation"));
    assert!(refusal(json!({"CgroupParent": "a/../b"})).contains("cgroup parent"));
    assert_eq!(
        settings(json!({"CgroupParent": "/custom/"}))
            .unwrap()
            .cgroup_parent,
        "custom"
    );
}

#[test]
fn devices_and_rules_parse_or_are_refused() {
    let s = settings(json!({"Devices": [{"PathOnHost": "/dev/null"}],
        "DeviceCgroupRules": ["c 1:* rwm", "a *:* m"]}))
    .unwrap();
    assert_eq!(s.devices[0].path_in_container, "/dev/null");
    assert_eq!(s.devices[0].permissions, "rwm");
    assert_eq!(s.device_rules[0].major, Some(1));
    assert_eq!(s.device_rules[0].minor, None);
    assert_eq!(s.device_rules[1].kind, 'a');
    assert!(refusal(json!({"DeviceCgroupRules": ["c 1:3"]})).contains("invalid device cgroup rule"));
    assert!(
        refusal(json!({"DeviceCgroupRules": ["x 1:3 r"]})).contains("invalid device cgroup rule")
    );
    assert!(
        refusal(json!({"Devices": [{"PathOnHost": "/dev/null", "CgroupPermissions": "rwx"}]}))
            .contains("invalid device specification")
    );
}

#[test]
fn runtime_isolation_userns_volume_driver_and_logging_accept_only_what_exists() {
    let s = settings(
        json!({"Runtime": "runc", "Isolation": "default", "UsernsMode": "host",
        "VolumeDriver": "local", "LogConfig": {"Type": "local", "Config": {}}}),
    )
    .unwrap();
    assert_eq!(s.runtime, "runc");
    assert_eq!(s.log.unwrap().rotation.max_file, 5);
    let s = settings(json!({"LogConfig": {"Type": "", "Config": {}}})).unwrap();
    assert!(s.log.is_none(), "the daemon's default applies");
    assert!(refusal(json!({"Runtime": "kata"})).contains("unknown or invalid runtime name: kata"));
    assert!(refusal(json!({"Isolation": "hyperv"})).contains("Invalid isolation"));
    assert!(refusal(json!({"UsernsMode": "private"})).contains("invalid USER mode"));
    // Taken as Docker takes it: a volume the driver would have to make is refused at create.
    let s = settings(json!({"VolumeDriver": "nfs", "Isolation": "default"})).unwrap();
    assert_eq!(
        (s.volume_driver.as_str(), s.isolation.as_str()),
        ("nfs", "default")
    );
    assert!(
        refusal(json!({"LogConfig": {"Type": "syslog"}})).contains("no log driver named 'syslog'")
    );
    assert!(refusal(
        json!({"LogConfig": {"Type": "json-file", "Config": {"max-file": "2", "compress": "true"}}})
    )
    .contains("max-size"));
}
