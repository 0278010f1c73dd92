//! The address a node advertises when it is not given one, or given an interface's name, as
//! moby picks it (`daemon/cluster/listen_addr.go`): an interface's only address (IPv4 before
//! IPv6), or the system's only one, leaving out loopback, link-local, down interfaces and the
//! engine's own local networks (a bridge's gateway is not a way to reach this node).

use std::net::{IpAddr, Ipv4Addr};

/// One address of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddr {
    pub interface: String,
    pub ip: IpAddr,
    /// The interface is up and not a loopback.
    pub usable: bool,
}

/// The host's interface addresses.
pub fn interface_addrs() -> Vec<InterfaceAddr> {
    use nix::net::if_::InterfaceFlags;
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|a| {
            let address = a.address?;
            let ip = if let Some(v4) = address.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else {
                IpAddr::V6(address.as_sockaddr_in6()?.ip())
            };
            let usable = a.flags.contains(InterfaceFlags::IFF_UP)
                && !a.flags.contains(InterfaceFlags::IFF_LOOPBACK);
            Some(InterfaceAddr {
                interface: a.interface_name,
                ip,
                usable,
            })
        })
        .collect()
}

/// Whether moby counts `ip` as an address to advertise (Go's `IsGlobalUnicast`).
fn is_global_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified())
        }
        IpAddr::V6(v6) => {
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            !(v6.is_loopback() || v6.is_multicast() || v6.is_unspecified() || link_local)
        }
    }
}

/// Whether `ip` is in one of `subnets` (`a.b.c.d/n`).
fn in_subnets(ip: IpAddr, subnets: &[String]) -> bool {
    let IpAddr::V4(ip) = ip else {
        return false;
    };
    subnets.iter().any(|s| {
        let Some((net, bits)) = s.split_once('/') else {
            return false;
        };
        let (Ok(net), Ok(bits)) = (net.parse::<Ipv4Addr>(), bits.parse::<u32>()) else {
            return false;
        };
        let mask = u32::MAX.checked_shl(32 - bits.min(32)).unwrap_or(0);
        u32::from(ip) & mask == u32::from(net) & mask
    })
}

fn multiple(a: (&str, IpAddr), b: (&str, IpAddr)) -> String {
    if a.0 == b.0 {
        format!(
            "could not choose an IP address to advertise since this system has multiple addresses on interface {} ({} and {})",
            a.0, a.1, b.1
        )
    } else {
        format!(
            "could not choose an IP address to advertise since this system has multiple addresses on different interfaces ({} on {} and {} on {})",
            a.1, a.0, b.1, b.0
        )
    }
}

/// The one global IPv4 address (else the one global IPv6 address) `interface` has, among
/// `addrs`; none for an interface with an address in `skip`'s subnets, which moby leaves out
/// whole; moby's errors for two of a family.
fn interface_choice(
    interface: &str,
    addrs: &[InterfaceAddr],
    skip: &[String],
) -> Result<Option<IpAddr>, String> {
    let (mut v4, mut v6): (Option<IpAddr>, Option<IpAddr>) = (None, None);
    for a in addrs.iter().filter(|a| a.interface == interface) {
        if !is_global_unicast(a.ip) {
            continue;
        }
        if in_subnets(a.ip, skip) {
            return Ok(None);
        }
        let slot = if a.ip.is_ipv4() { &mut v4 } else { &mut v6 };
        if let Some(first) = *slot {
            return Err(multiple((interface, first), (interface, a.ip)));
        }
        *slot = Some(a.ip);
    }
    Ok(v4.or(v6))
}

/// The address of the interface named `name` (`--advertise-addr eth0`), as moby's
/// `resolveInterfaceAddr` gives it: its one IPv4 address, else its one IPv6 address, every
/// address counted (a link-local IPv6 one too).
pub fn of_interface(name: &str, addrs: &[InterfaceAddr]) -> Result<IpAddr, String> {
    if !addrs.iter().any(|a| a.interface == name) {
        return Err(format!("no such interface: {name}"));
    }
    let (mut v4, mut v6): (Option<IpAddr>, Option<IpAddr>) = (None, None);
    for a in addrs.iter().filter(|a| a.interface == name) {
        let (slot, family) = if a.ip.is_ipv4() {
            (&mut v4, "IPv4")
        } else {
            (&mut v6, "IPv6")
        };
        if let Some(first) = *slot {
            return Err(format!(
                "interface {name} has more than one {family} address ({first} and {})",
                a.ip
            ));
        }
        *slot = Some(a.ip);
    }
    v4.or(v6)
        .ok_or_else(|| format!("interface {name} has no usable IPv4 or IPv6 address"))
}

