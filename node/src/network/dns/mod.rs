//! The embedded DNS server of a user-defined network: a UDP responder on the network's gateway
//! address, port 53, answering A queries for container names, `--network-alias` aliases and
//! `name.network` with endpoint addresses, and relaying every other query to the host's
//! resolvers. Hand-written rather than hickory: it answers one record type from a table, and
//! hickory-server would add dozens of crates to a build shared by four engineers on two cores.
//! The gateway address (not Docker's 127.0.0.11 plus DNAT) keeps it one socket per network.
//!
//! Every packet comes from a container and may be hostile: `packet` parses without trusting a
//! single length, and `server` bounds what a flood can make it hold.

mod packet;
mod server;

pub use packet::{answer, is_reply_to, lookup, parse_query, Question};
pub use server::{host_resolvers, DnsServer, SwarmNames};
