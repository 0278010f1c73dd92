//! Docker's key order for answers berth builds as `serde_json::Value`, whose maps sort their
//! keys: `docker inspect` prints the daemon's JSON as it came, and Docker's starts with `Id`,
//! `Created`, `Path`, where berth's started with `AppArmorProfile`. Go writes a struct's fields
//! in declaration order and a map's keys sorted; a `Shape` lists a struct's fields in moby
//! v28's order (`api/types`), and everything it does not name (a map's keys, a field berth
//! adds) comes after them, sorted, as a Go map's would.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

/// Where each key of an answer goes.
pub enum Shape {
    /// A Go struct: these fields first, in this order, each with its own shape.
    Struct(&'static [(&'static str, &'static Shape)]),
    /// A Go map: keys sorted, every value of this shape.
    Map(&'static Shape),
    /// A list whose items have this shape.
    List(&'static Shape),
    /// A scalar, or anything whose order does not matter beyond sorted keys.
    Plain,
}

pub(super) const PLAIN: Shape = Shape::Plain;

/// `value` written with `shape`'s order; an answer handlers give to `Json`.
pub struct InDockerOrder(pub Value, pub &'static Shape);

impl Serialize for InDockerOrder {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Ordered(&self.0, self.1).serialize(s)
    }
}

struct Ordered<'a>(&'a Value, &'static Shape);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.0, self.1) {
            (Value::Object(map), Shape::Struct(fields)) => {
                let mut out = s.serialize_map(Some(map.len()))?;
                for (name, shape) in *fields {
                    if let Some(v) = map.get(*name) {
                        out.serialize_entry(name, &Ordered(v, shape))?;
                    }
                }
                for (k, v) in map {
                    if !fields.iter().any(|(name, _)| name == k) {
                        out.serialize_entry(k, v)?;
                    }
                }
                out.end()
            }
            (Value::Object(map), Shape::Map(shape)) => {
                let mut out = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    out.serialize_entry(k, &Ordered(v, shape))?;
                }
                out.end()
            }
            (Value::Array(items), Shape::List(shape)) => {
                let mut out = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    out.serialize_element(&Ordered(v, shape))?;
                }
                out.end()
            }
            (v, _) => v.serialize(s),
        }
    }
}

/// A `Shape::Struct` of fields, each a name (a value without a shape of its own) or
/// `(name, &shape)`.
macro_rules! fields {
    ($($field:tt),* $(,)?) => {
        $crate::api::convert::docker_order::Shape::Struct(&[
            $($crate::api::convert::docker_order::field!($field)),*
        ])
    };
}
macro_rules! field {
    ($name:literal) => {
        ($name, &$crate::api::convert::docker_order::PLAIN)
    };
    (($name:literal, $shape:expr $(,)?)) => {
        ($name, $shape)
    };
}
pub(super) use {field, fields};

const PORT_BINDING: Shape = fields!["HostIp", "HostPort"];
const PORT_MAP: Shape = Shape::Map(&Shape::List(&PORT_BINDING));

const HEALTH: Shape = fields![
    "Status",
    "FailingStreak",
    (
        "Log",
        &Shape::List(&fields!["Start", "End", "ExitCode", "Output"]),
    ),
];

const STATE: Shape = fields![
    "Status",
    "Running",
    "Paused",
    "Restarting",
    "OOMKilled",
    "Dead",
    "Pid",
    "ExitCode",
    "Error",
    "StartedAt",
    "FinishedAt",
    ("Health", &HEALTH),
];

