//! TLS for joining and for cluster calls. A joining node has no CA yet, only the join token's CA
//! digest: [`pinned_channel`] accepts a manager only if the chain it presents holds a CA whose
//! digest is the token's and the manager's certificate verifies against that CA as
//! "swarm-manager". Servers use [`server_tls_optional_client`], members [`client_tls`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig, Uri,
};

use super::error::error_chain;
use super::{ca_digest, cert_pem_from_der, CaError, MANAGER_NAME};

/// How long [`pinned_channel`] waits for the TCP connection and TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// The CA a manager presented to [`pinned_channel`], which matched the token: store it as the
/// cluster's CA after joining.
#[derive(Debug, Clone)]
pub struct PinnedCa {
    der: Vec<u8>,
    pem: String,
}

impl PinnedCa {
    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The CA certificate, DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

/// Connects to the manager at `addr` (`host:port`) over TLS pinned to the CA digest `digest`
/// (from the join token), without a client certificate. The returned channel keeps the pin when
/// it reconnects. A manager whose chain holds no CA with that digest fails with
/// [`CaError::FingerprintMismatch`]; other failures are [`CaError::Connect`].
pub async fn pinned_channel(addr: &str, digest: &str) -> Result<(Channel, PinnedCa), CaError> {
    let server_name =
        ServerName::try_from(MANAGER_NAME).map_err(|e| CaError::Tls(e.to_string()))?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedVerifier {
        digest: digest.to_owned(),
        provider: provider.clone(),
        server_name: server_name.clone(),
        seen: seen.clone(),
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CaError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = TlsConnector::from(Arc::new(config));

    let target = addr.to_owned();
    let connect = tower::service_fn(move |_: Uri| {
        let connector = connector.clone();
        let target = target.clone();
        let server_name = server_name.clone();
        async move {
            let tcp = TcpStream::connect(&target).await?;
            tcp.set_nodelay(true)?;
            let tls = connector.connect(server_name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    let failed = |reason: String| CaError::Connect {
        addr: addr.to_owned(),
        reason,
    };
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| failed(error_chain(&e)))?
        .connect_timeout(CONNECT_TIMEOUT)
        .connect_with_connector(connect)
        .await;
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    match (channel, seen.ca) {
        (Ok(channel), Some(der)) => Ok((
            channel,
            PinnedCa {
                pem: cert_pem_from_der(&der),
                der,
            },
        )),
        (Ok(_), None) => Err(failed("the server presented no CA".to_owned())),
        (Err(_), _) if seen.mismatch => Err(CaError::FingerprintMismatch {
            expected: digest.to_owned(),
        }),
        (Err(e), _) => Err(failed(error_chain(&e))),
    }
}

/// The server side: serves `cert_pem` followed by `ca_pem` as its chain (so joining nodes can
/// pin the CA), and asks clients for a certificate from `ca_pem` without requiring one (joining
/// nodes have none). A client certificate from another CA fails the handshake. Handlers check
/// who the peer is with [`peer_has_name`](super::peer_has_name) on the request's peer
/// certificates. `cert_pem` is the leaf alone.
pub fn server_tls_optional_client(cert_pem: &str, key_pem: &str, ca_pem: &str) -> ServerTlsConfig {
    install_ring_provider();
    let chain = format!("{}\n{}\n", cert_pem.trim_end(), ca_pem.trim_end());
    ServerTlsConfig::new()
        .identity(Identity::from_pem(chain, key_pem))
        .client_ca_root(Certificate::from_pem(ca_pem))
        .client_auth_optional(true)
}

/// The client side of mutual TLS between members: presents `cert_pem` and trusts only a server
/// certificate from `ca_pem` valid for "swarm-manager". Use with an `https://host:port` endpoint.
pub fn client_tls(cert_pem: &str, key_pem: &str, ca_pem: &str) -> ClientTlsConfig {
    install_ring_provider();
    ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .identity(Identity::from_pem(cert_pem, key_pem))
        .domain_name(MANAGER_NAME)
}

/// tonic's server TLS builds its rustls config with the process-wide provider; berth uses ring.
/// Installing is idempotent: a provider already installed stays.
fn install_ring_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// What the pinned verifier saw during the last handshake.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// The presented CA that matched the digest.
    ca: Option<Vec<u8>>,
    /// The presented chain held no CA with the digest.
    mismatch: bool,
}

/// Accepts a server whose chain holds the pinned CA and whose leaf verifies against it.
#[derive(Debug)]
struct PinnedVerifier {
    digest: String,
    provider: Arc<CryptoProvider>,
    /// The name the leaf must carry: "swarm-manager".
    server_name: ServerName<'static>,
    seen: Arc<Mutex<Seen>>,
}

impl PinnedVerifier {
    fn record(&self, seen: Seen) {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = seen;
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(ca) = intermediates
            .iter()
            .find(|cert| ca_digest(cert.as_ref()) == self.digest)
        else {
            self.record(Seen {
                ca: None,
                mismatch: true,
            });
            let err = CaError::FingerprintMismatch {
                expected: self.digest.clone(),
            };
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(err)),
            )));
        };
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        webpki.verify_server_cert(
            end_entity,
            intermediates,
            &self.server_name,
            ocsp_response,
            now,
        )?;
        self.record(Seen {
            ca: Some(ca.to_vec()),
            mismatch: false,
        });
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
#[path = "pinned_tests.rs"]
mod tests;
