//! The support tables against the bollard-stubs types: every field of each type is in its
//! table (a field added by a new API version fails here until someone decides), and every
//! refused field, set, is a 400 naming it while the docker CLI's zero values pass.

use bollard_stubs::models::{
    ContainerCreateBody, ContainerUpdateBody, EndpointIpamConfig, EndpointSettings, HealthConfig,
    HostConfig, Ipam, IpamConfig, NetworkCreateRequest,
};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::*;

fn assert_table_covers<T: DeserializeOwned>(table: &[(&str, Support)]) {
    berth_test_support::assert_table_covers::<T, Support>(table);
}

#[test]
fn every_field_of_the_create_types_is_honoured_refused_or_ignored_as_docker_does() {
    assert_table_covers::<ContainerCreateBody>(CONFIG);
    assert_table_covers::<HealthConfig>(HEALTHCHECK);
    assert_table_covers::<HostConfig>(HOST_CONFIG);
    assert_table_covers::<EndpointSettings>(ENDPOINT);
    assert_table_covers::<EndpointIpamConfig>(ENDPOINT_IPAM);
    assert_table_covers::<NetworkCreateRequest>(NETWORK_CREATE);
    assert_table_covers::<Ipam>(IPAM);
    assert_table_covers::<IpamConfig>(IPAM_CONFIG);
    assert_table_covers::<ContainerUpdateBody>(UPDATE);
}

#[test]
fn refused_network_create_fields_are_named() {
    for body in [
        json!({"Name": "n", "Ingress": true}),
        json!({"Name": "n", "ConfigFrom": {"Network": "x"}}),
        json!({"Name": "n", "IPAM": {"Options": {"a": "b"}}}),
    ] {
        let err = check_network_create(&body).expect_err("refused");
        assert!(
            err.message.contains("is not supported by berth"),
            "{}",
            err.message
        );
    }
    // The docker CLI's zero values are not requests.
    let cli = json!({"Name": "n", "CheckDuplicate": true, "Driver": "bridge", "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": []}, "Internal": false,
        "Attachable": false, "Ingress": false, "ConfigOnly": false, "ConfigFrom": null});
    assert!(check_network_create(&cli).is_ok());
}

#[test]
fn each_refused_field_set_is_a_400_naming_it() {
    let tables: [(&[(&str, Support)], &str); 3] = [
        (CONFIG, ""),
        (HOST_CONFIG, "HostConfig"),
        (ENDPOINT, "NetworkingConfig.EndpointsConfig.n"),
    ];
    for (table, at) in tables {
        for (name, support) in table {
            if !matches!(support, Support::Refused(_)) {
                continue;
            }
            let mut body = json!({"Image": "busybox"});
            let target = match at {
                "" => &mut body,
                "HostConfig" => {
                    body["HostConfig"] = json!({});
                    &mut body["HostConfig"]
                }
                _ => {
                    body["NetworkingConfig"] = json!({"EndpointsConfig": {"n": {}}});
                    &mut body["NetworkingConfig"]["EndpointsConfig"]["n"]
                }
            };
            target[*name] = json!(1);
            let err = check_create(&body).expect_err(name);
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(err.message.contains(name), "{name}: {}", err.message);
        }
    }
    // Both addresses are honoured (an IPv6 one on a network with IPv6 on, checked by the
    // engine).
    let mut body = json!({"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {
        "n": {"IPAMConfig": {"IPv6Address": "fd00::2"}}}}});
    assert!(check_create(&body).is_ok());
    body["NetworkingConfig"]["EndpointsConfig"]["n"]["IPAMConfig"] =
        json!({"IPv4Address": "10.0.0.2"});
    assert!(check_create(&body).is_ok());
}

#[test]
fn restart_policies_are_checked_with_dockers_words() {
    let with = |p: Value| json!({"Image": "b", "HostConfig": {"RestartPolicy": p}});
    let e = check_create(&with(json!({"Name": "bogus"}))).unwrap_err();
    assert!(
        e.message.contains("unknown policy 'bogus'"),
        "{}",
        e.message
    );
    let e = check_create(&with(
        json!({"Name": "on-failure", "MaximumRetryCount": -1}),
    ))
    .unwrap_err();
    assert!(e.message.contains("cannot be negative"), "{}", e.message);
    assert!(check_create(&with(json!({"Name": "unless-stopped"}))).is_ok());
}

