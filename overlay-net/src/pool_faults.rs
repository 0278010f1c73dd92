//! A pool a network create asks for, checked as moby's `ValidateIPAM` (Docker 25 on) for
//! either address family: the subnet well formed and without host bits, the range, gateway and
//! auxiliary addresses inside it, every fault named in moby's order and words. Shared by the
//! node's local networks and the swarm's overlay networks.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use crate::ipam::Subnet;

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

/// A pool a create asks for: its subnet, gateway, range and auxiliary addresses as text.
#[derive(Debug, Clone, Copy)]
pub struct AskedPool<'a> {
    /// Empty when the create named a gateway, range or address without a subnet.
    pub subnet: &'a str,
    pub gateway: Option<&'a str>,
    pub ip_range: Option<&'a str>,
    pub aux: &'a BTreeMap<String, String>,
}

/// A pool's parts, checked against its subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolParts<S: FamilySubnet> {
    pub subnet: S,
    pub gateway: Option<S::Addr>,
    /// `--ip-range`, as text (`addr/len`); empty for the whole subnet.
    pub ip_range: String,
    pub aux_addresses: BTreeMap<String, S::Addr>,
}

/// The refusal moby answers for `faults` (400): one line, or a list of them.
pub fn refusal(faults: &[String]) -> String {
    let text = match faults {
        [one] => one.clone(),
        all => format!("* {}", all.join("\n* ")),
    };
    format!("invalid network config:\n{text}")
}

/// The address family of `text` (an address, or a block's address part), if it is one.
fn family_of(text: &str) -> Option<&'static str> {
    match text
        .split_once('/')
        .map_or(text, |(a, _)| a)
        .parse::<IpAddr>()
    {
        Ok(IpAddr::V4(_)) => Some("IPv4"),
        Ok(IpAddr::V6(_)) => Some("IPv6"),
        Err(_) => None,
    }
}

/// A CIDR block of `S`'s family as given: its address with host bits kept, and the block.
fn block<S: FamilySubnet>(text: &str) -> Option<(S::Addr, S)> {
    let (addr, _) = text.split_once('/')?;
    Some((addr.trim().parse().ok()?, S::parse(text)?))
}

/// The pool's parts, or every fault it has.
pub fn pool_faults<S: FamilySubnet>(
    asked: AskedPool<'_>,
) -> std::result::Result<PoolParts<S>, Vec<String>> {
    let given = asked.subnet;
    let Some((addr, subnet)) = block::<S>(given) else {
        return Err(vec![format!(
            "invalid subnet {given}: invalid CIDR block notation"
        )]);
    };
    let mut faults = Vec::new();
    if addr != subnet.base() {
        faults.push(format!("invalid subnet {given}: it should be {subnet}"));
    }
    let mut ip_range = String::new();
    if let Some(r) = asked.ip_range.filter(|r| !r.is_empty()) {
        let invalid = |why: String| format!("invalid ip-range {r}: {why}");
        match (family_of(r), block::<S>(r)) {
            (Some(f), _) if f != S::FAMILY => {
                faults.push(invalid(format!("parent subnet is an {} block", S::FAMILY)))
            }
            (_, None) => faults.push(invalid("invalid CIDR block notation".into())),
            (_, Some((at, range))) => {
                if range.prefix() < subnet.prefix() {
                    faults.push(invalid(format!(
                        "CIDR block is bigger than its parent subnet {given}"
                    )));
                }
                if at != range.base() {
                    faults.push(invalid(format!("it should be {range}")));
                }
                if !range.overlaps(&subnet) {
                    faults.push(invalid(format!(
                        "parent subnet {given} doesn't contain ip-range"
                    )));
                }
                ip_range = range.to_string();
            }
        }
    }
    let mut address = |label: String, text: &str| -> Option<S::Addr> {
        let why = match (family_of(text), text.parse::<S::Addr>()) {
            (Some(f), _) if f != S::FAMILY => format!("parent subnet is an {} block", S::FAMILY),
            (_, Err(_)) => "invalid address".into(),
            (_, Ok(ip)) if subnet.contains(ip) => return Some(ip),
            (_, Ok(_)) => format!("parent subnet {given} doesn't contain this address"),
        };
        faults.push(format!("invalid {label}: {why}"));
        None
    };
    let gateway = asked
        .gateway
        .filter(|g| !g.is_empty())
        .and_then(|g| address(format!("gateway {g}"), g));
    let aux_addresses = asked
        .aux
        .iter()
        .filter_map(|(name, a)| {
            Some((
                name.clone(),
                address(format!("auxiliary address {name}"), a)?,
            ))
        })
        .collect();
    if !faults.is_empty() {
        return Err(faults);
    }
    Ok(PoolParts {
        subnet,
        gateway,
        ip_range,
        aux_addresses,
    })
}
