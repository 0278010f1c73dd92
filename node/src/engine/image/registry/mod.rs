//! Talking to registries (the OCI distribution protocol through `oci-client`): the daemon's
//! registry settings, credentials, platforms, manifests, a connected [`Session`], and the v1
//! search API (`search.rs`). Knows nothing of the image store; `pull.rs` and `push.rs` join
//! the two.

mod config;
mod manifest;
mod search;
mod session;

pub use config::RegistryConfig;
pub use manifest::{
    select_platform, Descriptor, Manifest, ManifestOrIndex, Platform, DOCKER_CONFIG,
    DOCKER_LAYER_GZIP, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST,
};
pub use search::{search, SearchRequest, SearchResult};
pub(crate) use session::{blob_error, error_chain};
pub use session::{Operation, Session};

/// What berthd says it is to registries and download servers.
pub(crate) const USER_AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));

/// Makes ring rustls' process-wide provider before the first HTTPS client: reqwest is built
/// without a crypto provider of its own, and ring is the workspace's choice.
pub(crate) fn install_crypto_provider() {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Credentials for one registry, as a client sent them (`X-Registry-Auth`).
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials: anonymous access, or a bearer token fetched without them.
    #[default]
    Anonymous,
    /// Username and password, sent as basic auth or traded for a bearer token.
    Basic {
        /// The user name.
        username: String,
        /// The password (or identity token).
        password: String,
    },
    /// A registry token used as the bearer token as it is.
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets into logs.
        match self {
            Credentials::Anonymous => write!(f, "Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::Bearer(_) => write!(f, "Bearer(<redacted>)"),
        }
    }
}
