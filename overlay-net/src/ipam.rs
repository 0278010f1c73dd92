//! IPAM as pure functions, for local networks and the cluster's overlay networks alike:
//! subnets, picking a free one from the pools, and handing out host addresses round-robin
//! (never one that is in use; a released one only after the rest came round, as Docker does).
//! Persisting the allocations is the caller's job.

use serde::{Deserialize, Serialize};

pub use crate::address_set::AddressSet;
use std::net::Ipv4Addr;

/// Docker's `default-address-pools` entry: subnets of `/size` carved from `base` onwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPool {
    pub base: String,
    pub size: u8,
}

/// An IPv4 subnet, stored normalised (host bits zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    pub base: u32,
    pub prefix: u8,
}

impl Subnet {
    /// Parses `a.b.c.d/n`; the host bits are cleared.
    pub fn parse(s: &str) -> Option<Subnet> {
        let (ip, len) = s.split_once('/')?;
        let ip: Ipv4Addr = ip.trim().parse().ok()?;
        let prefix: u8 = len.trim().parse().ok()?;
        if prefix > 32 {
            return None;
        }
        Some(Subnet {
            base: u32::from(ip) & mask(prefix),
            prefix,
        })
    }

    /// The number of addresses.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// The last address (the broadcast address).
    pub fn last(&self) -> u32 {
        self.base | !mask(self.prefix)
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.base
    }

    /// Whether the two share an address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.base <= other.last() && other.base <= self.last()
    }

    /// The first host address, Docker's default gateway.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base.wrapping_add(1))
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// The first subnet from `pools` that overlaps none of `taken`.
pub fn pick_subnet(pools: &[AddressPool], taken: &[Subnet]) -> Option<Subnet> {
    for pool in pools {
        let Some((ip, _)) = pool.base.split_once('/') else {
            continue;
        };
        let (Ok(start), Some(range)) = (ip.parse::<Ipv4Addr>(), Subnet::parse(pool.base.as_str()))
        else {
            continue;
        };
        if pool.size < range.prefix || pool.size > 30 {
            continue;
        }
        let step = 1u64 << (32 - u32::from(pool.size));
        let mut at = u64::from(u32::from(start) & mask(pool.size));
        while at + step - 1 <= u64::from(range.last()) {
            let cand = Subnet {
                base: u32::try_from(at).unwrap_or(u32::MAX),
                prefix: pool.size,
            };
            if !taken.iter().any(|t| t.overlaps(&cand)) {
                return Some(cand);
            }
            at += step;
        }
    }
    None
}

/// Where a network's containers get addresses: its subnet, the part of it handed out
/// dynamically (`--ip-range`, the whole subnet by default), and addresses never handed out
/// (the gateway and `--aux-address`es).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSpace {
    pub subnet: Subnet,
    pub range: Subnet,
    pub reserved: Vec<Ipv4Addr>,
}

impl AddressSpace {
    /// The whole subnet, with only `gateway` kept back.
    pub fn whole(subnet: Subnet, gateway: Ipv4Addr) -> AddressSpace {
        AddressSpace {
            subnet,
            range: subnet,
            reserved: vec![gateway],
        }
    }

    /// Whether `ip` may be given to a container: inside the subnet, neither its network nor
    /// its broadcast address, not reserved.
    fn assignable(&self, ip: Ipv4Addr) -> bool {
        let host = u32::from(ip);
        self.subnet.contains(ip)
            && host != self.subnet.base
            && host != self.subnet.last()
            && !self.reserved.contains(&ip)
    }
}

/// The addresses in use in one subnet, and where the round-robin stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Allocations {
    /// Stored as runs (`"10.0.0.2-10.0.0.250"`, or one address), and held as runs too: a
    /// node's record is read and written on every start and exit, and a list of a thousand
    /// addresses made that cost grow with every running container. A plain list (the older
    /// form) reads too.
    pub in_use: AddressSet,
    pub last: Option<Ipv4Addr>,
}

