//! What `init` and `join` need besides the handle: addresses (listen, advertise, the local
//! address towards a manager), the first objects of a new cluster, the call that makes a
//! joined manager a voter, and Docker's wording for a refused leave.

use std::time::Duration;

use berth_raft::{Attrs, ClusterCommand, NodeRole, Op};
use bollard_stubs::models::{
    NodeDescription, NodeSpec, NodeSpecAvailabilityEnum, NodeSpecRoleEnum, SwarmInitRequest,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::ca::{client_tls, JoinToken, RootCa};
use crate::error::{SwarmError, SwarmResult};
use crate::handler::host_of;
use crate::keys::UnlockKey;
use crate::local::Certs;
use crate::model::{
    self, ClusterStatus, NodeState, NodeStatus, NodeStatusDoc, RootCaPem, TokenSecrets,
};
use crate::rpc::{self, AddManagerRequest, Method};
use crate::swarm::DEFAULT_PORT;

pub(crate) fn leave_refusal(reachable: usize, total: usize) -> String {
    let mut msg = String::from(
        "You are attempting to leave the swarm on a node that is participating as a manager. ",
    );
    if reachable.saturating_sub(1) <= total / 2 {
        if total <= 1 {
            msg.push_str(
                "Removing the last manager erases all current state of the swarm. Use `--force` \
                 to ignore this message.",
            );
            return msg;
        }
        msg.push_str(&format!(
            "Removing this node leaves {} managers out of {total}. Without a Raft quorum your \
             swarm will be inaccessible. ",
            reachable.saturating_sub(1)
        ));
    }
    msg.push_str(
        "The only way to restore a swarm that has lost consensus is to reinitialize it with \
         `--force-new-cluster`. Use `--force` to suppress this message.",
    );
    msg
}

/// The cluster object and this node's object, written at `init`.
pub(crate) fn bootstrap_objects(
    req: &SwarmInitRequest,
    ca: &RootCa,
    (cluster_id, node_id): (&str, &str),
    (advertise, availability): (&str, NodeSpecAvailabilityEnum),
    description: NodeDescription,
) -> SwarmResult<ClusterCommand> {
    let mut spec = json!({
        "Name": "default",
        "Labels": {},
        "Orchestration": { "TaskHistoryRetentionLimit": 5 },
        "Raft": { "SnapshotInterval": 10000, "KeepOldSnapshots": 0,
                  "LogEntriesForSlowFollowers": 500, "ElectionTick": 10, "HeartbeatTick": 1 },
        "Dispatcher": { "HeartbeatPeriod": 5_000_000_000u64 },
        "CAConfig": { "NodeCertExpiry": 7_776_000_000_000_000u64 },
        "TaskDefaults": {},
        "EncryptionConfig": { "AutoLockManagers": false },
    });
    if let Some(given) = &req.spec {
        let given =
            serde_json::to_value(given).map_err(|e| SwarmError::internal("swarm spec", e))?;
        let mut defaults = spec.clone();
        merge(&mut spec, &without_unset(given));
        // The CA is made now: a rotation counter asked at init rotates nothing, and is kept to
        // show (a later change of it is refused).
        if let Some(counter) = spec.pointer("/CAConfig/ForceRotate").cloned() {
            defaults["CAConfig"]["ForceRotate"] = counter;
        }
        refuse_unapplied(&defaults, &spec)?;
    }
    let unlock_key = ClusterStatus::autolock_of(&spec).then(|| UnlockKey::generate().text());
    let pools = req
        .default_addr_pool
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| vec!["10.0.0.0/8".to_string()]);
    let status = ClusterStatus {
        root_ca: RootCaPem {
            cert: ca.cert_pem().to_string(),
            key: ca.key_pem().to_string(),
        },
        tokens: TokenSecrets {
            worker: JoinToken::new(ca).secret,
            manager: JoinToken::new(ca).secret,
        },
        default_addr_pool: pools,
        subnet_size: req.subnet_size.unwrap_or(24),
        data_path_port: req.data_path_port.filter(|p| *p != 0).unwrap_or(4789),
        unlock_key,
        ingress_at_init: true,
    };
    let node_spec = NodeSpec {
        name: None,
        labels: Some(Default::default()),
        role: Some(NodeSpecRoleEnum::MANAGER),
        availability: Some(availability),
    };
    let node_status = NodeStatusDoc {
        description: Some(description),
        status: NodeStatus {
            state: NodeState::Ready,
            message: None,
            addr: Some(host_of(advertise)),
        },
        raft_id: Some(1),
        manager_addr: Some(advertise.to_string()),
        // As the node's first session reports it, so that it writes nothing: a client that
        // reads the node right after init (docker-py's `update_node`) holds its version.
        advertise_addr: Some(advertise.to_string()),
    };
    Ok(ClusterCommand::new(vec![
        Op::Create {
            id: cluster_id.to_string(),
            attrs: Attrs::Cluster {
                name: model::CLUSTER_NAME.to_string(),
            },
            spec,
            status: status.to_value(),
        },
        Op::Create {
            id: node_id.to_string(),
            attrs: Attrs::Node {
                role: NodeRole::Manager,
            },
            spec: serde_json::to_value(node_spec)
                .map_err(|e| SwarmError::internal("node spec", e))?,
            status: node_status.to_value(),
        },
        crate::ingress::create_default(),
    ]))
}

