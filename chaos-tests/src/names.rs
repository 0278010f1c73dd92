//! The naming scheme: every kernel object and path a cluster creates carries its prefix
//! (`bc` + 5 hex digits), so parallel clusters never collide and leftovers are recognizable.
//! Pure: no I/O here.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// The head of every prefix the harness makes; `sweep_leftovers(PREFIX_HEAD)` finds them all.
pub const PREFIX_HEAD: &str = "bc";

/// How many hex digits follow the head.
const HEX_DIGITS: usize = 5;

/// Where `ip netns` keeps named network namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// The names of one cluster's objects, all derived from its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// A fresh random prefix under `head` (`head` must be short: link names have 15 bytes).
    pub fn random(head: &str) -> Self {
        let v = rand::random::<u32>() & 0xf_ffff;
        Names {
            prefix: format!("{head}{v:05x}"),
        }
    }

    /// The names of the cluster with this prefix.
    pub fn new(prefix: &str) -> Self {
        Names {
            prefix: prefix.to_string(),
        }
    }

    /// The prefix itself.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The switch namespace, holding the bridge and the switch ends of the veths.
    pub fn switch_netns(&self) -> String {
        format!("{}-sw", self.prefix)
    }

    /// Node `i`'s namespace.
    pub fn node_netns(&self, i: usize) -> String {
        format!("{}-n{i}", self.prefix)
    }

    /// The bridge in the switch namespace.
    pub fn bridge(&self) -> String {
        format!("{}br", self.prefix)
    }

    /// Node `i`'s veth end on the bridge.
    pub fn switch_veth(&self, i: usize) -> String {
        format!("{}s{i}", self.prefix)
    }

    /// Node `i`'s veth end inside its namespace.
    pub fn node_veth(&self, i: usize) -> String {
        format!("{}n{i}", self.prefix)
    }

    /// The default bridge node `i`'s berthd creates (inside the node's namespace).
    pub fn node_bridge(&self, i: usize) -> String {
        format!("{}b{i}", self.prefix)
    }

    /// The cgroup parent of node `i`'s containers (a top-level cgroup of every hierarchy).
    pub fn cgroup_parent(&self, i: usize) -> String {
        format!("{}-n{i}", self.prefix)
    }

    /// The nftables table node `i`'s berthd owns (inside the node's namespace).
    pub fn nft_table(&self, i: usize) -> String {
        format!("berth_{}_n{i}", self.prefix)
    }

    /// The cluster's directory under `base`.
    pub fn root(&self, base: &Path) -> PathBuf {
        base.join(&self.prefix)
    }

    /// The owner's lock file under `base`, held for the cluster's whole life.
    pub fn lock(&self, base: &Path) -> PathBuf {
        base.join(format!("{}.lock", self.prefix))
    }
}

/// The directory holding every cluster's root and lock file.
pub fn base_dir() -> PathBuf {
    std::env::temp_dir().join("berth-chaos")
}

/// Whether `s` is a prefix of the scheme: `head` then exactly five lower-case hex digits.
pub fn is_prefix(s: &str, head: &str) -> bool {
    s.strip_prefix(head).is_some_and(|rest| {
        rest.len() == HEX_DIGITS
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The prefix of a harness-made name (`bc1a2b3-n0`, `bc1a2b3.lock`, `bc1a2b3`), if it has one.
pub fn prefix_of<'a>(name: &'a str, head: &str) -> Option<&'a str> {
    let end = head.len() + HEX_DIGITS;
    let prefix = name.get(..end)?;
    let rest = &name[end..];
    let tail_ok = rest.is_empty() || rest.starts_with('-') || rest == ".lock";
    (tail_ok && is_prefix(prefix, head)).then_some(prefix)
}

/// The `attempt`-th candidate /24 for the cluster with `prefix`: 10.250-254.x.0. Those
/// second octets are left alone by the node tests (10.100-199) and benches (10.200-249).
pub fn subnet_candidate(prefix: &str, attempt: u32) -> Ipv4Addr {
    let seed = prefix
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let v = seed.wrapping_add(attempt.wrapping_mul(7919)) % (5 * 256);
    let [_, _, hi, lo] = v.to_be_bytes();
    Ipv4Addr::new(10, 250 + hi, lo, 0)
}

/// Whether the /24 at `net` overlaps the network of the address `addr/prefix_len`.
pub fn overlaps(net: Ipv4Addr, addr: IpAddr, prefix_len: u8) -> bool {
    let IpAddr::V4(a) = addr else {
        return false;
    };
    let len = u32::from(prefix_len.min(24));
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(net) & mask == u32::from(a) & mask
}

/// Node `i`'s address on the switch: `.i+1` in the cluster's /24.
pub fn node_ip(net: Ipv4Addr, i: usize) -> Ipv4Addr {
    let [a, b, c, _] = net.octets();
    Ipv4Addr::new(a, b, c, u8::try_from(i + 1).unwrap_or(u8::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_link_name_fits_the_kernel_limit() {
        let n = Names::random(PREFIX_HEAD);
        for name in [
            n.bridge(),
            n.switch_veth(199),
            n.node_veth(199),
            n.node_bridge(199),
        ] {
            assert!(name.len() <= 15, "{name}");
            assert!(name.starts_with(n.prefix()));
        }
        assert!(is_prefix(n.prefix(), PREFIX_HEAD), "{}", n.prefix());
    }

    #[test]
    fn prefixes_are_recognized_only_in_the_scheme() {
        assert_eq!(prefix_of("bc1a2b3-n0", "bc"), Some("bc1a2b3"));
        assert_eq!(prefix_of("bc1a2b3-sw", "bc"), Some("bc1a2b3"));
        assert_eq!(prefix_of("bc1a2b3.lock", "bc"), Some("bc1a2b3"));
        assert_eq!(prefix_of("bc1a2b3", "bc"), Some("bc1a2b3"));
        assert_eq!(prefix_of("bc1a2b3x", "bc"), None);
        assert_eq!(prefix_of("bc1A2b3-n0", "bc"), None);
        assert_eq!(prefix_of("bc1a2", "bc"), None);
        assert_eq!(prefix_of("berth0", "bc"), None);
    }

    #[test]
    fn subnet_candidates_stay_in_the_reserved_range() {
        for attempt in 0..2000 {
            let [a, b, _, d] = subnet_candidate("bc0f00d", attempt).octets();
            assert_eq!((a, d), (10, 0));
            assert!((250..=254).contains(&b));
        }
        assert_ne!(
            subnet_candidate("bc0f00d", 0),
            subnet_candidate("bc0f00d", 1)
        );
    }

    #[test]
    fn overlap_compares_the_shorter_network() {
        let net = Ipv4Addr::new(10, 251, 7, 0);
        assert!(overlaps(net, "10.251.7.9".parse().unwrap(), 32));
        assert!(overlaps(net, "10.0.0.1".parse().unwrap(), 8));
        assert!(!overlaps(net, "10.251.8.1".parse().unwrap(), 24));
        assert!(!overlaps(net, "::1".parse().unwrap(), 128));
        assert!(overlaps(net, "192.168.0.1".parse().unwrap(), 0));
    }

    #[test]
    fn node_addresses_start_at_one() {
        let net = Ipv4Addr::new(10, 252, 3, 0);
        assert_eq!(node_ip(net, 0), Ipv4Addr::new(10, 252, 3, 1));
        assert_eq!(node_ip(net, 2), Ipv4Addr::new(10, 252, 3, 3));
    }
}
