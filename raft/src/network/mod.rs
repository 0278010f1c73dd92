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

pub(crate) use client::keep_peers_warm;
pub use client::{probe, NetworkFactory, Peers};
pub use faults::Faults;
pub use proto::PeerStatus;
pub(crate) use proto::{MembershipRequest, Method};
pub(crate) use server::serve;
pub use server::{Authorizer, SharedServer};
pub use tls::TlsConfig;

/// Largest AppendEntries body sent at once. The log reader hands replication no more entries
/// than fit (`LogStore::limited_get_log_entries`), so batches are cut before they are encoded;
/// the transport still refuses a larger body (`PayloadTooLarge`), should one be built. Kept
/// small because openraft 0.9 gives an AppendEntries one heartbeat interval (100 ms), however
/// large: the follower must decode, seal, write and flush the batch in that time even on a
/// busy machine, or the whole batch is sent again (at 1 MiB, a loaded debug build missed it
/// again and again while 5,000 tasks started, and followers called elections).
pub(crate) const MAX_APPEND_BYTES: usize = 256 << 10;
