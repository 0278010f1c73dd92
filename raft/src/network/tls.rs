//! `TlsConfig`: the PEM material a node is given (its certificate and key, the cluster CA) and
//! the tonic TLS configurations built from it. Servers require a client certificate signed by
//! the cluster CA; clients check the server's certificate against the same CA.

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// A node's TLS material, as PEM.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// The node's certificate chain, signed by the cluster CA.
    pub cert_pem: String,
    /// The node's private key.
    pub key_pem: String,
    /// The cluster CA certificate: the only trust root, for servers and clients.
    pub ca_pem: String,
    /// The DNS name every member's certificate carries and clients check (members are dialled
    /// by address, so the name is shared rather than per host).
    pub server_name: String,
}

impl TlsConfig {
    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert_pem, &self.key_pem)
    }

    /// The server side: mutual TLS, clients must present a certificate from the cluster CA.
    pub(crate) fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity())
            .client_ca_root(Certificate::from_pem(&self.ca_pem))
    }

    /// The client side: trust only the cluster CA and present this node's certificate.
    pub(crate) fn client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(self.identity())
            .domain_name(self.server_name.clone())
    }
}
