//! Overlay networks: create, list, inspect, remove.

use berth_raft::ObjectKind;
use serde_json::Value;

use super::{Envelope, NetworkInfo};
use crate::error::SwarmResult;
use crate::model::{sorted, Network};
use crate::network_ops;
use crate::ops;
use crate::swarm::Swarm;

impl NetworkInfo {
    fn of(n: &Network<'_>, port: u16) -> Self {
        NetworkInfo {
            envelope: Envelope::of(n.object),
            spec: n.spec.clone(),
            allocation: n.allocation.clone(),
            port,
        }
    }
}

impl Swarm {
    /// `POST /networks/create` with the overlay driver: the new network's id.
    pub async fn create_network(&self, raw: &Value) -> SwarmResult<String> {
        let m = self.control().await?;
        network_ops::create_network(&m, raw).await
    }

    /// Every overlay network, when this node is a manager (none otherwise: a worker sees
    /// only the networks its tasks use, as in Docker).
    pub async fn networks(&self) -> Vec<NetworkInfo> {
        let Ok(m) = self.manager() else {
            return Vec::new();
        };
        m.read(|s| {
            sorted(s.list(ObjectKind::Network))
                .into_iter()
                .filter_map(|o| Network::parse(o).ok())
                .map(|n| NetworkInfo::of(&n, crate::model::data_path_port(s)))
                .collect()
        })
    }

    /// One overlay network by id, name or unique id prefix.
    pub async fn network(&self, key: &str) -> SwarmResult<NetworkInfo> {
        let m = self.manager()?;
        m.read(|s| {
            let o = ops::find(s, ObjectKind::Network, key)?;
            Ok(NetworkInfo::of(
                &Network::parse(o)?,
                crate::model::data_path_port(s),
            ))
        })
    }

    /// An address for standalone container (`id`, `name`) of this node on attachable network
    /// `key` (managers only, for now: a worker would ask its manager over the dispatcher).
    pub async fn attach_container(
        &self,
        key: &str,
        id: &str,
        name: &str,
    ) -> SwarmResult<crate::model::TaskAttachment> {
        let m = self.control().await.map_err(|e| match e {
            crate::SwarmError::NotManager => crate::SwarmError::InvalidArgument(
                "standalone containers can join swarm networks only on managers in berth for now"
                    .into(),
            ),
            other => other,
        })?;
        let node = self
            .member()
            .map(|mb| mb.local().node_id)
            .unwrap_or_default();
        network_ops::attach_container(&m, key, (id, name, &node)).await
    }

    /// Gives back a standalone container's address on network `network_id`.
    pub async fn detach_container(&self, network_id: &str, id: &str) -> SwarmResult<()> {
        let m = self.control().await?;
        network_ops::detach_container(&m, network_id, id).await
    }

    /// `DELETE /networks/{id}` of an overlay network.
    pub async fn remove_network(&self, key: &str) -> SwarmResult<()> {
        let m = self.control().await?;
        network_ops::remove_network(&m, key).await
    }
}
