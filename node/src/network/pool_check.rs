//! What `network create` and an endpoint ask of a subnet, checked the same way for IPv4 and
//! IPv6: a pool as moby's `ValidateIPAM` (`berth_overlay::pool_faults`) and against the other
//! networks; an asked address must lie inside and be free (libnetwork's words).

use std::net::Ipv6Addr;

pub use berth_overlay::pool_faults::{AskedPool, FamilySubnet, PoolParts};

use super::ipv6::Subnet6;
use crate::error::{EngineError, Result};

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

/// Checks an asked pool as moby's `ValidateIPAM` (Docker 25 on: host bits are refused, 20.10
/// cleared them; every fault is named, in its order and words), then against the subnets
/// `taken` by other networks.
pub fn asked_pool<S: FamilySubnet>(asked: AskedPool<'_>, taken: &[S]) -> Result<PoolParts<S>> {
    let parts = berth_overlay::pool_faults::pool_faults::<S>(asked).map_err(|faults| {
        EngineError::InvalidArgument(berth_overlay::pool_faults::refusal(&faults))
    })?;
    if taken.iter().any(|t| t.overlaps(&parts.subnet)) {
        return Err(EngineError::Forbidden(
            "Pool overlaps with other one on this address space".into(),
        ));
    }
    Ok(parts)
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
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

    use berth_overlay::ipam::Subnet;

    use super::*;

    fn asked<'a>(
        subnet: &'a str,
        gateway: Option<&'a str>,
        ip_range: Option<&'a str>,
        aux: &'a BTreeMap<String, String>,
    ) -> AskedPool<'a> {
        AskedPool {
            subnet,
            gateway,
            ip_range,
            aux,
        }
    }

    fn refusal<S: FamilySubnet + std::fmt::Debug>(a: AskedPool<'_>) -> String
    where
        S::Addr: std::fmt::Debug,
    {
        asked_pool::<S>(a, &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn both_families_check_their_pools_alike() {
        let aux = BTreeMap::from([("p".to_string(), "10.7.0.9".to_string())]);
        let parts = asked_pool::<Subnet>(
            asked(
                "10.7.0.0/24",
                Some("10.7.0.254"),
                Some("10.7.0.64/26"),
                &aux,
            ),
            &[],
        );
        let parts = parts.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parts.gateway, Some(Ipv4Addr::new(10, 7, 0, 254)));
        assert_eq!(parts.ip_range, "10.7.0.64/26");
        assert_eq!(parts.aux_addresses["p"], Ipv4Addr::new(10, 7, 0, 9));
        let none = BTreeMap::new();
        let v6 = |gw, range| refusal::<Subnet6>(asked("fd00::/64", gw, range, &none));
        assert_eq!(
            v6(Some("fd01::1"), None),
            "invalid network config:\ninvalid gateway fd01::1: parent subnet fd00::/64 doesn't contain this address"
        );
        assert_eq!(
            v6(Some("10.0.0.1"), None),
            "invalid network config:\ninvalid gateway 10.0.0.1: parent subnet is an IPv6 block"
        );
        assert_eq!(
            v6(None, Some("fd00::/48")),
            "invalid network config:\ninvalid ip-range fd00::/48: CIDR block is bigger than its parent subnet fd00::/64"
        );
        let taken = [Subnet6::parse("fd00::/48").unwrap_or_else(|| panic!("parse"))];
        assert!(
            asked_pool::<Subnet6>(asked("fd00::/64", None, None, &none), &taken)
                .is_err_and(|e| e.to_string().contains("Pool overlaps"))
        );
    }

    #[test]
    fn every_fault_of_a_pool_is_named_in_mobys_words() {
        let aux = BTreeMap::from([
            ("a".to_string(), "10.9.9.9".to_string()),
            ("b".to_string(), "nope".to_string()),
        ]);
        // moby's ValidateIPAM: all faults of the pool, each on its own line.
        assert_eq!(
            refusal::<Subnet>(asked("10.7.0.5/24", Some("10.8.0.1"), Some("10.7.0.65/26"), &aux)),
            "invalid network config:\n\
             * invalid subnet 10.7.0.5/24: it should be 10.7.0.0/24\n\
             * invalid ip-range 10.7.0.65/26: it should be 10.7.0.64/26\n\
             * invalid gateway 10.8.0.1: parent subnet 10.7.0.5/24 doesn't contain this address\n\
             * invalid auxiliary address a: parent subnet 10.7.0.5/24 doesn't contain this address\n\
             * invalid auxiliary address b: invalid address"
        );
        let none = BTreeMap::new();
        assert_eq!(
            refusal::<Subnet>(asked("10.7.0.0/24", None, Some("10.9.0.0/28"), &none)),
            "invalid network config:\ninvalid ip-range 10.9.0.0/28: parent subnet 10.7.0.0/24 doesn't contain ip-range"
        );
        assert_eq!(
            refusal::<Subnet>(asked("10.7.0.0/24", None, Some("fd00::/96"), &none)),
            "invalid network config:\ninvalid ip-range fd00::/96: parent subnet is an IPv4 block"
        );
        assert_eq!(
            refusal::<Subnet>(asked("10.7.0.0/24", None, Some("10.7.0.0"), &none)),
            "invalid network config:\ninvalid ip-range 10.7.0.0: invalid CIDR block notation"
        );
        // A gateway without a subnet: moby's empty subnet.
        assert_eq!(
            refusal::<Subnet>(asked("", Some("10.7.0.1"), None, &none)),
            "invalid network config:\ninvalid subnet : invalid CIDR block notation"
        );
    }

    #[test]
    fn an_asked_subnet_is_refused_with_host_bits_or_malformed_as_dockers() {
        let none = BTreeMap::new();
        let err = |s: &str| refusal::<Subnet>(asked(s, None, None, &none));
        assert_eq!(
            err("10.99.1.5/16"),
            "invalid network config:\ninvalid subnet 10.99.1.5/16: it should be 10.99.0.0/16"
        );
        assert_eq!(
            err("10.99.0.0/33"),
            "invalid network config:\ninvalid subnet 10.99.0.0/33: invalid CIDR block notation"
        );
        assert!(asked_pool::<Subnet>(asked("10.99.0.0/16", None, None, &none), &[]).is_ok());
        assert_eq!(
            refusal::<Subnet6>(asked("fd00::1/64", None, None, &none)),
            "invalid network config:\ninvalid subnet fd00::1/64: it should be fd00::/64"
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
