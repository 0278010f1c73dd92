//! What the API asks of a manager about overlay networks: create (checked as Docker's
//! overlay driver checks it, and what berth cannot do refused by name), remove (refused while
//! a service names the network). The leader's allocator gives a created network its VXLAN id
//! and subnet.

use std::collections::BTreeMap;

use berth_overlay::ipam::{AddressSpace, Subnet};
use berth_overlay::pool_faults::{pool_faults, refusal, AskedPool};
use berth_raft::{Attrs, ClusterCommand, ClusterState, ObjectKind, Op};
use bollard_stubs::models::NetworkCreateRequest;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{SwarmError, SwarmResult};
use crate::manager::Manager;
use crate::model::{new_id, ContainerAttachment, Network, Service, TaskAttachment, OPT_MTU};
use crate::ops::find;

fn refuse(what: impl Into<String>) -> SwarmError {
    SwarmError::InvalidArgument(what.into())
}

/// Checks an overlay network create; returns the spec to store (Docker's request, with the
/// swarm scope filled in).
pub fn normalize_network(raw: &Value) -> SwarmResult<Value> {
    let req = NetworkCreateRequest::deserialize(raw)
        .map_err(|e| refuse(format!("invalid network create request: {e}")))?;
    if req.name.trim().is_empty() {
        return Err(refuse("network name must not be empty"));
    }
    if req.driver.as_deref() != Some("overlay") {
        return Err(refuse("only overlay networks are cluster networks"));
    }
    if req.enable_ipv6 == Some(true) {
        return Err(refuse("EnableIPv6: berth's overlay networks are IPv4 only"));
    }
    if req.ingress == Some(true) && req.attachable == Some(true) {
        return Err(refuse(
            "rpc error: code = InvalidArgument desc = ingress network cannot be attachable",
        ));
    }
    if req.config_only == Some(true)
        || req
            .config_from
            .as_ref()
            .is_some_and(|c| c.network.as_deref().is_some_and(|n| !n.is_empty()))
    {
        return Err(refuse(
            "ConfigOnly and ConfigFrom networks are not supported by berth",
        ));
    }
    if !matches!(req.scope.as_deref(), None | Some("") | Some("swarm")) {
        return Err(refuse(format!(
            "invalid scope {:?} for an overlay network: overlay networks are swarm-scoped",
            req.scope.as_deref().unwrap_or("")
        )));
    }
    for (k, v) in req.options.iter().flatten() {
        match k.as_str() {
            OPT_MTU => {
                let mtu: u32 = v
                    .parse()
                    .map_err(|_| refuse(format!("invalid MTU {v:?} in {OPT_MTU}")))?;
                if !(68..=65_535).contains(&mtu) {
                    return Err(refuse(format!("invalid MTU {mtu} in {OPT_MTU}")));
                }
            }
            "encrypted" => {
                return Err(refuse(
                    "encrypted overlay networks (IPsec) are not supported by berth",
                ))
            }
            other => {
                return Err(refuse(format!(
                    "option {other} is not supported by berth's overlay driver"
                )))
            }
        }
    }
    if let Some(ipam) = &req.ipam {
        if !matches!(ipam.driver.as_deref(), None | Some("") | Some("default")) {
            return Err(refuse(format!(
                "IPAM driver {:?} is not supported by berth",
                ipam.driver.as_deref().unwrap_or("")
            )));
        }
        if ipam.options.as_ref().is_some_and(|o| !o.is_empty()) {
            return Err(refuse("IPAM options are not supported by berth"));
        }
        let configs = ipam.config.as_deref().unwrap_or_default();
        if configs.len() > 1 {
            return Err(refuse(
                "berth's overlay networks take one IPv4 subnet; more were given",
            ));
        }
        for c in configs {
            let subnet = c.subnet.as_deref().unwrap_or_default();
            if subnet.contains(':') {
                return Err(refuse(format!(
                    "invalid subnet {subnet}: berth's overlay networks are IPv4"
                )));
            }
            let aux: BTreeMap<String, String> = c
                .auxiliary_addresses
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            // moby's `ValidateIPAM` first (Docker 25 on), as the local networks'.
            let asked = AskedPool {
                subnet,
                gateway: c.gateway.as_deref(),
                ip_range: c.ip_range.as_deref(),
                aux: &aux,
            };
            pool_faults::<Subnet>(asked).map_err(|faults| refuse(refusal(&faults)))?;
            if c.ip_range.as_deref().is_some_and(|r| !r.is_empty()) || !aux.is_empty() {
                return Err(refuse(
                    "IPRange and AuxiliaryAddresses are not supported on overlay networks yet",
                ));
            }
        }
    }
    let mut spec = raw.clone();
    spec["Scope"] = json!("swarm");
    Ok(spec)
}

