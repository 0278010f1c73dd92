//! The allocation pass of the leader: gives every overlay network that has none a VXLAN id
//! (the lowest free from 4096) and a subnet (the one asked for, or the first free one of the
//! cluster's default address pools) with its gateway, and every live task that asks for
//! networks an address on each (placement waits for it). Pure: reads the store, returns the
//! transactions; each names the version it read, so a network changed meanwhile is left for
//! the next pass. Nothing is handed out twice while held, and a removed network's VNI and
//! subnet are free again.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use berth_overlay::ipam::{pick_subnet, AddressPool, AddressSpace, Allocations, Subnet};
use berth_raft::{ClusterCommand, ClusterState, ObjectKind, Op};

use bollard_stubs::models::EndpointSpecModeEnum;
use chrono::{DateTime, Utc};

use crate::model::{
    sorted, Cluster, ModelError, Network, NetworkAllocation, Service, Task, TaskAttachment,
    TaskStatus, VirtualIp, FIRST_VNI, LAST_VNI,
};
use crate::plan::Plan;

/// What one network needs, or why it cannot have it.
fn allocate_one(
    n: &Network<'_>,
    pools: &[AddressPool],
    vnis: &BTreeSet<u32>,
    taken: &[Subnet],
) -> Result<NetworkAllocation, String> {
    let subnet = match n.requested_subnet() {
        Some(asked) => {
            let s = Subnet::parse(asked).ok_or_else(|| format!("invalid subnet {asked}"))?;
            if taken.iter().any(|t| t.overlaps(&s)) {
                return Err(format!(
                    "invalid pool request: Pool overlaps with other one on this address space ({s})"
                ));
            }
            s
        }
        None => pick_subnet(pools, taken)
            .ok_or("could not find an available, non-overlapping IPv4 address pool")?,
    };
    let gateway = match n.requested_gateway() {
        Some(g) => g
            .parse::<Ipv4Addr>()
            .ok()
            .filter(|ip| subnet.contains(*ip))
            .ok_or_else(|| format!("invalid gateway {g} for subnet {subnet}"))?,
        None => subnet.first_host(),
    };
    let vni = (FIRST_VNI..=LAST_VNI)
        .find(|v| !vnis.contains(v))
        .ok_or("no free VXLAN id")?;
    Ok(NetworkAllocation {
        vni,
        subnet: subnet.to_string(),
        gateway,
        attachments: Vec::new(),
    })
}

/// The cluster's address pools as IPAM takes them.
fn pools(s: &ClusterState) -> Vec<AddressPool> {
    let Some(c) = s.list(ObjectKind::Cluster).next() else {
        return Vec::new();
    };
    let Ok(c) = Cluster::parse(c) else {
        return Vec::new();
    };
    let size = u8::try_from(c.status.subnet_size).unwrap_or(24);
    c.status
        .default_addr_pool
        .iter()
        .map(|base| AddressPool {
            base: base.clone(),
            size,
        })
        .collect()
}

