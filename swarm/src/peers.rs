//! What the dispatcher tells a node about the overlay networks its tasks use: every endpoint
//! of those networks on other ready nodes (address, MAC, that node's VTEP), and the names its
//! embedded DNS answers on them (a service's name and aliases → its VIP, or its tasks'
//! addresses in `dnsrr` mode; `tasks.<service>` → its running tasks' addresses). The node
//! programs its VXLAN devices' tables from it (`berth_overlay::peers`), so the control plane
//! is the Raft state, never gossip. Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;

use berth_overlay::ipam::mac_for;
use berth_raft::{ClusterState, ObjectKind};
use bollard_stubs::models::EndpointPortConfig;
use serde::{Deserialize, Serialize};

use crate::model::{
    on_mesh, published, ContainerAttachment, Network, Node, NodeState, Protocol, Service, Task,
    TaskState, TemplatePrint,
};

/// An endpoint on another node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Peer {
    /// Its address on the overlay.
    pub ip: Ipv4Addr,
    /// Its MAC (Docker's, from the address).
    pub mac: [u8; 6],
    /// Its node's address on the underlay.
    pub vtep: Ipv4Addr,
}

/// A name the embedded DNS answers on a network.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NameRecord {
    /// The name (lower case).
    pub name: String,
    /// Its addresses, sorted.
    pub ips: Vec<Ipv4Addr>,
}

/// A service's virtual IP on a network and the running tasks connections to it go to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VipRecord {
    /// The VIP.
    pub vip: Ipv4Addr,
    /// The running tasks' addresses, sorted.
    pub backends: Vec<Ipv4Addr>,
}

/// The remote endpoints, the service names and the VIPs of one overlay network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetworkPeers {
    /// The network's VXLAN id.
    pub vni: u32,
    /// Its endpoints on other nodes, sorted.
    pub remote: Vec<Peer>,
    /// The service names on it, sorted.
    #[serde(default)]
    pub names: Vec<NameRecord>,
    /// The VIPs on it, sorted.
    #[serde(default)]
    pub vips: Vec<VipRecord>,
    /// When it is the ingress network: what this node's routing mesh serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressView>,
}

/// The routing mesh as one node serves it: the ingress network (which every node joins, with
/// tasks there or not), this node's own address on it, and the published ports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IngressView {
    /// The network's id.
    pub network_id: String,
    /// Its name.
    pub name: String,
    /// Its subnet (`a.b.c.d/n`).
    pub subnet: String,
    /// Its gateway.
    pub gateway: Ipv4Addr,
    /// This node's address on it, once allocated.
    pub own: Option<Ipv4Addr>,
    /// The swarm's VXLAN port.
    pub port: u16,
    /// Every port published in ingress mode, with the running tasks behind it.
    pub ports: Vec<MeshPort>,
}

/// A port published in ingress mode.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MeshPort {
    /// The port on every node.
    pub published: u16,
    /// The port in the tasks.
    pub target: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The running tasks' addresses on the ingress network.
    pub backends: Vec<Ipv4Addr>,
}