/// The system's one address to advertise: each usable interface's choice, and only one
/// interface may have one; `skip` are the engine's own local networks.
pub fn choose(addrs: &[InterfaceAddr], skip: &[String]) -> Result<IpAddr, String> {
    let mut found: Option<(String, IpAddr)> = None;
    let mut names: Vec<&str> = Vec::new();
    for a in addrs.iter().filter(|a| a.usable) {
        if !names.contains(&a.interface.as_str()) {
            names.push(&a.interface);
        }
    }
    for name in names {
        let Some(ip) = interface_choice(name, addrs, skip)? else {
            continue;
        };
        if let Some((first, at)) = &found {
            return Err(multiple((first, *at), (name, ip)));
        }
        found = Some((name.to_string(), ip));
    }
    found.map(|(_, ip)| ip).ok_or_else(|| {
        // The clients add " - specify one with --advertise-addr", as docker's does.
        "could not find the system's IP address".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(interface: &str, ip: &str, usable: bool) -> InterfaceAddr {
        InterfaceAddr {
            interface: interface.into(),
            ip: ip.parse().unwrap(),
            usable,
        }
    }

    #[test]
    fn the_one_address_outside_the_engines_networks_is_chosen() {
        let addrs = [
            at("lo", "127.0.0.1", false),
            at("eth0", "192.0.2.2", true),
            at("eth0", "fd00::2", true),
            at("eth0", "fe80::1", true),
            at("berth0", "172.17.0.1", true),
            at("down0", "10.9.9.9", false),
        ];
        let skip = ["172.17.0.0/16".to_string()];
        assert_eq!(choose(&addrs, &skip), Ok("192.0.2.2".parse().unwrap()));
        // Without knowing the bridge is the engine's, two interfaces have one each.
        assert_eq!(
            choose(&addrs, &[]),
            Err("could not choose an IP address to advertise since this system has multiple addresses on different interfaces (192.0.2.2 on eth0 and 172.17.0.1 on berth0)".into())
        );
        let two = [at("eth0", "192.0.2.2", true), at("eth0", "192.0.2.3", true)];
        assert!(choose(&two, &[])
            .unwrap_err()
            .contains("multiple addresses on interface eth0 (192.0.2.2 and 192.0.2.3)"));
        assert_eq!(
            choose(&[at("lo", "127.0.0.1", false)], &[]),
            Err("could not find the system's IP address".into())
        );
        // An interface with an address in the engine's networks is left out whole.
        let mixed = [
            at("eth0", "192.0.2.2", true),
            at("br1", "172.17.0.1", true),
            at("br1", "198.51.100.1", true),
        ];
        assert_eq!(choose(&mixed, &skip), Ok("192.0.2.2".parse().unwrap()));
        let v6 = [at("eth1", "fe80::1", true), at("eth1", "2001:db8::5", true)];
        assert_eq!(choose(&v6, &[]), Ok("2001:db8::5".parse().unwrap()));
    }

    #[test]
    fn an_interface_name_gives_its_address() {
        let addrs = [at("eth0", "192.0.2.2", true), at("eth0", "fd00::2", true)];
        assert_eq!(
            of_interface("eth0", &addrs),
            Ok("192.0.2.2".parse().unwrap())
        );
        assert_eq!(
            of_interface("eth9", &addrs),
            Err("no such interface: eth9".into())
        );
        // moby counts every address of the interface, a link-local one too.
        assert_eq!(
            of_interface("eth0", &[at("eth0", "fe80::1", true)]),
            Ok("fe80::1".parse().unwrap())
        );
        assert_eq!(
            of_interface(
                "eth0",
                &[at("eth0", "fd00::2", true), at("eth0", "fe80::1", true)]
            ),
            Err("interface eth0 has more than one IPv6 address (fd00::2 and fe80::1)".into())
        );
    }
}
