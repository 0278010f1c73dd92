//! What `network create` and an endpoint ask of a subnet, checked the same way for IPv4 and
//! IPv6: a pool's gateway, range and auxiliary addresses must lie inside its subnet; an asked
//! address must lie inside and be free (libnetwork's words for each).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use berth_overlay::ipam::Subnet;

use super::ipv6::Subnet6;
use crate::error::{EngineError, Result};

/// A subnet of one address family.
pub trait FamilySubnet: Copy + Display + Sized {
    type Addr: Copy + Display + FromStr + PartialEq;
    /// "IPv4" or "IPv6", for messages.
    const FAMILY: &'static str;
    fn parse(s: &str) -> Option<Self>;
    fn contains(&self, ip: Self::Addr) -> bool;
    fn overlaps(&self, other: &Self) -> bool;
    fn base(&self) -> Self::Addr;
    fn prefix(&self) -> u8;
}

impl FamilySubnet for Subnet {
    type Addr = Ipv4Addr;
    const FAMILY: &'static str = "IPv4";
    fn parse(s: &str) -> Option<Self> {
        Subnet::parse(s)
    }
    fn contains(&self, ip: Ipv4Addr) -> bool {
        Subnet::contains(self, ip)
    }
    fn overlaps(&self, other: &Self) -> bool {
        Subnet::overlaps(self, other)
    }
    fn base(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base)
    }
    fn prefix(&self) -> u8 {
        self.prefix
    }
}

impl FamilySubnet for Subnet6 {
    type Addr = Ipv6Addr;
    const FAMILY: &'static str = "IPv6";
    fn parse(s: &str) -> Option<Self> {
        Subnet6::parse(s)
    }
    fn contains(&self, ip: Ipv6Addr) -> bool {
        Subnet6::contains(self, ip)
    }
    fn overlaps(&self, other: &Self) -> bool {
        Subnet6::overlaps(self, other)
    }
    fn base(&self) -> Ipv6Addr {
        self.base
    }
    fn prefix(&self) -> u8 {
        self.prefix
    }
}

/// A subnet a create asks for: well formed, without host bits, and sharing no address with the
/// ones `taken`. moby's `ValidateIPAM` words (Docker 25 on; 20.10 cleared the host bits).
pub fn asked_subnet<S: FamilySubnet>(s: &str, taken: &[S]) -> Result<S> {
    let invalid = |why: String| {
        EngineError::InvalidArgument(format!(
            "invalid network config:\ninvalid subnet {s}: {why}"
        ))
    };
    let subnet = S::parse(s).ok_or_else(|| invalid("invalid CIDR block notation".into()))?;
    let given: Option<S::Addr> = s.split_once('/').and_then(|(a, _)| a.trim().parse().ok());
    if given.is_some_and(|a| a != subnet.base()) {
        return Err(invalid(format!("it should be {subnet}")));
    }
    if taken.iter().any(|t| t.overlaps(&subnet)) {
        return Err(EngineError::Forbidden(
            "Pool overlaps with other one on this address space".into(),
        ));
    }
    Ok(subnet)
}

/// A create's pool options, checked against its subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolParts<S: FamilySubnet> {
    pub gateway: Option<S::Addr>,
    /// `--ip-range`, as text (`addr/len`, host bits cleared); empty for the whole subnet.
    pub ip_range: String,
    pub aux_addresses: BTreeMap<String, S::Addr>,
}

/// Checks `--gateway`, `--ip-range` and `--aux-address` of `subnet`.
pub fn pool_parts<S: FamilySubnet>(
    subnet: S,
    gateway: Option<&str>,
    ip_range: Option<&str>,
    aux: &BTreeMap<String, String>,
) -> Result<PoolParts<S>> {
    let gateway = match gateway {
        Some(g) => {
            let ip: S::Addr = g.parse().map_err(|_| {
                EngineError::InvalidArgument(format!("invalid gateway address {g}"))
            })?;
            if !subnet.contains(ip) {
                return Err(EngineError::Forbidden(format!(
                    "no matching subnet for gateway {g}"
                )));
            }
            Some(ip)
        }
        None => None,
    };
    let ip_range = match ip_range {
        Some(r) => {
            let range = S::parse(r)
                .ok_or_else(|| EngineError::InvalidArgument(format!("invalid ip-range {r}")))?;
            if !subnet.contains(range.base()) || range.prefix() < subnet.prefix() {
                return Err(EngineError::InvalidArgument(format!(
                    "ip-range {r} is not inside subnet {subnet}"
                )));
            }
            range.to_string()
        }
        None => String::new(),
    };
    let mut aux_addresses = BTreeMap::new();
    for (name, a) in aux {
        let ip: S::Addr = a.parse().map_err(|_| {
            EngineError::InvalidArgument(format!("invalid auxiliary address {name}={a}"))
        })?;
        if !subnet.contains(ip) {
            return Err(EngineError::InvalidArgument(format!(
                "auxiliary address {name}={a} is not inside subnet {subnet}"
            )));
        }
        aux_addresses.insert(name.clone(), ip);
    }
    Ok(PoolParts {
        gateway,
        ip_range,
        aux_addresses,
    })
}

