//! The swarm's node-to-manager calls (join, add manager, dispatcher session and task reports)
//! as a hand-written tonic service beside Raft on the swarm port: each request and reply is one
//! JSON document in a one-field protobuf message, so a fresh clone builds without protoc.
//! Messages, the server side (dispatching to a `Handler`) and the client side.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use berth_raft::Object;
use bollard_stubs::models::NodeDescription;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::{http, BoxFuture, Service, StdError};
use tonic::server::{NamedService, UnaryService};
use tonic::transport::{CertificateDer, Channel};
use tonic::Status;
use tonic_prost::ProstCodec;

/// The gRPC service name.
pub const SERVICE: &str = "berth.swarm.v1.Swarm";
const MAX_MESSAGE: usize = 64 << 20;

/// A request or reply: one JSON document.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    /// The JSON body.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// `Join`: a node with a token asks for a certificate and a place in the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The join token (decides the role).
    pub token: String,
    /// The node's public key (SubjectPublicKeyInfo DER); its private key never leaves it.
    pub public_key_der: Vec<u8>,
    /// The node's hostname.
    pub hostname: String,
    /// The swarm address it advertises (`host:port`).
    pub advertise_addr: String,
    /// `--availability` (absent: active).
    #[serde(default)]
    pub availability: Option<bollard_stubs::models::NodeSpecAvailabilityEnum>,
}

/// The answer to `Join`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinReply {
    /// The new node's id.
    pub node_id: String,
    /// The cluster id.
    pub cluster_id: String,
    /// Whether it joins as a manager.
    pub manager: bool,
    /// Its certificate.
    pub cert_pem: String,
    /// The cluster CA.
    pub ca_pem: String,
    /// Its Raft member id, for managers.
    pub raft_id: Option<u64>,
    /// The managers' swarm addresses.
    pub managers: Vec<String>,
}

/// `AddManager`: a joined manager whose Raft server is up asks to become a voter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddManagerRequest {
    /// Its node id (must match its certificate).
    pub node_id: String,
}

/// `Session`: a node's heartbeat and long poll for its assignments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRequest {
    /// The node id (must match its certificate).
    pub node_id: String,
    /// The assignment version it holds; the call waits until it changes or a heartbeat is due.
    pub known: u64,
    /// Docker's `NodeDescription`.
    pub description: NodeDescription,
    /// The node's address as it wants others to see it.
    pub addr: String,
    /// Its swarm address (`host:port`), where it would serve Raft once promoted.
    #[serde(default)]
    pub advertise: String,
    /// It keeps its list when a reply says `unchanged` (a node of an earlier release, which
    /// does not say so, would read that reply's empty list as "run nothing").
    #[serde(default)]
    pub takes_unchanged: bool,
}

/// The answer to `Session`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionReply {
    /// The version of `tasks`.
    pub version: u64,
    /// Every task assigned to the node: shared with the store, not copied (1,000 sessions
    /// answering after each batch of a rolling update spent 8% of the leader's CPU
    /// copying tasks only to encode them).
    pub tasks: Vec<Arc<Object>>,
    /// Call again within this period.
    pub heartbeat_ms: u64,
    /// The managers' swarm addresses.
    pub managers: Vec<String>,
    /// The node's role and availability as the cluster sees them.
    pub node: Option<Object>,
    /// The endpoints on other nodes of the overlay networks its tasks use.
    #[serde(default)]
    pub peers: Vec<crate::peers::NetworkPeers>,
    /// The data of the secrets and configs its live tasks use (and of no other).
    #[serde(default)]
    pub secrets: Vec<crate::delivery::SecretPayload>,
    /// Nothing changed since the version the node holds (a heartbeat's answer): `tasks`,
    /// `peers` and `secrets` are left empty, and the node keeps its own. Only to a node that
    /// `takes_unchanged`.
    #[serde(default)]
    pub unchanged: bool,
}

/// `Report`: observed task states.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportRequest {
    /// The reporting node.
    pub node_id: String,
    /// (task id, Docker `TaskStatus`).
    pub updates: Vec<(String, crate::model::TaskStatus)>,
}

/// `Renew`: a node asks for a new certificate for its current role (renewal, promotion,
/// demotion); the private key stays on the node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenewRequest {
    /// The node id (must match its certificate).
    pub node_id: String,
    /// The public key to certify (SubjectPublicKeyInfo DER).
    pub public_key_der: Vec<u8>,
}

/// The answer to `Renew`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenewReply {
    /// The new certificate.
    pub cert_pem: String,
    /// The cluster CA.
    pub ca_pem: String,
    /// Whether the node is a manager now.
    pub manager: bool,
    /// Its Raft member id, for managers.
    pub raft_id: Option<u64>,
    /// The managers' swarm addresses.
    pub managers: Vec<String>,
}

/// `Attachment`: a node's standalone container and an attachable overlay network (workers have
/// no store to read or write them in; managers answer from theirs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachmentRequest {
    /// The asking node (must match its certificate).
    pub node_id: String,
    /// What it asks.
    pub op: AttachmentOp,
}