/// Whether `asked` overlaps a subnet another network has or asked for.
fn overlapping(s: &ClusterState, asked: Subnet) -> Option<String> {
    s.list(ObjectKind::Network)
        .filter_map(|o| Network::parse(o).ok())
        .find(|n| {
            let theirs = n
                .allocation
                .as_ref()
                .and_then(|a| a.subnet())
                .or_else(|| n.requested_subnet().and_then(Subnet::parse));
            theirs.is_some_and(|t| t.overlaps(&asked))
        })
        .map(|n| n.name().to_string())
}

/// Creates an overlay network; returns its id.
pub async fn create_network(m: &Manager, raw: &Value) -> SwarmResult<String> {
    let spec = normalize_network(raw)?;
    let n = NetworkCreateRequest::deserialize(&spec)
        .map_err(|e| refuse(format!("invalid network create request: {e}")))?;
    let asked = n
        .ipam
        .as_ref()
        .and_then(|i| i.config.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.subnet.as_deref())
        .and_then(Subnet::parse);
    let clash = m
        .read_fresh(|s| {
            let taken = s.by_name(ObjectKind::Network, &n.name).is_some();
            let ingress = crate::ingress::network(s).map(|o| o.id.clone());
            (taken, asked.and_then(|a| overlapping(s, a)), ingress)
        })
        .await?;
    if let (Some(true), Some(id)) = (n.ingress, &clash.2) {
        return Err(SwarmError::Conflict(format!(
            "rpc error: code = AlreadyExists desc = ingress network ({id}) is already present"
        )));
    }
    if clash.0 {
        return Err(SwarmError::Conflict(format!(
            "network with name {} already exists",
            n.name
        )));
    }
    if clash.1.is_some() {
        return Err(refuse(
            "invalid pool request: Pool overlaps with other one on this address space",
        ));
    }
    let id = new_id();
    m.write(ClusterCommand::single(Op::Create {
        id: id.clone(),
        attrs: Attrs::Network {
            name: n.name.clone(),
        },
        spec,
        status: json!({}),
    }))
    .await
    .map_err(|e| match e {
        SwarmError::Conflict(_) => {
            SwarmError::Conflict(format!("network with name {} already exists", n.name))
        }
        other => other,
    })?;
    Ok(id)
}

/// The services whose task template names network `n` (by id or name).
pub fn services_using<'a>(s: &'a ClusterState, n: &Network<'_>) -> Vec<Service<'a>> {
    s.list(ObjectKind::Service)
        .filter_map(|o| Service::parse(o).ok())
        .filter(|svc| {
            let template = svc.spec.task_template.as_ref();
            let attached = template
                .and_then(|t| t.networks.as_ref())
                .into_iter()
                .flatten()
                .chain(svc.spec.networks.iter().flatten());
            attached
                .filter_map(|a| a.target.as_deref())
                .any(|t| t == n.id() || t == n.name())
        })
        .collect()
}