impl Allocations {
    /// The next free address of the space's range after the last one handed out; `None` when
    /// the range is full.
    pub fn allocate(&mut self, space: &AddressSpace) -> Option<Ipv4Addr> {
        let (low, count) = (space.range.base, space.range.size());
        let start = match self.last {
            Some(l) if space.range.contains(l) => u64::from(u32::from(l) - low) + 1,
            _ => 0,
        };
        let mut i = 0;
        while i < count {
            let off = u32::try_from((start + i) % count).unwrap_or(0);
            let ip = Ipv4Addr::from(low.wrapping_add(off));
            if let Some(end) = self.in_use.run_end(ip) {
                // Past the run in use, in one step (not beyond the range's end, where the
                // round-robin wraps).
                let end = u32::from(end).min(space.range.last());
                i += u64::from(end - u32::from(ip)) + 1;
                continue;
            }
            if space.assignable(ip) {
                self.in_use.insert(ip);
                self.last = Some(ip);
                return Some(ip);
            }
            i += 1;
        }
        None
    }

    /// Takes a specific address (`--ip`, anywhere in the subnet as Docker allows); false when
    /// it is in use, reserved or outside.
    pub fn reserve(&mut self, space: &AddressSpace, ip: Ipv4Addr) -> bool {
        space.assignable(ip) && self.in_use.insert(ip)
    }

    /// Gives an address back.
    pub fn release(&mut self, ip: Ipv4Addr) {
        self.in_use.remove(ip);
    }
}

/// Docker's MAC for an address: `02:42:` then the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// A unicast MAC from `aa:bb:cc:dd:ee:ff` (`-` separators too, as Go's `net.ParseMAC`).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return None;
    }
    for (byte, part) in mac.iter_mut().zip(&parts) {
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    // A multicast address on an interface would make the kernel refuse it.
    (mac[0] & 1 == 0).then_some(mac)
}

