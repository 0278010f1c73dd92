//! openraft's type configuration for berth (`TypeConfig`) and short aliases of the openraft
//! types the rest of the crate names. Declarations only.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::command::{ClusterResponse, Proposal};

/// A Raft member's identity in the cluster membership: where its raft endpoint listens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddr {
    /// `host:port` of the member's raft gRPC endpoint.
    pub addr: String,
}

impl NodeAddr {
    /// The address `addr` (`host:port`).
    pub fn new(addr: impl Into<String>) -> Self {
        Self { addr: addr.into() }
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.addr)
    }
}

openraft::declare_raft_types!(
    /// berth's Raft types: an entry carries a `Proposal` (batched `ClusterCommand`s) and
    /// yields one `ClusterResponse` per transaction; members are addressed by `NodeAddr`;
    /// snapshots are in-memory byte buffers.
    pub TypeConfig:
        D = Proposal,
        R = Vec<ClusterResponse>,
        NodeId = u64,
        Node = NodeAddr,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A Raft member id. Ids are never reused (see `RaftNode::remove_member`).
pub type NodeId = u64;
/// The openraft handle for berth's types.
pub type Raft = openraft::Raft<TypeConfig>;
/// A log id.
pub type LogId = openraft::LogId<NodeId>;
/// The response to a client write.
pub type ClientWriteResponse = openraft::raft::ClientWriteResponse<TypeConfig>;
/// openraft's error for RPCs, parameterized by the API error.
pub type OpenRaftError<E = openraft::error::Infallible> = openraft::error::RaftError<NodeId, E>;
/// openraft's error for client writes and membership changes.
pub type ClientWriteError = openraft::error::ClientWriteError<NodeId, NodeAddr>;
/// openraft's error for leadership checks (linearizable reads).
pub type CheckIsLeaderError = openraft::error::CheckIsLeaderError<NodeId, NodeAddr>;
/// The membership change requests openraft understands.
pub type ChangeMembers = openraft::ChangeMembers<NodeId, NodeAddr>;
