//! The CA's error type. Messages are one line; the pinned-join mismatch copies swarmkit's wording.

/// Everything the cluster CA, join tokens and join TLS can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// rcgen refused to generate a key or sign a certificate.
    #[error("generate certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM input (`what` names it: "CA certificate", "node key", ...) did not parse.
    #[error("invalid {what}: {reason}")]
    InvalidPem {
        /// Which input was wrong.
        what: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// A certificate parsed but is not what the cluster issues.
    #[error("invalid certificate: {0}")]
    InvalidCert(String),
    /// The CA key given to [`RootCa::from_pem`](super::RootCa::from_pem) is not the certificate's.
    #[error("the CA key does not match the CA certificate")]
    KeyMismatch,
    /// A node's public key (SubjectPublicKeyInfo DER) did not parse.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
    /// A node id or cluster id that cannot go into a certificate.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidName {
        /// "node id" or "cluster id".
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A certificate's organizational unit is neither `swarm-manager` nor `swarm-worker`.
    #[error("certificate has unknown role {0:?}")]
    UnknownRole(String),
    /// A join token that does not parse; Docker's message, then what is wrong.
    #[error("invalid join token: {0}")]
    InvalidToken(String),
    /// The joined manager's CA is not the one the join token names.
    #[error("remote CA does not match fingerprint. Expected: {expected}")]
    FingerprintMismatch {
        /// The CA digest from the join token.
        expected: String,
    },
    /// Building a TLS configuration failed.
    #[error("tls: {0}")]
    Tls(String),
    /// The connection to a manager failed (TCP, TLS or HTTP/2); `reason` is the whole error chain.
    #[error("connect to {addr}: {reason}")]
    Connect {
        /// The `host:port` dialed.
        addr: String,
        /// The error and its sources, joined with ": ".
        reason: String,
    },
}

/// `err` and its sources on one line, each joined with ": " (tonic's transport errors keep the
/// useful part in their sources).
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(next) = source {
        let text = next.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = next.source();
    }
    line
}