/// Allocates every network that has no allocation yet, the ingress first, then in id order.
pub fn allocate(s: &ClusterState, now: DateTime<Utc>) -> Plan {
    let mut plan = Plan::default();
    let mut networks = Vec::new();
    for o in sorted(s.list(ObjectKind::Network)) {
        match Network::parse(o) {
            Ok(n) => networks.push(n),
            Err(e) => plan.problem(e),
        }
    }
    let mut vnis: BTreeSet<u32> = BTreeSet::new();
    let mut taken: Vec<Subnet> = Vec::new();
    for a in networks.iter().filter_map(|n| n.allocation.as_ref()) {
        vnis.insert(a.vni);
        taken.extend(a.subnet());
    }
    let services: Vec<Service<'_>> = sorted(s.list(ObjectKind::Service))
        .into_iter()
        .filter_map(|o| Service::parse(o).ok())
        .collect();
    let pools = pools(s);
    let mut unallocated: Vec<&Network<'_>> =
        networks.iter().filter(|n| n.allocation.is_none()).collect();
    // The ingress network first: Docker's takes the pools' first subnet at init.
    unallocated.sort_by_key(|n| n.spec.ingress != Some(true));
    for n in unallocated {
        match allocate_one(n, &pools, &vnis, &taken) {
            Ok(a) => {
                vnis.insert(a.vni);
                taken.extend(a.subnet());
                plan.push(ClusterCommand::single(Op::UpdateStatus {
                    kind: ObjectKind::Network,
                    id: n.id().to_string(),
                    expected_version: Some(n.object.meta.version),
                    status: a.to_value(),
                }));
            }
            Err(reason) => plan.problem(ModelError::of(n.object, reason)),
        }
    }
    let serving = crate::ingress::serving(s);
    let in_use = serving.is_some() || networks.iter().any(|n| n.spec.ingress != Some(true));
    if !in_use {
        // No overlay network but an idle ingress: only published ports (in host mode) may
        // want numbers, and the pass need not read every task.
        allocate_endpoints(&services, &[], &mut HashMap::new(), &mut plan);
        return plan;
    }
    let tasks: Vec<Task<'_>> = sorted(s.list(ObjectKind::Task))
        .into_iter()
        .filter_map(|o| Task::parse(o).ok())
        .filter(Task::holds_addresses)
        .collect();
    let mut held = held_addresses(&networks, &tasks, &services);
    if let Some(ingress) = serving {
        allocate_node_endpoints(s, ingress, &networks, &mut held, &mut plan);
    }
    allocate_endpoints(&services, &networks, &mut held, &mut plan);
    allocate_tasks(
        &tasks,
        &networks,
        &mut held,
        &mut plan,
        (crate::model::data_path_port(s), now),
    );
    plan
}

