//! The raft crate's errors: `ApplyError` (a command the state machine refused; it travels in the
//! replicated response, so it is serde) and `RaftError` (what callers of the node API see). No
//! status codes here: the API edge maps `RaftError::kind()`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::objects::ObjectKind;

/// Why `ClusterState::apply` refused a transaction. Nothing of the transaction was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ApplyError {
    /// An update or delete named a version that is no longer current (optimistic concurrency).
    #[error("update out of sequence: {kind} {id} is at version {current}, not {expected}")]
    Conflict {
        /// Kind of the object.
        kind: ObjectKind,
        /// Its id.
        id: String,
        /// The version the caller read.
        expected: u64,
        /// The version the store holds.
        current: u64,
    },
    /// The object does not exist.
    #[error("no such {kind}: {id}")]
    NotFound {
        /// Kind of the object.
        kind: ObjectKind,
        /// Its id.
        id: String,
    },
    /// An object with this id already exists.
    #[error("{kind} {id} already exists")]
    AlreadyExists {
        /// Kind of the object.
        kind: ObjectKind,
        /// Its id.
        id: String,
    },
    /// Another object of the kind already has this name.
    #[error("{kind} name {name} is already in use by {id}")]
    NameInUse {
        /// Kind of the object.
        kind: ObjectKind,
        /// The contested name.
        name: String,
        /// The object holding it.
        id: String,
    },
    /// A Raft member id that was used once is never given out again.
    #[error("raft member id {id} was used before and is retired")]
    MemberIdRetired {
        /// The refused id.
        id: u64,
    },
}

/// Coarse classes of `RaftError`, for the one place that maps errors to status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaftErrorKind {
    /// The request itself is wrong.
    InvalidArgument,
    /// A named object is missing.
    NotFound,
    /// Optimistic concurrency or uniqueness refused the request.
    Conflict,
    /// No quorum, no leader, a peer unreachable, or a deadline passed: try again later.
    Unavailable,
    /// Storage or a bug.
    Internal,
}

/// Errors of the replicated store.
#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    /// The state machine refused the command.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// sled failed.
    #[error("raft storage at {path}: {source}")]
    Storage {
        /// The data directory.
        path: String,
        /// The sled error.
        source: sled::Error,
    },
    /// A stored or received record did not decode.
    #[error("cannot decode {what}: {message}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's message.
        message: String,
    },
    /// A record was written by a newer release than this one.
    #[error("{what} has format version {found}; this build reads up to {supported}")]
    UnsupportedFormat {
        /// What was being decoded.
        what: &'static str,
        /// Its format version.
        found: u32,
        /// The newest format this build knows.
        supported: u32,
    },
    /// No leader is known, or the leader cannot reach a quorum.
    #[error("raft unavailable: {reason}")]
    Unavailable {
        /// Why.
        reason: String,
    },
    /// The operation did not finish in time; a write may still commit later.
    #[error("{what} did not finish within {after:?}; a write may still be applied later")]
    Timeout {
        /// The operation.
        what: &'static str,
        /// The deadline that passed.
        after: Duration,
    },
    /// A peer could not be reached or answered with a transport error.
    #[error("raft peer {peer}: {message}")]
    Transport {
        /// The peer's address.
        peer: String,
        /// What went wrong.
        message: String,
    },
    /// TLS material was unusable.
    #[error("tls: {0}")]
    Tls(String),
    /// The configuration contradicts itself.
    #[error("invalid raft config: {0}")]
    InvalidConfig(String),
    /// A membership change was refused.
    #[error("membership change refused: {0}")]
    Membership(String),
    /// openraft failed fatally (storage failure or shutdown).
    #[error("raft stopped: {0}")]
    Fatal(String),
    /// Binding or serving the raft port failed.
    #[error("raft server on {addr}: {message}")]
    Serve {
        /// The listen address.
        addr: String,
        /// What failed.
        message: String,
    },
}

impl RaftError {
    /// The class of the error, for status-code mapping at the API edge.
    pub fn kind(&self) -> RaftErrorKind {
        match self {
            Self::Apply(ApplyError::NotFound { .. }) => RaftErrorKind::NotFound,
            Self::Apply(_) => RaftErrorKind::Conflict,
            Self::Membership(_) | Self::InvalidConfig(_) => RaftErrorKind::InvalidArgument,
            Self::Unavailable { .. } | Self::Timeout { .. } | Self::Transport { .. } => {
                RaftErrorKind::Unavailable
            }
            Self::Storage { .. }
            | Self::Decode { .. }
            | Self::UnsupportedFormat { .. }
            | Self::Tls(_)
            | Self::Fatal(_)
            | Self::Serve { .. } => RaftErrorKind::Internal,
        }
    }

    pub(crate) fn decode(what: &'static str, e: impl std::fmt::Display) -> Self {
        Self::Decode {
            what,
            message: e.to_string(),
        }
    }
}
