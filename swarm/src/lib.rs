//! berth-swarm: swarm mode without HTTP. The CA and join, roles, the manager (Raft member,
//! orchestrators, placement through berth-scheduler, dispatcher), the agent, and the typed
//! cluster model. It drives a node's engine only through its `Executor` trait (implemented by
//! berth-node on its engine; `executor::fake` for tests) and answers the API through the
//! `Swarm` facade (`query`); it never names berth-node, the HTTP server or an HTTP status.
//!
//! Layout: `swarm` (the handle: init, join, leave, restore) with `bootstrap`, `recovery`,
//! `roles`, `local`; `ca` and `rpc` (certificates, tokens, node-to-manager calls);
//! `manager`, `handler`, `dispatcher`, `raft_access`, `raft_watch` (manager side); `orchestrator`,
//! `placement` (pure passes of the leader, producing a `Plan`); `agent` (node side);
//! `executor` (the engine seam); `model` (typed objects); `ops` and `query` (what the API
//! asks); `files` (private atomic state files, shared with berth-node).

pub mod agent;
pub mod allocator;
mod autolock;
mod bootstrap;
pub mod ca;
pub mod clock;
pub mod delivery;
pub mod dispatcher;
pub mod error;
pub mod executor;
pub mod failure_log;
pub mod files;
pub mod generic_resources;
mod generic_view;
mod handler;
pub mod ingress;
pub mod keys;
pub mod local;
pub mod manager;
pub mod model;
mod network_ops;
mod older_specs;
mod ops;
pub mod orchestrator;
pub mod peers;
pub mod placement;
pub mod plan;
pub mod published_ports;
pub mod pull_auth;
pub mod query;
mod raft_access;
mod raft_watch;
mod recovery;
mod roles;
pub mod rpc;
mod secret_ops;
mod secret_refs;
pub mod session_signal;
pub mod spec_support;
mod swarm;
pub mod system_addr;

pub use error::{SwarmError, SwarmResult};
pub use executor::Executor;
pub use handler::host_of;
pub use ops::spec_warnings;
pub use swarm::{node_role, Member, Swarm, DEFAULT_PORT};
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod pass_cost_tests;
#[cfg(test)]
mod sim_tests;
