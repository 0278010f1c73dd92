//! The nftables rule set of berthd's own table as data (`Ruleset`), rendered to `nft` syntax by
//! a pure function, and `NftFirewall`, which replaces the whole table atomically with `nft -f -`.
//! Must never name another table.

use std::io::Write as _;
use std::process::{Command, Stdio};

use super::Firewall;
use crate::error::{EngineError, Result};

/// One bridge network as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallNet {
    pub bridge: String,
    pub subnet: String,
    pub internal: bool,
    /// Rewrite the source of traffic leaving the host (`enable_ip_masquerade`).
    pub masquerade: bool,
    /// The network has IPv6 on: the same isolation applies to its IPv6 traffic.
    pub ipv6: bool,
}

/// One published port: traffic from elsewhere to `host_ip:host_port` goes to `ip:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dnat {
    pub proto: String,
    /// `None` for every host address.
    pub host_ip: Option<String>,
    pub host_port: u16,
    pub ip: String,
    pub port: u16,
}

/// The whole table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub table: String,
    pub networks: Vec<FirewallNet>,
    pub dnats: Vec<Dnat>,
    /// No network has IPv6 on any more: the IPv6 table an earlier set made is deleted.
    pub drop_ipv6_table: bool,
}

impl Ruleset {
    /// `nft -f` input that replaces the table in one transaction.
    pub fn render(&self) -> String {
        let t = &self.table;
        let mut pre = String::new();
        for d in &self.dnats {
            let dst = match &d.host_ip {
                Some(ip) => format!("ip daddr {ip}"),
                None => "fib daddr type local".to_string(),
            };
            pre.push_str(&format!(
                "    {dst} {} dport {} dnat to {}:{}\n",
                d.proto, d.host_port, d.ip, d.port
            ));
        }
        let mut post = String::new();
        for n in self.networks.iter().filter(|n| !n.internal && n.masquerade) {
            post.push_str(&format!(
                "    ip saddr {} oifname != \"{}\" masquerade\n",
                n.subnet, n.bridge
            ));
        }
        let fwd = isolation(self.networks.iter());
        let mut out = format!(
            "table ip {t} {{}}\ndelete table ip {t}\ntable ip {t} {{\n\
             \x20 chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n{pre}  }}\n\
             \x20 chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n{post}  }}\n\
             \x20 chain forward {{\n    type filter hook forward priority filter; policy accept;\n{fwd}  }}\n}}\n"
        );
        // IPv6 as Docker 20.10 without `--ip6tables`: no address rewriting; but the networks
        // are kept apart and internal ones closed for IPv6 too, as for IPv4 (the host forwards
        // IPv6 between bridges once a network has it on).
        if self.has_ipv6() {
            let fwd6 = isolation(self.networks.iter().filter(|n| n.ipv6));
            out.push_str(&format!(
                "table ip6 {t} {{}}\ndelete table ip6 {t}\ntable ip6 {t} {{\n\
                 \x20 chain forward {{\n    type filter hook forward priority filter; policy accept;\n{fwd6}  }}\n}}\n"
            ));
        } else if self.drop_ipv6_table {
            out.push_str(&format!("table ip6 {t} {{}}\ndelete table ip6 {t}\n"));
        }
        out
    }

    /// Whether some network has IPv6 on (the set has an IPv6 table).
    pub fn has_ipv6(&self) -> bool {
        self.networks.iter().any(|n| n.ipv6)
    }
}

/// The forward chain's rules: an internal network's bridge talks only to itself, and no
/// network's bridge forwards to another's.
fn isolation<'a>(networks: impl Iterator<Item = &'a FirewallNet> + Clone) -> String {
    let mut fwd = String::new();
    for n in networks.clone() {
        let b = &n.bridge;
        if n.internal {
            fwd.push_str(&format!("    iifname \"{b}\" oifname != \"{b}\" drop\n"));
            fwd.push_str(&format!("    oifname \"{b}\" iifname != \"{b}\" drop\n"));
        }
        for other in networks.clone().filter(|o| o.bridge != *b) {
            fwd.push_str(&format!(
                "    iifname \"{b}\" oifname \"{}\" drop\n",
                other.bridge
            ));
        }
    }
    fwd
}

/// The real firewall: the `nft` binary fed on stdin.
#[derive(Debug, Default)]
pub struct NftFirewall;

