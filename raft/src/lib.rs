//! berth-raft: the replicated cluster store every swarm manager holds. openraft with its log
//! and state machine in sled, a tonic gRPC transport over mutual TLS, the cluster object model
//! (`ClusterState`, applied by a pure function), watches, membership and reads.
//!
//! Layout: `objects` and `command` are the data; `state` applies commands; `store` persists
//! (log, state machine, snapshots); `network` moves RPCs; `node` and `client` are the API a
//! manager uses (`RaftNode`).

mod client;
mod codec;
pub mod command;
pub mod compaction;
mod config;
mod error;
mod index;
mod network;
mod node;
pub mod objects;
mod proposer;
pub mod seal;
pub mod space;
mod state;
pub mod store;
mod types;
mod watch;

pub use client::Applied;
pub use command::{Action, Change, ClusterCommand, ClusterResponse, Op, Proposal};
pub use compaction::{Compaction, PolicyReader};
pub use config::RaftConfig;
pub use error::{ApplyError, RaftError, RaftErrorKind};
pub use network::{
    probe, Authorizer, Faults, NetworkFactory, PeerStatus, Peers, SharedServer, TlsConfig,
};
pub use node::{NodeOptions, RaftNode};
pub use objects::{Attrs, Memo, Meta, NodeRole, Object, ObjectKind, TaskState};
pub use seal::{unwrap_key, wrap_key, DataKey, Sealer};
pub use state::ClusterState;
pub use types::{LogId, NodeAddr, NodeId, Raft, TypeConfig};
pub use watch::{Event, WatchHub, WatchMessage, Watcher};
