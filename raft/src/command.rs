//! What goes through the log: `ClusterCommand` (one atomic transaction of object operations,
//! stamped with the proposer's clock so every replica applies the same times) and what comes
//! back, `ClusterResponse`. Data only; applying lives in `state.rs`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApplyError;
use crate::objects::{Attrs, Object, ObjectKind};

/// One transaction: every operation applies, or none does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterCommand {
    /// The proposer's clock, used for `created_at`/`updated_at` on every replica.
    pub at: DateTime<Utc>,
    /// The operations, applied in order.
    pub ops: Vec<Op>,
}

impl ClusterCommand {
    /// A transaction of `ops` stamped with the local clock.
    pub fn new(ops: Vec<Op>) -> Self {
        Self {
            at: Utc::now(),
            ops,
        }
    }

    /// A transaction of one operation stamped with the local clock.
    pub fn single(op: Op) -> Self {
        Self::new(vec![op])
    }
}

/// What one Raft log entry carries: the transactions the leader batched together. Each applies
/// on its own, in order, with its own version and result. Shared, so the log's cache hands out
/// copies of an entry (for replication and apply) without copying its transactions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// The transactions, in the order they were proposed.
    #[serde(with = "shared_vec")]
    pub txns: Arc<Vec<ClusterCommand>>,
}

impl Proposal {
    /// A proposal of `txns`.
    pub fn new(txns: Vec<ClusterCommand>) -> Self {
        Self {
            txns: Arc::new(txns),
        }
    }
}

/// Serde for `Arc<Vec<T>>` as a plain sequence (serde's own needs its `rc` feature, which
/// would rebuild every crate that uses serde).
mod shared_vec {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<T: Serialize, S: Serializer>(
        value: &Arc<Vec<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_slice().serialize(serializer)
    }

    pub(super) fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Arc<Vec<T>>, D::Error> {
        Vec::deserialize(deserializer).map(Arc::new)
    }
}

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Create an object; refused if the id exists or a unique name is taken.
    Create {
        /// The new object's id.
        id: String,
        /// Its attributes (fix the kind).
        attrs: Attrs,
        /// Its spec.
        spec: Value,
        /// Its initial status.
        status: Value,
    },
    /// Replace an object's attributes, spec and status. With `expected_version`, refused with a
    /// conflict unless the object is still at that version.
    Update {
        /// The object's id.
        id: String,
        /// The version the caller read, for optimistic concurrency.
        expected_version: Option<u64>,
        /// New attributes (must keep the kind).
        attrs: Attrs,
        /// New spec.
        spec: Value,
        /// New status.
        status: Value,
    },
    /// Replace only the status (what agents report).
    UpdateStatus {
        /// Kind of the object.
        kind: ObjectKind,
        /// The object's id.
        id: String,
        /// The version the caller read, if it cares.
        expected_version: Option<u64>,
        /// New status.
        status: Value,
    },
    /// Delete an object.
    Delete {
        /// Kind of the object.
        kind: ObjectKind,
        /// The object's id.
        id: String,
        /// The version the caller read, if it cares.
        expected_version: Option<u64>,
    },
    /// Record that a Raft member id left the cluster and must never be used again.
    RetireMember {
        /// The member id.
        id: u64,
    },
}

/// Whether a change created, updated or deleted its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The object is new.
    Create,
    /// The object changed.
    Update,
    /// The object is gone; the change carries its last value.
    Delete,
}

/// One object changed by a committed transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// What happened.
    pub action: Action,
    /// The object after the change (before it, for a delete).
    pub object: Object,
}

/// The result of applying one log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ClusterResponse {
    /// The transaction applied; every changed object carries `version`.
    Applied {
        /// The store version after the transaction.
        version: u64,
        /// The changes, in operation order.
        changes: Vec<Change>,
    },
    /// The transaction was refused; nothing changed.
    Rejected {
        /// Why.
        error: ApplyError,
    },
    /// A log entry without a command (blank or membership).
    None,
}
