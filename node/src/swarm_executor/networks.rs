//! Local networking's side door into the swarm: standalone containers on attachable overlay
//! networks get this node's copy of the network and an address from the swarm's allocator
//! (Docker's network attachments).

use std::net::Ipv4Addr;
use std::sync::Weak;

use berth_overlay::BoxFuture;
use berth_swarm::{Swarm, SwarmError};

use crate::error::{EngineError, Result};
use crate::network::{NetworkRecord, SwarmNetworks};

/// `SwarmNetworks` on the daemon's swarm handle.
pub struct SwarmNetworkHook(pub Weak<Swarm>);

fn engine_err(e: SwarmError) -> EngineError {
    match e {
        SwarmError::InvalidArgument(m) => EngineError::InvalidArgument(m),
        SwarmError::NotFound(m) => EngineError::NotFound(m),
        SwarmError::Conflict(m) => EngineError::Conflict(m),
        other => EngineError::Internal(other.to_string()),
    }
}

impl SwarmNetworks for SwarmNetworkHook {
    fn local_copy<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<NetworkRecord>>> {
        Box::pin(async move {
            let Some(swarm) = self.0.upgrade() else {
                return Ok(None);
            };
            // A worker asks its managers; an unknown name is simply not a swarm network.
            let Some(attachment) = swarm.attachable_network(key).await.map_err(engine_err)? else {
                return Ok(None);
            };
            let mut rec = super::container::overlay_record(&attachment);
            rec.attachable = true;
            Ok(Some(rec))
        })
    }

    fn attach<'a>(
        &'a self,
        network_id: &'a str,
        container_id: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Ipv4Addr>> {
        Box::pin(async move {
            let swarm = self
                .0
                .upgrade()
                .ok_or_else(|| EngineError::Internal("the swarm is shutting down".into()))?;
            let a = swarm
                .attach_container(network_id, container_id, name)
                .await
                .map_err(engine_err)?;
            Ok(a.address)
        })
    }

    fn detach<'a>(&'a self, network_id: &'a str, container_id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let Some(swarm) = self.0.upgrade() else {
                return;
            };
            if let Err(e) = swarm.detach_container(network_id, container_id).await {
                tracing::warn!(network = %network_id, container = %container_id, error = %e, "swarm address not given back");
            }
        })
    }
}
