//! `swarm init --force-new-cluster`: disaster recovery from one surviving manager. Its copy of
//! the store becomes a new one-member Raft group: the objects are read, the old Raft data is
//! set aside, a fresh group is bootstrapped with the same member id, and the objects are
//! written back. Other managers become workers marked down (they are no longer in the group);
//! workers reconnect on their own, and services keep their tasks.

use std::sync::Arc;

use berth_raft::{Attrs, ClusterCommand, NodeRole, Object, ObjectKind, Op};
use bollard_stubs::models::{NodeSpecRoleEnum, SwarmInitRequest};

use crate::bootstrap::{advertise_addr, bind, with_port};
use crate::error::{SwarmError, SwarmResult};
use crate::handler::host_of;
use crate::manager::{Manager, ManagerStart};
use crate::model::{ModelError, Node, NodeState, NodeStatus};
use crate::swarm::{node_role, Swarm};

/// Objects written back per transaction.
const BATCH: usize = 256;

impl Swarm {
    /// Turns this manager's copy of the store into a new single-manager cluster, listening and
    /// advertising where `req` says (as Docker's re-init does; unset: where it did).
    pub(crate) async fn force_new_cluster(&self, req: &SwarmInitRequest) -> SwarmResult<String> {
        let member = self.member().ok_or(SwarmError::NotInSwarm)?;
        let old = member.manager.clone().ok_or(SwarmError::NotManager)?;
        let mut local = member.local();
        let given = |a: &Option<String>| {
            a.as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(String::from)
        };
        let listen_addr =
            given(&req.listen_addr).map_or(local.listen_addr.clone(), |l| with_port(&l));
        let advertise_given = given(&req.advertise_addr);
        let raft_id = local.raft_id.ok_or(SwarmError::NotManager)?;
        let (_, certs) = self
            .dir
            .load()
            .map_err(|e| SwarmError::internal("read swarm state", e))?
            .ok_or(SwarmError::NotInSwarm)?;
        // A new address is bound before anything stops, so that failing leaves the node as it
        // was; the old one only once the old member has let go of it.
        let early = if listen_addr == local.listen_addr {
            None
        } else {
            Some(bind(&listen_addr).await?)
        };
        let objects: Vec<Object> = old.read(|s| s.list_all().cloned().collect());
        if let Some(agent) = member.agent.lock().await.take() {
            agent.stop().await;
        }
        self.set_member(None);
        drop(member);
        old.stop().await;
        let raft_dir = self.dir.raft_dir();
        let aside =
            raft_dir.with_extension(format!("before-force-new-cluster-{}", std::process::id()));
        std::fs::rename(&raft_dir, &aside)
            .map_err(|e| SwarmError::internal("set the old Raft data aside", e))?;
        let listener = match early {
            Some(l) => l,
            None => bind(&listen_addr).await?,
        };
        let port = listener
            .local_addr()
            .map_err(|e| SwarmError::internal("swarm port", e))?
            .port();
        let listen_ip = host_of(&listen_addr).parse::<std::net::IpAddr>().ok();
        local.advertise_addr = match advertise_given {
            Some(a) => {
                advertise_addr(Some(&a), &listen_addr, port, &self.executor.local_subnets())?
            }
            None if listen_ip.is_some_and(|ip| !ip.is_unspecified()) => {
                advertise_addr(None, &listen_addr, port, &self.executor.local_subnets())?
            }
            // Listening on every address: the host it advertised, at the new port.
            None => format!("{}:{port}", host_of(&local.advertise_addr)),
        };
        local.listen_addr = format!("{}:{port}", host_of(&listen_addr));
        let manager = Manager::start(ManagerStart {
            node_id: local.node_id.clone(),
            raft_id,
            listener,
            advertise: local.advertise_addr.clone(),
            certs: certs.clone(),
            raft_dir,
            heartbeat: self.heartbeat,
            unlock: None,
        })
        .await?;
        let restored = async {
            manager.bootstrap(raft_id).await?;
            for cmd in restore_commands(&objects, &local.node_id, &local.advertise_addr)? {
                manager.write(cmd).await?;
            }
            Ok::<(), SwarmError>(())
        };
        if let Err(e) = restored.await {
            manager.stop().await;
            return Err(e);
        }
        let _ = std::fs::remove_dir_all(&aside);
        local.managers = vec![local.advertise_addr.clone()];
        self.dir
            .save(&local, &certs)
            .map_err(|e| SwarmError::internal("save swarm state", e))?;
        let node_id = local.node_id.clone();
        self.activate(local, certs, Some(Arc::clone(&manager)));
        Ok(node_id)
    }
}

/// The transactions that recreate `objects` in a new store, with every manager but `keep`
/// turned into a worker that is down, and `keep` at the address it now advertises.
fn restore_commands(
    objects: &[Object],
    keep: &str,
    advertise: &str,
) -> Result<Vec<ClusterCommand>, ModelError> {
    let mut ops = Vec::with_capacity(objects.len());
    for o in objects {
        let node = o.kind() == ObjectKind::Node;
        let demote = node && o.id != keep && node_role(o) == NodeRole::Manager;
        let (attrs, spec, status) = if demote {
            demoted(o)?
        } else if node && o.id == keep {
            (o.attrs.clone(), o.spec.clone(), readdressed(o, advertise)?)
        } else {
            (o.attrs.clone(), o.spec.clone(), o.status.clone())
        };
        ops.push(Op::Create {
            id: o.id.clone(),
            attrs,
            spec,
            status,
        });
    }
    Ok(ops
        .chunks(BATCH)
        .map(|c| ClusterCommand::new(c.to_vec()))
        .collect())
}

/// The surviving manager's status at the address it advertises now.
fn readdressed(o: &Object, advertise: &str) -> Result<serde_json::Value, ModelError> {
    let node = Node::parse(o)?;
    let mut status = node.status.clone().into_owned();
    status.manager_addr = Some(advertise.to_string());
    status.status.addr = Some(host_of(advertise));
    Ok(status.to_value())
}

/// A manager node as a worker that is down (no longer in the Raft group).
fn demoted(o: &Object) -> Result<(Attrs, serde_json::Value, serde_json::Value), ModelError> {
    let node = Node::parse(o)?;
    let mut spec = node.spec.clone().into_owned();
    spec.role = Some(NodeSpecRoleEnum::WORKER);
    let mut status = node.status.clone().into_owned();
    status.raft_id = None;
    status.manager_addr = None;
    status.status = NodeStatus {
        state: NodeState::Down,
        message: Some("removed from the managers by force-new-cluster".into()),
        addr: node.status.status.addr.clone(),
    };
    let spec = serde_json::to_value(spec).map_err(|e| ModelError::of(o, e))?;
    let attrs = Attrs::Node {
        role: NodeRole::Worker,
    };
    Ok((attrs, spec, status.to_value()))
}
