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
    fn of(n: &Network<'_>) -> Self {
        NetworkInfo {
            envelope: Envelope::of(n.object),
            spec: n.spec.clone(),
            allocation: n.allocation.clone(),
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
                .map(|n| NetworkInfo::of(&n))
                .collect()
        })
    }

    /// One overlay network by id, name or unique id prefix.
    pub async fn network(&self, key: &str) -> SwarmResult<NetworkInfo> {
        let m = self.manager()?;
        m.read(|s| {
            let o = ops::find(s, ObjectKind::Network, key)?;
            Ok(NetworkInfo::of(&Network::parse(o)?))
        })
    }

    /// `DELETE /networks/{id}` of an overlay network.
    pub async fn remove_network(&self, key: &str) -> SwarmResult<()> {
        let m = self.control().await?;
        network_ops::remove_network(&m, key).await
    }
}
