//! Local networks: the default `bridge`, `host`, `none` and user-defined bridge networks; veth
//! endpoints in named network namespaces; IPAM; NAT and isolation in berthd's own nftables
//! table; published ports; the embedded DNS of user networks. Links, addresses and routes go
//! through `berth_overlay::NetlinkOps`; nftables through `Firewall`; no `ip` commands.

mod copy_hold;
pub mod dns;
pub mod endpoint;
pub mod endpoint_table;
pub mod engine_ops;
#[cfg(test)]
pub mod fake;
pub mod files;
mod gateway_bridge;
pub mod ipv6;
pub use copy_hold::CopyHold;
pub use gateway_bridge::GATEWAY_BRIDGE;
pub mod manager;
pub mod mesh;
mod netns_sysctl;
pub mod nft;
mod overlay;
mod peer_health;
mod pool_check;
pub use overlay::{IngressLocal, OverlayView};
pub use peer_health::PeerHealth;
pub mod proxy;
pub mod types;
pub mod udp_relay;
mod vip;

use std::path::Path;
use std::sync::Arc;

pub use manager::{CreateNetwork, NetworkIndex, Networks};
pub use types::{
    is_false, AddressPool, EndpointRecord, EndpointRequest, Link, NetConfig, NetRequest,
    NetworkRecord, PortMapping, PortRequest, OPT_HOST_BINDING, OPT_ICC, OPT_MASQUERADE, OPT_MTU,
};

use crate::error::Result;

/// berthd's nftables table, replaced whole (`Ruleset` is the data).
pub trait Firewall: Send + Sync {
    /// Replaces the table with `rules`, atomically.
    fn apply(&self, rules: &nft::Ruleset) -> Result<()>;
    /// Deletes the table (absent is fine).
    fn remove(&self, table: &str) -> Result<()>;
}

/// What local networking asks of the swarm for standalone containers on attachable overlay
/// networks (implemented on `berth_swarm::Swarm` in `swarm_executor`).
pub trait SwarmNetworks: Send + Sync {
    /// This node's copy of swarm network `key` for a standalone container: `None` when the
    /// swarm has no such network; refused when it is not attachable.
    fn local_copy<'a>(
        &'a self,
        key: &'a str,
    ) -> berth_overlay::BoxFuture<'a, Result<Option<NetworkRecord>>>;
    /// An address for the container on the network, from the swarm's allocator.
    fn attach<'a>(
        &'a self,
        network_id: &'a str,
        container_id: &'a str,
        name: &'a str,
    ) -> berth_overlay::BoxFuture<'a, Result<std::net::Ipv4Addr>>;
    /// Gives the address back.
    fn detach<'a>(
        &'a self,
        network_id: &'a str,
        container_id: &'a str,
    ) -> berth_overlay::BoxFuture<'a, ()>;
}

/// Named network namespaces (bind-mounted files).
pub trait NetnsOps: Send + Sync {
    /// Creates a namespace bound at `path`.
    fn create(&self, path: &Path) -> Result<()>;
    /// Unmounts and removes it; absent is fine.
    fn remove(&self, path: &Path) -> Result<()>;
    /// Turns IPv6 off on `link` inside the namespace bound at `path`.
    fn disable_ipv6(&self, path: &Path, link: &str) -> Result<()>;
    /// Turns IPv6 off on `link` in berthd's own namespace (a veth's host end).
    fn disable_ipv6_here(&self, link: &str) -> Result<()>;
    /// Turns IPv6 on for `link` in berthd's own namespace (a bridge with an IPv6 gateway), and
    /// the host's IPv6 forwarding: `true` when forwarding was off.
    fn enable_ipv6_here(&self, link: &str) -> Result<bool>;
}

/// The real `NetnsOps`.
#[derive(Debug, Default)]
pub struct KernelNetns;

impl NetnsOps for KernelNetns {
    fn create(&self, path: &Path) -> Result<()> {
        berth_overlay::netns::create(path).map_err(net_err)
    }

    fn remove(&self, path: &Path) -> Result<()> {
        berth_overlay::netns::remove(path).map_err(net_err)
    }

    fn disable_ipv6(&self, path: &Path, link: &str) -> Result<()> {
        netns_sysctl::disable_ipv6(path, link)
    }

    fn disable_ipv6_here(&self, link: &str) -> Result<()> {
        netns_sysctl::disable_ipv6_here(link)
    }

    fn enable_ipv6_here(&self, link: &str) -> Result<bool> {
        netns_sysctl::enable_ipv6_here(link)
    }
}

/// The kernel interfaces networks need; `None` in unit tests of other areas.
#[derive(Clone)]
pub struct NetKernel {
    pub netlink: Arc<dyn berth_overlay::NetlinkOps>,
    pub firewall: Arc<dyn Firewall>,
    pub netns: Arc<dyn NetnsOps>,
}

/// A netlink or namespace failure as an engine error.
pub fn net_err(e: berth_overlay::OverlayError) -> crate::error::EngineError {
    crate::error::EngineError::Internal(e.to_string())
}
