//! Why berthd could not set up a listener; each variant names the host, path or flag at fault.

use std::path::PathBuf;

/// A listener that could not be set up. berthd prints it and exits.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A `-H` value that is not `unix://PATH` or `tcp://HOST[:PORT]`.
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost { host: String, reason: String },
    /// Unauthenticated tcp beyond loopback without `--insecure-tcp`.
    #[error("{0}")]
    Refused(String),
    /// Contradictory or incomplete TLS settings.
    #[error("{0}")]
    Settings(String),
    /// Binding or preparing a socket failed.
    #[error("listen on {host}: {source}")]
    Bind {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// A named socket group that does not exist.
    #[error("group {0} not found")]
    NoSuchGroup(String),
    /// A TLS file that could not be read or holds nothing usable.
    #[error("{flag} {}: {reason}", path.display())]
    TlsFile {
        flag: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// rustls refused the combination (for instance a key that does not match the certificate).
    #[error("invalid TLS configuration: {0}")]
    Tls(String),
}
