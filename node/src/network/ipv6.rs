//! IPv6 on user-defined bridge networks (`network create --ipv6 --subnet <v6>`): the subnet
//! and its options as a network keeps them, and the addresses its containers hold. As
//! libnetwork's default IPAM: the gateway is the subnet's first host (`::1`) unless given,
//! addresses are handed out one after the other from the range (the whole subnet by
//! default), the subnet's first address is never given, and its last one is (IPv6 has no
//! broadcast).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv6Addr;

use super::manager::Networks;
use super::types::{EndpointRequest, NetworkRecord};
use crate::error::{EngineError, Result};

/// An IPv6 prefix, `base/prefix`, with the host bits of `base` zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet6 {
    pub base: Ipv6Addr,
    pub prefix: u8,
}

impl Subnet6 {
    /// `addr/len`, as Docker takes it: the address's host bits are cleared.
    pub fn parse(s: &str) -> Option<Subnet6> {
        let (addr, len) = s.split_once('/')?;
        let addr: Ipv6Addr = addr.parse().ok()?;
        let prefix: u8 = len.parse().ok().filter(|p| *p <= 128)?;
        Some(Subnet6 {
            base: Ipv6Addr::from(u128::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & mask(self.prefix) == u128::from(self.base)
    }

    pub fn overlaps(&self, other: &Subnet6) -> bool {
        self.contains(other.base) || other.contains(self.base)
    }

    fn last(&self) -> u128 {
        u128::from(self.base) | !mask(self.prefix)
    }

    /// The subnet's first host: the default gateway.
    pub fn first_host(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.base).wrapping_add(1))
    }
}

impl std::fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

fn mask(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p.min(128))),
    }
}

/// A network's IPv6 pool as asked at create (kept and shown by inspect even while the network
/// has IPv6 off, as Docker keeps it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ipv6Pool {
    /// `addr/len`.
    pub subnet: String,
    /// `--gateway` for this subnet; the subnet's first host when not given (and then not
    /// shown, as Docker shows only the one asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv6Addr>,
    /// `--ip-range` for this subnet; empty for the whole subnet.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
    /// `--aux-address`es inside this subnet: never given to a container.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, Ipv6Addr>,
}

/// What `network create` asked of IPv6: the pool's parts as text, checked by `Ipv6Pool::new`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ipv6Request {
    pub subnet: String,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub aux_addresses: BTreeMap<String, String>,
}

impl Ipv6Pool {
    /// Checks a create's IPv6 pool against itself and the other networks' IPv6 subnets
    /// (`taken`), with libnetwork's words where it has them.
    pub fn new(req: &Ipv6Request, taken: &[Subnet6]) -> Result<Ipv6Pool> {
        let parts: super::pool_check::PoolParts<Subnet6> = super::pool_check::asked_pool(
            super::pool_check::AskedPool {
                subnet: &req.subnet,
                gateway: req.gateway.as_deref(),
                ip_range: req.ip_range.as_deref(),
                aux: &req.aux_addresses,
            },
            taken,
        )?;
        Ok(Ipv6Pool {
            subnet: parts.subnet.to_string(),
            gateway: parts.gateway,
            ip_range: parts.ip_range,
            aux_addresses: parts.aux_addresses,
        })
    }

    pub fn subnet(&self) -> Option<Subnet6> {
        Subnet6::parse(&self.subnet)
    }

    /// The gateway: the one asked for, else the subnet's first host.
    pub fn gateway(&self) -> Option<Ipv6Addr> {
        self.gateway.or_else(|| Some(self.subnet()?.first_host()))
    }

    /// Where containers get addresses.
    pub fn space(&self) -> Option<Space6> {
        let subnet = self.subnet()?;
        let mut reserved: Vec<Ipv6Addr> = self.aux_addresses.values().copied().collect();
        reserved.extend(self.gateway());
        Some(Space6 {
            subnet,
            range: Subnet6::parse(&self.ip_range).unwrap_or(subnet),
            reserved,
        })
    }
}

/// A network's IPv6 addresses: the subnet, the range dynamic addresses come from, and the
/// addresses never handed out (gateway, auxiliary addresses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Space6 {
    pub subnet: Subnet6,
    pub range: Subnet6,
    pub reserved: Vec<Ipv6Addr>,
}

