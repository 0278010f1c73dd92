//! `RaftNode`: one member of the replicated store. Owns the openraft instance, the sled stores,
//! the gRPC server and the channels to its peers; gives stale and linearizable reads and
//! watches. Writes and membership changes (which route to the leader) are in `client.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::RaftConfig;
use crate::error::RaftError;
use crate::network::{serve, Faults, Method, NetworkFactory, Peers, SharedServer, TlsConfig};
use crate::proposer::Proposer;
use crate::state::ClusterState;
use crate::store::{self, StateMachineStore};
use crate::types::{CheckIsLeaderError, LogId, NodeAddr, NodeId, OpenRaftError, Raft};
use crate::watch::Watcher;

/// What a node needs to start.
#[derive(Debug)]
pub struct NodeOptions {
    /// This member's id; never reused once removed.
    pub id: NodeId,
    /// Where the sled database lives.
    pub data_dir: PathBuf,
    /// The bound raft port (bind `127.0.0.1:0` in tests and read the address back).
    pub listener: TcpListener,
    /// The address other members dial; must reach `listener`.
    pub advertise: NodeAddr,
    /// Certificates and the cluster CA.
    pub tls: TlsConfig,
    /// Timing and limits.
    pub config: RaftConfig,
    /// Test hook dropping chosen links; `None` in production.
    pub faults: Option<Arc<Faults>>,
    /// Other services sharing the raft port (the swarm's join and dispatcher), with that
    /// port's TLS; `None` serves Raft alone over mutual TLS.
    pub shared: Option<SharedServer>,
    /// Seals log entries and snapshots at rest (`Sealer::none()` stores plaintext).
    pub sealer: crate::seal::Sealer,
}

/// One running member of the replicated store.
pub struct RaftNode {
    pub(crate) id: NodeId,
    pub(crate) addr: NodeAddr,
    pub(crate) raft: Raft,
    pub(crate) sm: StateMachineStore,
    pub(crate) peers: Peers,
    pub(crate) config: RaftConfig,
    pub(crate) proposer: Proposer,
    proposing: JoinHandle<()>,
    server: JoinHandle<Result<(), RaftError>>,
    stop_server: oneshot::Sender<()>,
    repair: JoinHandle<()>,
    warming: JoinHandle<()>,
    compacting: JoinHandle<()>,
    compaction: crate::compaction::PolicySlot,
}

impl std::fmt::Debug for RaftNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode")
            .field("id", &self.id)
            .field("addr", &self.addr)
            .finish()
    }
}

