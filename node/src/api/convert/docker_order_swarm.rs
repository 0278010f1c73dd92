//! Docker's key order (`docker_order`) for the swarm's objects, as moby v28's
//! `api/types/swarm` declares them: services, tasks, nodes, the swarm, secrets and configs.

use super::docker_order::{fields, Shape};

/// `Meta`'s fields, which every object embeds after its `ID`.
const VERSION: Shape = fields!["Index"];

const CONTAINER_SPEC: Shape = fields![
    "Image",
    "Labels",
    "Command",
    "Args",
    "Hostname",
    "Env",
    "Dir",
    "User",
    "Groups",
    "Privileges",
    "Init",
    "StopSignal",
    "TTY",
    "OpenStdin",
    "ReadOnly",
    "Mounts",
    "StopGracePeriod",
    "Healthcheck",
    "Hosts",
    "DNSConfig",
    "Secrets",
    "Configs",
    "Isolation",
    "Sysctls",
    "CapabilityAdd",
    "CapabilityDrop",
    "Ulimits",
    "OomScoreAdj",
];

const RESOURCES: Shape = fields!["NanoCPUs", "MemoryBytes", "Pids", "GenericResources"];

const TASK_SPEC: Shape = fields![
    ("ContainerSpec", &CONTAINER_SPEC),
    "PluginSpec",
    "NetworkAttachmentSpec",
    (
        "Resources",
        &fields![("Limits", &RESOURCES), ("Reservations", &RESOURCES)]
    ),
    (
        "RestartPolicy",
        &fields!["Condition", "Delay", "MaxAttempts", "Window"]
    ),
    (
        "Placement",
        &fields!["Constraints", "Preferences", "MaxReplicas", "Platforms"]
    ),
    (
        "Networks",
        &Shape::List(&fields!["Target", "Aliases", "DriverOpts"])
    ),
    "LogDriver",
    "ForceUpdate",
    "Runtime",
];

const PORT_CONFIG: Shape = fields![
    "Name",
    "Protocol",
    "TargetPort",
    "PublishedPort",
    "PublishMode"
];

const ENDPOINT_SPEC: Shape = fields!["Mode", ("Ports", &Shape::List(&PORT_CONFIG))];

const UPDATE_CONFIG: Shape = fields![
    "Parallelism",
    "Delay",
    "FailureAction",
    "Monitor",
    "MaxFailureRatio",
    "Order"
];

const SERVICE_SPEC: Shape = fields![
    "Name",
    "Labels",
    ("TaskTemplate", &TASK_SPEC),
    "Mode",
    ("UpdateConfig", &UPDATE_CONFIG),
    ("RollbackConfig", &UPDATE_CONFIG),
    "Networks",
    ("EndpointSpec", &ENDPOINT_SPEC),
];

/// A service, as inspect and the list show it.
pub const SERVICE: Shape = fields![
    "ID",
    ("Version", &VERSION),
    "CreatedAt",
    "UpdatedAt",
    ("Spec", &SERVICE_SPEC),
    ("PreviousSpec", &SERVICE_SPEC),
    (
        "Endpoint",
        &fields![
            ("Spec", &ENDPOINT_SPEC),
            ("Ports", &Shape::List(&PORT_CONFIG)),
            ("VirtualIPs", &Shape::List(&fields!["NetworkID", "Addr"])),
        ]
    ),
    (
        "UpdateStatus",
        &fields!["State", "StartedAt", "CompletedAt", "Message"]
    ),
    (
        "ServiceStatus",
        &fields!["RunningTasks", "DesiredTasks", "CompletedTasks"]
    ),
    "JobStatus",
];

pub const SERVICES: Shape = Shape::List(&SERVICE);

/// A task, as inspect and the list show it.
pub const TASK: Shape = fields![
    "ID",
    ("Version", &VERSION),
    "CreatedAt",
    "UpdatedAt",
    "Name",
    "Labels",
    ("Spec", &TASK_SPEC),
    "ServiceID",
    "Slot",
    "NodeID",
    (
        "Status",
        &fields![
            "Timestamp",
            "State",
            "Message",
            "Err",
            (
                "ContainerStatus",
                &fields!["ContainerID", "PID", "ExitCode"]
            ),
            "PortStatus",
        ]
    ),
    "DesiredState",
    (
        "NetworksAttachments",
        &Shape::List(&fields!["Network", "Addresses"])
    ),
    "GenericResources",
    "JobIteration",
    "Volumes",
];

pub const TASKS: Shape = Shape::List(&TASK);

const TLS_INFO: Shape = fields!["TrustRoot", "CertIssuerSubject", "CertIssuerPublicKey"];

/// A node, as inspect and the list show it.
pub const NODE: Shape = fields![
    "ID",
    ("Version", &VERSION),
    "CreatedAt",
    "UpdatedAt",
    ("Spec", &fields!["Name", "Labels", "Role", "Availability"]),
    (
        "Description",
        &fields![
            "Hostname",
            ("Platform", &fields!["Architecture", "OS"]),
            ("Resources", &RESOURCES),
            ("Engine", &fields!["EngineVersion", "Labels", "Plugins"]),
            ("TLSInfo", &TLS_INFO),
            "CSIInfo",
        ]
    ),
    ("Status", &fields!["State", "Message", "Addr"]),
    ("ManagerStatus", &fields!["Leader", "Reachability", "Addr"]),
];

pub const NODES: Shape = Shape::List(&NODE);

/// `GET /swarm`.
pub const SWARM: Shape = fields![
    "ID",
    ("Version", &VERSION),
    "CreatedAt",
    "UpdatedAt",
    (
        "Spec",
        &fields![
            "Name",
            "Labels",
            "Orchestration",
            (
                "Raft",
                &fields![
                    "SnapshotInterval",
                    "KeepOldSnapshots",
                    "LogEntriesForSlowFollowers",
                    "ElectionTick",
                    "HeartbeatTick"
                ]
            ),
            "Dispatcher",
            (
                "CAConfig",
                &fields![
                    "NodeCertExpiry",
                    "ExternalCAs",
                    "SigningCACert",
                    "SigningCAKey",
                    "ForceRotate"
                ]
            ),
            "TaskDefaults",
            "EncryptionConfig",
        ]
    ),
    ("TLSInfo", &TLS_INFO),
    "RootRotationInProgress",
    "DefaultAddrPool",
    "SubnetSize",
    "DataPathPort",
    ("JoinTokens", &fields!["Worker", "Manager"]),
];

/// A secret or a config, as inspect and the list show it.
pub const SECRET: Shape = fields![
    "ID",
    ("Version", &VERSION),
    "CreatedAt",
    "UpdatedAt",
    (
        "Spec",
        &fields!["Name", "Labels", "Data", "Driver", "Templating"]
    ),
];

pub const SECRETS: Shape = Shape::List(&SECRET);

#[cfg(test)]
mod tests {
    use super::super::docker_order::InDockerOrder;
    use super::*;
    use serde_json::json;

    #[test]
    fn a_service_reads_as_dockers() {
        let v = json!({"UpdatedAt": "u", "Spec": {"TaskTemplate": {"ContainerSpec": {"Init": false, "Image": "i"}}, "Name": "s"}, "ID": "x", "CreatedAt": "c", "Version": {"Index": 3}});
        assert_eq!(
            serde_json::to_string(&InDockerOrder(v, &SERVICE)).unwrap_or_default(),
            r#"{"ID":"x","Version":{"Index":3},"CreatedAt":"c","UpdatedAt":"u","Spec":{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"i","Init":false}}}}"#
        );
    }
}
