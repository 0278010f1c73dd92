//! The wire messages: one prost message holding an encoded payload, the method names, and the
//! request bodies of the client-facing calls. Written by hand instead of generated from a
//! .proto file so that a fresh clone builds without protoc.

use serde::{Deserialize, Serialize};

use crate::types::{ChangeMembers, NodeAddr, NodeId};

/// The gRPC service name.
pub(crate) const SERVICE: &str = "berth.raft.v1.Raft";

/// Every request and response: `codec::encode` of the openraft or berth type.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Payload {
    /// The encoded body.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

/// The RPCs of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    AppendEntries,
    Vote,
    InstallSnapshot,
    /// A client write forwarded to the leader.
    Write,
    /// The leader's read index, after it confirmed its leadership with a quorum.
    ReadIndex,
    /// A membership change forwarded to the leader.
    ChangeMembership,
    /// The member's id and the leader it knows (a probe of connectivity and trust).
    Status,
}

impl Method {
    const ALL: [Method; 7] = [
        Self::AppendEntries,
        Self::Vote,
        Self::InstallSnapshot,
        Self::Write,
        Self::ReadIndex,
        Self::ChangeMembership,
        Self::Status,
    ];

    /// The HTTP/2 path of the method.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::AppendEntries => "/berth.raft.v1.Raft/AppendEntries",
            Self::Vote => "/berth.raft.v1.Raft/Vote",
            Self::InstallSnapshot => "/berth.raft.v1.Raft/InstallSnapshot",
            Self::Write => "/berth.raft.v1.Raft/Write",
            Self::ReadIndex => "/berth.raft.v1.Raft/ReadIndex",
            Self::ChangeMembership => "/berth.raft.v1.Raft/ChangeMembership",
            Self::Status => "/berth.raft.v1.Raft/Status",
        }
    }

    /// The method a request path names.
    pub(crate) fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.path() == path)
    }
}

/// A membership change sent to the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum MembershipRequest {
    /// Add a learner and wait until it caught up.
    AddLearner {
        /// The new member's id.
        id: NodeId,
        /// Its address.
        node: NodeAddr,
    },
    /// Change voters or nodes; `retain` keeps removed voters as learners.
    Change {
        /// The change.
        changes: ChangeMembers,
        /// Whether removed voters stay as learners.
        retain: bool,
    },
}

/// What a member says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// Its member id.
    pub id: NodeId,
    /// The leader it knows.
    pub leader: Option<NodeId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_is_found_by_its_path() {
        for m in Method::ALL {
            assert!(m.path().starts_with(&format!("/{SERVICE}/")));
            assert_eq!(Method::from_path(m.path()), Some(m));
        }
        assert_eq!(Method::from_path("/berth.raft.v1.Raft/Nope"), None);
    }
}
