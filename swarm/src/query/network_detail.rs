//! What `network inspect --verbose` adds for a swarm network on a manager, from the store:
//! each service's VIP and tasks on it (standalone containers under the empty name, as Docker
//! lists network attachments) with the node each runs on, and the nodes with an endpoint on
//! it (Docker's `Peers`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_raft::{ClusterState, ObjectKind};

use crate::error::SwarmResult;
use crate::model::{Network, Node, Service, Task};
use crate::ops;
use crate::swarm::Swarm;

/// A swarm network's endpoints across the cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkDetail {
    /// By service name (`""`: standalone containers).
    pub services: BTreeMap<String, ServiceOnNetwork>,
    /// The nodes with an endpoint on it: (name, address). A name is the node's hostname and
    /// its id's first 12 characters, unique as moby's `hostname-<random id>` (clones of one
    /// machine image share a hostname).
    pub peers: BTreeMap<String, Ipv4Addr>,
}

/// A service's place on the network.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceOnNetwork {
    /// Its virtual address, in `vip` endpoint mode.
    pub vip: Option<Ipv4Addr>,
    /// Its live endpoints.
    pub tasks: Vec<EndpointOnNetwork>,
}

/// One task's (or container's) endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointOnNetwork {
    /// The task's name (`web.1.<id>`) or the container's.
    pub name: String,
    /// Its address on the network.
    pub ip: Ipv4Addr,
    /// The address of the node it runs on (its VXLAN endpoint).
    pub host: Option<Ipv4Addr>,
}

fn detail(s: &ClusterState, key: &str) -> SwarmResult<NetworkDetail> {
    let n = Network::parse(ops::find(s, ObjectKind::Network, key)?)?;
    let nodes: BTreeMap<String, (String, Option<Ipv4Addr>)> = s
        .list(ObjectKind::Node)
        .filter_map(|o| Node::parse(o).ok())
        .map(|node| {
            let addr = node
                .status
                .status
                .addr
                .as_deref()
                .and_then(|a| a.parse().ok());
            let short = node.id().get(..12).unwrap_or(node.id());
            let name = format!("{}-{short}", node.hostname());
            (node.id().to_string(), (name, addr))
        })
        .collect();
    let mut out = NetworkDetail::default();
    let place = |out: &mut NetworkDetail, service: &str, name: String, ip, node_id: &str| {
        let (peer, host) = nodes.get(node_id).cloned().unwrap_or_default();
        if let Some(h) = host {
            out.peers.insert(peer, h);
        }
        out.services
            .entry(service.to_string())
            .or_default()
            .tasks
            .push(EndpointOnNetwork { name, ip, host });
    };
    for t in s.list(ObjectKind::Task).filter_map(|o| Task::parse(o).ok()) {
        let Some(node_id) = t.node_id.filter(|_| t.is_live()) else {
            continue;
        };
        for a in t.attachments().unwrap_or_default() {
            if a.network_id == n.id() {
                place(
                    &mut out,
                    t.service_name(),
                    t.container_name(),
                    a.address,
                    node_id,
                );
            }
        }
    }
    for c in n.allocation.iter().flat_map(|a| &a.attachments) {
        // Nodes' own endpoints on the routing mesh have no name: not containers.
        if !c.name.is_empty() {
            place(&mut out, "", c.name.clone(), c.address, &c.node_id);
        }
    }
    for svc in s
        .list(ObjectKind::Service)
        .filter_map(|o| Service::parse(o).ok())
    {
        let vip = svc
            .status
            .virtual_ips
            .iter()
            .find(|v| v.network_id == n.id())
            .and_then(|v| v.ip());
        if let (Some(vip), Some(entry)) = (vip, out.services.get_mut(svc.name())) {
            entry.vip = Some(vip);
        }
    }
    Ok(out)
}

impl Swarm {
    /// `network inspect --verbose` of swarm network `key` (managers: workers have no store).
    pub async fn network_detail(&self, key: &str) -> SwarmResult<NetworkDetail> {
        let m = self.manager()?;
        m.read(|s| detail(s, key))
    }
}
