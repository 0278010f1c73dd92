//! berth's kernel networking plumbing: the one netlink trait of the workspace (`NetlinkOps`),
//! its rtnetlink implementation and a recording fake, and the node's side of overlay networks
//! (a namespace per network with a bridge and a VXLAN device, and the reconciler of its
//! forwarding and neighbour tables). No policy lives here: callers decide names, addresses,
//! which peers exist and when to tear down.

pub mod address_set;
pub mod error;
#[cfg(any(test, feature = "fakes"))]
pub mod fake;
pub mod ipam;
pub mod netlink;
pub mod netns;
pub mod peers;
pub mod pool_faults;
pub mod sandbox;
pub mod vxlan;

pub use error::OverlayError;
pub use netlink::{BoxFuture, LinkChange, LinkInfo, NetlinkOps, RtNetlink};
pub use peers::{RemoteEndpoint, SyncReport};
pub use sandbox::{LocalEndpoint, OverlaySpec, Sandbox};
pub use vxlan::{FdbEntry, Neighbour, VxlanSpec};