/// What an `Attachment` call asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum AttachmentOp {
    /// The network `key` (id, name or prefix), refused unless attachable; address unspecified.
    Lookup { key: String },
    /// An address on network `key` for container (`container_id`, `name`) of the node.
    Attach {
        key: String,
        container_id: String,
        name: String,
    },
    /// Gives the container's address on `network_id` back.
    Detach {
        network_id: String,
        container_id: String,
    },
}

/// The calls a manager answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// See `JoinRequest`.
    Join,
    /// See `AddManagerRequest`.
    AddManager,
    /// See `SessionRequest`.
    Session,
    /// See `ReportRequest`.
    Report,
    /// See `RenewRequest`.
    Renew,
    /// See `AttachmentRequest`.
    Attachment,
}

impl Method {
    const ALL: [Method; 6] = [
        Self::Join,
        Self::AddManager,
        Self::Session,
        Self::Report,
        Self::Renew,
        Self::Attachment,
    ];

    /// The HTTP/2 path.
    pub fn path(self) -> &'static str {
        match self {
            Self::Join => "/berth.swarm.v1.Swarm/Join",
            Self::AddManager => "/berth.swarm.v1.Swarm/AddManager",
            Self::Session => "/berth.swarm.v1.Swarm/Session",
            Self::Report => "/berth.swarm.v1.Swarm/Report",
            Self::Renew => "/berth.swarm.v1.Swarm/Renew",
            Self::Attachment => "/berth.swarm.v1.Swarm/Attachment",
        }
    }

    fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.path() == path)
    }
}

/// What answers the calls (the manager). `certs` are the caller's TLS certificates.
pub trait Handler: Send + Sync + 'static {
    /// Answers one call.
    fn handle(
        &self,
        method: Method,
        data: Vec<u8>,
        certs: Vec<CertificateDer<'static>>,
    ) -> BoxFuture<Vec<u8>, Status>;
}

/// The service; its handler is set once the manager exists (the server starts before it).
#[derive(Clone, Default)]
pub struct SwarmService {
    handler: Arc<OnceLock<Arc<dyn Handler>>>,
}

impl SwarmService {
    /// Sets the handler; later calls are ignored.
    pub fn set_handler(&self, handler: Arc<dyn Handler>) {
        let _ = self.handler.set(handler);
    }
}

struct Call {
    service: SwarmService,
    method: Method,
}

impl UnaryService<Payload> for Call {
    type Response = Payload;
    type Future = BoxFuture<tonic::Response<Payload>, Status>;

    fn call(&mut self, request: tonic::Request<Payload>) -> Self::Future {
        let handler = self.service.handler.get().cloned();
        let method = self.method;
        let certs = request
            .peer_certs()
            .map(|c| c.as_ref().clone())
            .unwrap_or_default();
        Box::pin(async move {
            let Some(handler) = handler else {
                return Err(Status::unavailable("the manager is starting"));
            };
            let data = handler
                .handle(method, request.into_inner().data, certs)
                .await?;
            Ok(tonic::Response::new(Payload { data }))
        })
    }
}

impl<B> Service<http::Request<B>> for SwarmService
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let Some(method) = Method::from_path(req.uri().path()) else {
            let path = req.uri().path().to_owned();
            return Box::pin(async move { Ok(Status::unimplemented(path).into_http()) });
        };
        let call = Call {
            service: self.clone(),
            method,
        };
        Box::pin(async move {
            let codec = ProstCodec::<Payload, Payload>::default();
            let mut grpc = tonic::server::Grpc::new(codec)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE);
            Ok(grpc.unary(call, req).await)
        })
    }
}

impl NamedService for SwarmService {
    const NAME: &'static str = SERVICE;
}

/// Decodes a request body.
pub fn decode<T: DeserializeOwned>(data: &[u8]) -> Result<T, Status> {
    serde_json::from_slice(data).map_err(|e| Status::invalid_argument(format!("bad request: {e}")))
}

/// Encodes a reply body.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Status> {
    serde_json::to_vec(value).map_err(|e| Status::internal(format!("encode reply: {e}")))
}

/// The prefix of the error a follower manager answers dispatcher calls with; the leader's
/// address follows it.
pub const NOT_LEADER: &str = "not the leader; leader at ";

/// Calls `method` on `channel`, failing after `timeout`.
pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
    channel: Channel,
    method: Method,
    request: &Req,
    timeout: Duration,
) -> Result<Resp, Status> {
    let data = encode(request)?;
    let fut = async move {
        let mut grpc = tonic::client::Grpc::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(format!("connect: {e}")))?;
        let path = PathAndQuery::from_static(method.path());
        let codec = ProstCodec::<Payload, Payload>::default();
        grpc.unary(tonic::Request::new(Payload { data }), path, codec)
            .await
            .map(|r| r.into_inner().data)
    };
    let reply = tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| Status::deadline_exceeded(format!("no answer within {timeout:?}")))??;
    serde_json::from_slice(&reply).map_err(|e| Status::internal(format!("bad reply: {e}")))
}