impl Space6 {
    fn assignable(&self, ip: Ipv6Addr) -> bool {
        self.subnet.contains(ip) && ip != self.subnet.base && !self.reserved.contains(&ip)
    }
}

/// The IPv6 addresses in use on one network, and the last one handed out (the next search
/// starts after it and wraps, as libnetwork's serial allocation).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Allocations6 {
    pub in_use: BTreeSet<Ipv6Addr>,
    pub last: Option<Ipv6Addr>,
}

impl Allocations6 {
    /// The next free address of the range; `None` when it is full. Steps only over the
    /// addresses in use and reserved, so a /64 costs no more than a /120.
    pub fn allocate(&mut self, space: &Space6) -> Option<Ipv6Addr> {
        let (low, high) = (u128::from(space.range.base), space.range.last());
        let start = match self.last.map(u128::from) {
            Some(l) if (low..high).contains(&l) => l + 1,
            _ => low,
        };
        let mut at = start;
        // At most one pass over the range plus one address per one in use or reserved.
        let bound = self.in_use.len() + space.reserved.len() + 2;
        for _ in 0..=bound {
            let ip = Ipv6Addr::from(at);
            if space.assignable(ip) && !self.in_use.contains(&ip) {
                self.in_use.insert(ip);
                self.last = Some(ip);
                return Some(ip);
            }
            at = if at >= high { low } else { at + 1 };
            if at == start {
                return None;
            }
        }
        None
    }

    /// Takes a specific address (`--ip6`); false when it is in use, reserved or outside.
    pub fn reserve(&mut self, space: &Space6, ip: Ipv6Addr) -> bool {
        space.assignable(ip) && self.in_use.insert(ip)
    }

    pub fn release(&mut self, ip: Ipv6Addr) {
        self.in_use.remove(&ip);
    }
}

/// Refuses an IPv6 address asked of network `n` (`--ip6`) that no subnet of it contains, as
/// moby checks an endpoint's settings at create and connect: on a network with IPv6 off (which
/// Docker 20.10 accepted and dropped) or outside its IPv6 subnet.
pub fn check_request(n: &NetworkRecord, req: &EndpointRequest) -> Result<()> {
    let Some(want) = req.ipv6 else {
        return Ok(());
    };
    let subnet = n.ipv6_pool().and_then(Ipv6Pool::subnet);
    if subnet.is_some_and(|s| s.contains(want)) {
        return Ok(());
    }
    let why = match subnet {
        Some(s) => format!("the network's IPv6 subnet is {s}"),
        None => format!(
            "network {} has no IPv6 (create it with --ipv6 and an IPv6 --subnet)",
            n.name
        ),
    };
    Err(EngineError::InvalidArgument(format!(
        "invalid endpoint settings: no configured subnet contains IP address {want}: {why}"
    )))
}

/// A container's IPv6 address on one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address6 {
    pub ip: Ipv6Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv6Addr>,
}

impl Networks {
    /// The IPv6 address an endpoint gets on `n`, with the allocations that hold it (not yet
    /// written): `None` on a network with IPv6 off, where an asked address (`--ip6`) is
    /// refused, as moby refuses one no subnet of the network contains.
    pub(crate) fn ipv6_for(
        &self,
        n: &NetworkRecord,
        req: &EndpointRequest,
    ) -> Result<Option<(Address6, Allocations6)>> {
        check_request(n, req)?;
        let Some(pool) = n.ipv6_pool() else {
            return Ok(None);
        };
        let space = pool
            .space()
            .ok_or_else(|| EngineError::Internal(format!("bad subnet {}", pool.subnet)))?;
        let mut alloc: Allocations6 = self.ipam.get(&allocations_key(&n.id))?.unwrap_or_default();
        let ip =
            super::pool_check::take_address(
                &n.name,
                space.subnet,
                req.ipv6,
                |asked| match asked {
                    Some(want) => alloc.reserve(&space, want).then_some(want),
                    None => alloc.allocate(&space),
                },
            )?;
        let addr = Address6 {
            ip,
            prefix: space.subnet.prefix,
            gateway: pool.gateway(),
        };
        Ok(Some((addr, alloc)))
    }
}

