//! The manager's answers to the swarm calls: `Join` (token → certificate, node object, Raft id),
//! `AddManager` (a joined manager becomes a voter), and, on the leader only, the dispatcher's
//! `Session` and `Report`. Every call but `Join` needs the caller's node certificate, and the
//! node must still be in the cluster, so a removed node's certificate stops working.

use std::sync::{Arc, Weak};
use std::time::Duration;

use berth_raft::{Attrs, ClusterCommand, NodeAddr, NodeRole, Object, ObjectKind, Op};
use bollard_stubs::models::{
    NodeDescription, NodeSpec, NodeSpecAvailabilityEnum, NodeSpecRoleEnum,
};
use tonic::codegen::BoxFuture;
use tonic::transport::CertificateDer;
use tonic::Status;

use crate::ca::{CertRole, JoinToken, RootCa, MANAGER_NAME};
use crate::dispatcher::{
    assignments, assignments_version, manager_addrs, report_updates, session_update, SessionGuard,
};
use crate::error::SwarmError;
use crate::manager::Manager;
use crate::model::{new_id, Cluster, ModelError, Node, NodeState, NodeStatus, NodeStatusDoc};
use crate::rpc::{
    decode, encode, AddManagerRequest, AttachmentOp, AttachmentRequest, JoinReply, JoinRequest,
    Method, RenewReply, RenewRequest, ReportRequest, SessionReply, SessionRequest, NOT_LEADER,
};

/// The RPC handler of one manager.
pub struct Handler {
    manager: Weak<Manager>,
}

impl Handler {
    /// A handler for `manager`.
    pub fn new(manager: Weak<Manager>) -> Self {
        Handler { manager }
    }
}

impl crate::rpc::Handler for Handler {
    fn handle(
        &self,
        method: Method,
        data: Vec<u8>,
        certs: Vec<CertificateDer<'static>>,
    ) -> BoxFuture<Vec<u8>, Status> {
        let manager = self.manager.upgrade();
        Box::pin(async move {
            let m: Arc<Manager> =
                manager.ok_or_else(|| Status::unavailable("the manager is stopping"))?;
            match method {
                Method::Join => encode(&join(&m, decode(&data)?).await?),
                Method::AddManager => encode(&add_manager(&m, decode(&data)?, &certs).await?),
                Method::Session => encode(&session(&m, decode(&data)?, &certs).await?),
                Method::Report => encode(&report(&m, decode(&data)?, &certs).await?),
                Method::Renew => encode(&renew(&m, decode(&data)?, &certs).await?),
                Method::Attachment => encode(&attachment(&m, decode(&data)?, &certs).await?),
            }
        })
    }
}

fn status_of(e: SwarmError) -> Status {
    match e {
        SwarmError::InvalidArgument(m) => Status::invalid_argument(m),
        SwarmError::NotFound(m) => Status::not_found(m),
        SwarmError::Conflict(m) => Status::already_exists(m),
        SwarmError::Unavailable(m) => Status::unavailable(m),
        other => Status::internal(other.to_string()),
    }
}

