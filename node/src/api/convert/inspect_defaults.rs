//! The container and image inspect fields Docker's Go structs always carry, filled in where
//! berth's answer has none. Python clients (docker-py, docker-compose) index them and stop on a
//! missing key where docker 20.10 gives the zero value. Only fields whose zero value is what
//! the container has: settings berth refuses unless zero, and ones it shows whenever they are
//! set (so a missing one is unset).

use serde_json::{json, Map, Value};

/// Docker's zero values of `HostConfig` fields berth leaves out when unset.
fn host_config_zeros() -> Value {
    json!({
        "Binds": null, "ContainerIDFile": "", "VolumesFrom": null, "ExtraHosts": null, "GroupAdd": null,
        "Cgroup": "", "Links": null, "SecurityOpt": null, "ConsoleSize": [0, 0],
        "CapAdd": null, "CapDrop": null, "DeviceCgroupRules": null,
        "Isolation": "", "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [],
        "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "DeviceRequests": null,
        "KernelMemory": 0, "KernelMemoryTCP": 0, "MemorySwappiness": null, "CpuCount": 0,
        "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
    })
}

/// Inserts each of `zeros`' keys that `into` lacks.
pub fn fill_missing(into: &mut Map<String, Value>, zeros: Value) {
    if let Value::Object(zeros) = zeros {
        for (k, v) in zeros {
            into.entry(k).or_insert(v);
        }
    }
}

/// Fills the fields of inspect answer `v` Docker always has: the top level's (the overlay
/// directories in `graph_driver`, the AppArmor profile applied, "" when none) and
/// `HostConfig`'s.
pub fn fill(v: &mut Value, graph_driver: Value, apparmor: &str) {
    let Some(top) = v.as_object_mut() else { return };
    fill_missing(
        top,
        json!({
            "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": apparmor,
            "ExecIDs": null, "GraphDriver": graph_driver,
        }),
    );
    if let Some(Value::Object(host)) = top.get_mut("HostConfig") {
        fill_missing(host, host_config_zeros());
        // Not Go's zero (null) but what the docker CLI sends when nothing is published, and
        // Docker shows it back.
        host.entry("PortBindings").or_insert_with(|| json!({}));
    }
    if let Some(Value::Object(config)) = top.get_mut("Config") {
        fill_missing(
            config,
            json!({"OnBuild": null, "Volumes": null, "Entrypoint": null}),
        );
    }
}

/// Fills image inspect answer `v`'s `Config` fields Docker's `container.Config` always has
/// (a container's settings an image records none of: Go's zero values).
pub fn fill_image(v: &mut Value) {
    if let Some(Value::Object(config)) = v.get_mut("Config") {
        fill_missing(
            config,
            json!({
                "Hostname": "", "Domainname": "", "AttachStdin": false, "AttachStdout": false,
                "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false,
                "Image": "", "Entrypoint": null, "OnBuild": null, "Cmd": null, "Env": null,
                "Volumes": null, "Labels": null, "User": "", "WorkingDir": "",
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_get_dockers_zero_and_present_ones_stay() {
        let mut v = json!({"ExecIDs": ["e1"], "HostConfig": {"ExtraHosts": ["a:1.2.3.4"]}});
        fill(&mut v, json!({"Name": "overlay2"}), "");
        assert_eq!(v["ExecIDs"], json!(["e1"]));
        assert_eq!(v["HostConfig"]["ExtraHosts"], json!(["a:1.2.3.4"]));
        assert_eq!(v["HostConfig"]["GroupAdd"], Value::Null);
        assert!(v["HostConfig"].get("GroupAdd").is_some());
        assert_eq!(v["HostConfig"]["ConsoleSize"], json!([0, 0]));
        assert_eq!(v["GraphDriver"]["Name"], "overlay2");
        assert_eq!(v["AppArmorProfile"], "");
        assert!(v["HostConfig"].get("Binds").is_some_and(Value::is_null));
        let mut with_config = json!({"Config": {"Volumes": {"/v": {}}}});
        fill(&mut with_config, json!({}), "");
        assert_eq!(with_config["Config"]["Volumes"], json!({"/v": {}}));
        assert!(with_config["Config"]
            .get("OnBuild")
            .is_some_and(Value::is_null));

        let mut image = json!({"Config": {"Cmd": ["sh"]}});
        fill_image(&mut image);
        assert_eq!(image["Config"]["Cmd"], json!(["sh"]));
        assert_eq!(image["Config"]["Entrypoint"], Value::Null);
        assert!(image["Config"].get("Entrypoint").is_some());
        assert_eq!(image["Config"]["AttachStdin"], false);
    }
}
