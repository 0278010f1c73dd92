//! `Swarm`, the daemon's handle on swarm mode: init, join, leave, and restoring membership at
//! start. A member runs an agent (every node) and, on managers, a `Manager` (Raft member,
//! swarm calls, and while leading: orchestrators, scheduler, dispatcher). The API's queries
//! are in `query`.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use berth_raft::{Attrs, NodeRole, Object};
use bollard_stubs::models::{NodeSpecAvailabilityEnum, SwarmInitRequest, SwarmJoinRequest};

use crate::agent::{self, Agent, AgentStart};
use crate::bootstrap::{
    add_self_as_manager, advertise_addr, bind, bootstrap_objects, leave_refusal, local_ip_towards,
    with_port,
};
use crate::ca::{self, pinned_channel, CertRole, JoinToken, NodeKey, RootCa};
use crate::error::{SwarmError, SwarmResult};
use crate::executor::Executor;
use crate::handler::host_of;
use crate::local::{Certs, LocalState, SwarmDir};
use crate::manager::{Manager, ManagerStart};
use crate::model::{cert_expiry, new_id, Node, NodeState, DEFAULT_CERT_EXPIRY};
use crate::rpc::{self, JoinReply, JoinRequest, Method};

/// The swarm port when none is given.
pub const DEFAULT_PORT: u16 = 2377;

/// This node's membership, while it has one.
pub struct Member {
    /// Identity and addresses.
    pub state: Mutex<LocalState>,
    /// The manager, on managers.
    pub manager: Option<Arc<Manager>>,
    pub(crate) agent: tokio::sync::Mutex<Option<Agent>>,
}

impl Member {
    /// A copy of the local state.
    pub fn local(&self) -> LocalState {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The daemon's swarm handle.
pub struct Swarm {
    me: std::sync::Weak<Swarm>,
    pub(crate) executor: Arc<dyn Executor>,
    pub(crate) dir: SwarmDir,
    pub(crate) heartbeat: Duration,
    pub(crate) lifecycle: tokio::sync::Mutex<()>,
    member: RwLock<Option<Arc<Member>>>,
    /// Counts the membership changes (join, leave, a manager started or stopped).
    membership: tokio::sync::watch::Sender<u64>,
    /// An autolocked manager restarted and waits for `swarm unlock`.
    pub(crate) locked: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Swarm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Swarm").finish_non_exhaustive()
    }
}

impl Swarm {
    /// How this node describes itself to the swarm (its executor's description).
    pub async fn node_description(&self) -> bollard_stubs::models::NodeDescription {
        self.executor.describe().await
    }

