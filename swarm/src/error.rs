//! Swarm errors, with Docker's wording where clients read it. Each variant is a kind the API
//! maps to a status code (in berth-node's `api/error.rs`, the only place one is chosen).

use berth_raft::{RaftError, RaftErrorKind};

use crate::model::ModelError;

/// The message Docker gives on a node that is not in a swarm.
pub const NOT_IN_SWARM: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";
/// The message Docker gives on a worker.
pub const NOT_MANAGER: &str = "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";
/// The message Docker gives on a node already in a swarm.
pub const ALREADY_IN_SWARM: &str = "This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and join another one.";

/// The message Docker gives on a manager that restarted autolocked.
pub const LOCKED: &str = "Swarm is encrypted and needs to be unlocked before it can be used. Please use \"docker swarm unlock\" to unlock it.";
/// The message Docker gives for an unlock key that does not unlock.
pub const INVALID_UNLOCK_KEY: &str = "swarm could not be unlocked: invalid key";

/// What went wrong in a swarm operation.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// The node is in no swarm.
    #[error("{NOT_IN_SWARM}")]
    NotInSwarm,
    /// The node is a worker.
    #[error("{NOT_MANAGER}")]
    NotManager,
    /// `leave` on a node in no swarm.
    #[error("This node is not part of a swarm")]
    NotInSwarmToLeave,
    /// The node already is in a swarm.
    #[error("{ALREADY_IN_SWARM}")]
    AlreadyInSwarm,
    /// An autolocked manager restarted and waits for `swarm unlock`.
    #[error("{LOCKED}")]
    Locked,
    /// Bad input.
    #[error("{0}")]
    InvalidArgument(String),
    /// No such object.
    #[error("{0}")]
    NotFound(String),
    /// A version or name conflict.
    #[error("{0}")]
    Conflict(String),
    /// A change swarmkit does not make (renaming a service, changing its mode): Docker's 501.
    #[error("{0}")]
    Unimplemented(String),
    /// The cluster cannot answer now (no leader, no quorum, a peer unreachable).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl SwarmError {
    /// An internal error from anything displayable.
    pub fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        Self::Internal(format!("{context}: {e}"))
    }
}

impl From<RaftError> for SwarmError {
    fn from(e: RaftError) -> Self {
        let message = e.to_string();
        match e {
            // Never sent to a leader: certainly not applied.
            RaftError::Unavailable { reason } => Self::Unavailable(format!(
                "The swarm does not have a leader. It's possible that too few managers are \
                 online. Make sure more than half of the managers are online. ({reason})"
            )),
            // Sent, unanswered: the change may commit later; the client must not assume either.
            RaftError::Timeout { .. } | RaftError::Transport { .. } => Self::Unavailable(format!(
                "the swarm did not confirm the change: {message}; it may still be applied later, \
                 so check before retrying"
            )),
            other => match other.kind() {
                RaftErrorKind::InvalidArgument => Self::InvalidArgument(message),
                RaftErrorKind::NotFound => Self::NotFound(message),
                RaftErrorKind::Conflict => Self::Conflict(message),
                RaftErrorKind::Unavailable => Self::Unavailable(message),
                RaftErrorKind::Internal => Self::Internal(message),
            },
        }
    }
}

impl From<ModelError> for SwarmError {
    fn from(e: ModelError) -> Self {
        Self::Internal(e.to_string())
    }
}

/// A swarm result.
pub type SwarmResult<T> = std::result::Result<T, SwarmError>;
