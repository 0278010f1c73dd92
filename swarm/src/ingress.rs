//! The routing mesh's network: the swarm's one network with `Ingress: true`, made by `swarm
//! init` as Docker makes it (`ingress`, the first subnet of the pools). A user may remove it
//! while no service publishes in ingress mode and create their own (`network create --ingress`,
//! one at a time), as Docker's documentation does to change its subnet. A service that
//! publishes a port in ingress mode (Docker's default) is attached to it, unseen in its spec as
//! in Docker's; its tasks get an address there and the service a VIP. While some service
//! publishes, every node gets an address of its own there (its mesh's source) and serves the
//! published ports, reaching the tasks over the overlay; until then no node sets it up.

use berth_raft::{Attrs, ClusterCommand, ClusterState, Object, ObjectKind, Op};
use serde_json::{json, Value};

use crate::error::{SwarmError, SwarmResult};
use crate::manager::Manager;
use crate::model::{new_id, Cluster};

/// The default ingress network's name, as in Docker.
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

/// Whether a stored network object is an ingress network.
pub fn is_ingress(o: &Object) -> bool {
    o.spec.get("Ingress").and_then(Value::as_bool) == Some(true)
}

/// The ingress network's object, if the swarm has one.
pub fn network(s: &ClusterState) -> Option<&Object> {
    s.list(ObjectKind::Network).find(|o| is_ingress(o))
}

/// The ingress network while some service publishes in ingress mode: only then do the nodes
/// serve it and take addresses on it.
pub fn serving(s: &ClusterState) -> Option<&Object> {
    let n = network(s)?;
    s.list(ObjectKind::Service)
        .any(|o| publishes_ingress(&o.spec))
        .then_some(n)
}

/// The spec of the ingress network `swarm init` makes.
pub fn default_spec() -> Value {
    json!({ "Name": INGRESS, "Driver": "overlay", "Ingress": true, "Scope": "swarm", "Labels": {} })
}

/// The op that makes the default ingress network.
pub fn create_default() -> Op {
    Op::Create {
        id: new_id(),
        attrs: Attrs::Network {
            name: INGRESS.into(),
        },
        spec: default_spec(),
        status: json!({}),
    }
}

/// Whether a service network entry names the ingress network `n` (by id or name).
fn targets(entry: &Value, n: &Object) -> bool {
    let target = entry.get("Target").and_then(Value::as_str);
    target.is_some_and(|t| t == n.id || Some(t) == name_of(n))
}

fn name_of(n: &Object) -> Option<&str> {
    match &n.attrs {
        Attrs::Network { name } => Some(name),
        _ => None,
    }
}

/// Attaches a service spec, as the client sent it, to the ingress network when it publishes
/// in ingress mode. Naming the ingress network among its networks is refused, as swarmkit
/// refuses it; a swarm from before `swarm init` made the network makes it on first need.
pub async fn join_ingress(m: &Manager, spec: &mut Value) -> SwarmResult<()> {
    let (ingress, made_at_init) = m.read(|s| {
        let made_at_init = s
            .list(ObjectKind::Cluster)
            .next()
            .and_then(|c| Cluster::parse(c).ok())
            .is_some_and(|c| c.status.ingress_at_init);
        (network(s).cloned(), made_at_init)
    });
    if let Some(n) = &ingress {
        let named = spec["TaskTemplate"]["Networks"]
            .as_array()
            .is_some_and(|list| list.iter().any(|e| targets(e, n)));
        if named {
            return Err(SwarmError::InvalidArgument(format!(
                "rpc error: code = InvalidArgument desc = Service cannot be explicitly attached to the ingress network {:?}",
                name_of(n).unwrap_or(INGRESS)
            )));
        }
    }
    if !publishes_ingress(spec) {
        return Ok(());
    }
    let id = match ingress {
        Some(n) => n.id,
        None if made_at_init => {
            return Err(SwarmError::InvalidArgument(
                "rpc error: code = FailedPrecondition desc = service needs ingress network, but no ingress network is present".into(),
            ))
        }
        None => make_default(m).await?,
    };
    let networks = spec["TaskTemplate"]
        .as_object_mut()
        .map(|t| t.entry("Networks").or_insert_with(|| json!([])));
    match networks.and_then(Value::as_array_mut) {
        Some(list) => list.push(json!({ "Target": id })),
        None => spec["TaskTemplate"]["Networks"] = json!([{ "Target": id }]),
    }
    Ok(())
}

/// A service or task spec as Docker shows it: without the ingress network, which swarmkit
/// attaches its tasks to apart from the spec.
pub fn hide(template: &mut Value, ingress: Option<&Object>) {
    let Some(n) = ingress else {
        return;
    };
    if let Some(list) = template.get_mut("Networks").and_then(Value::as_array_mut) {
        list.retain(|e| !targets(e, n));
        if list.is_empty() {
            if let Some(t) = template.as_object_mut() {
                t.remove("Networks");
            }
        }
    }
}

/// Makes the default ingress network for a swarm from before `swarm init` made it.
async fn make_default(m: &Manager) -> SwarmResult<String> {
    let made = m.write(ClusterCommand::single(create_default())).await;
    match made {
        // Made meanwhile by another request: as good.
        Ok(_) | Err(SwarmError::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    m.read(|s| network(s).map(|n| n.id.clone()))
        .ok_or_else(|| SwarmError::internal("the ingress network", "not made"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_and_tasks_are_shown_without_the_ingress_network_by_id_or_name() {
        let mut state = ClusterState::default();
        crate::fixtures::apply(&mut state, vec![create_default()]);
        let n = network(&state).expect("made");
        let mut template = json!({ "Networks": [{ "Target": n.id }, { "Target": "front" }] });
        hide(&mut template, Some(n));
        assert_eq!(template, json!({ "Networks": [{ "Target": "front" }] }));
        // A spec stored before names it `ingress`.
        let mut old = json!({ "ContainerSpec": {}, "Networks": [{ "Target": "ingress" }] });
        hide(&mut old, Some(n));
        assert_eq!(old, json!({ "ContainerSpec": {} }));
        let mut kept = json!({ "Networks": [{ "Target": "ingress" }] });
        hide(&mut kept, None);
        assert_eq!(kept["Networks"][0]["Target"], "ingress");
    }

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
