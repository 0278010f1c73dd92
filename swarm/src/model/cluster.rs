//! The cluster object: Docker's `SwarmSpec` in `spec`; the root CA, join-token secrets and
//! address pools in `status`.

use berth_raft::{Attrs, Object};
use bollard_stubs::models::SwarmSpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ModelError;

/// The cluster's root CA as the cluster object keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootCaPem {
    /// The CA certificate (PEM).
    #[serde(rename = "Cert")]
    pub cert: String,
    /// The CA key (PEM).
    #[serde(rename = "Key")]
    pub key: String,
}

/// The secret halves of the join tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSecrets {
    /// Of the worker token.
    #[serde(rename = "Worker")]
    pub worker: String,
    /// Of the manager token.
    #[serde(rename = "Manager")]
    pub manager: String,
}

/// What the cluster object's `status` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The root CA.
    #[serde(rename = "RootCa")]
    pub root_ca: RootCaPem,
    /// The join-token secrets.
    #[serde(rename = "Tokens")]
    pub tokens: TokenSecrets,
    /// Address pools for overlay networks.
    #[serde(rename = "DefaultAddrPool")]
    pub default_addr_pool: Vec<String>,
    /// The subnet size cut from the pools.
    #[serde(rename = "SubnetSize")]
    pub subnet_size: u32,
    /// The VXLAN port.
    #[serde(rename = "DataPathPort")]
    pub data_path_port: u32,
    /// The managers' unlock key (`SWMKEY-1-…`) while autolock is on. Every manager wraps its
    /// Raft data key with it; it is itself only in the (encrypted) Raft store.
    #[serde(rename = "UnlockKey", default, skip_serializing_if = "Option::is_none")]
    pub unlock_key: Option<String>,
    /// `swarm init` made the ingress network, as Docker's does: once a user removes it, a
    /// service that publishes in ingress mode is refused until one is created. (A swarm from
    /// before has none: it makes the network on first need.)
    #[serde(
        rename = "IngressAtInit",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub ingress_at_init: bool,
}

impl ClusterStatus {
    /// Whether a swarm spec asks for autolock (`EncryptionConfig.AutoLockManagers`).
    pub fn autolock_of(spec: &Value) -> bool {
        spec["EncryptionConfig"]["AutoLockManagers"].as_bool() == Some(true)
    }

