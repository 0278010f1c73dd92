//! berth's kernel networking plumbing: the one netlink trait of the workspace (`NetlinkOps`),
//! its rtnetlink implementation and a recording fake. No policy lives here: callers decide names,
//! addresses and when to tear down.

pub mod error;
#[cfg(any(test, feature = "fakes"))]
pub mod fake;
pub mod netlink;
pub mod netns;

pub use error::OverlayError;
pub use netlink::{BoxFuture, LinkChange, LinkInfo, NetlinkOps, RtNetlink};
