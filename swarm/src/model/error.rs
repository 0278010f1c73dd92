//! A stored object that does not read as its kind's shape.

use berth_raft::{Object, ObjectKind};

/// A malformed object in the cluster store: which one and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("malformed {kind} {id} in the cluster store: {reason}")]
pub struct ModelError {
    /// The object's kind.
    pub kind: ObjectKind,
    /// The object's id.
    pub id: String,
    /// What did not parse.
    pub reason: String,
}

impl ModelError {
    /// The error for `object`, saying what is wrong.
    pub fn of(object: &Object, reason: impl std::fmt::Display) -> Self {
        ModelError {
            kind: object.kind(),
            id: object.id.clone(),
            reason: reason.to_string(),
        }
    }
}
