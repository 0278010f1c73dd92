//! The docker CLI's context store, read and written the way the docker CLI does, so one set of
//! contexts serves both: `$DOCKER_CONFIG` (else `~/.docker`) holds `config.json`
//! (`currentContext`), `contexts/meta/<sha256 of the name>/meta.json` (name, metadata with the
//! description, endpoints) and `contexts/tls/<sha256>/<endpoint>/{ca,cert,key}.pem`. Fields and
//! endpoints berth does not use are kept as they are. Files only; no daemon, no printing.
//! `meta.rs` is one context's `meta.json`, `store.rs` the directories and config.json.

mod meta;
mod store;

pub use meta::{validate_name, Context, DockerEndpoint};
pub use store::Store;

/// The implicit context: the host and TLS settings of flags and environment.
pub const DEFAULT_CONTEXT: &str = "default";
/// The endpoint berth (and docker) connects through.
pub const DOCKER_ENDPOINT: &str = "docker";

/// An endpoint's TLS material: (file name, PEM bytes), of `ca.pem`, `cert.pem`, `key.pem`.
pub type TlsFiles = Vec<(String, Vec<u8>)>;