    /// The status as the store keeps it.
    pub fn to_value(&self) -> Value {
        // Strings and numbers: serializing cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// Docker's node certificate validity when the spec sets none: 90 days.
pub const DEFAULT_CERT_EXPIRY: std::time::Duration = std::time::Duration::from_secs(90 * 24 * 3600);

/// The shortest validity swarmkit allows.
const MIN_CERT_EXPIRY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The node certificate validity `spec` asks for (`CAConfig.NodeCertExpiry`, nanoseconds; unset
/// or 0: 90 days); shorter than an hour is refused with swarmkit's words.
pub fn cert_expiry(spec: &SwarmSpec) -> Result<std::time::Duration, String> {
    let ns = spec
        .ca_config
        .as_ref()
        .and_then(|c| c.node_cert_expiry)
        .unwrap_or(0);
    if ns == 0 {
        return Ok(DEFAULT_CERT_EXPIRY);
    }
    match u64::try_from(ns).map(std::time::Duration::from_nanos) {
        Ok(d) if d >= MIN_CERT_EXPIRY => Ok(d),
        _ => Err(
            "rpc error: code = InvalidArgument desc = minimum certificate expiry time is: 1h0m0s"
                .into(),
        ),
    }
}

/// The typed view of the cluster object.
#[derive(Debug, Clone)]
pub struct Cluster<'a> {
    /// The stored object (id, version, times).
    pub object: &'a Object,
    /// The spec, typed.
    pub spec: SwarmSpec,
    /// The status, typed.
    pub status: ClusterStatus,
}

impl<'a> Cluster<'a> {
    /// Reads the cluster object; a spec or status of the wrong shape is an error.
    pub fn parse(object: &'a Object) -> Result<Self, ModelError> {
        if !matches!(object.attrs, Attrs::Cluster { .. }) {
            return Err(ModelError::of(object, "not the cluster"));
        }
        let spec = SwarmSpec::deserialize(&object.spec)
            .map_err(|e| ModelError::of(object, format!("spec: {e}")))?;
        let status = ClusterStatus::deserialize(&object.status)
            .map_err(|e| ModelError::of(object, format!("status: {e}")))?;
        Ok(Cluster {
            object,
            spec,
            status,
        })
    }

    /// The task history kept per slot (`Orchestration.TaskHistoryRetentionLimit`, default 5).
    pub fn history_limit(&self) -> usize {
        let o = self.spec.orchestration.as_ref();
        o.and_then(|o| o.task_history_retention_limit)
            .map_or(5, |n| usize::try_from(n).unwrap_or(0))
    }

    /// How long the node certificates the CA issues now are valid (`CAConfig.NodeCertExpiry`).
    pub fn cert_expiry(&self) -> std::time::Duration {
        cert_expiry(&self.spec).unwrap_or(DEFAULT_CERT_EXPIRY)
    }

    /// The log driver of tasks whose template names none (`TaskDefaults.LogDriver`).
    pub fn task_log_driver(&self) -> Option<bollard_stubs::models::TaskSpecLogDriver> {
        let d = self.spec.task_defaults.as_ref()?.log_driver.as_ref()?;
        let name = d.name.clone().filter(|n| !n.is_empty())?;
        Some(bollard_stubs::models::TaskSpecLogDriver {
            name: Some(name),
            options: d.options.clone(),
        })
    }

    /// When managers snapshot their Raft store and what log they keep behind a snapshot
    /// (`Raft.SnapshotInterval`, `Raft.LogEntriesForSlowFollowers`; swarmkit's 10,000 and 500
    /// when unset or zero).
    pub fn raft_compaction(&self) -> berth_raft::Compaction {
        let raft = self.spec.raft.as_ref();
        let field = |v: Option<u64>, default: u64| v.filter(|&n| n > 0).unwrap_or(default);
        berth_raft::Compaction {
            snapshot_after_entries: field(raft.and_then(|r| r.snapshot_interval), 10_000),
            keep_entries_after_snapshot: field(
                raft.and_then(|r| r.log_entries_for_slow_followers),
                500,
            ),
        }
    }

    /// The dispatcher's heartbeat period, when set (`Dispatcher.HeartbeatPeriod`).
    pub fn heartbeat_period(&self) -> Option<std::time::Duration> {
        let d = self.spec.dispatcher.as_ref()?;
        let ns = u64::try_from(d.heartbeat_period?).ok()?;
        Some(std::time::Duration::from_nanos(ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster(spec: Value) -> Object {
        let status = json!({
            "RootCa": { "Cert": "c", "Key": "k" },
            "Tokens": { "Worker": "w", "Manager": "m" },
            "DefaultAddrPool": ["10.0.0.0/8"], "SubnetSize": 24, "DataPathPort": 4789,
        });
        let attrs = Attrs::Cluster {
            name: "default".into(),
        };
        crate::fixtures::object("c1", attrs, spec, status)
    }

    #[test]
    fn certificates_last_90_days_unless_the_spec_asks_for_an_hour_or_more() {
        let hour = std::time::Duration::from_secs(3600);
        let of = |v: Value| cert_expiry(&SwarmSpec::deserialize(&v).unwrap());
        assert_eq!(of(json!({})), Ok(DEFAULT_CERT_EXPIRY));
        assert_eq!(
            of(json!({ "CAConfig": { "NodeCertExpiry": 0 } })),
            Ok(DEFAULT_CERT_EXPIRY)
        );
        assert_eq!(
            of(json!({ "CAConfig": { "NodeCertExpiry": 7_200_000_000_000u64 } })),
            Ok(2 * hour)
        );
        for short in [json!(1_800_000_000_000u64), json!(-5)] {
            let e = of(json!({ "CAConfig": { "NodeCertExpiry": short } })).unwrap_err();
            assert!(
                e.ends_with("minimum certificate expiry time is: 1h0m0s"),
                "{e}"
            );
        }
        let o = cluster(json!({ "CAConfig": { "NodeCertExpiry": 10_800_000_000_000u64 } }));
        assert_eq!(Cluster::parse(&o).unwrap().cert_expiry(), 3 * hour);
    }

    #[test]
    fn history_limit_and_heartbeat_come_from_the_spec_with_dockers_defaults() {
        let o = cluster(json!({ "Name": "default" }));
        let c = Cluster::parse(&o).unwrap();
        assert_eq!((c.history_limit(), c.heartbeat_period()), (5, None));
        let o = cluster(json!({ "Orchestration": { "TaskHistoryRetentionLimit": 2 },
                                "Dispatcher": { "HeartbeatPeriod": 1_000_000_000 } }));
        let c = Cluster::parse(&o).unwrap();
        assert_eq!(c.history_limit(), 2);
        assert_eq!(
            c.heartbeat_period(),
            Some(std::time::Duration::from_secs(1))
        );
        assert_eq!(c.status.tokens.manager, "m");
    }
}
