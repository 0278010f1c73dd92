//! The routing mesh's network: a service that publishes ports in ingress mode (Docker's
//! default) joins the swarm's `ingress` overlay network, made on first need. Its tasks get an
//! address there and the service a VIP; every node gets an address of its own there (its
//! mesh's source) and serves the published ports, reaching the tasks over the overlay.

use berth_raft::{Attrs, ClusterCommand, ClusterState, ObjectKind, Op};
use serde_json::{json, Value};

use crate::error::{SwarmError, SwarmResult};
use crate::manager::Manager;
use crate::model::new_id;

/// The ingress network's name, as in Docker.
pub const INGRESS: &str = "ingress";

/// Whether a service spec publishes a port in ingress mode (the default mode), with a number
/// or without one (the allocator then gives it one).
pub fn publishes_ingress(spec: &Value) -> bool {
    spec["EndpointSpec"]["Ports"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p.get("PublishMode").and_then(Value::as_str) != Some("host"))
}

/// Adds the ingress network to a spec that publishes in ingress mode (making the network when
/// the swarm has none), and takes it out of one that no longer does.
pub async fn join_ingress(m: &Manager, spec: &mut Value) -> SwarmResult<()> {
    let wants = publishes_ingress(spec);
    let networks = spec["TaskTemplate"]["Networks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let on = |n: &Value| n.get("Target").and_then(Value::as_str) == Some(INGRESS);
    if wants && !networks.iter().any(on) {
        ensure_network(m).await?;
        let mut networks = networks;
        networks.push(json!({ "Target": INGRESS }));
        spec["TaskTemplate"]["Networks"] = Value::Array(networks);
    } else if !wants && networks.iter().any(on) {
        let kept: Vec<Value> = networks.into_iter().filter(|n| !on(n)).collect();
        spec["TaskTemplate"]["Networks"] = Value::Array(kept);
    }
    Ok(())
}

/// The ingress network's object, if the swarm has one.
pub fn network(s: &ClusterState) -> Option<&berth_raft::Object> {
    s.by_name(ObjectKind::Network, INGRESS)
}

async fn ensure_network(m: &Manager) -> SwarmResult<()> {
    if m.read(|s| network(s).is_some()) {
        return Ok(());
    }
    let made = m
        .write(ClusterCommand::single(Op::Create {
            id: new_id(),
            attrs: Attrs::Network {
                name: INGRESS.into(),
            },
            spec: json!({ "Name": INGRESS, "Driver": "overlay", "Ingress": true,
                          "Scope": "swarm", "Labels": {} }),
            status: json!({}),
        }))
        .await;
    match made {
        // Made meanwhile by another request: as good.
        Ok(_) | Err(SwarmError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_mode_is_the_default_and_host_mode_ports_do_not_count() {
        let spec = |ports: Value| json!({ "EndpointSpec": { "Ports": ports } });
        assert!(publishes_ingress(&spec(
            json!([{ "TargetPort": 80, "PublishedPort": 8080 }])
        )));
        assert!(publishes_ingress(&spec(
            json!([{ "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress" }])
        )));
        assert!(!publishes_ingress(&spec(
            json!([{ "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host" }])
        )));
        assert!(
            publishes_ingress(&spec(json!([{ "TargetPort": 80 }]))),
            "a number from the dynamic range"
        );
        assert!(!publishes_ingress(&json!({})));
    }
}