/// The peers of every overlay network that a live task on `node_id` uses.
pub fn network_peers(state: &ClusterState, node_id: &str) -> Vec<NetworkPeers> {
    // Every session wake computes this: without overlay networks in use, skip reading every
    // task (the ingress network is only used while a service publishes).
    let ingress = crate::ingress::serving(state);
    let networks_in_use = ingress.is_some()
        || state
            .list(ObjectKind::Network)
            .any(|o| !crate::ingress::is_ingress(o));
    if !networks_in_use {
        return Vec::new();
    }
    let tasks: Vec<Task<'_>> = state
        .list(ObjectKind::Task)
        .filter_map(|o| Task::parse(o).ok())
        .filter(|t| t.is_live() && t.node_id.is_some())
        .collect();
    // Standalone containers on attachable networks: (vni, attachment).
    let standalone: Vec<(u32, ContainerAttachment)> = state
        .list(ObjectKind::Network)
        .filter_map(|o| Network::parse(o).ok()?.allocation)
        .flat_map(|a| {
            let vni = a.vni;
            a.attachments.into_iter().map(move |c| (vni, c))
        })
        .collect();
    let ingress = ingress
        .and_then(|o| Network::parse(o).ok())
        .and_then(|n| Some((n.object.id.clone(), n.name().to_string(), n.allocation?)));
    let served: BTreeSet<u32> = tasks
        .iter()
        .filter(|t| t.node_id == Some(node_id))
        .flat_map(|t| t.attachments().unwrap_or_default())
        .map(|a| a.vni)
        .chain(
            standalone
                .iter()
                .filter(|(_, c)| c.node_id == node_id)
                .map(|(vni, _)| *vni),
        )
        // Every node serves the routing mesh while a service publishes.
        .chain(ingress.as_ref().map(|(_, _, a)| a.vni))
        .collect();
    if served.is_empty() {
        return Vec::new();
    }
    let vteps: BTreeMap<&str, Ipv4Addr> = state
        .list(ObjectKind::Node)
        .filter_map(|o| Node::parse(o).ok())
        .filter(|n| n.state() == NodeState::Ready)
        .filter_map(|n| {
            let addr = n.status.status.addr.as_deref()?.parse().ok()?;
            Some((n.object.id.as_str(), addr))
        })
        .collect();
    let mut out: BTreeMap<u32, BTreeSet<Peer>> =
        served.iter().map(|v| (*v, BTreeSet::new())).collect();
    for t in tasks.iter().filter(|t| t.node_id != Some(node_id)) {
        let Some(vtep) = t.node_id.and_then(|n| vteps.get(n)) else {
            continue;
        };
        for a in t.attachments().unwrap_or_default() {
            if let Some(set) = out.get_mut(&a.vni) {
                set.insert(Peer {
                    ip: a.address,
                    mac: mac_for(a.address),
                    vtep: *vtep,
                });
            }
        }
    }
    for (vni, c) in standalone.iter().filter(|(_, c)| c.node_id != node_id) {
        if let (Some(set), Some(vtep)) = (out.get_mut(vni), vteps.get(c.node_id.as_str())) {
            set.insert(Peer {
                ip: c.address,
                mac: mac_for(c.address),
                vtep: *vtep,
            });
        }
    }
    // Names point only at tasks that can answer: here, or on a ready node.
    let reachable: Vec<Task<'_>> = tasks
        .into_iter()
        .filter(|t| t.node_id == Some(node_id) || t.node_id.is_some_and(|n| vteps.contains_key(n)))
        .collect();
    let (mut names, mut vips) = service_names(state, &reachable, &served);
    for (vni, c) in standalone.iter().filter(|(_, c)| !c.name.is_empty()) {
        let here = c.node_id == node_id || vteps.contains_key(c.node_id.as_str());
        if let (true, Some(list)) = (
            here,
            served.contains(vni).then(|| names.entry(*vni).or_default()),
        ) {
            list.push(NameRecord {
                name: c.name.to_lowercase(),
                ips: vec![c.address],
            });
            list.sort();
        }
    }
    let mesh = ingress.map(|(id, name, a)| {
        let own = a
            .attachments
            .iter()
            .find(|c| c.container_id == crate::allocator::node_endpoint_id(node_id))
            .map(|c| c.address);
        let view = IngressView {
            network_id: id.clone(),
            name,
            subnet: a.subnet.clone(),
            gateway: a.gateway,
            own,
            port: crate::model::data_path_port(state),
            ports: mesh_ports(state, &reachable, &id),
        };
        (a.vni, view)
    });
    out.into_iter()
        .map(|(vni, remote)| NetworkPeers {
            vni,
            remote: remote.into_iter().collect(),
            names: names.remove(&vni).unwrap_or_default(),
            vips: vips.remove(&vni).unwrap_or_default(),
            ingress: mesh
                .as_ref()
                .filter(|(v, _)| *v == vni)
                .map(|(_, view)| view.clone()),
        })
        .collect()
}

