//! The Raft transport: one gRPC service (`berth.raft.v1.Raft`) over mutual TLS carrying
//! openraft's RPCs and the client-facing calls (forwarded writes, read index, membership).
//! Messages are hand-written prost structs wrapping the versioned JSON of openraft's types, so
//! the build needs no protoc. `server.rs` answers, `client.rs` calls, `faults.rs` lets tests
//! drop traffic between chosen nodes while still using real sockets.

mod client;
mod faults;
mod proto;
mod server;
mod tls;

pub use client::{probe, NetworkFactory, Peers};
pub use faults::Faults;
pub use proto::PeerStatus;
pub(crate) use proto::{MembershipRequest, Method};
pub(crate) use server::serve;
pub use server::{Authorizer, SharedServer};
pub use tls::TlsConfig;

/// Largest AppendEntries body sent at once. The log reader hands replication no more entries
/// than fit (`LogStore::limited_get_log_entries`), so batches are cut before they are encoded;
/// the transport still refuses a larger body (`PayloadTooLarge`), should one be built.
pub(crate) const MAX_APPEND_BYTES: usize = 1 << 20;
