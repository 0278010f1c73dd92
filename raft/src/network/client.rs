//! The client side of the transport: `Peers` keeps one lazily connected, reconnecting tonic
//! channel per peer address (HTTP/2 multiplexes every RPC to that peer over it) and makes
//! calls with a deadline; `NetworkFactory` gives openraft one `PeerNetwork` per target. Each
//! openraft replication stream calls its own target, and every call has a deadline, so a
//! dead follower costs its own stream retries with back-off and never holds the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic_prost::ProstCodec;

use super::faults::Faults;
use super::proto::{Method, Payload, PeerStatus};
use super::server::MAX_MESSAGE;
use super::tls::TlsConfig;
use super::MAX_APPEND_BYTES;
use crate::codec::{decode, encode};
use crate::error::RaftError;
use crate::types::{NodeAddr, NodeId, OpenRaftError, TypeConfig};

/// Channels to the other members, shared by the Raft network and the client-facing calls.
#[derive(Clone)]
pub struct Peers {
    self_id: NodeId,
    tls: ClientTlsConfig,
    faults: Option<Arc<Faults>>,
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers")
            .field("self_id", &self.self_id)
            .finish_non_exhaustive()
    }
}

impl Peers {
    /// Peers of member `self_id`, dialled with `tls`; `faults` drops chosen links (tests).
    pub fn new(self_id: NodeId, tls: &TlsConfig, faults: Option<Arc<Faults>>) -> Self {
        Self {
            self_id,
            tls: tls.client(),
            faults,
            channels: Arc::default(),
        }
    }

    fn channel(&self, addr: &str) -> Result<Channel, RaftError> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(channel) = channels.get(addr) {
            return Ok(channel.clone());
        }
        let fail = |e: &dyn std::fmt::Display| RaftError::Transport {
            peer: addr.to_owned(),
            message: e.to_string(),
        };
        let channel = Endpoint::from_shared(format!("https://{addr}"))
            .map_err(|e| fail(&e))?
            .tls_config(self.tls.clone())
            .map_err(|e| fail(&e))?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5))
            .connect_lazy();
        channels.insert(addr.to_owned(), channel.clone());
        Ok(channel)
    }

    /// Calls `method` on member `target` at `addr`, failing after `timeout`.
    pub(crate) async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        target: NodeId,
        addr: &str,
        method: Method,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, RaftError> {
        let data = encode(request).map_err(|e| RaftError::Transport {
            peer: addr.to_owned(),
            message: format!("encode request: {e}"),
        })?;
        self.call_encoded(target, addr, method, data, timeout).await
    }

    /// Sends an already encoded request (see `call`).
    pub(crate) async fn call_encoded<Resp: DeserializeOwned>(
        &self,
        target: NodeId,
        addr: &str,
        method: Method,
        data: Vec<u8>,
        timeout: Duration,
    ) -> Result<Resp, RaftError> {
        if self
            .faults
            .as_ref()
            .is_some_and(|f| f.is_cut(self.self_id, target))
        {
            let reason = format!("{addr}: link {} -> {target} is cut", self.self_id);
            return Err(RaftError::Unavailable { reason });
        }
        // Spawned so that a caller giving up early (openraft times heartbeats out after one
        // interval) does not also abandon a TLS handshake half-way, and every retry with it.
        let call = tokio::spawn(unary(self.channel(addr)?, addr.to_owned(), method, data));
        let reply = match tokio::time::timeout(timeout, call).await {
            Ok(Ok(reply)) => reply?,
            Ok(Err(join)) => return Err(RaftError::Fatal(format!("rpc task: {join}"))),
            Err(_) => {
                return Err(RaftError::Timeout {
                    what: "raft rpc",
                    after: timeout,
                })
            }
        };
        decode("rpc reply", &reply)
    }
}

/// One unary call on `channel`; `Unavailable` means the request certainly never left (callers
/// may retry it), `Transport` that it may have.
async fn unary(
    channel: Channel,
    addr: String,
    method: Method,
    data: Vec<u8>,
) -> Result<Vec<u8>, RaftError> {
    let fail = |message: String| RaftError::Transport {
        peer: addr.clone(),
        message,
    };
    let unsent = |reason: String| RaftError::Unavailable {
        reason: format!("{addr}: {reason}"),
    };
    let mut grpc = tonic::client::Grpc::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    grpc.ready()
        .await
        .map_err(|e| unsent(format!("connect: {e}")))?;
    let path = PathAndQuery::from_static(method.path());
    let codec = ProstCodec::<Payload, Payload>::default();
    let response = grpc
        .unary(tonic::Request::new(Payload { data }), path, codec)
        .await;
    response.map(|r| r.into_inner().data).map_err(|status| {
        let message = format!("{}: {}", status.code(), status.message());
        // A failed connection attempt: the request was never written.
        if status.code() == tonic::Code::Unavailable && status.message().contains("connect") {
            unsent(message)
        } else {
            fail(message)
        }
    })
}