/// Every port published in ingress mode, with the running tasks of its service on the
/// ingress network `ingress_id`.
fn mesh_ports(state: &ClusterState, tasks: &[Task<'_>], ingress_id: &str) -> Vec<MeshPort> {
    let mut out = BTreeSet::new();
    for svc in state
        .list(ObjectKind::Service)
        .filter_map(|o| Service::parse(o).ok())
    {
        let ports = svc.endpoint_ports();
        let backends: Vec<Ipv4Addr> = balanced_tasks(&svc, tasks)
            .into_iter()
            .flat_map(|t| t.attachments().unwrap_or_default())
            .filter(|a| a.network_id == ingress_id)
            .map(|a| a.address)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mesh = |p: &&EndpointPortConfig| on_mesh(p) && published(p) != 0;
        for p in ports.iter().filter(mesh) {
            let Some(target) = p.target_port.and_then(|n| u16::try_from(n).ok()) else {
                continue;
            };
            out.insert(MeshPort {
                published: published(p),
                target,
                protocol: Protocol::of(p).name().to_string(),
                backends: backends.clone(),
            });
        }
    }
    out.into_iter().collect()
}

/// The running tasks of `svc` that its VIP and published ports send new connections to:
/// those made from its current spec once one of them runs, else every running one. During a
/// rolling update (or a rollback) a client that reached the new version is never sent back to
/// the old one; the price is that the first updated tasks take all new connections until the
/// rest follow.
fn balanced_tasks<'a, 'b>(svc: &Service<'_>, tasks: &'b [Task<'a>]) -> Vec<&'b Task<'a>> {
    let running: Vec<&Task<'a>> = tasks
        .iter()
        .filter(|t| t.service_id == svc.id() && t.state() == TaskState::Running)
        .collect();
    let print = TemplatePrint::of(svc.template());
    let current: Vec<&Task<'a>> = running
        .iter()
        .copied()
        .filter(|t| t.print == print)
        .collect();
    if current.is_empty() {
        running
    } else {
        current
    }
}

/// Records by VXLAN id.
type ByVni<T> = BTreeMap<u32, Vec<T>>;

/// The DNS names and VIPs of every service on the networks `served`, by VXLAN id.
fn service_names(
    state: &ClusterState,
    tasks: &[Task<'_>],
    served: &BTreeSet<u32>,
) -> (ByVni<NameRecord>, ByVni<VipRecord>) {
    // (vni, service id) → (network id, service name, aliases, running tasks' addresses)
    type Entry<'a> = (String, &'a str, BTreeSet<String>, BTreeSet<Ipv4Addr>);
    let mut by: BTreeMap<(u32, &str), Entry<'_>> = BTreeMap::new();
    let mut out: BTreeMap<u32, BTreeSet<NameRecord>> = BTreeMap::new();
    for t in tasks {
        for a in t.attachments().unwrap_or_default() {
            if !served.contains(&a.vni) {
                continue;
            }
            // A running task answers to its own name (`web.1.<task id>`), as in Docker.
            if t.state() == TaskState::Running {
                out.entry(a.vni).or_default().insert(NameRecord {
                    name: t.container_name().to_lowercase(),
                    ips: vec![a.address],
                });
            }
            let e = by.entry((a.vni, t.service_id)).or_insert_with(|| {
                (
                    a.network_id.clone(),
                    t.service_name(),
                    BTreeSet::new(),
                    BTreeSet::new(),
                )
            });
            e.2.extend(a.aliases.iter().map(|n| n.to_lowercase()));
            if t.state() == TaskState::Running {
                e.3.insert(a.address);
            }
        }
    }
    let mut balanced: BTreeMap<u32, BTreeSet<VipRecord>> = BTreeMap::new();
    for ((vni, service_id), (network_id, name, aliases, running)) in by {
        let running: Vec<Ipv4Addr> = running.into_iter().collect();
        let svc = state
            .get(ObjectKind::Service, service_id)
            .and_then(|o| Service::parse(o).ok());
        let vip = svc.as_ref().and_then(|svc| {
            let v = svc
                .status
                .virtual_ips
                .iter()
                .find(|v| v.network_id == network_id)?;
            v.ip()
        });
        let answer = vip.map_or_else(|| running.clone(), |ip| vec![ip]);
        if let (Some(vip), Some(svc)) = (vip, &svc) {
            let backends: BTreeSet<Ipv4Addr> = balanced_tasks(svc, tasks)
                .into_iter()
                .flat_map(|t| t.attachments().unwrap_or_default())
                .filter(|a| a.vni == vni)
                .map(|a| a.address)
                .collect();
            balanced.entry(vni).or_default().insert(VipRecord {
                vip,
                backends: backends.into_iter().collect(),
            });
        }
        let set = out.entry(vni).or_default();
        for n in std::iter::once(name.to_lowercase()).chain(aliases) {
            set.insert(NameRecord {
                name: n,
                ips: answer.clone(),
            });
        }
        set.insert(NameRecord {
            name: format!("tasks.{}", name.to_lowercase()),
            ips: running,
        });
    }
    let names = out
        .into_iter()
        .map(|(vni, set)| (vni, set.into_iter().collect()))
        .collect();
    let vips = balanced
        .into_iter()
        .map(|(vni, set)| (vni, set.into_iter().collect()))
        .collect();
    (names, vips)
}

/// A version of a peer list, folded into the assignment version so a change wakes the node.
pub fn version_with(version: u64, peers: &[NetworkPeers]) -> u64 {
    if peers.is_empty() {
        return version;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    version.hash(&mut h);
    peers.hash(&mut h);
    h.finish().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_raft::{Attrs, NodeRole, Op};
    use serde_json::json;

    use crate::fixtures::{apply, t0};
    use crate::model::{DesiredState, TaskDoc, TaskState, TaskStatus};

    fn node(id: &str, addr: &str, state: &str) -> Op {
        Op::Create {
            id: id.into(),
            attrs: Attrs::Node {
                role: NodeRole::Worker,
            },
            spec: json!({ "Availability": "active" }),
            status: json!({ "Status": { "State": state, "Addr": addr } }),
        }
    }

    fn task(id: &str, node: &str, desired: DesiredState, nets: &[(u32, &str)]) -> Op {
        let networks: Vec<_> = nets
            .iter()
            .map(|(vni, ip)| {
                json!({ "NetworkID": format!("n{vni}"), "Name": "ov", "VNI": vni,
                        "Subnet": "10.0.0.0/24", "Gateway": "10.0.0.1", "Address": ip })
            })
            .collect();
        let doc = TaskDoc {
            slot: 1,
            service_name: "web".into(),
            template: json!({ "ContainerSpec": { "Image": "busybox" } }),
            host_ports: serde_json::Value::Null,
            networks: json!(networks),
            generic_resources: serde_json::Value::Null,
            job_iteration: None,
            log_driver: None,
        };
        Op::Create {
            id: id.into(),
            attrs: Attrs::Task {
                service_id: "svc".into(),
                node_id: Some(node.into()),
                desired_state: desired,
            },
            spec: doc.to_value(),
            status: TaskStatus::new(TaskState::Running, "", None, t0()).to_value(),
        }
    }

    /// Overlay network `n<vni>` named `name`, allocated the /24 `prefix.0`.
    fn network(vni: u32, name: &str, prefix: &str) -> Op {
        Op::Create {
            id: format!("n{vni}"),
            attrs: Attrs::Network { name: name.into() },
            spec: json!({ "Name": name, "Driver": "overlay" }),
            status: json!({ "VNI": vni, "Subnet": format!("{prefix}.0/24"),
                            "Gateway": format!("{prefix}.1") }),
        }
    }

    fn peer(ip: &str, vtep: &str) -> Peer {
        let ip: Ipv4Addr = ip.parse().unwrap();
        Peer {
            ip,
            mac: mac_for(ip),
            vtep: vtep.parse().unwrap(),
        }
    }

    #[test]
    fn a_node_learns_the_other_ready_nodes_live_endpoints_of_its_networks_only() {
        let mut s = ClusterState::default();
        apply(
            &mut s,
            vec![
                network(4096, "ov", "10.0.0"),
                network(4097, "ov2", "10.0.1"),
                node("a", "192.168.0.1", "ready"),
                node("b", "192.168.0.2", "ready"),
                node("c", "192.168.0.3", "down"),
                task("t1", "a", DesiredState::Running, &[(4096, "10.0.0.2")]),
                task(
                    "t2",
                    "b",
                    DesiredState::Running,
                    &[(4096, "10.0.0.3"), (4097, "10.0.1.3")],
                ),
                task("t3", "b", DesiredState::Shutdown, &[(4096, "10.0.0.4")]),
                task("t4", "c", DesiredState::Running, &[(4096, "10.0.0.5")]),
            ],
        );
        assert_eq!(
            network_peers(&s, "a"),
            vec![NetworkPeers {
                vni: 4096,
                remote: vec![peer("10.0.0.3", "192.168.0.2")],
                names: vec![
                    NameRecord {
                        name: "tasks.web".into(),
                        ips: vec!["10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap()],
                    },
                    NameRecord {
                        name: "web".into(),
                        ips: vec!["10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap()],
                    },
                    // Each running task by its own name.
                    NameRecord {
                        name: "web.1.t1".into(),
                        ips: vec!["10.0.0.2".parse().unwrap()],
                    },
                    NameRecord {
                        name: "web.1.t2".into(),
                        ips: vec!["10.0.0.3".parse().unwrap()],
                    },
                ],
                vips: Vec::new(),
                ingress: None,
            }],
            "not the network a does not serve, not a stopping task, not a down node's"
        );
        let b = network_peers(&s, "b");
        assert_eq!(b.len(), 2, "{b:?}");
        assert_eq!(b[0].remote, vec![peer("10.0.0.2", "192.168.0.1")]);
        assert!(b[1].remote.is_empty(), "4097 has no endpoint elsewhere");
        assert_ne!(
            version_with(7, &b),
            version_with(7, &network_peers(&s, "a"))
        );
        assert_eq!(version_with(7, &[]), 7);
    }

    #[test]
    fn nodes_serve_the_ingress_network_only_while_a_service_publishes() {
        let mut s = ClusterState::default();
        let mut ingress = network(4096, "ingress", "10.0.0");
        if let Op::Create { spec, .. } = &mut ingress {
            spec["Ingress"] = json!(true);
        }
        apply(&mut s, vec![ingress, node("a", "192.168.0.1", "ready")]);
        assert!(
            network_peers(&s, "a").is_empty(),
            "made at init, unused: nothing to set up"
        );
        apply(
            &mut s,
            vec![Op::Create {
                id: "svc".into(),
                attrs: Attrs::Service { name: "web".into() },
                spec: json!({ "Name": "web", "TaskTemplate": busybox(),
                              "EndpointSpec": { "Ports": [{ "TargetPort": 80, "PublishedPort": 8080 }] } }),
                status: json!({}),
            }],
        );
        let served = network_peers(&s, "a");
        assert_eq!(served.len(), 1, "{served:?}");
        assert_eq!(served[0].vni, 4096);
        let view = served[0].ingress.as_ref().expect("the mesh's view");
        assert_eq!(view.name, "ingress");
    }

    /// The template of the test tasks, as a service's.
    fn busybox() -> serde_json::Value {
        json!({ "ContainerSpec": { "Image": "busybox" } })
    }

    #[test]
    fn during_an_update_the_vip_sends_to_the_new_version_once_one_runs() {
        let mut s = ClusterState::default();
        apply(
            &mut s,
            vec![
                network(4096, "ov", "10.0.0"),
                node("a", "192.168.0.1", "ready"),
                Op::Create {
                    id: "svc".into(),
                    attrs: Attrs::Service { name: "web".into() },
                    spec: json!({ "Name": "web", "TaskTemplate": busybox(),
                                  "Mode": { "Replicated": { "Replicas": 2 } } }),
                    status: json!({ "VirtualIPs": [{ "NetworkID": "n4096", "Addr": "10.0.0.9/24" }] }),
                },
                task("old1", "a", DesiredState::Running, &[(4096, "10.0.0.2")]),
                task("old2", "a", DesiredState::Running, &[(4096, "10.0.0.3")]),
            ],
        );
        let backends = |s: &ClusterState| -> Vec<String> {
            network_peers(s, "a")[0].vips[0]
                .backends
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(backends(&s), vec!["10.0.0.2", "10.0.0.3"]);
        // The update: the service's spec changes, one task is replaced.
        let svc = s.get(ObjectKind::Service, "svc").unwrap().clone();
        let mut spec = svc.spec.clone();
        spec["TaskTemplate"]["ContainerSpec"]["Env"] = json!(["V=2"]);
        apply(
            &mut s,
            vec![Op::Update {
                id: "svc".into(),
                expected_version: None,
                attrs: svc.attrs.clone(),
                spec: spec.clone(),
                status: svc.status.clone(),
            }],
        );
        assert_eq!(
            backends(&s),
            vec!["10.0.0.2", "10.0.0.3"],
            "no task of the new spec runs yet: the old ones serve"
        );
        let mut new1 = task("new1", "a", DesiredState::Running, &[(4096, "10.0.0.4")]);
        if let Op::Create { spec: doc, .. } = &mut new1 {
            doc["template"] = spec["TaskTemplate"].clone();
        }
        apply(&mut s, vec![new1]);
        assert_eq!(backends(&s), vec!["10.0.0.4"]);
    }
}