fn nft(input: &str) -> Result<()> {
    nft_in(None, input)
}

/// Feeds `input` to `nft -f -`, inside the network namespace bound at `netns` when given.
pub(super) fn nft_in(netns: Option<&std::path::Path>, input: &str) -> Result<()> {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net={}", ns.display())).arg("nft");
            c
        }
        None => Command::new("nft"),
    };
    let mut child = cmd
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| EngineError::io("run nft", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| EngineError::io("write to nft", e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| EngineError::io("wait for nft", e))?;
    if !out.status.success() {
        let place = netns
            .map(|n| format!(" in {}", n.display()))
            .unwrap_or_default();
        return Err(EngineError::Internal(format!(
            "nft{place}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

impl Firewall for NftFirewall {
    fn apply(&self, rules: &Ruleset) -> Result<()> {
        nft(&rules.render())
    }

    fn remove(&self, table: &str) -> Result<()> {
        nft(&format!("table ip {table} {{}}\ndelete table ip {table}\n"))?;
        nft(&format!(
            "table ip6 {table} {{}}\ndelete table ip6 {table}\n"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Ruleset {
        Ruleset {
            table: "berth".into(),
            networks: vec![
                FirewallNet {
                    bridge: "berth0".into(),
                    subnet: "172.17.0.0/16".into(),
                    internal: false,
                    masquerade: true,
                    ipv6: false,
                },
                FirewallNet {
                    bridge: "br-nomasq".into(),
                    subnet: "10.6.0.0/24".into(),
                    internal: false,
                    masquerade: false,
                    ipv6: false,
                },
                FirewallNet {
                    bridge: "br-int".into(),
                    subnet: "10.5.0.0/24".into(),
                    internal: true,
                    masquerade: true,
                    ipv6: false,
                },
            ],
            dnats: vec![Dnat {
                proto: "tcp".into(),
                host_ip: None,
                host_port: 8080,
                ip: "172.17.0.2".into(),
                port: 80,
            }],
            drop_ipv6_table: false,
        }
    }

    #[test]
    fn the_table_is_replaced_in_one_transaction_and_nothing_else_is_named() {
        let text = rules().render();
        assert!(text.starts_with("table ip berth {}\ndelete table ip berth\ntable ip berth {"));
        assert_eq!(text.matches("table ip ").count(), 3);
    }

    #[test]
    fn bridges_masquerade_internal_networks_are_closed_and_networks_are_isolated() {
        let text = rules().render();
        assert!(text.contains("ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade"));
        assert!(!text.contains("10.5.0.0/24 oifname"));
        assert!(!text.contains("10.6.0.0/24"), "enable_ip_masquerade=false");
        assert!(text.contains("iifname \"br-int\" oifname != \"br-int\" drop"));
        assert!(text.contains("iifname \"berth0\" oifname \"br-int\" drop"));
        assert!(text.contains("iifname \"br-int\" oifname \"berth0\" drop"));
    }

    #[test]
    fn networks_with_ipv6_are_kept_apart_for_ipv6_too_and_the_table_goes_with_the_last() {
        let mut r = rules();
        assert!(
            !r.render().contains("ip6"),
            "no IPv6 network, no IPv6 table"
        );
        r.networks[1].ipv6 = true;
        r.networks[2].ipv6 = true;
        let text = r.render();
        let (v4, v6) = text
            .split_once("table ip6 berth {}\ndelete table ip6 berth\ntable ip6 berth {")
            .unwrap_or_default();
        assert!(v4.contains("iifname \"berth0\" oifname \"br-int\" drop"));
        assert!(v6.contains("iifname \"br-nomasq\" oifname \"br-int\" drop"));
        assert!(v6.contains("iifname \"br-int\" oifname != \"br-int\" drop"));
        assert!(!v6.contains("berth0"), "{v6}");
        assert!(!v6.contains("masquerade") && !v6.contains("nat"), "{v6}");
        let mut gone = rules();
        gone.drop_ipv6_table = true;
        assert!(gone
            .render()
            .ends_with("table ip6 berth {}\ndelete table ip6 berth\n"));
    }

    #[test]
    fn published_ports_become_dnat_rules_for_local_addresses() {
        assert!(rules()
            .render()
            .contains("fib daddr type local tcp dport 8080 dnat to 172.17.0.2:80"));
    }
}
