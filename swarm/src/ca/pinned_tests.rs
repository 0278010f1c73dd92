//! Loopback end to end: a tonic server with the cluster's server TLS, joined with a pinned
//! channel and called with member TLS.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::body::Body;
use tonic::codegen::http;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic::Code;
use tower::{Service, ServiceExt as _};

use super::super::{cert_der_from_pem, CertRole, NodeKey, RootCa};
use super::*;

/// A gRPC service that answers every call with Unimplemented.
#[derive(Clone)]
struct Nothing;

impl tonic::server::NamedService for Nothing {
    const NAME: &'static str = "berth.test.Nothing";
}

impl Service<http::Request<Body>> for Nothing {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<Body>) -> Self::Future {
        std::future::ready(Ok(tonic::Status::unimplemented("nothing here").into_http()))
    }
}

/// A certificate and key issued by `ca`.
fn member(ca: &RootCa, id: &str, role: CertRole) -> (String, String) {
    let key = NodeKey::generate().unwrap();
    let cert = ca
        .issue(
            id,
            role,
            &key.public_key_der(),
            "cluster",
            Duration::from_secs(3600),
        )
        .unwrap();
    (cert, key.key_pem())
}

/// Serves [`Nothing`] on 127.0.0.1 with a manager certificate from `ca`; returns `host:port`.
fn serve(ca: &RootCa) -> String {
    let (cert, key) = member(ca, "manager1", CertRole::Manager);
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = incoming.local_addr().unwrap();
    let server = Server::builder()
        .tls_config(server_tls_optional_client(&cert, &key, ca.cert_pem()))
        .unwrap()
        .add_service(Nothing);
    tokio::spawn(server.serve_with_incoming(incoming));
    addr.to_string()
}

/// One unary call; the gRPC status code it got, or the transport error.
async fn call(channel: Channel) -> Result<Code, String> {
    let request = http::Request::builder()
        .method("POST")
        .uri("/berth.test.Nothing/Ping")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Body::empty())
        .unwrap();
    let response = channel
        .oneshot(request)
        .await
        .map_err(|e| error_chain(&e))?;
    Ok(tonic::Status::from_header_map(response.headers()).map_or(Code::Ok, |s| s.code()))
}

/// A mutual-TLS call to `addr` as a member holding `cert`/`key` and trusting `ca_pem`.
async fn member_call(addr: &str, cert: &str, key: &str, ca_pem: &str) -> Result<Code, String> {
    let channel = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(client_tls(cert, key, ca_pem))
        .unwrap()
        .connect()
        .await
        .map_err(|e| error_chain(&e))?;
    call(channel).await
}

#[tokio::test]
async fn a_pinned_channel_reaches_the_manager_whose_ca_the_token_names() {
    let ca = RootCa::generate().unwrap();
    let addr = serve(&ca);
    let (channel, pinned) = pinned_channel(&addr, &ca.digest()).await.unwrap();
    assert_eq!(pinned.der(), ca.cert_der());
    assert_eq!(cert_der_from_pem(pinned.pem()).unwrap(), ca.cert_der());
    assert_eq!(call(channel).await, Ok(Code::Unimplemented));
}

#[tokio::test]
async fn a_pinned_channel_refuses_a_manager_with_another_ca() {
    let ca = RootCa::generate().unwrap();
    let other = RootCa::generate().unwrap();
    let addr = serve(&ca);
    let err = pinned_channel(&addr, &other.digest()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "remote CA does not match fingerprint. Expected: {}",
            other.digest()
        )
    );
}

#[tokio::test]
async fn a_pinned_channel_to_nothing_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = pinned_channel(&addr, &"0".repeat(50)).await.unwrap_err();
    assert!(matches!(err, CaError::Connect { .. }), "{err}");
    assert!(err.to_string().starts_with(&format!("connect to {addr}: ")));
}

#[tokio::test]
async fn members_of_the_ca_call_with_mutual_tls_and_strangers_are_refused() {
    let ca = RootCa::generate().unwrap();
    let addr = serve(&ca);
    for role in [CertRole::Manager, CertRole::Worker] {
        let (cert, key) = member(&ca, "node2", role);
        let got = member_call(&addr, &cert, &key, ca.cert_pem()).await;
        assert_eq!(got, Ok(Code::Unimplemented), "{role}");
    }

    let other = RootCa::generate().unwrap();
    let (cert, key) = member(&other, "node2", CertRole::Manager);
    // The stranger trusts our CA but presents a certificate from its own: the server refuses it.
    let got = member_call(&addr, &cert, &key, ca.cert_pem()).await;
    assert!(got.is_err(), "{got:?}");
    // A member that trusts another CA refuses our server.
    let (cert, key) = member(&ca, "node3", CertRole::Worker);
    let got = member_call(&addr, &cert, &key, other.cert_pem()).await;
    assert!(got.is_err(), "{got:?}");
}
