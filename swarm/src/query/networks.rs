//! Overlay networks: create, list, inspect, remove.

use berth_raft::ObjectKind;
use serde_json::Value;

use super::{Envelope, NetworkInfo};
use crate::error::SwarmResult;
use crate::model::{sorted, Network};
use crate::network_ops;
use crate::ops;
use crate::rpc::{AttachmentOp, AttachmentRequest, Method};
use crate::swarm::Swarm;

/// How long a worker waits for the managers to attach or detach a container.
const ATTACH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

impl NetworkInfo {
    pub(super) fn of(n: &Network<'_>, port: u16) -> Self {
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

    /// Attachable network `key` as a standalone container of this node would join it; on a
    /// worker, asked of the managers. `Ok(None)`: no such network.
    pub async fn attachable_network(
        &self,
        key: &str,
    ) -> SwarmResult<Option<crate::model::TaskAttachment>> {
        let found = match self.manager() {
            Ok(m) => m.read(|s| network_ops::attachable(s, key)),
            // Outside a swarm no name is a swarm network.
            Err(crate::SwarmError::NotInSwarm) => return Ok(None),
            Err(crate::SwarmError::NotManager) => self
                .ask_managers(AttachmentOp::Lookup { key: key.into() })
                .await
                .and_then(|a| a.ok_or_else(|| crate::SwarmError::NotFound(key.into()))),
            Err(e) => return Err(e),
        };
        match found {
            Ok(a) => Ok(Some(a)),
            Err(crate::SwarmError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// An address for standalone container (`id`, `name`) of this node on attachable network
    /// `key`; a worker asks the managers.
    pub async fn attach_container(
        &self,
        key: &str,
        id: &str,
        name: &str,
    ) -> SwarmResult<crate::model::TaskAttachment> {
        let node = self
            .member()
            .map(|mb| mb.local().node_id)
            .unwrap_or_default();
        match self.control().await {
            Ok(m) => network_ops::attach_container(&m, key, (id, name, &node)).await,
            Err(crate::SwarmError::NotManager) => {
                let op = AttachmentOp::Attach {
                    key: key.into(),
                    container_id: id.into(),
                    name: name.into(),
                };
                self.ask_managers(op).await?.ok_or_else(|| {
                    crate::SwarmError::Unavailable("the manager gave no address".into())
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Gives back a standalone container's address on network `network_id`.
    pub async fn detach_container(&self, network_id: &str, id: &str) -> SwarmResult<()> {
        match self.control().await {
            Ok(m) => network_ops::detach_container(&m, network_id, id).await,
            Err(crate::SwarmError::NotManager) => {
                let op = AttachmentOp::Detach {
                    network_id: network_id.into(),
                    container_id: id.into(),
                };
                self.ask_managers(op).await.map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    /// An `Attachment` call to the managers, over this worker's agent connection.
    async fn ask_managers(
        &self,
        op: AttachmentOp,
    ) -> SwarmResult<Option<crate::model::TaskAttachment>> {
        let member = self.member().ok_or(crate::SwarmError::NotInSwarm)?;
        let node_id = member.local().node_id;
        let conn = member
            .agent
            .lock()
            .await
            .as_ref()
            .map(crate::agent::Agent::conn)
            .ok_or_else(|| {
                crate::SwarmError::Unavailable("this node's agent is not running".into())
            })?;
        let req = AttachmentRequest { node_id, op };
        conn.call(Method::Attachment, &req, ATTACH_TIMEOUT)
            .await
            .map_err(|s| {
                let m = s.message().to_string();
                match s.code() {
                    tonic::Code::InvalidArgument => crate::SwarmError::InvalidArgument(m),
                    tonic::Code::NotFound => crate::SwarmError::NotFound(m),
                    tonic::Code::AlreadyExists => crate::SwarmError::Conflict(m),
                    _ => crate::SwarmError::Unavailable(m),
                }
            })
    }

    /// `DELETE /networks/{id}` of an overlay network.
    pub async fn remove_network(&self, key: &str) -> SwarmResult<()> {
        let m = self.control().await?;
        network_ops::remove_network(&m, key).await
    }
}
