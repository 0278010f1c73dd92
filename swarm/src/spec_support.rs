//! What berth does with every field of a service spec, one table per API type: honoured as
//! Docker does, or refused by name when set (`ops::normalize_service`, `ops::check_*`). The
//! tests walk the bollard-stubs types, so a field a new API version adds fails until someone
//! decides. Nothing in a service spec is stored and dropped.

/// What berth does with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented as Docker does.
    Honoured,
    /// Honoured for some values, refused by name for the others (the text says which).
    Partly(&'static str),
    /// Refused when set; the text says why.
    Refused(&'static str),
}

use Support::{Honoured, Partly, Refused};

/// `ServiceSpec`.
/// Endpoint driver options moby's drivers act on since 25 and 28 (per-endpoint sysctls,
/// interface names), which berth's do not: refused by name, on a container's endpoint and a
/// service's network attachment alike. Docker 20.10's drivers, and berth's, keep any other.
pub const UNSUPPORTED_ENDPOINT_OPTS: [&str; 2] = [
    "com.docker.network.endpoint.sysctls",
    "com.docker.network.endpoint.ifname",
];

pub const SERVICE: &[(&str, Support)] = &[
    ("Name", Honoured),
    ("Labels", Honoured),
    ("TaskTemplate", Honoured),
    ("Mode", Honoured),
    ("UpdateConfig", Honoured),
    ("RollbackConfig", Honoured),
    ("Networks", Honoured), // moved into the task template, as Docker does
    ("EndpointSpec", Honoured),
];

/// `TaskSpec`.
pub const TASK: &[(&str, Support)] = &[
    ("PluginSpec", Refused("plugin tasks")),
    ("ContainerSpec", Honoured),
    ("NetworkAttachmentSpec", Refused("attachment tasks")),
    ("Resources", Honoured),
    ("RestartPolicy", Honoured),
    ("Placement", Honoured),
    ("ForceUpdate", Honoured),
    ("Runtime", Partly("`container` only")),
    ("Networks", Honoured),
    ("LogDriver", Honoured),
];

/// `TaskSpecContainerSpec`.
pub const CONTAINER: &[(&str, Support)] = &[
    ("Image", Honoured),
    ("Labels", Honoured),
    ("Command", Honoured),
    ("Args", Honoured),
    ("Hostname", Honoured),
    ("Env", Honoured),
    ("Dir", Honoured),
    ("User", Honoured),
    ("Groups", Honoured),
    ("Privileges", Honoured),
    ("TTY", Honoured),
    ("OpenStdin", Honoured),
    ("ReadOnly", Honoured),
    ("Mounts", Honoured),
    ("StopSignal", Honoured),
    ("StopGracePeriod", Honoured),
    ("HealthCheck", Honoured),
    ("Hosts", Honoured),
    ("DNSConfig", Honoured),
    ("Secrets", Honoured),
    ("OomScoreAdj", Honoured),
    ("Configs", Honoured),
    (
        "Isolation",
        Partly("`default` only: the others are Windows settings"),
    ),
    ("Init", Honoured),
    ("Sysctls", Honoured),
    ("CapabilityAdd", Honoured),
    ("CapabilityDrop", Honoured),
    ("Ulimits", Honoured),
];

/// `TaskSpecContainerSpecPrivileges`.
pub const PRIVILEGES: &[(&str, Support)] = &[
    ("CredentialSpec", Refused("a Windows-only setting")),
    ("SELinuxContext", Honoured),
    ("Seccomp", Honoured),
    ("AppArmor", Honoured),
    ("NoNewPrivileges", Honoured),
];

/// `TaskSpecPlacement`.
pub const PLACEMENT: &[(&str, Support)] = &[
    ("Constraints", Honoured),
    ("Preferences", Honoured),
    ("MaxReplicas", Honoured),
    ("Platforms", Honoured),
];

/// `TaskSpecResources`.
pub const RESOURCES: &[(&str, Support)] = &[
    ("Limits", Honoured),
    ("Reservations", Honoured),
    ("SwapBytes", Honoured),
    ("MemorySwappiness", Honoured),
];

/// `TaskSpecContainerSpecDnsConfig`, `TaskSpecLogDriver`, `TaskSpecRestartPolicy`.
pub const DNS: &[(&str, Support)] = &[
    ("Nameservers", Honoured),
    ("Search", Honoured),
    ("Options", Honoured),
];
pub const LOG_DRIVER: &[(&str, Support)] = &[("Name", Honoured), ("Options", Honoured)];
pub const RESTART: &[(&str, Support)] = &[
    ("Condition", Honoured),
    ("Delay", Honoured),
    ("MaxAttempts", Honoured),
    ("Window", Honoured),
];

/// `ServiceSpecUpdateConfig` and `ServiceSpecRollbackConfig`.
pub const UPDATE: &[(&str, Support)] = &[
    ("Parallelism", Honoured),
    ("Delay", Honoured),
    ("FailureAction", Honoured),
    ("Monitor", Honoured),
    ("MaxFailureRatio", Honoured),
    ("Order", Honoured),
];

/// `EndpointSpec`, `EndpointPortConfig`, `NetworkAttachmentConfig`, `ServiceSpecMode`.
pub const ENDPOINT: &[(&str, Support)] = &[("Mode", Honoured), ("Ports", Honoured)];
pub const PORT: &[(&str, Support)] = &[
    ("Name", Honoured),
    (
        "Protocol",
        Partly("SCTP in host mode only: the routing mesh forwards TCP and UDP"),
    ),
    ("TargetPort", Honoured),
    ("PublishedPort", Honoured),
    ("PublishMode", Honoured),
];
pub const NETWORK: &[(&str, Support)] = &[
    ("Target", Honoured),
    ("Aliases", Honoured),
    ("DriverOpts", Honoured),
];
pub const MODE: &[(&str, Support)] = &[
    ("Replicated", Honoured),
    ("Global", Honoured),
    ("ReplicatedJob", Honoured),
    ("GlobalJob", Honoured),
];

#[cfg(test)]
mod tests {
    use super::*;
    use berth_test_support::assert_table_covers;
    use bollard_stubs::models::{
        EndpointPortConfig, EndpointSpec, NetworkAttachmentConfig, ServiceSpec, ServiceSpecMode,
        ServiceSpecRollbackConfig, ServiceSpecUpdateConfig, TaskSpec, TaskSpecContainerSpec,
        TaskSpecContainerSpecDnsConfig, TaskSpecContainerSpecPrivileges, TaskSpecLogDriver,
        TaskSpecPlacement, TaskSpecResources, TaskSpecRestartPolicy,
    };

    #[test]
    fn every_field_of_a_service_spec_is_honoured_or_refused() {
        assert_table_covers::<ServiceSpec, Support>(SERVICE);
        assert_table_covers::<TaskSpec, Support>(TASK);
        assert_table_covers::<TaskSpecContainerSpec, Support>(CONTAINER);
        assert_table_covers::<TaskSpecContainerSpecPrivileges, Support>(PRIVILEGES);
        assert_table_covers::<TaskSpecPlacement, Support>(PLACEMENT);
        assert_table_covers::<TaskSpecResources, Support>(RESOURCES);
        assert_table_covers::<TaskSpecContainerSpecDnsConfig, Support>(DNS);
        assert_table_covers::<TaskSpecLogDriver, Support>(LOG_DRIVER);
        assert_table_covers::<TaskSpecRestartPolicy, Support>(RESTART);
        assert_table_covers::<ServiceSpecUpdateConfig, Support>(UPDATE);
        assert_table_covers::<ServiceSpecRollbackConfig, Support>(UPDATE);
        assert_table_covers::<EndpointSpec, Support>(ENDPOINT);
        assert_table_covers::<EndpointPortConfig, Support>(PORT);
        assert_table_covers::<NetworkAttachmentConfig, Support>(NETWORK);
        assert_table_covers::<ServiceSpecMode, Support>(MODE);
    }

    /// Each refused field, set, is refused by the manager with its name.
    #[test]
    fn the_refused_fields_are_refused_when_set() {
        use serde_json::json;
        let base = || json!({ "Name": "web", "TaskTemplate": { "ContainerSpec": { "Image": "busybox" } } });
        let cases = [
            (
                "/TaskTemplate/PluginSpec",
                json!({ "Name": "p" }),
                "PluginSpec",
            ),
            (
                "/TaskTemplate/NetworkAttachmentSpec",
                json!({ "ContainerID": "c" }),
                "NetworkAttachmentSpec",
            ),
            (
                "/TaskTemplate/Networks",
                json!([{ "Target": "n",
                         "DriverOpts": { "k": "v", "com.docker.network.endpoint.sysctls": "x" } }]),
                "DriverOpts com.docker.network.endpoint.sysctls",
            ),
        ];
        for (path, value, needle) in cases {
            let mut spec = base();
            let (parent, key) = path.rsplit_once('/').unwrap();
            let at = if parent.is_empty() {
                &mut spec
            } else {
                spec.pointer_mut(parent).unwrap()
            };
            at[key] = value;
            let e = crate::ops::normalize_service(spec).unwrap_err().to_string();
            assert!(e.contains(needle), "{path}: {e}");
        }
    }
}