/// Fields an init request leaves at the swarm's defaults when it sends them zero or empty, as
/// moby's `MergeSwarmSpecToGRPC` merges them: the docker CLI sends the Raft ticks as 0, and the
/// swarm then showed an election tick of 0.
const DEFAULT_WHEN_UNSET: &[&str] = &[
    "/Name",
    "/Labels",
    "/Raft/SnapshotInterval",
    "/Raft/LogEntriesForSlowFollowers",
    "/Raft/HeartbeatTick",
    "/Raft/ElectionTick",
    "/Dispatcher/HeartbeatPeriod",
    "/CAConfig/NodeCertExpiry",
    "/CAConfig/SigningCACert",
    "/CAConfig/SigningCAKey",
];

/// `given` without the fields of `DEFAULT_WHEN_UNSET` it sends zero or empty.
fn without_unset(mut given: Value) -> Value {
    for pointer in DEFAULT_WHEN_UNSET {
        let Some((parent, key)) = pointer.rsplit_once('/') else {
            continue;
        };
        let unset = match given.pointer(pointer) {
            Some(Value::Number(n)) => n.as_f64() == Some(0.0),
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Object(o)) => o.is_empty(),
            _ => false,
        };
        if unset {
            if let Some(Value::Object(o)) = given.pointer_mut(parent) {
                o.remove(key);
            }
        }
    }
    given
}

/// Swarm spec fields berth keeps and shows but does not act on, with why: a request may
/// leave them as they are (or unset), never change them.
const UNAPPLIED: &[(&str, &str)] = &[
    (
        "/Raft/KeepOldSnapshots",
        "berth's Raft store keeps one snapshot",
    ),
    ("/Raft/ElectionTick", "berth's Raft timing is fixed"),
    ("/Raft/HeartbeatTick", "berth's Raft timing is fixed"),
    (
        "/CAConfig/ExternalCAs",
        "the swarm's own CA signs every certificate",
    ),
    (
        "/CAConfig/SigningCACert",
        "rotating the swarm's CA is not supported",
    ),
    (
        "/CAConfig/SigningCAKey",
        "rotating the swarm's CA is not supported",
    ),
    (
        "/CAConfig/ForceRotate",
        "rotating the swarm's CA is not supported",
    ),
];

/// Refuses, by name, a change to a field berth does not act on: `after` (the merged spec) must
/// hold what `before` held there, or nothing (null, zero, empty).
pub(crate) fn refuse_unapplied(before: &Value, after: &Value) -> SwarmResult<()> {
    let unset = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(Value::Bool(b)) => !b,
    };
    for (pointer, why) in UNAPPLIED {
        let (was, now) = (before.pointer(pointer), after.pointer(pointer));
        if was != now && !unset(now) {
            let field = pointer.trim_start_matches('/').replace('/', ".");
            return Err(SwarmError::InvalidArgument(format!(
                "{field} cannot be changed in berth: {why}"
            )));
        }
    }
    Ok(())
}

