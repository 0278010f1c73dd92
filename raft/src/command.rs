//! What goes through the log: `ClusterCommand` (one atomic transaction of object operations,
//! stamped with the proposer's clock so every replica applies the same times) and what comes
//! back, `ClusterResponse`. Data only; applying lives in `state.rs`.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
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
///
/// It holds its transactions, its JSON, or both, each made from the other on first use and
/// kept: the leader encodes an entry once for its own log and every follower; a follower
/// writes the bytes it received to its log without encoding them again; and an entry read
/// back from the log only to be sent (a new leader probing a follower's log) is never
/// decoded at all. Encoded as a plain sequence of transactions either way.
#[derive(Debug, Clone)]
pub struct Proposal {
    forms: Arc<Forms>,
}

/// The two forms of a proposal; at least one is always set.
#[derive(Debug, Default)]
struct Forms {
    txns: OnceLock<Vec<ClusterCommand>>,
    encoded: OnceLock<Box<RawValue>>,
}

impl Proposal {
    /// A proposal of `txns`.
    pub fn new(txns: Vec<ClusterCommand>) -> Self {
        Self {
            forms: Arc::new(Forms {
                txns: OnceLock::from(txns),
                encoded: OnceLock::new(),
            }),
        }
    }

    /// The transactions, in the order they were proposed; decoded on first use for a
    /// proposal that was read or received encoded.
    pub fn txns(&self) -> Result<&[ClusterCommand], serde_json::Error> {
        if let Some(txns) = self.forms.txns.get() {
            return Ok(txns);
        }
        let encoded = self.forms.encoded.get().map_or("[]", |raw| raw.get());
        let txns: Vec<ClusterCommand> = serde_json::from_str(encoded)?;
        Ok(self.forms.txns.get_or_init(|| txns))
    }
}

impl PartialEq for Proposal {
    fn eq(&self, other: &Self) -> bool {
        match (self.txns(), other.txns()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

impl Serialize for Proposal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(raw) = self.forms.encoded.get() {
            return raw.serialize(serializer);
        }
        let txns = self.txns().map_err(serde::ser::Error::custom)?;
        match serde_json::value::to_raw_value(txns) {
            Ok(raw) => self.forms.encoded.get_or_init(|| raw).serialize(serializer),
            Err(e) => Err(serde::ser::Error::custom(e)),
        }
    }
}

impl<'de> Deserialize<'de> for Proposal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Checked to be JSON here; checked to be transactions when first used.
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(Self {
            forms: Arc::new(Forms {
                txns: OnceLock::new(),
                encoded: OnceLock::from(raw),
            }),
        })
    }
}

/// Serde for `Arc<T>` as a plain `T` (serde's own needs its `rc` feature, which would rebuild
/// every crate that uses serde).
mod shared {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<T: Serialize, S: Serializer>(
        value: &Arc<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_ref().serialize(serializer)
    }

    pub(super) fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Arc<T>, D::Error> {
        T::deserialize(deserializer).map(Arc::new)
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
    /// The object after the change (before it, for a delete). Shared with the store and with
    /// every watcher's event: a write copies its object once, not once per reader.
    #[serde(with = "shared")]
    pub object: Arc<Object>,
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::codec::{decode, encode};

    fn proposal() -> Proposal {
        Proposal::new(vec![ClusterCommand::single(Op::Create {
            id: "c1".into(),
            attrs: Attrs::Config { name: "c1".into() },
            spec: json!({"Name": "c1", "Data": [1, 2]}),
            status: Value::Null,
        })])
    }

    #[test]
    fn a_proposal_is_encoded_as_a_plain_sequence_of_transactions() {
        let p = proposal();
        let plain = encode(p.txns().unwrap()).unwrap();
        assert_eq!(encode(&p).unwrap(), plain);
        // Twice: the second encoding comes from the kept bytes.
        assert_eq!(encode(&p).unwrap(), plain);
        let back: Proposal = decode("proposal", &plain).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn a_received_proposal_is_written_as_it_arrived() {
        let p = proposal();
        let txns = encode(p.txns().unwrap()).unwrap();
        // Spacing the encoder would not produce: only the kept bytes give it back.
        let inner = std::str::from_utf8(&txns[2..txns.len() - 1]).unwrap();
        let mut bytes = vec![txns[0]];
        bytes.extend_from_slice(format!("[ {inner} ]").as_bytes());
        let received: Proposal = decode("proposal", &bytes).unwrap();
        assert_eq!(received, p);
        assert_eq!(encode(&received).unwrap(), bytes);
    }

    #[test]
    fn a_received_proposal_is_decoded_only_when_its_transactions_are_used() {
        // JSON, but not transactions: passing it on never looks inside.
        let mut bytes = vec![crate::codec::FORMAT];
        bytes.extend_from_slice(br#"[{"not":"a transaction"}]"#);
        let received: Proposal = decode("proposal", &bytes).unwrap();
        assert_eq!(encode(&received).unwrap(), bytes);
        assert!(received.txns().is_err());
        // Not JSON at all is refused at once.
        let mut broken = vec![crate::codec::FORMAT];
        broken.extend_from_slice(b"[{");
        assert!(decode::<Proposal>("proposal", &broken).is_err());
    }
}