/// The addresses held on each network (by id): tasks' that hold them (see
/// `Task::holds_addresses`), services' VIPs and standalone containers'.
pub(crate) fn held_addresses(
    networks: &[Network<'_>],
    tasks: &[Task<'_>],
    services: &[Service<'_>],
) -> HashMap<String, Allocations> {
    let mut held: HashMap<String, Allocations> = HashMap::new();
    for a in tasks
        .iter()
        .flat_map(|t| t.attachments().unwrap_or_default())
    {
        held.entry(a.network_id)
            .or_default()
            .in_use
            .insert(a.address);
    }
    for v in services.iter().flat_map(|s| s.status.virtual_ips.iter()) {
        if let Some(ip) = v.ip() {
            held.entry(v.network_id.clone())
                .or_default()
                .in_use
                .insert(ip);
        }
    }
    for n in networks {
        for c in n.allocation.iter().flat_map(|a| a.attachments.iter()) {
            held.entry(n.id().to_string())
                .or_default()
                .in_use
                .insert(c.address);
        }
    }
    held
}

/// Everything `held_addresses` needs, read from the store.
pub(crate) fn held_in(s: &ClusterState) -> HashMap<String, Allocations> {
    let networks: Vec<Network<'_>> = s
        .list(ObjectKind::Network)
        .filter_map(|o| Network::parse(o).ok())
        .collect();
    let tasks: Vec<Task<'_>> = s
        .list(ObjectKind::Task)
        .filter_map(|o| Task::parse(o).ok())
        .filter(Task::holds_addresses)
        .collect();
    let services: Vec<Service<'_>> = s
        .list(ObjectKind::Service)
        .filter_map(|o| Service::parse(o).ok())
        .collect();
    held_addresses(&networks, &tasks, &services)
}

/// The id under which a node's own endpoint on the ingress network is recorded.
pub fn node_endpoint_id(node_id: &str) -> String {
    format!("{NODE_ENDPOINT_PREFIX}{node_id}")
}

const NODE_ENDPOINT_PREFIX: &str = "ingress-sbox-";

/// Whether an attachment is a node's own endpoint on the ingress network, not a container's.
pub fn is_node_endpoint(attachment_id: &str) -> bool {
    attachment_id.starts_with(NODE_ENDPOINT_PREFIX)
}

/// Gives every ready node an address of its own on the ingress network while a service
/// publishes in ingress mode (its routing mesh connects from it, so replies find their way
/// back to that node). When the subnet is full, the nodes that got one keep it, as in
/// Docker's, whose ingress /24 holds about 250 nodes.
fn allocate_node_endpoints(
    s: &ClusterState,
    ingress: &berth_raft::Object,
    networks: &[Network<'_>],
    held: &mut HashMap<String, Allocations>,
    plan: &mut Plan,
) {
    let Some(n) = networks.iter().find(|n| n.id() == ingress.id) else {
        return;
    };
    let Some((a, subnet)) = n.allocation.as_ref().and_then(|a| Some((a, a.subnet()?))) else {
        return;
    };
    let space = AddressSpace::whole(subnet, a.gateway);
    let mut status = a.clone();
    for node in sorted(s.list(ObjectKind::Node)) {
        let Ok(node) = crate::model::Node::parse(node) else {
            continue;
        };
        let id = node_endpoint_id(node.id());
        if node.state() != crate::model::NodeState::Ready
            || status.attachments.iter().any(|c| c.container_id == id)
        {
            continue;
        }
        let Some(address) = held.entry(n.id().to_string()).or_default().allocate(&space) else {
            plan.problem(ModelError::of(
                n.object,
                "no address left for a node's ingress endpoint",
            ));
            break;
        };
        status.attachments.push(crate::model::ContainerAttachment {
            container_id: id,
            name: String::new(),
            node_id: node.id().to_string(),
            address,
        });
    }
    if status != *a {
        plan.push(ClusterCommand::single(Op::UpdateStatus {
            kind: ObjectKind::Network,
            id: n.id().to_string(),
            expected_version: Some(n.object.meta.version),
            status: status.to_value(),
        }));
    }
}

/// Gives every service its `Endpoint`: in endpoint mode `vip` an address on each network it
/// uses (kept while it uses the network), before its tasks get theirs, and its published
/// ports, a number for each mesh port sent without one (`published_ports::assign`).
fn allocate_endpoints(
    services: &[Service<'_>],
    networks: &[Network<'_>],
    held: &mut HashMap<String, Allocations>,
    plan: &mut Plan,
) {
    let mut ports_taken = crate::published_ports::taken(services);
    for svc in services {
        let ports = crate::published_ports::assign(svc, &mut ports_taken).unwrap_or_else(|e| {
            plan.problem(ModelError::of(svc.object, e));
            svc.status.ports.clone()
        });
        let dnsrr = svc
            .spec
            .endpoint_spec
            .as_ref()
            .and_then(|e| e.mode)
            .is_some_and(|m| m == EndpointSpecModeEnum::DNSRR);
        let targets: Vec<String> = if dnsrr {
            Vec::new()
        } else {
            let template = svc.spec.task_template.as_ref();
            template
                .and_then(|t| t.networks.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|a| a.target.clone())
                .collect()
        };
        let mut vips = Vec::new();
        for target in &targets {
            let Some(n) = networks
                .iter()
                .find(|n| n.id() == target || n.name() == target)
            else {
                continue;
            };
            let Some((a, subnet)) = n.allocation.as_ref().and_then(|a| Some((a, a.subnet()?)))
            else {
                continue;
            };
            if let Some(kept) = svc
                .status
                .virtual_ips
                .iter()
                .find(|v| v.network_id == n.id())
            {
                vips.push(kept.clone());
                continue;
            }
            let space = AddressSpace::whole(subnet, a.gateway);
            match held.entry(n.id().to_string()).or_default().allocate(&space) {
                Some(ip) => vips.push(VirtualIp {
                    network_id: n.id().to_string(),
                    addr: format!("{ip}/{}", subnet.prefix),
                }),
                None => plan.problem(ModelError::of(
                    svc.object,
                    format!("no available IPv4 addresses on network {}", n.name()),
                )),
            }
        }
        if vips != svc.status.virtual_ips || ports != svc.status.ports {
            let mut status = svc.status.clone();
            status.virtual_ips = vips;
            status.ports = ports;
            plan.push(ClusterCommand::single(Op::UpdateStatus {
                kind: ObjectKind::Service,
                id: svc.id().to_string(),
                expected_version: Some(svc.object.meta.version),
                status: status.to_value(),
            }));
        }
    }
}

/// The places of one task on the networks it asks for; `Ok(None)` while a network is not
/// allocated yet.
fn attachments_of(
    t: &Task<'_>,
    networks: &[Network<'_>],
    held: &mut HashMap<String, Allocations>,
    port: u16,
) -> Result<Option<Vec<TaskAttachment>>, String> {
    let mut out: Vec<TaskAttachment> = Vec::new();
    let give_back = |held: &mut HashMap<String, Allocations>, out: &[TaskAttachment]| {
        for a in out {
            if let Some(h) = held.get_mut(&a.network_id) {
                h.release(a.address);
            }
        }
    };
    for w in t.networks_wanted().map_err(|e| e.to_string())? {
        let Some(n) = networks
            .iter()
            .find(|n| n.id() == w.target || n.name() == w.target)
        else {
            give_back(held, &out);
            return Err(format!("network {} not found", w.target));
        };
        let Some((a, subnet)) = n.allocation.as_ref().and_then(|a| Some((a, a.subnet()?))) else {
            give_back(held, &out);
            return Ok(None);
        };
        let space = AddressSpace::whole(subnet, a.gateway);
        let Some(address) = held.entry(n.id().to_string()).or_default().allocate(&space) else {
            give_back(held, &out);
            return Err(format!(
                "no available IPv4 addresses on network {}",
                n.name()
            ));
        };
        out.push(TaskAttachment {
            network_id: n.id().to_string(),
            name: n.name().to_string(),
            vni: a.vni,
            subnet: a.subnet.clone(),
            gateway: a.gateway,
            address,
            aliases: w.aliases.unwrap_or_default(),
            mtu: n.mtu(),
            port,
            internal: n.spec.internal.unwrap_or(false),
            driver_opts: w.driver_opts.unwrap_or_default(),
        });
    }
    Ok(Some(out))
}

/// Gives every live task that asks for networks and has no places yet an address on each,
/// never one a live task or a service holds.
fn allocate_tasks(
    tasks: &[Task<'_>],
    networks: &[Network<'_>],
    held: &mut HashMap<String, Allocations>,
    plan: &mut Plan,
    (port, now): (u16, DateTime<Utc>),
) {
    for t in tasks
        .iter()
        .filter(|t| t.is_live() && t.awaits_allocation())
    {
        match attachments_of(t, networks, held, port) {
            Ok(Some(out)) => {
                let mut doc = t.doc();
                // Addresses and strings: serializing cannot fail.
                doc.networks = serde_json::to_value(&out).unwrap_or_default();
                plan.push(ClusterCommand::single(Op::Update {
                    id: t.id().to_string(),
                    expected_version: Some(t.object.meta.version),
                    attrs: t.object.attrs.clone(),
                    spec: doc.to_value(),
                    status: t.object.status.clone(),
                }));
            }
            Ok(None) => {}
            // The task says why it waits (`docker service ps` shows it), once.
            Err(reason) if t.status.err.as_deref() != Some(reason.as_str()) => {
                let status =
                    TaskStatus::new(t.state(), "pending task allocation", Some(&reason), now);
                plan.push(ClusterCommand::single(Op::Update {
                    id: t.id().to_string(),
                    expected_version: Some(t.object.meta.version),
                    attrs: t.object.attrs.clone(),
                    spec: t.object.spec.clone(),
                    status: status.to_value(),
                }));
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
#[path = "allocator_tests.rs"]
mod tests;