/// Overlays the non-null fields of `given` on `base`.
pub fn merge(base: &mut Value, given: &Value) {
    match (base, given) {
        (Value::Object(b), Value::Object(g)) => {
            for (k, v) in g {
                if v.is_null() {
                    continue;
                }
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, g) => *b = g.clone(),
    }
}

/// `host` → `host:2377`; `host:port` unchanged.
pub(crate) fn with_port(addr: &str) -> String {
    let addr = addr.trim();
    let has_port = match addr.rsplit_once(':') {
        Some((host, port)) => {
            port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    };
    if has_port {
        addr.to_string()
    } else {
        format!("{addr}:{DEFAULT_PORT}")
    }
}

pub(crate) async fn bind(addr: &str) -> SwarmResult<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        SwarmError::InvalidArgument(format!(
            "failed to listen on remote API address {addr}: {e}"
        ))
    })
}

/// The advertised `host:port`, as moby resolves it: the given address (its port, or the
/// listen port) or interface (`eth0`, `eth0:2377`), else the listen address when it names a
/// host, else the system's one address outside `skip` (the engine's local networks).
pub(crate) fn advertise_addr(
    given: Option<&str>,
    listen: &str,
    port: u16,
    skip: &[String],
) -> SwarmResult<String> {
    use crate::system_addr;
    let given = given.map(str::trim).filter(|a| !a.is_empty());
    let refused = |host: &str| {
        SwarmError::InvalidArgument(format!(
            "advertise address must be a non-zero IP address or network interface (with optional port number): {host:?}"
        ))
    };
    let (host, port) = match given {
        Some(a) => match a.parse::<std::net::SocketAddr>() {
            // As moby: a given address may not be unspecified (only the listen address may).
            Ok(s) if s.ip().is_unspecified() => return Err(refused(a)),
            Ok(_) => return Ok(a.to_string()),
            Err(_) => match a.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
                // An interface with a port (`eth0:2377`).
                Some((h, Ok(p))) if !h.contains(':') => (h.to_string(), p),
                _ => (a.trim_matches(['[', ']']).to_string(), port),
            },
        },
        None => (host_of(listen), port),
    };
    let bad = |m: String| SwarmError::InvalidArgument(m);
    let ip = match host.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_unspecified() && given.is_some() => return Err(refused(&host)),
        Ok(ip) => ip,
        Err(_) => system_addr::of_interface(&host, &system_addr::interface_addrs()).map_err(
            |e| match e.starts_with("no such interface") {
                true => refused(&host),
                false => bad(e),
            },
        )?,
    };
    let ip = if ip.is_unspecified() {
        system_addr::choose(&system_addr::interface_addrs(), skip).map_err(bad)?
    } else {
        ip
    };
    Ok(std::net::SocketAddr::new(ip, port).to_string())
}

/// The local address this node reaches `remote` from (what it advertises by default).
pub(crate) async fn local_ip_towards(remote: &str) -> SwarmResult<std::net::IpAddr> {
    let stream = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(remote),
    )
    .await
    .map_err(|_| SwarmError::Unavailable(format!("could not reach the manager at {remote}")))?
    .map_err(|e| {
        SwarmError::Unavailable(format!("could not reach the manager at {remote}: {e}"))
    })?;
    stream
        .local_addr()
        .map(|a| a.ip())
        .map_err(|e| SwarmError::internal("local address", e))
}

/// Asks the managers to make this (joined, Raft-running) manager a voter.
pub(crate) async fn add_self_as_manager(
    certs: &Certs,
    managers: &[String],
    node_id: &str,
) -> SwarmResult<()> {
    let tls = client_tls(&certs.cert_pem, &certs.key_pem, &certs.ca_pem);
    let mut last = String::from("no manager is known");
    for addr in managers {
        let channel = tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
            .and_then(|e| e.tls_config(tls.clone()))
            .map_err(|e| SwarmError::internal("manager address", e))?
            .connect_timeout(Duration::from_secs(2))
            .connect_lazy();
        let req = AddManagerRequest {
            node_id: node_id.to_string(),
        };
        match rpc::call::<_, ()>(channel, Method::AddManager, &req, Duration::from_secs(60)).await {
            Ok(()) => return Ok(()),
            Err(s) => last = format!("{addr}: {}", s.message()),
        }
    }
    Err(SwarmError::Unavailable(format!(
        "could not join the managers' Raft group: {last}"
    )))
}