    /// The handle of a daemon whose data root is `data_root` and whose tasks run on
    /// `executor`; not in a swarm until `restore`, `init` or `join`.
    pub fn new(executor: Arc<dyn Executor>, data_root: &Path) -> Arc<Swarm> {
        Arc::new_cyclic(|me| Swarm {
            me: me.clone(),
            executor,
            dir: SwarmDir::new(data_root),
            heartbeat: Duration::from_secs(5),
            lifecycle: tokio::sync::Mutex::default(),
            member: RwLock::default(),
            membership: tokio::sync::watch::Sender::new(0),
            locked: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The membership, if any.
    pub fn member(&self) -> Option<Arc<Member>> {
        self.member
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The manager, or Docker's error for a node that is not one.
    pub fn manager(&self) -> SwarmResult<Arc<Manager>> {
        if self.is_locked() {
            return Err(SwarmError::Locked);
        }
        let member = self.member().ok_or(SwarmError::NotInSwarm)?;
        member.manager.clone().ok_or(SwarmError::NotManager)
    }

    /// The manager, once it knows a leader (see `Manager::require_quorum`) and has applied
    /// everything committed before the call (see `Manager::catch_up`).
    pub async fn control(&self) -> SwarmResult<Arc<Manager>> {
        let m = self.manager()?;
        m.require_quorum().await?;
        m.catch_up().await?;
        Ok(m)
    }

    pub(crate) fn set_member(&self, member: Option<Arc<Member>>) {
        *self.member.write().unwrap_or_else(PoisonError::into_inner) = member;
        self.membership.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes whenever this node joins or leaves the swarm or its manager starts or stops
    /// (what follows a manager's store, as its events do, subscribes again then).
    pub fn membership(&self) -> tokio::sync::watch::Receiver<u64> {
        self.membership.subscribe()
    }

    /// Rejoins the swarm this node was in before the daemon stopped; an autolocked manager
    /// stays locked (and the daemon serves) until `unlock`.
    pub async fn restore(&self) -> SwarmResult<()> {
        let _guard = self.lifecycle.lock().await;
        match self.rejoin(None).await {
            Err(SwarmError::Locked) => {
                tracing::warn!("this manager is autolocked: it takes part in the swarm again after `swarm unlock`");
                self.locked.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }
            other => other,
        }
    }

    /// Rejoins with the saved state, opening an autolocked store with `unlock`.
    pub(crate) async fn rejoin(&self, unlock: Option<crate::keys::UnlockKey>) -> SwarmResult<()> {
        let Some((state, certs)) = self
            .dir
            .load()
            .map_err(|e| SwarmError::internal("read swarm state", e))?
        else {
            return Ok(());
        };
        let manager = match (state.manager, state.raft_id) {
            (true, Some(raft_id)) => {
                let listener = bind(&state.listen_addr).await?;
                Some(
                    Manager::start(ManagerStart {
                        node_id: state.node_id.clone(),
                        raft_id,
                        listener,
                        advertise: state.advertise_addr.clone(),
                        certs: certs.clone(),
                        raft_dir: self.dir.raft_dir(),
                        heartbeat: self.heartbeat,
                        unlock,
                    })
                    .await?,
                )
            }
            _ => None,
        };
        self.activate(state, certs, manager);
        Ok(())
    }

    /// Starts this node's part of the swarm; the receiver sees the node as each session
    /// reply gives it.
    pub(crate) fn activate(
        &self,
        state: LocalState,
        certs: Certs,
        manager: Option<Arc<Manager>>,
    ) -> tokio::sync::watch::Receiver<Option<Object>> {
        let (node_tx, node_rx) = tokio::sync::watch::channel(None);
        let seen = node_tx.subscribe();
        tokio::spawn(crate::roles::role_loop(
            self.me.clone(),
            node_rx,
            certs.cert_pem.clone(),
        ));
        if let Some(m) = &manager {
            tokio::spawn(crate::raft_watch::raft_watch(
                self.me.clone(),
                Arc::downgrade(m),
            ));
        }
        let agent = Agent::start(AgentStart {
            node_id: state.node_id.clone(),
            certs,
            managers: state.managers.clone(),
            executor: self.executor.clone(),
            addr: host_of(&state.advertise_addr),
            advertise: state.advertise_addr.clone(),
            node_tx,
        });
        self.set_member(Some(Arc::new(Member {
            state: Mutex::new(state),
            manager,
            agent: tokio::sync::Mutex::new(Some(agent)),
        })));
        seen
    }

    /// `POST /swarm/init`: a new cluster with this node as its only manager, of `availability`;
    /// returns the node id.
    pub async fn init(
        &self,
        req: SwarmInitRequest,
        availability: NodeSpecAvailabilityEnum,
    ) -> SwarmResult<String> {
        refuse_data_path_addr(req.data_path_addr.as_deref())?;
        let _guard = self.lifecycle.lock().await;
        if self.member().is_some() || self.is_locked() {
            if req.force_new_cluster == Some(true) {
                return self.force_new_cluster(&req).await;
            }
            return Err(SwarmError::AlreadyInSwarm);
        }
        let listen_addr = with_port(req.listen_addr.as_deref().unwrap_or("0.0.0.0"));
        let listener = bind(&listen_addr).await?;
        let port = listener
            .local_addr()
            .map_err(|e| SwarmError::internal("swarm port", e))?
            .port();
        let advertise = advertise_addr(
            req.advertise_addr.as_deref(),
            &listen_addr,
            port,
            &self.executor.local_subnets(),
        )?;
        // The first certificate already lasts as long as the spec asks (Docker's is 90 days,
        // the spec applied only after it).
        let expiry = match &req.spec {
            Some(spec) => cert_expiry(spec).map_err(SwarmError::InvalidArgument)?,
            None => DEFAULT_CERT_EXPIRY,
        };
        let ca = RootCa::generate().map_err(|e| SwarmError::internal("make the root CA", e))?;
        let cluster_id = new_id();
        let node_id = new_id();
        let key = NodeKey::generate().map_err(|e| SwarmError::internal("make a node key", e))?;
        let cert_pem = ca
            .issue(
                &node_id,
                CertRole::Manager,
                &key.public_key_der(),
                &cluster_id,
                expiry,
            )
            .map_err(|e| SwarmError::internal("issue the node certificate", e))?;
        let certs = Certs {
            cert_pem,
            key_pem: key.key_pem(),
            ca_pem: ca.cert_pem().to_string(),
        };
        let state = LocalState {
            node_id: node_id.clone(),
            cluster_id: cluster_id.clone(),
            manager: true,
            raft_id: Some(1),
            listen_addr: format!("{}:{port}", host_of(&listen_addr)),
            advertise_addr: advertise.clone(),
            managers: vec![advertise.clone()],
        };
        // A leftover store from an earlier swarm must not be mistaken for this one.
        self.dir
            .erase()
            .map_err(|e| SwarmError::internal("clear old swarm state", e))?;
        let manager = Manager::start(ManagerStart {
            node_id: node_id.clone(),
            raft_id: 1,
            listener,
            advertise: advertise.clone(),
            certs: certs.clone(),
            raft_dir: self.dir.raft_dir(),
            heartbeat: self.heartbeat,
            unlock: None,
        })
        .await?;
        let description = self.executor.describe().await;
        let created = async {
            manager.bootstrap(1).await?;
            let objects = bootstrap_objects(
                &req,
                &ca,
                (&cluster_id, &node_id),
                (&advertise, availability),
                description,
            )?;
            manager.write(objects).await
        };
        if let Err(e) = created.await {
            manager.stop().await;
            let _ = self.dir.erase();
            return Err(e);
        }
        if let Err(e) = self.dir.save(&state, &certs) {
            manager.stop().await;
            let _ = self.dir.erase();
            return Err(SwarmError::internal("save swarm state", e));
        }
        self.activate(state, certs, Some(manager));
        Ok(node_id)
    }

    /// `POST /swarm/join`: joins the swarm of `RemoteAddrs` with `JoinToken`.
    /// `POST /swarm/join`, as a node of `availability`.
    pub async fn join(
        &self,
        req: SwarmJoinRequest,
        availability: NodeSpecAvailabilityEnum,
    ) -> SwarmResult<()> {
        refuse_data_path_addr(req.data_path_addr.as_deref())?;
        let _guard = self.lifecycle.lock().await;
        if self.member().is_some() || self.is_locked() {
            return Err(SwarmError::AlreadyInSwarm);
        }
        let token_text = req.join_token.clone().unwrap_or_default();
        let token: JoinToken = token_text
            .parse()
            .map_err(|e: ca::CaError| SwarmError::InvalidArgument(e.to_string()))?;
        let remote = req
            .remote_addrs
            .as_ref()
            .and_then(|r| r.first())
            .map(|r| with_port(r))
            .ok_or_else(|| {
                SwarmError::InvalidArgument("at least 1 RemoteAddr is required to join".into())
            })?;
        let listen_addr = with_port(req.listen_addr.as_deref().unwrap_or("0.0.0.0"));
        let listener = bind(&listen_addr).await?;
        let port = listener
            .local_addr()
            .map_err(|e| SwarmError::internal("swarm port", e))?
            .port();
        let advertise = match req.advertise_addr.as_deref().filter(|a| !a.is_empty()) {
            Some(a) => advertise_addr(Some(a), &listen_addr, port, &self.executor.local_subnets())?,
            None => format!("{}:{port}", local_ip_towards(&remote).await?),
        };
        let key = NodeKey::generate().map_err(|e| SwarmError::internal("make a node key", e))?;
        let (channel, pinned) =
            pinned_channel(&remote, &token.digest)
                .await
                .map_err(|e| match e {
                    ca::CaError::FingerprintMismatch { .. } => {
                        SwarmError::InvalidArgument(e.to_string())
                    }
                    other => SwarmError::Unavailable(format!(
                        "could not reach the manager at {remote}: {other}"
                    )),
                })?;
        let hostname = self.executor.describe().await.hostname.unwrap_or_default();
        let reply: JoinReply = rpc::call(
            channel,
            Method::Join,
            &JoinRequest {
                token: token_text,
                public_key_der: key.public_key_der(),
                hostname,
                advertise_addr: advertise.clone(),
                availability: Some(availability),
            },
            Duration::from_secs(30),
        )
        .await
        .map_err(|s| match s.code() {
            tonic::Code::InvalidArgument => SwarmError::InvalidArgument(s.message().to_string()),
            _ => SwarmError::Unavailable(format!("join {remote}: {}", s.message())),
        })?;
        let certs = Certs {
            cert_pem: reply.cert_pem.clone(),
            key_pem: key.key_pem(),
            ca_pem: pinned.pem().to_string(),
        };
        let mut managers = reply.managers.clone();
        if managers.is_empty() {
            managers.push(remote.clone());
        }
        let state = LocalState {
            node_id: reply.node_id.clone(),
            cluster_id: reply.cluster_id.clone(),
            manager: reply.manager,
            raft_id: reply.raft_id,
            listen_addr: format!("{}:{port}", host_of(&listen_addr)),
            advertise_addr: advertise.clone(),
            managers: managers.clone(),
        };
        self.dir
            .erase()
            .map_err(|e| SwarmError::internal("clear old swarm state", e))?;
        let manager = match reply.raft_id.filter(|_| reply.manager) {
            Some(raft_id) => {
                let m = Manager::start(ManagerStart {
                    node_id: reply.node_id.clone(),
                    raft_id,
                    listener,
                    advertise: advertise.clone(),
                    certs: certs.clone(),
                    raft_dir: self.dir.raft_dir(),
                    heartbeat: self.heartbeat,
                    unlock: None,
                })
                .await?;
                if let Err(e) = add_self_as_manager(&certs, &managers, &reply.node_id).await {
                    m.stop().await;
                    let _ = self.dir.erase();
                    return Err(e);
                }
                Some(m)
            }
            None => {
                drop(listener);
                None
            }
        };
        self.dir
            .save(&state, &certs)
            .map_err(|e| SwarmError::internal("save swarm state", e))?;
        let seen = self.activate(state, certs, manager);
        joined(seen).await
    }

    /// `POST /swarm/leave`.
    pub async fn leave(&self, force: bool) -> SwarmResult<()> {
        let _guard = self.lifecycle.lock().await;
        if self.is_locked() {
            return self.leave_locked(force);
        }
        let member = self.member().ok_or(SwarmError::NotInSwarmToLeave)?;
        if let Some(m) = &member.manager {
            let (reachable, managers) = m.read(|s| {
                let all = s.nodes_by_role(NodeRole::Manager);
                let ready = all
                    .iter()
                    .filter(|n| Node::parse(n).is_ok_and(|n| n.state() == NodeState::Ready))
                    .count();
                (ready, all.len())
            });
            if !force {
                // Docker answers this with 503 (not available), whatever the quorum.
                return Err(SwarmError::Unavailable(leave_refusal(reachable, managers)));
            }
            if managers > 1 {
                if let Some(raft_id) = member.local().raft_id {
                    // Forced: a cluster without quorum cannot take the change; do not wait long.
                    let removed =
                        tokio::time::timeout(Duration::from_secs(3), m.raft.remove_member(raft_id))
                            .await;
                    if !matches!(removed, Ok(Ok(()))) {
                        tracing::warn!("leaving: could not leave the Raft group; leaving anyway");
                    }
                }
            }
        }
        if let Some(agent) = member.agent.lock().await.take() {
            agent.stop().await;
        }
        self.remove_task_containers().await;
        self.set_member(None);
        if let Some(m) = member.manager.clone() {
            drop(member);
            m.stop().await;
        }
        self.dir
            .erase()
            .map_err(|e| SwarmError::internal("remove swarm state", e))
    }

    async fn remove_task_containers(&self) {
        let containers = agent::task_containers(self.executor.as_ref()).await;
        for c in containers.unwrap_or_default().into_values() {
            let _ = self.executor.remove(&c.id).await;
        }
    }

    /// Stops the agent and the manager (daemon shutdown); the membership stays on disk.
    pub async fn shutdown(&self) {
        let Some(member) = self.member() else { return };
        if let Some(agent) = member.agent.lock().await.take() {
            agent.stop().await;
        }
        self.set_member(None);
        if let Some(m) = member.manager.clone() {
            drop(member);
            m.stop().await;
        }
    }
}

/// The role of a node object.
pub fn node_role(node: &berth_raft::Object) -> NodeRole {
    match node.attrs {
        Attrs::Node { role } => role,
        _ => NodeRole::Worker,
    }
}

/// `--data-path-addr`: berth's VXLAN traffic goes between the nodes' advertise addresses; a
/// separate data path address is refused by name rather than ignored.
fn refuse_data_path_addr(addr: Option<&str>) -> SwarmResult<()> {
    match addr.map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => Err(SwarmError::InvalidArgument(format!(
            "DataPathAddr ({a}) is not supported by berth: overlay traffic uses the advertise \
             address"
        ))),
        None => Ok(()),
    }
}

/// How long a join waits for the node's first session, as moby's `swarmConnectTimeout`.
const JOIN_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Waits until the joined node's first session made it ready, as Docker's join returns only
/// then (so `node ls` right after shows it ready); after 20 s, Docker's words, while the
/// agent goes on trying.
async fn joined(mut seen: tokio::sync::watch::Receiver<Option<Object>>) -> SwarmResult<()> {
    let ready = |o: &Option<Object>| {
        o.as_ref()
            .and_then(|o| Node::parse(o).ok())
            .is_some_and(|n| n.state() == NodeState::Ready)
    };
    match tokio::time::timeout(JOIN_READY_TIMEOUT, seen.wait_for(ready)).await {
        Ok(Ok(_)) => Ok(()),
        // The agent stopped (the node left meanwhile): nothing to wait for.
        Ok(Err(_)) => Ok(()),
        Err(_) => Err(SwarmError::Unavailable(
            "Timeout was reached before node joined. The attempt to join the swarm will \
             continue in the background. Use the \"docker info\" command to see the current \
             swarm status of your node."
                .into(),
        )),
    }
}