impl Networks {
    /// A create's IPv6 pool, checked against the other networks' (Docker's words and codes).
    pub(crate) fn ipv6_pool(&self, req: &super::CreateNetwork) -> Result<Option<Ipv6Pool>> {
        let Some(asked) = &req.ipv6 else {
            if req.enable_ipv6 {
                // Docker has no default IPv6 pools either (a 404, as its IPAM says it).
                return Err(EngineError::NotFound(
                    "could not find an available, non-overlapping IPv6 address pool among the \
                     defaults to assign to the network"
                        .into(),
                ));
            }
            return Ok(None);
        };
        Ipv6Pool::new(asked, &self.ipv6_subnets_but(None)?).map(Some)
    }

    /// The IPv6 subnets of every network but `except` (by id), which a new pool may not overlap.
    fn ipv6_subnets_but(&self, except: Option<&str>) -> Result<Vec<Subnet6>> {
        Ok(self
            .list()?
            .iter()
            .filter(|n| Some(n.id.as_str()) != except)
            .filter_map(|n| n.ipv6.as_ref()?.subnet())
            .collect())
    }

    /// The bridge of a network with IPv6 on: IPv6 on, and the gateway's address on it.
    pub(crate) async fn bring_up_ipv6(
        &self,
        k: &super::NetKernel,
        n: &NetworkRecord,
    ) -> Result<()> {
        let Some(pool) = n.ipv6_pool() else {
            return Ok(());
        };
        let (Some(subnet), Some(gateway)) = (pool.subnet(), pool.gateway()) else {
            return Err(EngineError::Internal(format!("bad subnet {}", pool.subnet)));
        };
        if k.netns.enable_ipv6_here(&n.bridge)? {
            tracing::warn!(network = %n.name, "IPv6 forwarding was off: berthd turned it on");
        }
        k.netlink
            .add_address(&n.bridge, std::net::IpAddr::V6(gateway), subnet.prefix)
            .await
            .map_err(super::net_err)
    }
}

impl Networks {
    /// Gives the default bridge the IPv6 berthd's config asks (`ipv6` with `fixed-cidr-v6`, or
    /// none), as dockerd sets its default bridge up at each start. With containers attached
    /// it stays as it was, with a warning: their addresses stay too. Docker shows no IPv6
    /// gateway for it, as none was asked; the subnet's first host is the bridge's address.
    pub(crate) async fn configure_default_ipv6(
        &self,
        n: NetworkRecord,
    ) -> Result<(NetworkRecord, Option<String>)> {
        let want = match &self.cfg.fixed_cidr_v6 {
            None => None,
            Some(subnet) => {
                let taken = self.ipv6_subnets_but(Some(&n.id))?;
                // A daemon setting keeps its host bits cleared, as before `network create`
                // refused them: a berthd that started with it still starts.
                let subnet =
                    Subnet6::parse(subnet).map_or_else(|| subnet.clone(), |s| s.to_string());
                let asked = Ipv6Request {
                    subnet: subnet.clone(),
                    ..Ipv6Request::default()
                };
                let pool = Ipv6Pool::new(&asked, &taken).map_err(|e| {
                    EngineError::InvalidArgument(format!("fixed-cidr-v6 {subnet}: {e}"))
                })?;
                Some(pool)
            }
        };
        if n.enable_ipv6 == want.is_some() && n.ipv6 == want {
            return Ok((n, None));
        }
        if !self.endpoints_on(&n.id)?.is_empty() {
            let kept = n
                .ipv6_pool()
                .map_or_else(|| "no IPv6".to_string(), |p| p.subnet.clone());
            let warning = format!(
                "WARNING: the default bridge keeps {kept} while containers are attached to it: \
                 fixed-cidr-v6 applies at a start of berthd without them"
            );
            return Ok((n, Some(warning)));
        }
        // The old gateway's address goes with the bridge; its bring-up makes the new one.
        if let Some(k) = self.kernel.as_ref().filter(|_| n.ipv6_pool().is_some()) {
            if let Err(e) = k.netlink.delete_link(&n.bridge).await {
                tracing::warn!(bridge = %n.bridge, error = %e, "removing the old default bridge");
            }
        }
        self.ipam.remove(&allocations_key(&n.id))?;
        let rec = NetworkRecord {
            enable_ipv6: want.is_some(),
            ipv6: want,
            ..n
        };
        self.put_network(&rec)?;
        Ok((rec, None))
    }
}