/// Names each network of a service's task template by its id, as moby stores it (clients may
/// send names, and inspect shows ids); refuses one that does not exist.
pub fn resolve_service_networks(s: &ClusterState, spec: &mut Value) -> SwarmResult<()> {
    let Some(wanted) = spec
        .pointer_mut("/TaskTemplate/Networks")
        .and_then(Value::as_array_mut)
    else {
        return Ok(());
    };
    for w in wanted {
        let target = w.get("Target").and_then(Value::as_str).unwrap_or("");
        let Ok(network) = find(s, ObjectKind::Network, target) else {
            return Err(refuse(format!("network {target} not found")));
        };
        w["Target"] = Value::String(network.id.clone());
    }
    Ok(())
}

/// A task that is not past running and has an address on network `id`.
fn task_using(s: &ClusterState, id: &str) -> Option<String> {
    s.list(ObjectKind::Task)
        .filter_map(|o| crate::model::Task::parse(o).ok())
        .filter(|t| t.is_live() && !t.state().is_terminal())
        .find(|t| {
            t.attachments()
                .unwrap_or_default()
                .iter()
                .any(|a| a.network_id == id)
        })
        .map(|t| t.id().to_string())
}

/// A standalone container attached to network `n` (not a node's own mesh endpoint).
fn container_using(n: &Network<'_>) -> Option<String> {
    let a = n.allocation.as_ref()?;
    a.attachments
        .iter()
        .find(|c| !crate::allocator::is_node_endpoint(&c.container_id))
        .map(|c| c.container_id.clone())
}

/// Removes an overlay network no service, live task or container uses.
pub async fn remove_network(m: &Manager, key: &str) -> SwarmResult<()> {
    let (id, version) = m
        .read_fresh(|s| {
            let o = find(s, ObjectKind::Network, key)?;
            let n = Network::parse(o)?;
            if crate::ingress::is_ingress(o) {
                let needs = s
                    .list(ObjectKind::Service)
                    .find(|svc| crate::ingress::publishes_ingress(&svc.spec));
                if let Some(svc) = needs {
                    return Err(refuse(format!(
                        "rpc error: code = FailedPrecondition desc = ingress network cannot be removed because service {} depends on it",
                        svc.id
                    )));
                }
            }
            if let Some(svc) = services_using(s, &n).first() {
                return Err(refuse(format!(
                    "rpc error: code = FailedPrecondition desc = network {} is in use by service {}",
                    n.id(),
                    svc.id()
                )));
            }
            // As swarmkit: a task not yet past running still uses it (a removed service's
            // tasks while they stop), and so does a container attached to it on any node.
            if let Some(user) = task_using(s, n.id()).or_else(|| container_using(&n)) {
                return Err(refuse(format!(
                    "rpc error: code = FailedPrecondition desc = network {} is in use by task {user}",
                    n.id()
                )));
            }
            Ok((o.id.clone(), o.meta.version))
        })
        .await??;
    m.write(ClusterCommand::single(Op::Delete {
        kind: ObjectKind::Network,
        id,
        expected_version: Some(version),
    }))
    .await?;
    Ok(())
}

/// What an attach decided: an address already held, or a status to write at a version.
enum AttachStep {
    Held(TaskAttachment),
    Write(u64, Value, TaskAttachment),
}

fn attachment_of(
    n: &Network<'_>,
    a: &crate::model::NetworkAllocation,
    (address, port): (std::net::Ipv4Addr, u16),
) -> TaskAttachment {
    TaskAttachment {
        network_id: n.id().to_string(),
        name: n.name().to_string(),
        vni: a.vni,
        subnet: a.subnet.clone(),
        gateway: a.gateway,
        address,
        aliases: Vec::new(),
        mtu: n.mtu(),
        port,
        internal: n.spec.internal.unwrap_or(false),
        driver_opts: Default::default(),
    }
}

/// Network `key` as a standalone container would join it (address unspecified): refused
/// unless it is attachable and has its address space.
pub fn attachable(s: &ClusterState, key: &str) -> SwarmResult<TaskAttachment> {
    let (n, a, port) = attachable_parts(s, key)?;
    Ok(attachment_of(
        &n,
        &a,
        (std::net::Ipv4Addr::UNSPECIFIED, port),
    ))
}

