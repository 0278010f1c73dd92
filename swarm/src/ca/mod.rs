//! The cluster certificate authority (Docker swarm semantics): the root CA that signs node
//! certificates, node keys (which never leave their node), certificate inspection, join tokens
//! (`SWMTKN-1-<CA digest>-<secret>`), and the TLS used to join: a joining node knows only the
//! token's CA digest, so it pins the CA the manager presents to that digest.
//!
//! Servers present `leaf + CA` as their chain and ask for, but do not require, client
//! certificates (joining nodes have none yet); handlers decide per call with [`peer_has_name`].

mod error;
mod node_key;
mod peer_names;
mod pem;
mod pinned;
mod role;
mod root;
mod token;

pub use error::CaError;
pub use node_key::{
    cert_cluster_id, cert_node_id, cert_not_after, cert_role, cert_validity, peer_has_name,
    NodeCert, NodeKey,
};
pub use peer_names::PeerNames;
pub use pem::{cert_der_from_pem, cert_pem_from_der, tls_info};
pub use pinned::{client_tls, pinned_channel, server_tls_optional_client, PinnedCa};
pub use role::{CertRole, CA_COMMON_NAME, MANAGER_NAME, WORKER_NAME};
pub use root::RootCa;
pub use token::{ca_digest, JoinToken};
