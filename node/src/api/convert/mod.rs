//! Docker's JSON shapes (bollard-stubs) to and from engine types; query-string helpers.
//! Each converter decides per field: map it, ignore it (said in a comment), or reject it.

pub mod build;
pub mod container;
pub mod docker_order;
pub mod docker_order_swarm;
pub mod events;
pub mod exec;
pub mod host_extra;
pub mod image;
pub mod inspect_defaults;
pub mod mounts;
pub mod network;
pub mod network_create;
pub mod network_request;
pub mod query;
pub mod security_opt;
pub mod service_defaults;
pub mod stats;
pub mod support;
pub mod swarm;
pub mod swarm_network;
