//! Nodes: list (with Docker's filters), inspect, update, remove.

use berth_raft::{NodeRole, Object, ObjectKind};
use bollard_stubs::models::NodeSpecRoleEnum;
use serde_json::Value;

use super::{label_matches, role_name, Envelope, Filters, ManagerInfo, NodeInfo};
use crate::error::SwarmResult;
use crate::model::{sorted, Node, NodeState};
use crate::ops;
use crate::swarm::Swarm;

impl NodeInfo {
    /// `tls`: the cluster's CA as a node's `Description.TLSInfo` shows it (every node's
    /// certificate is issued by it).
    fn of(
        node: &Node<'_>,
        leader_raft_id: Option<u64>,
        tls: Option<&bollard_stubs::models::TlsInfo>,
    ) -> Self {
        let mut spec = node.spec.clone().into_owned();
        spec.role = Some(match node.role {
            NodeRole::Manager => NodeSpecRoleEnum::MANAGER,
            NodeRole::Worker => NodeSpecRoleEnum::WORKER,
        });
        let manager = (node.role == NodeRole::Manager).then(|| {
            let raft_id = node.status.raft_id;
            ManagerInfo {
                leader: raft_id.is_some() && raft_id == leader_raft_id,
                reachable: node.state() == NodeState::Ready,
                addr: node.status.manager_addr.clone(),
            }
        });
        NodeInfo {
            envelope: Envelope::of(node.object),
            spec,
            description: node.status.description.clone().map(|mut d| {
                d.tls_info = tls.cloned().or(d.tls_info);
                d
            }),
            status: node.status.status.clone(),
            manager,
        }
    }
}

/// The cluster CA's `TLSInfo`, when the cluster object has one.
fn cluster_tls(s: &berth_raft::ClusterState) -> Option<bollard_stubs::models::TlsInfo> {
    let object = s.list(ObjectKind::Cluster).next()?;
    let cluster = crate::model::Cluster::parse(object).ok()?;
    crate::ca::tls_info(&cluster.status.root_ca.cert)
}

pub(super) fn node_matches(n: &Node<'_>, filters: &Filters) -> bool {
    filters.iter().all(|(k, values)| {
        values.iter().any(|v| match k.as_str() {
            "id" => n.id().starts_with(v.as_str()),
            "name" => n.hostname().contains(v.as_str()),
            "role" => v == role_name(n.role),
            "membership" => v == "accepted",
            "label" | "node.label" => label_matches(&n.spec.labels.clone().unwrap_or_default(), v),
            _ => true,
        })
    })
}

impl Swarm {
    /// `GET /nodes?filters=`.
    pub async fn nodes(&self, filters: &Filters) -> SwarmResult<Vec<NodeInfo>> {
        let m = self.control().await?;
        let leader = m.raft.leader();
        m.read(|s| {
            let tls = cluster_tls(s);
            let mut out = Vec::new();
            for o in sorted(s.list(ObjectKind::Node)) {
                let n = Node::parse(o)?;
                if node_matches(&n, filters) {
                    out.push(NodeInfo::of(&n, leader, tls.as_ref()));
                }
            }
            Ok(out)
        })
    }

    /// `GET /nodes/{id}` (id, hostname or unique id prefix).
    pub async fn node(&self, key: &str) -> SwarmResult<NodeInfo> {
        let m = self.control().await?;
        let leader = m.raft.leader();
        m.read(|s| {
            let o: &Object = ops::find(s, ObjectKind::Node, key)?;
            Ok(NodeInfo::of(
                &Node::parse(o)?,
                leader,
                cluster_tls(s).as_ref(),
            ))
        })
    }

    /// `POST /nodes/{id}/update?version=`: availability, labels, name, role.
    pub async fn update_node(&self, key: &str, version: u64, spec: Value) -> SwarmResult<()> {
        let m = self.control().await?;
        ops::update_node(&m, key, version, spec).await
    }

    /// `DELETE /nodes/{id}?force=`.
    pub async fn remove_node(&self, key: &str, force: bool) -> SwarmResult<()> {
        let m = self.control().await?;
        ops::remove_node(&m, key, force).await
    }
}