impl RaftNode {
    /// Opens the stores under `data_dir` (creating them on first start), starts Raft and the
    /// gRPC server. A new node is not part of any cluster until `initialize` or a leader's
    /// `add_learner` includes it.
    pub async fn start(options: NodeOptions) -> Result<Self, RaftError> {
        let (log, sm) = store::open(
            &options.data_dir,
            options.config.watch_history,
            &options.sealer,
        )
        .await?;
        let peers = Peers::new(options.id, &options.tls, options.faults.clone());
        let config = Arc::new(options.config.to_openraft()?);
        let network = NetworkFactory::new(peers.clone(), options.config.rpc_timeout);
        let durable = log.clone();
        let raft = Raft::new(options.id, config, network, log, sm.clone())
            .await
            .map_err(|e| RaftError::Fatal(e.to_string()))?;
        let (proposer, proposing) = Proposer::start(raft.clone(), durable);
        let (stop_server, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            options.listener,
            options.tls.clone(),
            options.shared,
            raft.clone(),
            proposer.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        let settle = options.config.election_timeout_max * 2;
        let repair = tokio::spawn(crate::client::finish_joint_membership(raft.clone(), settle));
        let warming = tokio::spawn(crate::network::keep_peers_warm(raft.clone(), peers.clone()));
        let compaction = crate::compaction::PolicySlot::default();
        let compacting = tokio::spawn(crate::compaction::run(
            raft.clone(),
            sm.clone(),
            compaction.clone(),
            options.config.compaction(),
        ));
        Ok(Self {
            id: options.id,
            addr: options.advertise,
            raft,
            sm,
            peers,
            config: options.config,
            proposer,
            proposing,
            server,
            stop_server,
            repair,
            warming,
            compacting,
            compaction,
        })
    }

    /// Follows the compaction policy `reader` finds in the applied state (read each second),
    /// instead of the configured one, whenever it finds one.
    pub fn follow_compaction(&self, reader: crate::compaction::PolicyReader) {
        self.compaction.set(reader);
    }

    /// This member's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This member's advertised address.
    pub fn addr(&self) -> &NodeAddr {
        &self.addr
    }

    /// The openraft handle, for metrics and `wait` conditions.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// Makes a new cluster of `members` (call on one of them, once, at bootstrap).
    pub async fn initialize(&self, members: BTreeMap<NodeId, NodeAddr>) -> Result<(), RaftError> {
        self.raft
            .initialize(members)
            .await
            .map_err(|e| RaftError::Membership(e.to_string()))
    }

    /// The leader this member knows of.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// Whether this member leads.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// Reads the state as this member has applied it (may be behind the leader).
    pub fn read_stale<R>(&self, read: impl FnOnce(&ClusterState) -> R) -> R {
        read(&self.sm.read())
    }

    /// Reads the state after everything committed before the call is applied here: the
    /// leader confirms its leadership with a quorum and gives its commit index (read index).
    pub async fn read_linearizable<R>(
        &self,
        read: impl FnOnce(&ClusterState) -> R,
    ) -> Result<R, RaftError> {
        let deadline = Instant::now() + self.config.request_timeout;
        let read_index = self.read_index(deadline).await?;
        if let Some(index) = read_index.map(|id| id.index) {
            let remaining = deadline.saturating_duration_since(Instant::now());
            self.raft
                .wait(Some(remaining))
                .applied_index_at_least(Some(index), "read index applied")
                .await
                .map_err(|_| RaftError::Timeout {
                    what: "linearizable read",
                    after: self.config.request_timeout,
                })?;
        }
        Ok(self.read_stale(read))
    }

    async fn read_index(&self, deadline: Instant) -> Result<Option<LogId>, RaftError> {
        loop {
            let reply: Result<Option<LogId>, OpenRaftError<CheckIsLeaderError>> =
                match self.route(deadline).await? {
                    None => self.raft.get_read_log_id().await.map(|(read, _)| read),
                    Some((leader, addr)) => {
                        let remaining = deadline.saturating_duration_since(Instant::now());
                        match self
                            .peers
                            .call(leader, &addr, Method::ReadIndex, &(), remaining)
                            .await
                        {
                            Ok(reply) => reply,
                            Err(RaftError::Unavailable { .. }) => {
                                self.pause(deadline).await?;
                                continue;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                };
            match reply {
                Ok(read) => return Ok(read),
                Err(e) if e.forward_to_leader::<NodeAddr>().is_some() => {
                    self.pause(deadline).await?
                }
                Err(e) => {
                    return Err(RaftError::Unavailable {
                        reason: e.to_string(),
                    })
                }
            }
        }
    }

    /// Watches every transaction committed after store version `from`.
    pub fn watch(&self, from: u64) -> Watcher {
        self.sm.watch_hub().subscribe(from)
    }

    /// Reads the applied state and subscribes from exactly its version, atomically (what a
    /// watcher does at start and after `Resync`).
    pub fn read_and_watch<R>(&self, read: impl FnOnce(&ClusterState) -> R) -> (R, Watcher) {
        let state = self.sm.read();
        let watcher = self.sm.watch_hub().subscribe(state.version());
        (read(&state), watcher)
    }

    /// A copy of the applied state (as `snapshot_and_watch`'s): for a long read off the lock.
    pub fn state_copy(&self) -> ClusterState {
        self.sm.read().clone()
    }

    /// A copy of the applied state and a watch of every transaction after it. The copy shares
    /// its tables with the live state until a write changes them, so it is cheap, and a long
    /// read of it holds no lock: writes (and the readers queued behind them) go on.
    pub fn snapshot_and_watch(&self) -> (ClusterState, Watcher) {
        let state = self.sm.read();
        let watcher = self.sm.watch_hub().subscribe(state.version());
        (state.clone(), watcher)
    }

    /// Stops Raft and the server; the data directory can be opened again afterwards.
    pub async fn shutdown(self) -> Result<(), RaftError> {
        self.repair.abort();
        self.warming.abort();
        self.compacting.abort();
        self.proposing.abort();
        let raft = self
            .raft
            .shutdown()
            .await
            .map_err(|e| RaftError::Fatal(e.to_string()));
        let _ = self.stop_server.send(());
        let mut server = self.server;
        // Peers hold HTTP/2 connections open; a graceful stop waits for them a short while only.
        match tokio::time::timeout(Duration::from_secs(2), &mut server).await {
            Ok(Ok(served)) => served?,
            Ok(Err(_)) => {}
            Err(_) => server.abort(),
        }
        raft
    }
}
