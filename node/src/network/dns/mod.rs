//! The embedded DNS server of a user-defined network: a UDP and TCP responder on the network's
//! gateway address, port 53, answering A queries for container names, `--network-alias`
//! aliases and `name.network` with endpoint addresses, and relaying every other query to the
//! container's `--dns` servers or the host's resolvers. Over TCP (`tcp`) an answer holds every
//! address: resolvers ask again there when a UDP answer was truncated at 512 bytes. Hand-written rather than hickory: it answers one record type from a table, and
//! hickory-server would add dozens of crates to a build shared by four engineers on two cores.
//! The gateway address (not Docker's 127.0.0.11 plus DNAT) keeps it one UDP socket and one TCP
//! listener per network, with no rule in each container's namespace.
//!
//! Every packet comes from a container and may be hostile: `packet` parses without trusting a
//! single length, and `server` bounds what a flood can make it hold.

mod packet;
mod server;
mod tcp;

pub use packet::{answer, answer_within, is_reply_to, lookup, parse_query, Question};
pub use server::{host_resolvers, DnsServer, SwarmNames};
