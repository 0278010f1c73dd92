//! A networked container's `/etc/hosts` and `/etc/resolv.conf`, as pure functions of its
//! endpoints and requests (Docker's rules: user networks use the embedded DNS, the default
//! bridge copies the host's resolvers without loopback ones; `host-gateway` is the gateway).

use std::net::{IpAddr, Ipv4Addr};

/// `/etc/hosts`: localhost lines, `--add-host`s, legacy links' lines (`links`, made whole),
/// the container's own addresses (IPv4, then IPv6) with its name, in Docker's order.
pub fn hosts(
    (hostname, domainname): (&str, &str),
    own: &[IpAddr],
    extra: &[String],
    links: &[String],
    gateway: Option<Ipv4Addr>,
) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for e in extra {
        let Some((name, ip)) = e.rsplit_once(':').or_else(|| e.split_once('=')) else {
            continue;
        };
        let ip = if ip == "host-gateway" {
            match gateway {
                Some(g) => g.to_string(),
                None => continue,
            }
        } else {
            ip.to_string()
        };
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    for l in links {
        s.push_str(l);
        s.push('\n');
    }
    // With a domain name, the full name first (libnetwork's `hostname.domainname hostname`).
    let names = match domainname {
        "" => hostname.to_string(),
        domain => format!("{hostname}.{domain} {hostname}"),
    };
    for ip in own {
        s.push_str(&format!("{ip}\t{names}\n"));
    }
    s
}

/// `/etc/resolv.conf`: the embedded DNS (user networks), which relays what it does not know to
/// the `--dns` servers (or the host's); else `--dns`; else the host's resolvers minus loopback
/// ones, which the container cannot reach.
pub fn resolv_conf(
    host: &str,
    embedded: Option<Ipv4Addr>,
    dns: &[String],
    search: &[String],
    options: &[String],
) -> String {
    let mut out = String::new();
    let host_search: Vec<&str> = host
        .lines()
        .filter(|l| l.starts_with("search") || l.starts_with("options"))
        .collect();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    } else {
        for l in host_search.iter().filter(|l| l.starts_with("search")) {
            out.push_str(&format!("{l}\n"));
        }
    }
    if let Some(gw) = embedded {
        out.push_str(&format!("nameserver {gw}\n"));
    } else if !dns.is_empty() {
        for d in dns {
            out.push_str(&format!("nameserver {d}\n"));
        }
    } else {
        for l in host
            .lines()
            .filter(|l| l.trim_start().starts_with("nameserver"))
        {
            let ip = l.trim().trim_start_matches("nameserver").trim();
            if !ip.starts_with("127.") && ip != "::1" {
                out.push_str(&format!("nameserver {ip}\n"));
            }
        }
    }
    let mut opts: Vec<String> = options.to_vec();
    if embedded.is_some() && !opts.iter().any(|o| o.starts_with("ndots")) {
        opts.push("ndots:0".into());
    }
    if !opts.is_empty() {
        out.push_str(&format!("options {}\n", opts.join(" ")));
    }
    out
}