fn attachable_parts<'a>(
    s: &'a ClusterState,
    key: &str,
) -> SwarmResult<(Network<'a>, crate::model::NetworkAllocation, u16)> {
    let o = find(s, ObjectKind::Network, key)?;
    let n = Network::parse(o)?;
    let port = crate::model::data_path_port(s);
    if !n.spec.attachable.unwrap_or(false) {
        return Err(refuse(format!(
            "Could not attach to network {key}: rpc error: code = PermissionDenied desc = network {} not manually attachable",
            n.name()
        )));
    }
    let Some(a) = n.allocation.clone() else {
        return Err(SwarmError::Unavailable(format!(
            "network {} has no address space yet; try again",
            n.name()
        )));
    };
    Ok((n, a, port))
}

/// Decides an attach on the state as read.
fn attach_step(
    s: &ClusterState,
    key: &str,
    (container_id, name, node_id): (&str, &str, &str),
) -> SwarmResult<AttachStep> {
    let (n, a, port) = attachable_parts(s, key)?;
    let o = n.object;
    if let Some(c) = a
        .attachments
        .iter()
        .find(|c| c.container_id == container_id)
    {
        return Ok(AttachStep::Held(attachment_of(&n, &a, (c.address, port))));
    }
    let subnet = a
        .subnet()
        .ok_or_else(|| refuse(format!("bad subnet {}", a.subnet)))?;
    let space = AddressSpace::whole(subnet, a.gateway);
    let mut held = crate::allocator::held_in(s);
    let address = held
        .entry(n.id().to_string())
        .or_default()
        .allocate(&space)
        .ok_or_else(|| {
            refuse(format!(
                "no available IPv4 addresses on network {}",
                n.name()
            ))
        })?;
    let mut status = a.clone();
    status.attachments.push(ContainerAttachment {
        container_id: container_id.to_string(),
        name: name.to_string(),
        node_id: node_id.to_string(),
        address,
    });
    Ok(AttachStep::Write(
        o.meta.version,
        status.to_value(),
        attachment_of(&n, &a, (address, port)),
    ))
}

/// Gives standalone container `who` = (id, name, node) an address on attachable network
/// `key`, as Docker's network attachment does; the same one again when it has one.
pub async fn attach_container(
    m: &Manager,
    key: &str,
    who: (&str, &str, &str),
) -> SwarmResult<TaskAttachment> {
    for _ in 0..5 {
        let step = m.read_fresh(|s| attach_step(s, key, who)).await??;
        let (version, status, attachment) = match step {
            AttachStep::Held(a) => return Ok(a),
            AttachStep::Write(v, s, a) => (v, s, a),
        };
        let written = m
            .write(ClusterCommand::single(Op::UpdateStatus {
                kind: ObjectKind::Network,
                id: attachment.network_id.clone(),
                expected_version: Some(version),
                status,
            }))
            .await;
        match written {
            Ok(_) => return Ok(attachment),
            // The network changed meanwhile (another attach, the allocator): read again.
            Err(SwarmError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(SwarmError::Unavailable(format!(
        "network {key} changed too often while attaching; try again"
    )))
}

/// Gives back standalone container `container_id`'s address on network `network_id`.
pub async fn detach_container(
    m: &Manager,
    network_id: &str,
    container_id: &str,
) -> SwarmResult<()> {
    for _ in 0..5 {
        let step = m
            .read_fresh(|s| {
                let o = s.get(ObjectKind::Network, network_id)?;
                let mut a = Network::parse(o).ok()?.allocation?;
                let before = a.attachments.len();
                a.attachments.retain(|c| c.container_id != container_id);
                (a.attachments.len() != before).then(|| (o.meta.version, a.to_value()))
            })
            .await?;
        let Some((version, status)) = step else {
            return Ok(());
        };
        let written = m
            .write(ClusterCommand::single(Op::UpdateStatus {
                kind: ObjectKind::Network,
                id: network_id.to_string(),
                expected_version: Some(version),
                status,
            }))
            .await;
        match written {
            Ok(_) => return Ok(()),
            Err(SwarmError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "network_ops_tests.rs"]
mod tests;
