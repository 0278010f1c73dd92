//! Which fields of Docker's container create body berth honours, which it refuses, and which
//! Docker itself ignores on Linux: one table per object, that every field of the bollard-stubs
//! type must be in (the tests walk the types). A refused field that is set (not null, false,
//! zero, empty, nor an object of such) is a 400 naming it, before anything is created: never
//! accepted and dropped. The docker CLI sends many fields at their zero value, which is "unset".

use serde_json::Value;

use crate::api::error::ApiError;

/// What berth does with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented as Docker does.
    Honoured,
    /// Refused with a 400 when set; the text says why.
    Refused(&'static str),
    /// Docker ignores it on Linux too (the text says why); berth does the same.
    AsDocker(&'static str),
}

use Support::{AsDocker, Honoured, Refused};

const WINDOWS: Support = Refused("a Windows-only setting");
const BLKIO_LIMITS_AT_CREATE: Support =
    Refused("block I/O limits are set at create (Docker's update ignores them)");
const REALTIME: Support = Refused("real-time CPU scheduling is not supported");
const NO_GPUS: Support = Refused("no device driver (--gpus) is installed");
const KERNEL_MEMORY: Support =
    Refused("kernel memory limits are not supported (Docker ignores them since API 1.42)");
const OUTPUT: Support = AsDocker("an output field, filled by the daemon");

/// `ContainerCreateBody` (the container's `Config`).
pub const CONFIG: &[(&str, Support)] = &[
    ("Hostname", Honoured),
    ("Domainname", Honoured),
    ("User", Honoured),
    ("AttachStdin", Honoured),
    ("AttachStdout", Honoured),
    ("AttachStderr", Honoured),
    ("ExposedPorts", Honoured),
    ("Tty", Honoured),
    ("OpenStdin", Honoured),
    ("StdinOnce", Honoured),
    ("Env", Honoured),
    ("Cmd", Honoured),
    ("Healthcheck", Honoured),
    (
        "ArgsEscaped",
        AsDocker("Windows only: it changes how Cmd is joined there"),
    ),
    ("Image", Honoured),
    ("Volumes", Honoured),
    ("WorkingDir", Honoured),
    ("Entrypoint", Honoured),
    ("NetworkDisabled", Honoured),
    (
        "OnBuild",
        AsDocker("kept in the config; it acts only when the image is built upon"),
    ),
    ("Labels", Honoured),
    ("StopSignal", Honoured),
    ("StopTimeout", Honoured),
    (
        "Shell",
        AsDocker("kept in the config; it acts only in image builds"),
    ),
    ("HostConfig", Honoured),
    ("NetworkingConfig", Honoured),
];

/// `HealthConfig`.
pub const HEALTHCHECK: &[(&str, Support)] = &[
    ("Test", Honoured),
    ("Interval", Honoured),
    ("Timeout", Honoured),
    ("Retries", Honoured),
    ("StartPeriod", Honoured),
    ("StartInterval", Honoured),
];

/// `HostConfig`.
pub const HOST_CONFIG: &[(&str, Support)] = &[
    ("CpuShares", Honoured),
    ("Memory", Honoured),
    ("CgroupParent", Honoured),
    ("BlkioWeight", Honoured),
    ("BlkioWeightDevice", Honoured),
    ("BlkioDeviceReadBps", Honoured),
    ("BlkioDeviceWriteBps", Honoured),
    ("BlkioDeviceReadIOps", Honoured),
    ("BlkioDeviceWriteIOps", Honoured),
    ("CpuPeriod", Honoured),
    ("CpuQuota", Honoured),
    ("CpuRealtimePeriod", REALTIME),
    ("CpuRealtimeRuntime", REALTIME),
    ("CpusetCpus", Honoured),
    ("CpusetMems", Honoured),
    ("Devices", Honoured),
    ("DeviceCgroupRules", Honoured),
    ("DeviceRequests", NO_GPUS),
    ("MemoryReservation", Honoured),
    ("MemorySwap", Honoured),
    ("MemorySwappiness", Honoured),
    ("NanoCpus", Honoured),
    ("OomKillDisable", Honoured),
    ("Init", Honoured),
    ("PidsLimit", Honoured),
    ("Ulimits", Honoured),
    ("CpuCount", WINDOWS),
    ("CpuPercent", WINDOWS),
    ("IOMaximumIOps", WINDOWS),
    ("IOMaximumBandwidth", WINDOWS),
    ("Binds", Honoured),
    ("ContainerIDFile", AsDocker("the client writes that file")),
    ("LogConfig", Honoured),
    ("NetworkMode", Honoured),
    ("PortBindings", Honoured),
    ("RestartPolicy", Honoured),
    ("AutoRemove", Honoured),
    ("VolumeDriver", Honoured),
    ("VolumesFrom", Honoured),
    ("Mounts", Honoured),
    ("ConsoleSize", Honoured),
    ("Annotations", Honoured),
    ("CapAdd", Honoured),
    ("CapDrop", Honoured),
    ("CgroupnsMode", Honoured),
    ("Dns", Honoured),
    ("DnsOptions", Honoured),
    ("DnsSearch", Honoured),
    ("ExtraHosts", Honoured),
    ("GroupAdd", Honoured),
    ("IpcMode", Honoured),
    (
        "Cgroup",
        Refused("joining another container's cgroup is not supported"),
    ),
    ("Links", Honoured),
    ("OomScoreAdj", Honoured),
    ("PidMode", Honoured),
    ("Privileged", Honoured),
    ("PublishAllPorts", Honoured),
    ("ReadonlyRootfs", Honoured),
    ("SecurityOpt", Honoured),
    (
        "StorageOpt",
        Refused("per-container storage quotas are not supported"),
    ),
    ("Tmpfs", Honoured),
    ("UTSMode", Honoured),
    ("UsernsMode", Honoured),
    ("ShmSize", Honoured),
    ("Sysctls", Honoured),
    ("Runtime", Honoured),
    ("Isolation", Honoured),
    ("MaskedPaths", Honoured),
    ("ReadonlyPaths", Honoured),
];

/// What an update cannot change: Docker fixes these at create and ignores them in an update.
const FIXED_AT_CREATE: Support = Refused(
    "an update does not change it (Docker fixes it at create and ignores it here); create a \
     new container",
);

/// `ContainerUpdateBody` (`POST /containers/{id}/update`): Docker's `docker update` limits and
/// the restart policy are honoured; what Docker ignores in an update, berth refuses.
pub const UPDATE: &[(&str, Support)] = &[
    ("CpuShares", Honoured),
    ("Memory", Honoured),
    ("CgroupParent", FIXED_AT_CREATE),
    ("BlkioWeight", Honoured),
    ("BlkioWeightDevice", Honoured),
    ("BlkioDeviceReadBps", BLKIO_LIMITS_AT_CREATE),
    ("BlkioDeviceWriteBps", BLKIO_LIMITS_AT_CREATE),
    ("BlkioDeviceReadIOps", BLKIO_LIMITS_AT_CREATE),
    ("BlkioDeviceWriteIOps", BLKIO_LIMITS_AT_CREATE),
    ("CpuPeriod", Honoured),
    ("CpuQuota", Honoured),
    ("CpuRealtimePeriod", REALTIME),
    ("CpuRealtimeRuntime", REALTIME),
    ("CpusetCpus", Honoured),
    ("CpusetMems", Honoured),
    ("Devices", FIXED_AT_CREATE),
    ("DeviceCgroupRules", FIXED_AT_CREATE),
    ("DeviceRequests", NO_GPUS),
    ("MemoryReservation", Honoured),
    ("MemorySwap", Honoured),
    ("MemorySwappiness", FIXED_AT_CREATE),
    ("NanoCpus", Honoured),
    ("OomKillDisable", FIXED_AT_CREATE),
    ("Init", FIXED_AT_CREATE),
    ("PidsLimit", Honoured),
    ("Ulimits", FIXED_AT_CREATE),
    ("CpuCount", WINDOWS),
    ("CpuPercent", WINDOWS),
    ("IOMaximumIOps", WINDOWS),
    ("IOMaximumBandwidth", WINDOWS),
    ("RestartPolicy", Honoured),
];

/// Resource fields of older API versions, gone from the types, that Docker 20.10's CLI still
/// sends (at zero unless asked) in a create's `HostConfig` and in an update.
pub const OLD_RESOURCES: &[(&str, Support)] = &[
    ("KernelMemory", KERNEL_MEMORY),
    ("KernelMemoryTCP", KERNEL_MEMORY),
];

/// `EndpointSettings` (one network of `NetworkingConfig.EndpointsConfig`).
pub const ENDPOINT: &[(&str, Support)] = &[
    ("IPAMConfig", Honoured),
    ("Links", Honoured),
    ("MacAddress", Honoured),
    ("Aliases", Honoured),
    ("DriverOpts", Honoured),
    (
        "GwPriority",
        Refused("gateway priorities are not supported yet"),
    ),
    ("NetworkID", OUTPUT),
    ("EndpointID", OUTPUT),
    ("Gateway", OUTPUT),
    ("IPAddress", OUTPUT),
    ("IPPrefixLen", OUTPUT),
    ("IPv6Gateway", OUTPUT),
    ("GlobalIPv6Address", OUTPUT),
    ("GlobalIPv6PrefixLen", OUTPUT),
    ("DNSNames", OUTPUT),
];

/// `EndpointIPAMConfig`.
pub const ENDPOINT_IPAM: &[(&str, Support)] = &[
    ("IPv4Address", Honoured),
    ("IPv6Address", Honoured),
    ("LinkLocalIPs", Honoured),
];

/// `NetworkCreateRequest` (`POST /networks/create`). Docker 20.10's CLI also sends
/// `CheckDuplicate`, gone from the API since 1.44: berth refuses a duplicate name always, as
/// Docker does since.
pub const NETWORK_CREATE: &[(&str, Support)] = &[
    ("Name", Honoured),
    ("Driver", Honoured),
    ("Scope", Honoured),
    ("Internal", Honoured),
    ("Attachable", Honoured),
    (
        "Ingress",
        Refused("an ingress network is a swarm's overlay network (driver overlay)"),
    ),
    (
        "ConfigOnly",
        Refused("configuration-only networks are not supported yet"),
    ),
    (
        "ConfigFrom",
        Refused("configuration-only networks are not supported yet"),
    ),
    ("IPAM", Honoured),
    ("EnableIPv4", Honoured),
    ("EnableIPv6", Honoured),
    ("Options", Honoured),
    ("Labels", Honoured),
];

/// A network's `IPAM`.
pub const IPAM: &[(&str, Support)] = &[
    ("Driver", Honoured),
    ("Config", Honoured),
    (
        "Options",
        Refused("the default IPAM driver takes no options"),
    ),
];

/// One `IPAM.Config` entry.
pub const IPAM_CONFIG: &[(&str, Support)] = &[
    ("Subnet", Honoured),
    ("IPRange", Honoured),
    ("Gateway", Honoured),
    ("AuxiliaryAddresses", Honoured),
];

/// Refuses the network create fields berth cannot honour, by name.
pub fn check_network_create(body: &Value) -> Result<(), ApiError> {
    check(body, NETWORK_CREATE, "")?;
    check(&body["IPAM"], IPAM, "IPAM.")?;
    for c in body["IPAM"]["Config"].as_array().into_iter().flatten() {
        check(c, IPAM_CONFIG, "IPAM.Config.")?;
    }
    Ok(())
}

/// Refuses a create body that sets a refused field; the message names the field. Also the
/// checks that must see the raw JSON, before the typed model rejects it less clearly.
pub fn check_create(body: &Value) -> Result<(), ApiError> {
    check_restart_policy(&body["HostConfig"]["RestartPolicy"])?;
    check(body, CONFIG, "")?;
    check(&body["Healthcheck"], HEALTHCHECK, "Healthcheck.")?;
    check(&body["HostConfig"], HOST_CONFIG, "HostConfig.")?;
    check(&body["HostConfig"], OLD_RESOURCES, "HostConfig.")?;
    if let Some(endpoints) = body["NetworkingConfig"]["EndpointsConfig"].as_object() {
        for (net, e) in endpoints {
            check_endpoint(e, &format!("NetworkingConfig.EndpointsConfig.{net}."))?;
        }
    }
    Ok(())
}

/// Refuses an update body that sets a field berth does not change, naming it.
pub fn check_update(body: &Value) -> Result<(), ApiError> {
    check_restart_policy(&body["RestartPolicy"])?;
    check(body, UPDATE, "")?;
    check(body, OLD_RESOURCES, "")
}

/// Refuses endpoint settings (a create's per-network ones, `network connect`'s) that set a
/// refused field; `prefix` is where they sit in the request.
pub fn check_endpoint(e: &Value, prefix: &str) -> Result<(), ApiError> {
    check(e, ENDPOINT, prefix)?;
    check(
        &e["IPAMConfig"],
        ENDPOINT_IPAM,
        &format!("{prefix}IPAMConfig."),
    )
}

/// Docker's wording for a restart policy it does not know or a negative retry count.
pub fn check_restart_policy(policy: &Value) -> Result<(), ApiError> {
    let name = policy["Name"].as_str().unwrap_or("");
    if !matches!(name, "" | "no" | "always" | "unless-stopped" | "on-failure") {
        return Err(ApiError::bad_request(format!(
            "invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', \
             'on-failure', or 'unless-stopped'"
        )));
    }
    if policy["MaximumRetryCount"].as_i64().is_some_and(|n| n < 0) {
        return Err(ApiError::bad_request(
            "invalid restart policy: maximum retry count cannot be negative",
        ));
    }
    Ok(())
}

fn check(obj: &Value, table: &[(&str, Support)], prefix: &str) -> Result<(), ApiError> {
    let Some(obj) = obj.as_object() else {
        return Ok(());
    };
    for (name, support) in table {
        if let (Refused(why), Some(v)) = (support, obj.get(*name)) {
            if is_set(v) {
                return Err(ApiError::bad_request(format!(
                    "{prefix}{name} is not supported by berth: {why}"
                )));
            }
        }
    }
    Ok(())
}

/// Whether a JSON value asks for anything: Docker's clients send unset fields as null, false,
/// zero, "" or empty collections.
pub fn is_set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => o.values().any(is_set),
    }
}

#[cfg(test)]
#[path = "support_tests.rs"]
mod tests;