const HOST_CONFIG: Shape = fields![
    "Binds",
    "ContainerIDFile",
    ("LogConfig", &fields!["Type", "Config"]),
    "NetworkMode",
    ("PortBindings", &PORT_MAP),
    ("RestartPolicy", &fields!["Name", "MaximumRetryCount"],),
    "AutoRemove",
    "VolumeDriver",
    "VolumesFrom",
    "ConsoleSize",
    "Annotations",
    "CapAdd",
    "CapDrop",
    "CgroupnsMode",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "GroupAdd",
    "IpcMode",
    "Cgroup",
    "Links",
    "OomScoreAdj",
    "PidMode",
    "Privileged",
    "PublishAllPorts",
    "ReadonlyRootfs",
    "SecurityOpt",
    "StorageOpt",
    "Tmpfs",
    "UTSMode",
    "UsernsMode",
    "ShmSize",
    "Sysctls",
    "Runtime",
    "Isolation",
    // Resources, embedded.
    "CpuShares",
    "Memory",
    "NanoCpus",
    "CgroupParent",
    "BlkioWeight",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "CpusetCpus",
    "CpusetMems",
    (
        "Devices",
        &Shape::List(&fields![
            "PathOnHost",
            "PathInContainer",
            "CgroupPermissions"
        ]),
    ),
    "DeviceCgroupRules",
    (
        "DeviceRequests",
        &Shape::List(&fields![
            "Driver",
            "Count",
            "DeviceIDs",
            "Capabilities",
            "Options"
        ]),
    ),
    "KernelMemory",
    "KernelMemoryTCP",
    "MemoryReservation",
    "MemorySwap",
    "MemorySwappiness",
    "OomKillDisable",
    "PidsLimit",
    ("Ulimits", &Shape::List(&fields!["Name", "Soft", "Hard"]),),
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
    (
        "Mounts",
        &Shape::List(&fields![
            "Type",
            "Source",
            "Target",
            "ReadOnly",
            "Consistency",
            "BindOptions",
            "VolumeOptions",
            "ImageOptions",
            "TmpfsOptions",
            "ClusterOptions"
        ]),
    ),
    "MaskedPaths",
    "ReadonlyPaths",
    "Init",
];

/// `container.Config`, a container's and an image's.
const CONFIG: Shape = fields![
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    (
        "Healthcheck",
        &fields![
            "Test",
            "Interval",
            "Timeout",
            "StartPeriod",
            "StartInterval",
            "Retries"
        ],
    ),
    "ArgsEscaped",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "NetworkDisabled",
    "MacAddress",
    "OnBuild",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "Shell",
];

const ENDPOINT: Shape = fields![
    (
        "IPAMConfig",
        &fields!["IPv4Address", "IPv6Address", "LinkLocalIPs"],
    ),
    "Links",
    "Aliases",
    "MacAddress",
    "DriverOpts",
    "GwPriority",
    "NetworkID",
    "EndpointID",
    "Gateway",
    "IPAddress",
    "IPPrefixLen",
    "IPv6Gateway",
    "GlobalIPv6Address",
    "GlobalIPv6PrefixLen",
    "DNSNames",
];

const NETWORK_SETTINGS: Shape = fields![
    "Bridge",
    "SandboxID",
    "SandboxKey",
    ("Ports", &PORT_MAP),
    "HairpinMode",
    "LinkLocalIPv6Address",
    "LinkLocalIPv6PrefixLen",
    "SecondaryIPAddresses",
    "SecondaryIPv6Addresses",
    "EndpointID",
    "Gateway",
    "GlobalIPv6Address",
    "GlobalIPv6PrefixLen",
    "IPAddress",
    "IPPrefixLen",
    "IPv6Gateway",
    "MacAddress",
    ("Networks", &Shape::Map(&ENDPOINT)),
];

const GRAPH_DRIVER: Shape = fields!["Data", "Name"];

