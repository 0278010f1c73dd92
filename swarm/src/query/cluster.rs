//! The cluster: `GET /swarm`, `POST /swarm/update`, the unlock key, and this node's part for
//! `/info`.

use berth_raft::{NodeRole, ObjectKind};
use serde_json::Value;

use super::{ClusterInfo, Envelope, JoinTokens, SwarmInfo};
use crate::error::{SwarmError, SwarmResult};
use crate::handler::host_of;
use crate::model::{Cluster, Node};
use crate::ops;
use crate::swarm::Swarm;

impl ClusterInfo {
    fn of(cluster: &Cluster<'_>) -> Self {
        let s = &cluster.status;
        ClusterInfo {
            envelope: Envelope::of(cluster.object),
            spec: cluster.object.spec.clone(),
            ca_cert: s.root_ca.cert.clone(),
            tls: crate::ca::tls_info(&s.root_ca.cert),
            default_addr_pool: s.default_addr_pool.clone(),
            subnet_size: s.subnet_size,
            data_path_port: s.data_path_port,
        }
    }
}

impl Swarm {
    /// `GET /swarm`: the cluster and its join tokens.
    pub async fn inspect(&self) -> SwarmResult<(ClusterInfo, JoinTokens)> {
        let m = self.control().await?;
        let object = m.cluster().ok_or(SwarmError::NotInSwarm)?;
        let cluster = Cluster::parse(&object)?;
        let (worker, manager) = ops::join_tokens(&cluster)?;
        Ok((ClusterInfo::of(&cluster), JoinTokens { worker, manager }))
    }

    /// `POST /swarm/update`: merges `spec` into the swarm spec at `version`; rotates the
    /// worker and manager join tokens and the unlock key as asked.
    pub async fn update(
        &self,
        version: u64,
        spec: Value,
        rotate: (bool, bool, bool),
    ) -> SwarmResult<()> {
        let m = self.control().await?;
        ops::update_swarm(&m, version, spec, rotate).await
    }

    /// `GET /swarm/unlockkey`: the managers' unlock key, empty while autolock is off.
    pub async fn unlock_key(&self) -> SwarmResult<String> {
        let m = self.control().await?;
        let object = m.cluster().ok_or(SwarmError::NotInSwarm)?;
        Ok(Cluster::parse(&object)?
            .status
            .unlock_key
            .unwrap_or_default())
    }

    /// This node's part in the swarm; `None` when it is in none.
    pub fn info(&self) -> Option<SwarmInfo> {
        let member = self.member()?;
        let local = member.local();
        let mut info = SwarmInfo {
            node_id: local.node_id.clone(),
            node_addr: host_of(&local.advertise_addr),
            control_available: member.manager.is_some(),
            remote_managers: local
                .managers
                .iter()
                .map(|a| (String::new(), a.clone()))
                .collect(),
            managed: None,
        };
        if let Some(m) = &member.manager {
            m.read(|s| {
                let managers = s.nodes_by_role(NodeRole::Manager);
                info.remote_managers = managers
                    .iter()
                    .map(|n| {
                        let addr = Node::parse(n)
                            .ok()
                            .and_then(|n| n.status.manager_addr.clone());
                        (n.id.clone(), addr.unwrap_or_default())
                    })
                    .collect();
                let cluster = s.list(ObjectKind::Cluster).next();
                let cluster = cluster.and_then(|c| Cluster::parse(c).ok());
                let nodes = s.list(ObjectKind::Node).count();
                info.managed = Some((nodes, managers.len(), cluster.as_ref().map(ClusterInfo::of)));
            });
        }
        Some(info)
    }
}