/// Checks that the caller holds the certificate of `node_id` and that the node is still a
/// member; returns its node object.
fn authenticate(
    m: &Manager,
    certs: &[CertificateDer<'static>],
    node_id: &str,
) -> Result<Object, Status> {
    let cert = certs
        .first()
        .ok_or_else(|| Status::unauthenticated("a node certificate is needed"))?;
    if !m.peers.has_name(cert.as_ref(), node_id) {
        return Err(Status::permission_denied(format!(
            "the certificate presented is not node {node_id}'s"
        )));
    }
    m.read(|s| s.get(ObjectKind::Node, node_id).cloned())
        .ok_or_else(|| {
            Status::permission_denied(format!("node {node_id} was removed from the swarm"))
        })
}

fn require_leader(m: &Manager) -> Result<(), Status> {
    if m.raft.is_leader() {
        return Ok(());
    }
    let addr = m.leader_addr().unwrap_or_default();
    Err(Status::failed_precondition(format!("{NOT_LEADER}{addr}")))
}

async fn join(m: &Arc<Manager>, req: JoinRequest) -> Result<JoinReply, Status> {
    let token: JoinToken = req
        .token
        .parse()
        .map_err(|e: crate::ca::CaError| Status::invalid_argument(e.to_string()))?;
    let cluster = m
        .read_fresh(|s| s.list(ObjectKind::Cluster).next().cloned())
        .await
        .map_err(status_of)?
        .ok_or_else(|| Status::unavailable("the swarm is still starting"))?;
    let view = Cluster::parse(&cluster).map_err(|e| Status::internal(e.to_string()))?;
    let secrets = &view.status.tokens;
    let manager = if token.secret_matches(&secrets.manager) {
        true
    } else if token.secret_matches(&secrets.worker) {
        false
    } else {
        return Err(Status::invalid_argument(
            "A valid join token is necessary to join this cluster",
        ));
    };
    let ca = cluster_ca(&view)?;
    if !token.matches_ca(ca.cert_der()) {
        return Err(Status::invalid_argument(
            "A valid join token is necessary to join this cluster",
        ));
    }
    let node_id = new_id();
    let role = if manager {
        CertRole::Manager
    } else {
        CertRole::Worker
    };
    let cert_pem = ca
        .issue(
            &node_id,
            role,
            &req.public_key_der,
            &cluster.id,
            view.cert_expiry(),
        )
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    let raft_id = if manager {
        Some(next_raft_id(m).await.map_err(status_of)?)
    } else {
        None
    };
    let status = NodeStatusDoc {
        description: Some(NodeDescription {
            hostname: Some(req.hostname.clone()),
            ..NodeDescription::default()
        }),
        status: NodeStatus {
            state: NodeState::Unknown,
            message: None,
            addr: Some(host_of(&req.advertise_addr)),
        },
        raft_id,
        manager_addr: raft_id.map(|_| req.advertise_addr.clone()),
        advertise_addr: None,
    };
    let (role, spec_role) = if manager {
        (NodeRole::Manager, NodeSpecRoleEnum::MANAGER)
    } else {
        (NodeRole::Worker, NodeSpecRoleEnum::WORKER)
    };
    let spec = NodeSpec {
        name: None,
        labels: Some(Default::default()),
        role: Some(spec_role),
        availability: Some(req.availability.unwrap_or(NodeSpecAvailabilityEnum::ACTIVE)),
    };
    m.write(ClusterCommand::single(Op::Create {
        id: node_id.clone(),
        attrs: Attrs::Node { role },
        spec: serde_json::to_value(spec).map_err(|e| Status::internal(e.to_string()))?,
        status: status.to_value(),
    }))
    .await
    .map_err(status_of)?;
    Ok(JoinReply {
        node_id,
        cluster_id: cluster.id.clone(),
        manager,
        cert_pem,
        ca_pem: ca.cert_pem().to_string(),
        raft_id,
        managers: m.read(manager_addrs),
    })
}

/// The host part of `host:port`.
pub fn host_of(addr: &str) -> String {
    addr.rsplit_once(':')
        .map_or(addr, |(h, _)| h)
        .trim_matches(['[', ']'])
        .to_string()
}

/// A worker's standalone container on an attachable network (`network_ops` does the work, as
/// for a manager's own containers).
async fn attachment(
    m: &Arc<Manager>,
    req: AttachmentRequest,
    certs: &[CertificateDer<'static>],
) -> Result<Option<crate::model::TaskAttachment>, Status> {
    authenticate(m, certs, &req.node_id)?;
    require_leader(m)?;
    let node = req.node_id.as_str();
    match req.op {
        AttachmentOp::Lookup { key } => m
            .read(|s| crate::network_ops::attachable(s, &key))
            .map(Some)
            .map_err(status_of),
        AttachmentOp::Attach {
            key,
            container_id,
            name,
        } => crate::network_ops::attach_container(m, &key, (&container_id, &name, node))
            .await
            .map(Some)
            .map_err(status_of),
        AttachmentOp::Detach {
            network_id,
            container_id,
        } => crate::network_ops::detach_container(m, &network_id, &container_id)
            .await
            .map(|()| None)
            .map_err(status_of),
    }
}

async fn renew(
    m: &Arc<Manager>,
    req: RenewRequest,
    certs: &[CertificateDer<'static>],
) -> Result<RenewReply, Status> {
    let object = authenticate(m, certs, &req.node_id)?;
    let node = Node::parse(&object).map_err(internal)?;
    // Only the leader's copy is sure to hold the role just changed (`node` was read from it).
    require_leader(m)?;
    let cluster = m
        .cluster()
        .ok_or_else(|| Status::unavailable("the swarm is still starting"))?;
    let view = Cluster::parse(&cluster).map_err(internal)?;
    let ca = cluster_ca(&view)?;
    let manager = node.role == NodeRole::Manager;
    let role = if manager {
        CertRole::Manager
    } else {
        CertRole::Worker
    };
    let cert_pem = ca
        .issue(
            node.id(),
            role,
            &req.public_key_der,
            &cluster.id,
            view.cert_expiry(),
        )
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    Ok(RenewReply {
        cert_pem,
        ca_pem: ca.cert_pem().to_string(),
        manager,
        raft_id: node.status.raft_id.filter(|_| manager),
        managers: m.read(manager_addrs),
    })
}

fn internal(e: ModelError) -> Status {
    Status::internal(e.to_string())
}

fn cluster_ca(cluster: &Cluster<'_>) -> Result<RootCa, Status> {
    let pem = &cluster.status.root_ca;
    RootCa::from_pem(&pem.cert, &pem.key).map_err(|e| Status::internal(format!("cluster CA: {e}")))
}

/// A Raft id above every member, retired id and id already handed to a joining manager.
pub async fn next_raft_id(m: &Manager) -> Result<u64, SwarmError> {
    let next = m.raft.next_member_id().await?;
    let reserved = m.read(|s| {
        s.list(ObjectKind::Node)
            .filter_map(|n| Node::parse(n).ok()?.status.raft_id)
            .max()
    });
    Ok(reserved.map_or(next, |r| next.max(r + 1)))
}

async fn add_manager(
    m: &Arc<Manager>,
    req: AddManagerRequest,
    certs: &[CertificateDer<'static>],
) -> Result<(), Status> {
    let object = authenticate(m, certs, &req.node_id)?;
    let node = Node::parse(&object).map_err(internal)?;
    if !certs
        .first()
        .is_some_and(|c| m.peers.has_name(c.as_ref(), MANAGER_NAME))
    {
        return Err(Status::permission_denied("a manager certificate is needed"));
    }
    let raft_id = node
        .status
        .raft_id
        .ok_or_else(|| Status::failed_precondition("the node has no Raft id"))?;
    let addr = node
        .status
        .manager_addr
        .as_deref()
        .ok_or_else(|| Status::failed_precondition("the node has no manager address"))?;
    m.raft
        .add_learner(raft_id, NodeAddr::new(addr))
        .await
        .map_err(|e| status_of(e.into()))?;
    m.raft
        .promote(raft_id)
        .await
        .map_err(|e| status_of(e.into()))?;
    Ok(())
}

async fn session(
    m: &Arc<Manager>,
    req: SessionRequest,
    certs: &[CertificateDer<'static>],
) -> Result<SessionReply, Status> {
    let object = authenticate(m, certs, &req.node_id)?;
    let node = Node::parse(&object).map_err(internal)?;
    require_leader(m)?;
    m.liveness.beat(&req.node_id);
    if let Some(update) = session_update(&node, &req.description, &req.addr, &req.advertise) {
        let writing = std::time::Instant::now();
        m.write_all(vec![update]).await;
        if writing.elapsed() > Duration::from_secs(1) {
            tracing::warn!(node = %req.node_id, took = ?writing.elapsed(), "writing a node's session update took long");
        }
    }
    let period = m.liveness.period();
    let deadline = tokio::time::Instant::now() + (period / 2).max(Duration::from_millis(500));
    let guard = SessionGuard::new(&m.liveness, &req.node_id);
    let mine = m.signals.node(&req.node_id);
    loop {
        // Waiting before the read, so a commit between the read and the wait still wakes it.
        let changed = mine.notified();
        let changed_for_all = m.signals.everyone().notified();
        // Only the version at each wake: the reply is built when it changed (or is due).
        let (version, peers) = m.read(|s| {
            let peers = crate::peers::network_peers(s, &req.node_id);
            let version = assignments_version(s, &req.node_id);
            (crate::peers::version_with(version, &peers), peers)
        });
        if version != req.known || tokio::time::Instant::now() >= deadline {
            let heartbeat_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX);
            if version == req.known && req.takes_unchanged {
                // A heartbeat's answer: every node got its whole list twice a heartbeat, and
                // 1,000 of them kept the leader encoding 400 lists a second at rest.
                let (managers, node) = m.read(|s| {
                    let node = s.get(ObjectKind::Node, &req.node_id).cloned();
                    (manager_addrs(s), node)
                });
                guard.answered();
                return Ok(SessionReply {
                    version,
                    tasks: Vec::new(),
                    heartbeat_ms,
                    managers,
                    node,
                    peers: Vec::new(),
                    secrets: Vec::new(),
                    unchanged: true,
                });
            }
            let (version, tasks, managers, node, secrets) = m.read(|s| {
                let (version, tasks) = assignments(s, &req.node_id);
                let version = crate::peers::version_with(version, &peers);
                let node = s.get(ObjectKind::Node, &req.node_id).cloned();
                // Secrets are immutable and follow the tasks, whose versions the version covers.
                let secrets = crate::delivery::payloads_for(s, &req.node_id);
                (version, tasks, manager_addrs(s), node, secrets)
            });
            guard.answered();
            return Ok(SessionReply {
                version,
                tasks,
                heartbeat_ms,
                managers,
                node,
                peers,
                secrets,
                unchanged: false,
            });
        }
        tokio::select! {
            () = changed => {}
            () = changed_for_all => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = m.stopped() => return Err(Status::unavailable("the manager is stopping")),
        }
    }
}

async fn report(
    m: &Arc<Manager>,
    req: ReportRequest,
    certs: &[CertificateDer<'static>],
) -> Result<(), Status> {
    authenticate(m, certs, &req.node_id)?;
    require_leader(m)?;
    m.liveness.beat(&req.node_id);
    let plan = m.read(|s| report_updates(s, &req.node_id, &req.updates));
    for p in &plan.problems {
        tracing::error!(error = %p, node = %req.node_id, "a task report names a malformed task");
    }
    let writing = std::time::Instant::now();
    let written = m.try_write_all(plan.commands).await;
    if writing.elapsed() > Duration::from_secs(1) {
        tracing::warn!(node = %req.node_id, took = ?writing.elapsed(), "writing a task report took long");
    }
    // Nobody else writes a task's reported state: an unrecorded report must be an error, so
    // the node reports it again (a task that ran but stayed "starting" in the store was
    // never replaced and never reported again).
    written.map_err(|e| Status::unavailable(format!("the task report was not recorded: {e}")))
}