/// `GET /containers/{id}/json`.
pub const CONTAINER_INSPECT: Shape = fields![
    "Id",
    "Created",
    "Path",
    "Args",
    ("State", &STATE),
    "Image",
    "ResolvConfPath",
    "HostnamePath",
    "HostsPath",
    "LogPath",
    "Name",
    "RestartCount",
    "Driver",
    "Platform",
    "MountLabel",
    "ProcessLabel",
    "AppArmorProfile",
    "ExecIDs",
    ("HostConfig", &HOST_CONFIG),
    ("GraphDriver", &GRAPH_DRIVER),
    "SizeRw",
    "SizeRootFs",
    (
        "Mounts",
        &Shape::List(&fields![
            "Type",
            "Name",
            "Source",
            "Destination",
            "Driver",
            "Mode",
            "RW",
            "Propagation"
        ]),
    ),
    ("Config", &CONFIG),
    ("NetworkSettings", &NETWORK_SETTINGS),
    "ImageManifestDescriptor",
];

/// `GET /images/{name}/json`.
pub const IMAGE_INSPECT: Shape = fields![
    "Id",
    "RepoTags",
    "RepoDigests",
    "Parent",
    "Comment",
    "Created",
    "Container",
    ("ContainerConfig", &CONFIG),
    "DockerVersion",
    "Author",
    ("Config", &CONFIG),
    "Architecture",
    "Variant",
    "Os",
    "OsVersion",
    "Size",
    "VirtualSize",
    ("GraphDriver", &GRAPH_DRIVER),
    ("RootFS", &fields!["Type", "Layers"]),
    "Metadata",
    "Descriptor",
    "Manifests",
];

/// A network, as inspect and the list show it.
pub const NETWORK: Shape = fields![
    "Name",
    "Id",
    "Created",
    "Scope",
    "Driver",
    "EnableIPv4",
    "EnableIPv6",
    (
        "IPAM",
        &fields![
            "Driver",
            "Options",
            (
                "Config",
                &Shape::List(&fields![
                    "Subnet",
                    "IPRange",
                    "Gateway",
                    "AuxiliaryAddresses"
                ]),
            ),
        ],
    ),
    "Internal",
    "Attachable",
    "Ingress",
    "ConfigFrom",
    "ConfigOnly",
    (
        "Containers",
        &Shape::Map(&fields![
            "Name",
            "EndpointID",
            "MacAddress",
            "IPv4Address",
            "IPv6Address"
        ]),
    ),
    "Options",
    "Labels",
    ("Peers", &Shape::List(&fields!["Name", "IP"])),
    "Services",
];

/// The network list.
pub const NETWORKS: Shape = Shape::List(&NETWORK);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn written(v: Value, shape: &'static Shape) -> String {
        serde_json::to_string(&InDockerOrder(v, shape)).unwrap_or_default()
    }

    #[test]
    fn struct_fields_come_in_go_order_then_the_rest_sorted() {
        let v = json!({
            "Zeta": 1, "Args": [], "Id": "x", "Alpha": 2,
            "State": {"Pid": 1, "Status": "running"},
            "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "8080", "HostIp": ""}]},
                           "Binds": null},
        });
        assert_eq!(
            written(v, &CONTAINER_INSPECT),
            r#"{"Id":"x","Args":[],"State":{"Status":"running","Pid":1},"HostConfig":{"Binds":null,"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}},"Alpha":2,"Zeta":1}"#
        );
    }

    #[test]
    fn maps_keep_sorted_keys_and_shape_their_values() {
        let v = json!([{"Name": "n", "Id": "i", "Containers": {
            "b": {"IPv4Address": "10.0.0.3/24", "Name": "two"},
            "a": {"IPv4Address": "10.0.0.2/24", "Name": "one"},
        }}]);
        assert_eq!(
            written(v, &NETWORKS),
            r#"[{"Name":"n","Id":"i","Containers":{"a":{"Name":"one","IPv4Address":"10.0.0.2/24"},"b":{"Name":"two","IPv4Address":"10.0.0.3/24"}}}]"#
        );
    }

    #[test]
    fn a_value_of_another_kind_than_its_shape_is_written_as_it_is() {
        assert_eq!(written(json!(null), &CONTAINER_INSPECT), "null");
        assert_eq!(
            written(json!({"b": 1, "a": 2}), &NETWORKS),
            r#"{"a":2,"b":1}"#
        );
    }
}
