//! The server side of the transport: a hand-written tonic service that decodes each request,
//! hands it to the local openraft instance, and encodes the result (success or openraft's
//! error) for the caller. It never forwards: the caller follows `ForwardToLeader` itself.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::net::TcpListener;
use tonic::codegen::{http, BoxFuture, Service, StdError};
use tonic::server::{NamedService, UnaryService};
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{CertificateDer, Server, ServerTlsConfig};
use tonic::Status;
use tonic_prost::ProstCodec;

use super::proto::{MembershipRequest, Method, Payload, PeerStatus, SERVICE};
use super::tls::TlsConfig;
use crate::client::membership_committed;
use crate::codec::{decode, encode};
use crate::error::RaftError;
use crate::proposer::{Proposer, WriteReply};
use crate::types::Raft;

/// Largest message accepted: an AppendEntries batch or a snapshot chunk.
pub(crate) const MAX_MESSAGE: usize = 64 << 20;

/// The gRPC service in front of one openraft instance.
#[derive(Clone)]
struct RaftService {
    raft: Raft,
    proposer: Proposer,
    authorize: Option<Authorizer>,
}

/// Decides whether a caller may use the Raft service, given the certificates it presented
/// (empty when it presented none). Used when the port also serves callers without a member
/// certificate, so the TLS handshake alone cannot refuse them.
pub type Authorizer = Arc<dyn Fn(&[CertificateDer<'static>]) -> bool + Send + Sync>;

/// Serving the Raft service beside other services on one port: the TLS configuration of that
/// port, the other services, and who may call Raft.
pub struct SharedServer {
    /// The port's TLS (may accept clients without certificates).
    pub tls: ServerTlsConfig,
    /// The other services on the port.
    pub routes: Routes,
    /// Who may call the Raft service.
    pub authorize: Authorizer,
}

impl std::fmt::Debug for SharedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedServer").finish_non_exhaustive()
    }
}

fn reply<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Status> {
    encode(value).map_err(|e| Status::internal(format!("encode reply: {e}")))
}

fn request<T: serde::de::DeserializeOwned>(what: &'static str, data: &[u8]) -> Result<T, Status> {
    decode(what, data).map_err(|e| Status::invalid_argument(e.to_string()))
}

impl RaftService {
    async fn handle(&self, method: Method, data: &[u8]) -> Result<Vec<u8>, Status> {
        let raft = &self.raft;
        match method {
            Method::AppendEntries => {
                reply(&raft.append_entries(request("append entries", data)?).await)
            }
            Method::Vote => reply(&raft.vote(request("vote", data)?).await),
            Method::InstallSnapshot => reply(
                &raft
                    .install_snapshot(request("snapshot chunk", data)?)
                    .await,
            ),
            Method::Write => {
                let written: WriteReply = self.proposer.propose(request("write", data)?).await;
                reply(&written)
            }
            Method::ReadIndex => {
                let read = raft.get_read_log_id().await.map(|(read, _applied)| read);
                reply(&read)
            }
            Method::Status => {
                let metrics = raft.metrics();
                let m = metrics.borrow();
                reply(&PeerStatus {
                    id: m.id,
                    leader: m.current_leader,
                })
            }
            Method::ChangeMembership => {
                let written = match request("membership change", data)? {
                    MembershipRequest::AddLearner { id, node } => {
                        raft.add_learner(id, node, true).await
                    }
                    MembershipRequest::Change { changes, retain } => {
                        raft.change_membership(changes, retain).await
                    }
                };
                let written: WriteReply = written.map(membership_committed);
                reply(&written)
            }
        }
    }
}

/// One call of one method, as tonic's unary machinery wants it.
struct Call {
    service: RaftService,
    method: Method,
}

impl UnaryService<Payload> for Call {
    type Response = Payload;
    type Future = BoxFuture<tonic::Response<Payload>, Status>;

    fn call(&mut self, request: tonic::Request<Payload>) -> Self::Future {
        let service = self.service.clone();
        let method = self.method;
        if let Some(authorize) = &service.authorize {
            let certs = request.peer_certs();
            if !authorize(certs.as_deref().map_or(&[], |c| c.as_slice())) {
                return Box::pin(async {
                    Err(Status::permission_denied(
                        "the raft service needs a manager certificate of this cluster",
                    ))
                });
            }
        }
        Box::pin(async move {
            let data = service.handle(method, &request.into_inner().data).await?;
            Ok(tonic::Response::new(Payload { data }))
        })
    }
}

impl<B> Service<http::Request<B>> for RaftService
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

impl NamedService for RaftService {
    const NAME: &'static str = SERVICE;
}

/// Serves `raft` (writes through `proposer`) on `listener` until `shutdown` completes: alone
/// over mutual TLS, or beside `shared`'s services with its TLS and authorizer.
pub async fn serve(
    listener: TcpListener,
    tls: TlsConfig,
    shared: Option<SharedServer>,
    raft: Raft,
    proposer: Proposer,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RaftError> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let fail = |e: &dyn std::fmt::Display| RaftError::Serve {
        addr: addr.clone(),
        message: e.to_string(),
    };
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let (server_tls, routes, authorize) = match shared {
        Some(s) => (s.tls, s.routes, Some(s.authorize)),
        None => (tls.server(), Routes::default(), None),
    };
    let routes = routes.add_service(RaftService {
        raft,
        proposer,
        authorize,
    });
    Server::builder()
        .tls_config(server_tls)
        .map_err(|e| fail(&e))?
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| fail(&e))
}
