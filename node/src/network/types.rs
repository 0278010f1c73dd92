//! Network records as berth keeps them in sled, and what a container asks of the network.
//! Engine types only: Docker's JSON shapes live in `api::convert::network`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ipv6::Ipv6Pool;
use berth_overlay::ipam::{AddressSpace, Subnet};

/// The bridge driver's options berth honours (Docker's names).
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
pub const OPT_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
pub const OPT_HOST_BINDING: &str = "com.docker.network.bridge.host_binding_ipv4";
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";

/// Go's `strconv.ParseBool` false values, as the bridge driver reads its options.
pub fn is_false(v: &str) -> bool {
    matches!(v, "0" | "f" | "F" | "false" | "FALSE" | "False")
}

/// One network: `bridge`, `host`, `none` or a user-defined bridge network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    pub created: String,
    /// `a.b.c.d/n`; empty for host and none.
    pub subnet: String,
    pub gateway: String,
    /// The Linux bridge; empty for host and none.
    pub bridge: String,
    pub internal: bool,
    pub mtu: Option<u32>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// Made by berthd itself (`bridge`, `host`, `none`): never removed.
    pub builtin: bool,
    /// `--ip-range`: where dynamic addresses come from; empty for the whole subnet.
    #[serde(default)]
    pub ip_range: String,
    /// `--aux-address name=ip`: addresses never given to a container.
    #[serde(default)]
    pub aux_addresses: BTreeMap<String, Ipv4Addr>,
    /// `--attachable`, echoed by inspect (every local network is attachable).
    #[serde(default)]
    pub attachable: bool,
    /// For the local copy of a swarm overlay network (driver `overlay`): its VXLAN id.
    #[serde(default)]
    pub vni: Option<u32>,
    /// And the swarm's VXLAN UDP port (its `DataPathPort`).
    #[serde(default)]
    pub vxlan_port: Option<u16>,
    /// The client gave the subnet but no gateway: inspect shows none, as Docker shows only
    /// what was asked (berth's gateway is then the subnet's first host, as Docker's).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gateway_implied: bool,
    /// `--ipv6`: containers get an address of `ipv6`'s subnet too.
    #[serde(default)]
    pub enable_ipv6: bool,
    /// The IPv6 subnet asked for; kept and shown even with IPv6 off, as Docker keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Pool>,
}

impl NetworkRecord {
    /// Where containers get addresses; `None` for a network without a subnet.
    pub fn address_space(&self) -> Option<AddressSpace> {
        let subnet = Subnet::parse(&self.subnet)?;
        let gateway: Ipv4Addr = self.gateway.parse().ok()?;
        let mut space = AddressSpace::whole(subnet, gateway);
        if let Some(range) = Subnet::parse(&self.ip_range) {
            space.range = range;
        }
        space.reserved.extend(self.aux_addresses.values());
        Some(space)
    }

    /// The bridge driver's `enable_icc` option (on unless `false`): off, containers on the
    /// network reach the gateway and the outside but not each other.
    pub fn icc(&self) -> bool {
        !self.options.get(OPT_ICC).is_some_and(|v| is_false(v))
    }

    /// The bridge driver's `enable_ip_masquerade` option (on unless `false`).
    pub fn masquerades(&self) -> bool {
        self.options
            .get(OPT_MASQUERADE)
            .is_none_or(|v| !is_false(v))
    }

    /// The host address published ports bind to when the client names none.
    pub fn default_host_ip(&self) -> Option<&str> {
        self.options.get(OPT_HOST_BINDING).map(String::as_str)
    }

    /// User-defined bridge networks resolve container names; the default bridge does not.
    /// What the overlay data plane needs of the local copy of a swarm network.
    pub fn overlay_spec(&self) -> Option<berth_overlay::OverlaySpec> {
        let subnet = Subnet::parse(&self.subnet)?;
        Some(berth_overlay::OverlaySpec {
            vni: self.vni?,
            gateway: self.gateway.parse().ok()?,
            prefix: subnet.prefix,
            mtu: self
                .mtu
                .unwrap_or(OVERLAY_UNDERLAY_MTU - berth_overlay::sandbox::VXLAN_OVERHEAD),
            port: self
                .vxlan_port
                .unwrap_or(berth_overlay::sandbox::DEFAULT_PORT),
        })
    }

    pub fn has_dns(&self) -> bool {
        self.driver == "bridge" && !self.builtin
    }