/// The key of a network's IPv6 allocations in the IPAM records (its IPv4 ones are under its id).
pub fn allocations_key(network_id: &str) -> String {
    format!("{network_id}/ipv6")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(subnet: &str, range: Option<&str>, gw: Option<&str>) -> Ipv6Pool {
        let req = Ipv6Request {
            subnet: subnet.into(),
            gateway: gw.map(Into::into),
            ip_range: range.map(Into::into),
            aux_addresses: BTreeMap::new(),
        };
        Ipv6Pool::new(&req, &[]).unwrap_or_default()
    }

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
    }

    #[test]
    fn the_gateway_is_the_first_host_and_containers_follow_it() {
        let p = pool("2001:db8:2::/64", None, None);
        assert_eq!(p.gateway(), Some(ip("2001:db8:2::1")));
        let space = p.space().unwrap_or_else(|| panic!("no space"));
        let mut a = Allocations6::default();
        assert_eq!(a.allocate(&space), Some(ip("2001:db8:2::2")));
        assert_eq!(a.allocate(&space), Some(ip("2001:db8:2::3")));
        a.release(ip("2001:db8:2::2"));
        // Serial: after the last one, not the first free.
        assert_eq!(a.allocate(&space), Some(ip("2001:db8:2::4")));
    }

    #[test]
    fn a_range_and_a_gateway_inside_it_are_honoured() {
        // docker-py's test_connect_with_ipv6_address network.
        let p = pool(
            "2001:389::/64",
            Some("2001:389::0/96"),
            Some("2001:389::ffff"),
        );
        assert_eq!(p.gateway(), Some(ip("2001:389::ffff")));
        let space = p.space().unwrap_or_else(|| panic!("no space"));
        let mut a = Allocations6::default();
        assert_eq!(a.allocate(&space), Some(ip("2001:389::1")));
        assert!(a.reserve(&space, ip("2001:389::f00d")));
        assert!(!a.reserve(&space, ip("2001:389::f00d")), "in use");
        assert!(!a.reserve(&space, ip("2001:389::ffff")), "the gateway");
        assert!(
            !a.reserve(&space, ip("2001:389::")),
            "the subnet's own address"
        );
        assert!(!a.reserve(&space, ip("2001:db8::1")), "outside");
    }

    #[test]
    fn a_full_range_says_so_and_the_last_address_is_given() {
        let p = pool("fd00::/126", None, None);
        let space = p.space().unwrap_or_else(|| panic!("no space"));
        let mut a = Allocations6::default();
        assert_eq!(a.allocate(&space), Some(ip("fd00::2")));
        assert_eq!(
            a.allocate(&space),
            Some(ip("fd00::3")),
            "no broadcast in IPv6"
        );
        assert_eq!(a.allocate(&space), None);
        a.release(ip("fd00::2"));
        assert_eq!(a.allocate(&space), Some(ip("fd00::2")), "wraps around");
    }

    #[test]
    fn bad_pools_are_refused_with_libnetworks_words() {
        let req = |subnet: &str, gw: Option<&str>, range: Option<&str>| Ipv6Request {
            subnet: subnet.into(),
            gateway: gw.map(Into::into),
            ip_range: range.map(Into::into),
            aux_addresses: BTreeMap::new(),
        };
        let taken = [Subnet6::parse("2001:db8::/48").unwrap_or_else(|| panic!("parse"))];
        let err = |r: Ipv6Request| {
            Ipv6Pool::new(&r, &taken)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(err(req("2001:db8:0:1::/64", None, None)).contains("Pool overlaps"));
        assert!(err(req("fd00::/64", Some("fd01::1"), None)).ends_with(
            "invalid gateway fd01::1: parent subnet fd00::/64 doesn't contain this address"
        ));
        assert!(err(req("fd00::/64", None, Some("fd01::/96")))
            .ends_with("parent subnet fd00::/64 doesn't contain ip-range"));
        assert!(err(req("fd00::/129", None, None)).contains("invalid subnet"));
        assert!(err(req("10.0.0.0/8", None, None)).contains("invalid subnet"));
        // Host bits in the subnet's address are refused, as Docker 25 on (20.10 cleared them).
        assert!(err(req("fd00::5/64", None, None)).ends_with("it should be fd00::/64"));
    }
}