/// An endpoint's address on network `net`: the one asked (inside `subnet` and free, else
/// libnetwork IPAM's two answers) or the next free one. `take` reserves the asked address or
/// allocates one, and says what it got.
pub fn take_address<S: FamilySubnet>(
    net: &str,
    subnet: S,
    asked: Option<S::Addr>,
    take: impl FnOnce(Option<S::Addr>) -> Option<S::Addr>,
) -> Result<S::Addr> {
    if let Some(want) = asked.filter(|w| !subnet.contains(*w)) {
        return Err(EngineError::InvalidArgument(format!(
            "Invalid address {want}: It does not belong to any of this network's subnets"
        )));
    }
    take(asked).ok_or_else(|| match asked {
        Some(_) => EngineError::InvalidArgument("Address already in use".into()),
        None => EngineError::Forbidden(format!(
            "no available {} addresses on network {net}",
            S::FAMILY
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_families_check_their_pools_alike() {
        let v4 = Subnet::parse("10.7.0.0/24").unwrap_or_else(|| panic!("parse"));
        let aux = BTreeMap::from([("p".to_string(), "10.7.0.9".to_string())]);
        let parts = pool_parts(v4, Some("10.7.0.254"), Some("10.7.0.64/26"), &aux);
        let parts = parts.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parts.gateway, Some(Ipv4Addr::new(10, 7, 0, 254)));
        assert_eq!(parts.ip_range, "10.7.0.64/26");
        let v6 = Subnet6::parse("fd00::/64").unwrap_or_else(|| panic!("parse"));
        let err =
            |r: Result<PoolParts<Subnet6>>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err(pool_parts(v6, Some("fd01::1"), None, &BTreeMap::new()))
            .contains("no matching subnet for gateway"));
        assert!(
            err(pool_parts(v6, Some("10.0.0.1"), None, &BTreeMap::new()))
                .contains("invalid gateway address")
        );
        assert!(
            err(pool_parts(v6, None, Some("fd00::/48"), &BTreeMap::new()))
                .contains("is not inside subnet fd00::/64")
        );
    }

    #[test]
    fn an_asked_subnet_is_refused_with_host_bits_or_malformed_as_dockers() {
        let err = |s: &str| {
            asked_subnet::<Subnet>(s, &[])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            err("10.99.1.5/16"),
            "invalid network config:\ninvalid subnet 10.99.1.5/16: it should be 10.99.0.0/16"
        );
        assert_eq!(
            err("10.99.0.0/33"),
            "invalid network config:\ninvalid subnet 10.99.0.0/33: invalid CIDR block notation"
        );
        assert!(asked_subnet::<Subnet>("10.99.0.0/16", &[]).is_ok());
        let v6 = asked_subnet::<Subnet6>("fd00::1/64", &[])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            v6.as_deref(),
            Some("invalid network config:\ninvalid subnet fd00::1/64: it should be fd00::/64")
        );
    }

    #[test]
    fn an_asked_address_must_be_inside_and_free() {
        let v6 = Subnet6::parse("fd00::/64").unwrap_or_else(|| panic!("parse"));
        let ip = |s: &str| s.parse::<Ipv6Addr>().unwrap_or(Ipv6Addr::UNSPECIFIED);
        let take = |asked: Option<Ipv6Addr>, free: bool| {
            take_address("n", v6, asked, |a| a.filter(|_| free)).map_err(|e| e.to_string())
        };
        assert_eq!(take(Some(ip("fd00::5")), true), Ok(ip("fd00::5")));
        assert!(
            take(Some(ip("fd00::5")), false).is_err_and(|e| e.contains("Address already in use"))
        );
        assert!(take(Some(ip("fd01::5")), true)
            .is_err_and(|e| e.contains("does not belong to any of this network's subnets")));
        assert!(
            take(None, true).is_err_and(|e| e.contains("no available IPv6 addresses on network n"))
        );
    }
}