#[cfg(test)]
mod unapplied_tests {
    use super::*;

    #[test]
    fn a_given_advertise_address_may_not_be_unspecified_as_mobys() {
        assert_eq!(
            advertise_addr(Some("10.1.2.3"), "0.0.0.0:2377", 2377, &[]).unwrap(),
            "10.1.2.3:2377"
        );
        assert_eq!(
            advertise_addr(Some("10.1.2.3:4000"), "0.0.0.0:2377", 2377, &[]).unwrap(),
            "10.1.2.3:4000"
        );
        assert_eq!(
            advertise_addr(None, "127.0.0.1:2377", 2377, &[]).unwrap(),
            "127.0.0.1:2377"
        );
        for given in ["0.0.0.0", "0.0.0.0:2377", "[::]", "nosuch-interface0"] {
            let e = advertise_addr(Some(given), "0.0.0.0:2377", 2377, &[]).unwrap_err();
            assert!(
                e.to_string().starts_with(
                    "advertise address must be a non-zero IP address or network interface"
                ),
                "{given}: {e}"
            );
        }
    }

    #[test]
    fn an_init_spec_of_zeros_keeps_the_swarms_defaults() {
        // What the docker CLI's `swarm init` sends: Go's zero values where no flag was given.
        let given = json!({"Name": "", "Labels": {}, "Orchestration": {},
            "Raft": {"ElectionTick": 0, "HeartbeatTick": 0, "SnapshotInterval": 0},
            "Dispatcher": {"HeartbeatPeriod": 0}, "CAConfig": {"NodeCertExpiry": 0},
            "TaskDefaults": {}, "EncryptionConfig": {"AutoLockManagers": true}});
        let kept = without_unset(given);
        assert_eq!(
            kept,
            json!({"Orchestration": {}, "Raft": {}, "Dispatcher": {}, "CAConfig": {},
                "TaskDefaults": {}, "EncryptionConfig": {"AutoLockManagers": true}})
        );
        let set = json!({"Raft": {"ElectionTick": 20}, "Labels": {"a": "b"}});
        assert_eq!(without_unset(set.clone()), set);
    }

    #[test]
    fn a_field_berth_does_not_act_on_may_stay_or_be_unset_but_not_change() {
        let before = json!({"Raft": {"SnapshotInterval": 10000, "ElectionTick": 10, "KeepOldSnapshots": 0},
            "CAConfig": {"NodeCertExpiry": 7_776_000_000_000_000u64, "ForceRotate": 0}});
        let with = |pointer: &str, v: Value| {
            let mut after = before.clone();
            *after.pointer_mut(pointer).unwrap() = v;
            after
        };
        assert!(refuse_unapplied(&before, &before).is_ok());
        // The docker CLI's init sends unset ticks as 0.
        assert!(refuse_unapplied(&before, &with("/Raft/ElectionTick", json!(0))).is_ok());
        // Applied since: the managers' Raft stores follow them.
        assert!(refuse_unapplied(&before, &with("/Raft/SnapshotInterval", json!(5))).is_ok());
        for (pointer, field) in [
            ("/Raft/KeepOldSnapshots", "Raft.KeepOldSnapshots"),
            ("/CAConfig/ForceRotate", "CAConfig.ForceRotate"),
        ] {
            let e = refuse_unapplied(&before, &with(pointer, json!(5))).unwrap_err();
            assert!(e.to_string().contains(field), "{e}");
        }
        let mut ext = before.clone();
        ext["CAConfig"]["ExternalCAs"] = json!([{"Protocol": "cfssl", "URL": "https://ca"}]);
        assert!(refuse_unapplied(&before, &ext).is_err());
    }
}