#[test]
fn the_docker_clis_zero_values_are_not_requests() {
    // What `docker run busybox` sends (docker 28), unset fields at their zero values.
    let body: Value = serde_json::from_str(
        r#"{
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false,
        "AttachStdout": true, "AttachStderr": true, "Tty": false, "OpenStdin": false,
        "StdinOnce": false, "Env": null, "Cmd": null, "Image": "busybox", "Volumes": {},
        "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": {},
        "HostConfig": {
            "Binds": null, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
            "NetworkMode": "default", "PortBindings": {},
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": false,
            "VolumeDriver": "", "VolumesFrom": null, "ConsoleSize": [24, 80], "CapAdd": null,
            "CapDrop": null, "CgroupnsMode": "", "Dns": [], "DnsOptions": [], "DnsSearch": [],
            "ExtraHosts": null, "GroupAdd": null, "IpcMode": "", "Cgroup": "", "Links": null,
            "OomScoreAdj": 0, "PidMode": "", "Privileged": false, "PublishAllPorts": false,
            "ReadonlyRootfs": false, "SecurityOpt": null, "UTSMode": "", "UsernsMode": "",
            "ShmSize": 0, "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0,
            "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [],
            "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [],
            "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0,
            "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": [],
            "DeviceCgroupRules": null, "DeviceRequests": null, "MemoryReservation": 0,
            "MemorySwap": 0, "MemorySwappiness": null, "OomKillDisable": false,
            "PidsLimit": null, "Ulimits": [], "CpuCount": 0, "CpuPercent": 0,
            "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "MaskedPaths": null,
            "ReadonlyPaths": null
        },
        "NetworkingConfig": {"EndpointsConfig": {}}
    }"#,
    )
    .unwrap();
    check_create(&body).unwrap();
    assert!(!is_set(&json!({"Type": "", "Config": {}})));
    assert!(is_set(&json!({"Type": "syslog", "Config": {}})));
}

#[test]
fn an_update_refuses_by_name_what_it_does_not_change() {
    for (name, support) in UPDATE.iter().chain(OLD_RESOURCES) {
        if !matches!(support, Support::Refused(_)) {
            continue;
        }
        let err = check_update(&json!({ *name: 1 })).expect_err(name);
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(err.message.starts_with(name), "{name}: {}", err.message);
    }
    for fixed in ["Ulimits", "Devices", "OomKillDisable", "CgroupParent"] {
        assert!(
            UPDATE.contains(&(fixed, FIXED_AT_CREATE)),
            "{fixed} is fixed at create"
        );
    }
    let e = check_update(&json!({"RestartPolicy": {"Name": "sometimes"}})).unwrap_err();
    assert!(
        e.message.contains("unknown policy 'sometimes'"),
        "{}",
        e.message
    );
    // `docker update --kernel-memory` (20.10) and a create's `--kernel-memory` are refused.
    let e =
        check_create(&json!({"Image": "b", "HostConfig": {"KernelMemory": 4194304}})).unwrap_err();
    assert!(
        e.message.contains("HostConfig.KernelMemory"),
        "{}",
        e.message
    );
}

#[test]
fn the_docker_clis_update_body_passes() {
    // What docker 20.10's `docker update --cpuset-cpus 0 c` sends: every other field zero.
    let body: Value = serde_json::from_str(
        r#"{
        "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
        "BlkioWeightDevice": null, "BlkioDeviceReadBps": null, "BlkioDeviceWriteBps": null,
        "BlkioDeviceReadIOps": null, "BlkioDeviceWriteIOps": null, "CpuPeriod": 0,
        "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "0",
        "CpusetMems": "", "Devices": null, "DeviceCgroupRules": null, "DeviceRequests": null,
        "KernelMemory": 0, "KernelMemoryTCP": 0, "MemoryReservation": 0, "MemorySwap": 0,
        "MemorySwappiness": null, "OomKillDisable": null, "PidsLimit": null, "Ulimits": null,
        "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
        "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}
    }"#,
    )
    .unwrap();
    check_update(&body).unwrap();
}
