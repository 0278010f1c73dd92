//! VIP load balancing without IPVS: inside each container on an overlay network, an nftables
//! table whose output hook sends new connections to a service's VIP to one of its running
//! tasks (`dnat to numgen inc mod N map`), round robin. Done in the client's own namespace, as
//! Docker's IPVS is, so replies come back through the same conntrack entry and the tasks see
//! the client's real address.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::error::Result;

/// The table berth keeps in a container's namespace.
pub const TABLE: &str = "berth_vip";

/// The rule set for these (VIP, backends): replaces the table in one transaction. A VIP
/// without running tasks gets no rule.
pub fn render(vips: &[(Ipv4Addr, Vec<Ipv4Addr>)]) -> String {
    let mut out = format!("table ip {TABLE} {{}}\ndelete table ip {TABLE}\ntable ip {TABLE} {{\n");
    out.push_str("  chain output {\n    type nat hook output priority -100; policy accept;\n");
    for (vip, backends) in vips.iter().filter(|(_, b)| !b.is_empty()) {
        let map: Vec<String> = backends
            .iter()
            .enumerate()
            .map(|(i, ip)| format!("{i} : {ip}"))
            .collect();
        let _ = writeln!(
            out,
            "    ip daddr {vip} dnat to numgen inc mod {} map {{ {} }}",
            backends.len(),
            map.join(", ")
        );
    }
    out.push_str("  }\n}\n");
    out
}

/// Loads `rules` with `nft` inside the network namespace bound at `netns`.
pub fn apply_in(netns: &Path, rules: &str) -> Result<()> {
    super::nft::nft_in(Some(netns), rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_vip_with_tasks_spreads_new_connections_round_robin() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let r = render(&[
            (ip("10.0.0.2"), vec![ip("10.0.0.3"), ip("10.0.0.4")]),
            (ip("10.0.0.9"), vec![]),
        ]);
        assert!(r.starts_with("table ip berth_vip {}\ndelete table ip berth_vip\n"));
        assert!(r.contains("type nat hook output priority -100;"));
        assert!(r.contains(
            "ip daddr 10.0.0.2 dnat to numgen inc mod 2 map { 0 : 10.0.0.3, 1 : 10.0.0.4 }"
        ));
        assert!(!r.contains("10.0.0.9"), "a VIP without tasks gets no rule");
    }
}
