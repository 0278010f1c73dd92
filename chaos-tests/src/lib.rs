//! berth's multi-node test harness. `Cluster::start(n)` puts n berthd nodes on one virtual
//! switch: a bridge in a "switch" network namespace, one veth per node into the node's own
//! named namespace (`/run/netns/<prefix>-n<i>`, address `.i+1` of a /24 unique to the
//! cluster), and a berthd per node inside it with its own data root, exec root and API socket
//! on the host filesystem. Faults: `kill`, `pause`/`resume`, `restart`, `cut`/`heal`
//! (`faults.rs`); nftables partitions, one-way drops, random loss and tbf bandwidth limits
//! inside the nodes' namespaces (`partition.rs`); a data root on a small tmpfs that fills up
//! (`disk.rs`). `history.rs` logs a client's service operations and checks them afterwards.
//!
//! Every kernel object and path carries the cluster's prefix (`bc` + 5 hex digits). Dropping
//! the cluster (also while a test panics) kills its daemons by PID and removes monitors,
//! container cgroups, mounts, namespaces (bridge and veths go with them) and directories;
//! `Cluster::sweep_leftovers` does the same for the clusters of killed runs.
//! Needs root; never touches the host's own links and sends no traffic outside its namespaces.

pub mod cli;
pub mod disk;
pub mod docker_ref;
pub mod error;
mod faults;
pub mod harness;
pub mod history;
mod lock;
pub mod names;
pub mod net;
pub mod node;
pub mod partition;
pub mod swarm;
mod sweep;

pub use cli::CliOutput;
pub use disk::DiskFill;
pub use error::ClusterError;
pub use harness::{berthd_binary, Cluster, ClusterBuilder};
pub use names::{Names, PREFIX_HEAD};
pub use node::{Node, NodeOptions};
pub use partition::NetFault;

pub use berth_test_support::client::{self, Response};
pub use berth_test_support::{cleanup, is_root, require_root};