/// Asks the member at `addr` who it is and whom it follows, with `tls` as the client identity:
/// checks that the address is reachable and that both sides trust each other's certificates.
pub async fn probe(
    tls: &TlsConfig,
    addr: &str,
    timeout: Duration,
) -> Result<PeerStatus, RaftError> {
    let peers = Peers::new(0, tls, None);
    peers
        .call(NodeId::MAX, addr, Method::Status, &(), timeout)
        .await
}

/// How often a member checks its connections to the other voters.
const WARM_EVERY: Duration = Duration::from_secs(1);

/// Keeps a connection open to every other voter by asking each for its status every
/// `WARM_EVERY`. A follower otherwise talks only to its leader: when the leader died, the
/// followers' votes to each other each waited for a new TLS connection, made while a thousand
/// nodes were calling those followers too, and an election took up to 0.4 s longer. Errors are
/// ignored: a member that is down is what elections are for.
pub(crate) async fn keep_peers_warm(raft: crate::types::Raft, peers: Peers) {
    loop {
        tokio::time::sleep(WARM_EVERY).await;
        let others: Vec<(NodeId, String)> = {
            let metrics = raft.metrics();
            let m = metrics.borrow();
            m.membership_config
                .membership()
                .voter_ids()
                .filter(|id| *id != m.id)
                .filter_map(|id| {
                    let node = m.membership_config.membership().get_node(&id)?;
                    Some((id, node.addr.clone()))
                })
                .collect()
        };
        for (id, addr) in others {
            let _ = peers
                .call::<_, PeerStatus>(id, &addr, Method::Status, &(), WARM_EVERY)
                .await;
        }
    }
}

/// Makes openraft's per-target network clients.
#[derive(Debug, Clone)]
pub struct NetworkFactory {
    peers: Peers,
    min_timeout: Duration,
}

impl NetworkFactory {
    /// A factory dialling through `peers`; no RPC gets less than `min_timeout`.
    pub fn new(peers: Peers, min_timeout: Duration) -> Self {
        Self { peers, min_timeout }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, node: &NodeAddr) -> PeerNetwork {
        PeerNetwork {
            peers: self.peers.clone(),
            target,
            node: node.clone(),
            min_timeout: self.min_timeout,
        }
    }
}

/// openraft's client for one target member.
#[derive(Debug)]
pub struct PeerNetwork {
    peers: Peers,
    target: NodeId,
    node: NodeAddr,
    min_timeout: Duration,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, NodeAddr, OpenRaftError<E>>>;

impl PeerNetwork {
    async fn rpc<Req, Resp, E>(
        &self,
        method: Method,
        req: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let data = self.encode(req)?;
        self.rpc_encoded(method, data, option).await
    }

    /// Encodes a request for this peer.
    #[allow(
        clippy::result_large_err,
        reason = "openraft's RPCError is what the RaftNetwork methods return"
    )]
    fn encode<Req: Serialize, E: std::error::Error>(
        &self,
        req: &Req,
    ) -> Result<Vec<u8>, RPCError<NodeId, NodeAddr, E>> {
        encode(req).map_err(|e| {
            RPCError::Network(NetworkError::new(&RaftError::Transport {
                peer: self.node.addr.clone(),
                message: format!("encode request: {e}"),
            }))
        })
    }

    /// `rpc` for a request encoded already.
    async fn rpc_encoded<Resp, E>(
        &self,
        method: Method,
        data: Vec<u8>,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        // openraft asks for AppendEntries within one heartbeat interval; a catch-up batch on a
        // fresh TLS connection can take longer, and timing it out forever is a livelock.
        let timeout = option.hard_ttl().max(self.min_timeout);
        let reply: Result<Resp, OpenRaftError<E>> = self
            .peers
            .call_encoded(self.target, &self.node.addr, method, data, timeout)
            .await
            .map_err(|e| match e {
                RaftError::Transport { .. }
                | RaftError::Unavailable { .. }
                | RaftError::Timeout { .. } => RPCError::Unreachable(Unreachable::new(&e)),
                other => RPCError::Network(NetworkError::new(&other)),
            })?;
        reply.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        // One proposal may hold many transactions, so batches are capped by bytes. The log
        // reader already cuts them (`limited_get_log_entries`); this is the backstop.
        let entries = rpc.entries.len();
        let data = self.encode(&rpc)?;
        if entries > 1 && data.len() > MAX_APPEND_BYTES {
            let fit = (entries * MAX_APPEND_BYTES / data.len()).max(1);
            return Err(RPCError::PayloadTooLarge(
                PayloadTooLarge::new_entries_hint(u64::try_from(fit).unwrap_or(1)),
            ));
        }
        self.rpc_encoded(Method::AppendEntries, data, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.rpc(Method::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        self.rpc(Method::Vote, &rpc, &option).await
    }

    fn backoff(&self) -> Backoff {
        // 50 ms doubling to 800 ms: a restarted follower is found again quickly, a dead one
        // costs little.
        Backoff::new((0u32..).map(|i| Duration::from_millis(50u64 << i.min(4))))
    }
}