    /// The IPv6 pool its containers get addresses from: only with IPv6 on.
    pub fn ipv6_pool(&self) -> Option<&Ipv6Pool> {
        self.ipv6.as_ref().filter(|_| self.enable_ipv6)
    }
}

/// A published port as asked: `[ip:]hostPort:containerPort/proto`, host port empty for ephemeral.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortRequest {
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub proto: String,
    pub host_ip: String,
    /// Empty: any free port.
    pub host_port: String,
}

/// A published port as bound.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortMapping {
    pub container_port: u16,
    pub proto: String,
    pub host_ip: String,
    pub host_port: u16,
    /// Without a host address it is bound on the host's IPv6 addresses too (`[::]`, the same
    /// port), as Docker's proxy binds it where the host has IPv6.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ipv6: bool,
}

/// Per-network endpoint settings a container asks for (`--network-alias`, `--ip`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EndpointRequest {
    pub aliases: Vec<String>,
    pub ipv4: Option<Ipv4Addr>,
    /// `--ip6`, on a network with IPv6 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Addr>,
    /// `--mac-address`; Docker's `02:42:` + address by default.
    #[serde(default)]
    pub mac: Option<[u8; 6]>,
    /// `--link` on this (user-defined) network: names only this container resolves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// `--link-local-ip`: more IPv4 addresses on the interface, each in a /16, as libnetwork
    /// adds them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_local: Vec<Ipv4Addr>,
    /// `--driver-opt` of the endpoint: kept and shown, as Docker's bridge and overlay drivers
    /// keep options they have no use for (the ones newer drivers act on are refused by name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
}

/// A legacy link (`--link name:alias`): container `name`, known to the linking one as `alias`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub alias: String,
}

/// What a container asks of the network besides its mode.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetRequest {
    /// From `NetworkingConfig.EndpointsConfig`, keyed by network name or id.
    pub endpoints: BTreeMap<String, EndpointRequest>,
    pub ports: Vec<PortRequest>,
    /// `-P`: publish every exposed port on an ephemeral host port.
    pub publish_all: bool,
    /// `--add-host name:ip` (`host-gateway` is replaced by the gateway).
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `HostConfig.Links` on the default bridge (hosts entries and environment variables).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

/// A running container's attachment to one network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EndpointRecord {
    pub id: String,
    pub network_id: String,
    pub container_id: String,
    pub container_name: String,
    pub ip: Option<Ipv4Addr>,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    /// On a network with IPv6 on: the container's IPv6 address, its prefix and the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prefix6: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<Ipv6Addr>,
    pub mac: String,
    /// The host end of the veth pair (on an overlay network, the bridge end in a sandbox an
    /// older berth made; newer sandboxes give containers macvlans, without a host end).
    pub host_veth: String,
    /// On an overlay network, the index of the container's link in its namespace (`detach`
    /// finds it by that even if the container renamed it or moved its address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_index: Option<u32>,
    pub aliases: Vec<String>,
    pub ports: Vec<PortMapping>,
    /// Its links on this network: `alias` asked by this container resolves `name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// The container's `--dns` servers: the names the network's DNS server does not know are
    /// relayed there for it instead of to the host's resolvers (Docker's embedded DNS's
    /// external servers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolvers: Vec<IpAddr>,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

/// The networks a container is attached to (by network id), kept from create to remove.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attachments {
    pub networks: BTreeMap<String, EndpointRequest>,
    /// The network named by the mode (first in the namespace, owner of the default route).
    pub primary: String,
}

/// Daemon settings for local networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// The default network's bridge (`berth0`).
    pub bridge_name: String,
    /// The nftables table berthd owns (`berth`).
    pub nft_table: String,
    /// Where subnets come from, in order.
    pub pools: Vec<AddressPool>,
    /// The default bridge's IPv6 subnet (dockerd's `ipv6` with `fixed-cidr-v6`); none: IPv4
    /// only.
    pub fixed_cidr_v6: Option<String>,
}

pub use berth_overlay::ipam::AddressPool;

/// The underlay MTU overlay networks assume when none is set (Ethernet's).
pub const OVERLAY_UNDERLAY_MTU: u32 = 1500;

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            bridge_name: "berth0".into(),
            nft_table: "berth".into(),
            pools: vec![AddressPool {
                base: "172.17.0.0/12".into(),
                size: 16,
            }],
            fixed_cidr_v6: None,
        }
    }
}