/// `aa:bb:…` text of a MAC.
pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools() -> Vec<AddressPool> {
        vec![AddressPool {
            base: "172.17.0.0/12".into(),
            size: 16,
        }]
    }

    #[test]
    fn the_default_pool_starts_at_172_17_and_skips_taken_subnets() {
        let first = pick_subnet(&pools(), &[]).unwrap();
        assert_eq!(first.to_string(), "172.17.0.0/16");
        let taken = [Subnet::parse("172.17.5.0/24").unwrap()];
        assert_eq!(
            pick_subnet(&pools(), &taken).unwrap().to_string(),
            "172.18.0.0/16"
        );
    }

    #[test]
    fn an_exhausted_pool_gives_nothing() {
        let all: Vec<Subnet> = vec![Subnet::parse("172.16.0.0/12").unwrap()];
        assert!(pick_subnet(&pools(), &all).is_none());
    }

    #[test]
    fn addresses_are_never_handed_out_twice_and_released_ones_come_last() {
        let net = Subnet::parse("10.9.0.0/29").unwrap();
        let gw = &AddressSpace::whole(net, net.first_host());
        let mut a = Allocations::default();
        let got: Vec<Ipv4Addr> = (0..5).map(|_| a.allocate(gw).unwrap()).collect();
        assert_eq!(got[0], Ipv4Addr::new(10, 9, 0, 2));
        assert_eq!(got[4], Ipv4Addr::new(10, 9, 0, 6));
        assert!(
            a.allocate(gw).is_none(),
            "a /29 has 5 addresses besides the gateway"
        );
        a.release(got[1]);
        assert_eq!(a.allocate(gw), Some(got[1]));
        a.release(got[0]);
        a.release(got[3]);
        assert_eq!(a.allocate(gw), Some(got[3]), "round-robin goes on after .3");
    }

    #[test]
    fn addresses_in_use_are_stored_as_runs_and_the_older_list_still_reads() {
        let mut a = Allocations::default();
        for h in (2..=250).chain([252, 254]) {
            a.in_use.insert(Ipv4Addr::new(10, 9, 0, h));
        }
        a.last = Some(Ipv4Addr::new(10, 9, 0, 254));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(
            json,
            r#"{"in_use":["10.9.0.2-10.9.0.250","10.9.0.252","10.9.0.254"],"last":"10.9.0.254"}"#
        );
        assert_eq!(serde_json::from_str::<Allocations>(&json).unwrap(), a);
        let older = r#"{"in_use":["10.9.0.3","10.9.0.2"],"last":null}"#;
        let read: Allocations = serde_json::from_str(older).unwrap();
        assert_eq!(
            read.in_use.iter().collect::<Vec<_>>(),
            [Ipv4Addr::new(10, 9, 0, 2), Ipv4Addr::new(10, 9, 0, 3)]
        );
        for bad in [
            r#"{"in_use":["10.9.0.9-10.9.0.2"],"last":null}"#,
            r#"{"in_use":["10.9.0.x"],"last":null}"#,
            r#"{"in_use":["0.0.0.0-255.255.255.255"],"last":null}"#,
        ] {
            assert!(serde_json::from_str::<Allocations>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allocation_steps_over_runs_in_use_and_wraps_at_the_ranges_end() {
        let net = Subnet::parse("10.9.0.0/22").unwrap();
        let space = AddressSpace::whole(net, net.first_host());
        let mut a = Allocations::default();
        let first: Vec<Ipv4Addr> = (0..1000).map(|_| a.allocate(&space).unwrap()).collect();
        assert_eq!(first[999], Ipv4Addr::new(10, 9, 3, 233));
        a.release(Ipv4Addr::new(10, 9, 0, 200));
        // After .3.233 come the last 21 of the /22 (not .3.255, its broadcast), then the hole.
        let next: Vec<Ipv4Addr> = (0..22).map(|_| a.allocate(&space).unwrap()).collect();
        assert_eq!(next[0], Ipv4Addr::new(10, 9, 3, 234));
        assert_eq!(next[20], Ipv4Addr::new(10, 9, 3, 254));
        assert_eq!(next[21], Ipv4Addr::new(10, 9, 0, 200));
        assert_eq!(a.allocate(&space), None, "1,021 of 1,021 handed out");
        assert_eq!(a.in_use.len(), 1021);
    }

    #[test]
    fn reserve_refuses_the_gateway_and_addresses_in_use() {
        let net = Subnet::parse("10.9.0.0/24").unwrap();
        let space = AddressSpace::whole(net, net.first_host());
        let mut a = Allocations::default();
        assert!(!a.reserve(&space, net.first_host()));
        assert!(a.reserve(&space, Ipv4Addr::new(10, 9, 0, 7)));
        assert!(!a.reserve(&space, Ipv4Addr::new(10, 9, 0, 7)));
        assert!(!a.reserve(&space, Ipv4Addr::new(10, 8, 0, 7)));
        assert!(!a.reserve(&space, Ipv4Addr::new(10, 9, 0, 255)));
    }

    #[test]
    fn a_range_bounds_dynamic_addresses_and_aux_addresses_are_never_given() {
        let subnet = Subnet::parse("10.9.0.0/24").unwrap();
        let space = AddressSpace {
            subnet,
            range: Subnet::parse("10.9.0.128/30").unwrap(),
            reserved: vec![Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(10, 9, 0, 129)],
        };
        let mut a = Allocations::default();
        let got: Vec<Ipv4Addr> = std::iter::from_fn(|| a.allocate(&space)).collect();
        assert_eq!(
            got,
            [128, 130, 131].map(|h| Ipv4Addr::new(10, 9, 0, h)).to_vec()
        );
        // A static address may sit outside the range, as in Docker, but not on an aux one.
        assert!(a.reserve(&space, Ipv4Addr::new(10, 9, 0, 7)));
        assert!(!a.reserve(&space, Ipv4Addr::new(10, 9, 0, 129)));
    }

    #[test]
    fn macs_parse_as_go_reads_them_and_multicast_is_refused() {
        assert_eq!(
            parse_mac("02:42:ac:11:00:09"),
            Some([2, 0x42, 0xac, 0x11, 0, 9])
        );
        assert_eq!(
            parse_mac("02-42-AC-11-00-09"),
            Some([2, 0x42, 0xac, 0x11, 0, 9])
        );
        for bad in [
            "",
            "02:42:ac:11:00",
            "02:42:ac:11:00:0g",
            "01:00:5e:00:00:01",
            "2:42:ac:11:0:9",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn overlap_and_mac_follow_docker() {
        let a = Subnet::parse("10.1.0.0/16").unwrap();
        assert!(a.overlaps(&Subnet::parse("10.1.2.0/24").unwrap()));
        assert!(!a.overlaps(&Subnet::parse("10.2.0.0/16").unwrap()));
        assert_eq!(
            mac_text(mac_for(Ipv4Addr::new(172, 17, 0, 2))),
            "02:42:ac:11:00:02"
        );
    }
}