/// `/etc/resolv.conf` of a container on the host's network (`host_network`) or on none, as
/// Docker writes them: the host's file as it is on the host's network (its loopback resolvers
/// answer there), else the host's resolvers without loopback ones; `--dns`, `--dns-search`
/// and `--dns-option` apply to both.
pub fn resolv_conf_without_network(
    host: &str,
    host_network: bool,
    dns: &[String],
    search: &[String],
    options: &[String],
) -> String {
    if !host_network {
        return resolv_conf(host, None, dns, search, options);
    }
    if dns.is_empty() && search.is_empty() && options.is_empty() {
        return host.to_string();
    }
    let host_resolvers: Vec<String> = host
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(|ip| ip.trim().to_string())
        .collect();
    let dns = if dns.is_empty() { &host_resolvers } else { dns };
    resolv_conf(host, None, dns, search, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_network_and_none_get_the_hosts_resolvers_and_the_containers_own() {
        let host = "search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n";
        let f = |host_network: bool, dns: &[&str], search: &[&str]| {
            let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            resolv_conf_without_network(host, host_network, &owned(dns), &owned(search), &[])
        };
        assert_eq!(f(true, &[], &[]), host);
        assert_eq!(
            f(true, &["1.1.1.1"], &[]),
            "search lan\nnameserver 1.1.1.1\n"
        );
        assert_eq!(
            f(true, &[], &["x.example"]),
            "search x.example\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n"
        );
        assert_eq!(f(false, &[], &[]), "search lan\nnameserver 10.0.0.2\n");
        assert_eq!(
            f(false, &["1.1.1.1"], &["x.example"]),
            "search x.example\nnameserver 1.1.1.1\n"
        );
    }

    #[test]
    fn hosts_has_the_own_address_and_host_gateway_becomes_the_gateway() {
        let h = hosts(
            ("web", ""),
            &[IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))],
            &[
                "db:10.1.1.1".into(),
                "host.docker.internal:host-gateway".into(),
            ],
            &["10.0.0.3\tdb 0123456789ab cache".into()],
            Some(Ipv4Addr::new(10, 0, 0, 1)),
        );
        assert!(h.contains("10.0.0.3\tdb 0123456789ab cache\n10.0.0.2\tweb\n"));
        assert!(h.contains("10.0.0.2\tweb\n"));
        assert!(h.contains("10.1.1.1\tdb\n"));
        assert!(h.contains("10.0.0.1\thost.docker.internal\n"));
        // Without an address of its own (none, the host's network) Docker writes no name line.
        let h = hosts(("web", ""), &[], &["db:10.1.1.1".into()], &[], None);
        assert!(
            h.ends_with("ff02::2\tip6-allrouters\n10.1.1.1\tdb\n"),
            "{h}"
        );
    }

    #[test]
    fn a_container_on_an_ipv6_network_has_both_its_addresses_under_its_name() {
        let own = [
            IpAddr::V4(Ipv4Addr::new(172, 19, 0, 2)),
            IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2)),
        ];
        let h = hosts(("web", ""), &own, &[], &[], None);
        assert!(h.ends_with("172.19.0.2\tweb\n2001:db8:2::2\tweb\n"), "{h}");
        // A domain name: the full name first, as libnetwork writes it.
        let h = hosts(("web", "d.example"), &own[..1], &[], &[], None);
        assert!(h.ends_with("172.19.0.2\tweb.d.example web\n"), "{h}");
    }

    #[test]
    fn user_networks_point_at_the_embedded_dns_and_the_bridge_drops_loopback_resolvers() {
        let host = "nameserver 127.0.0.53\nnameserver 10.9.9.9\nsearch lan\n";
        let r = resolv_conf(host, Some(Ipv4Addr::new(10, 0, 0, 1)), &[], &[], &[]);
        assert_eq!(r, "search lan\nnameserver 10.0.0.1\noptions ndots:0\n");
        let r = resolv_conf(host, None, &[], &[], &[]);
        assert_eq!(r, "search lan\nnameserver 10.9.9.9\n");
        let r = resolv_conf(host, None, &["1.1.1.1".into()], &["x".into()], &[]);
        assert_eq!(r, "search x\nnameserver 1.1.1.1\n");
        // On a user network `--dns` is where the embedded DNS relays to, as Docker's: the file
        // still names the embedded one (berth wrote the servers, and names stopped resolving).
        let gw = Some(Ipv4Addr::new(10, 0, 0, 1));
        let r = resolv_conf(host, gw, &["9.9.9.9".into()], &["a.b".into()], &[]);
        assert_eq!(r, "search a.b\nnameserver 10.0.0.1\noptions ndots:0\n");
        let r = resolv_conf(host, gw, &["9.9.9.9".into()], &[], &["ndots:3".into()]);
        assert_eq!(r, "search lan\nnameserver 10.0.0.1\noptions ndots:3\n");
    }
}
