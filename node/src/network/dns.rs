//! The embedded DNS server of a user-defined network: a UDP responder on the network's gateway
//! address, port 53, answering A queries for container names, `--network-alias` aliases and
//! `name.network` with endpoint addresses, and relaying every other query to the host's
//! resolvers. Hand-written rather than hickory: it answers one record type from a table, and
//! hickory-server would add dozens of crates to a build shared by four engineers on two cores.
//! The gateway address (not Docker's 127.0.0.11 plus DNAT) keeps it one socket per network.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::UdpSocket;

use super::types::{EndpointRecord, NetworkRecord};
use crate::error::{EngineError, Result};
use crate::store::Records;

/// A running server; dropping it stops it.
pub struct DnsServer {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsServer {
    /// Binds `<gateway>:53` and serves network `n` from the endpoint records.
    pub fn start(n: &NetworkRecord, endpoints: Records) -> Result<DnsServer> {
        let addr = SocketAddr::new(
            n.gateway
                .parse::<std::net::IpAddr>()
                .map_err(|_| EngineError::Internal(format!("bad gateway {}", n.gateway)))?,
            53,
        );
        let std_sock = std::net::UdpSocket::bind(addr)
            .map_err(|e| EngineError::io(format!("bind DNS on {addr}"), e))?;
        std_sock
            .set_nonblocking(true)
            .map_err(|e| EngineError::io("DNS socket", e))?;
        let sock =
            Arc::new(UdpSocket::from_std(std_sock).map_err(|e| EngineError::io("DNS socket", e))?);
        let upstream =
            host_resolvers(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
        let (net_id, net_name) = (n.id.clone(), n.name.clone());
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 1500];
            loop {
                let Ok((len, from)) = sock.recv_from(&mut buf).await else {
                    continue;
                };
                let query = buf[..len].to_vec();
                let eps: Vec<EndpointRecord> = endpoints
                    .all::<EndpointRecord>()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(_, e)| e)
                    .filter(|e| e.network_id == net_id)
                    .collect();
                let Some(q) = parse_query(&query) else {
                    continue;
                };
                let ips = lookup(&eps, &net_name, &q.name);
                if !ips.is_empty() || upstream.is_empty() {
                    let _ = sock.send_to(&answer(&query, &q, &ips), from).await;
                    continue;
                }
                let (sock, ups) = (sock.clone(), upstream.clone());
                tokio::spawn(async move {
                    if let Some(reply) = forward(&query, &ups).await {
                        let _ = sock.send_to(&reply, from).await;
                    }
                });
            }
        });
        Ok(DnsServer { task })
    }
}

/// The host's `nameserver` lines.
pub fn host_resolvers(resolv: &str) -> Vec<SocketAddr> {
    resolv
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

async fn forward(query: &[u8], upstream: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstream {
        let bind = if up.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let Ok(s) = UdpSocket::bind(bind).await else {
            continue;
        };
        if s.send_to(query, up).await.is_err() {
            continue;
        }
        let mut b = vec![0u8; 4096];
        if let Ok(Ok(n)) =
            tokio::time::timeout(std::time::Duration::from_secs(2), s.recv(&mut b)).await
        {
            b.truncate(n);
            return Some(b);
        }
    }
    None
}

/// The question of a query.
#[derive(Debug, PartialEq, Eq)]
pub struct Question {
    /// Lower case, no trailing dot.
    pub name: String,
    pub qtype: u16,
    /// Where the question section ends.
    pub end: usize,
}

/// Parses the first question; `None` for anything that is not a plain query.
pub fn parse_query(p: &[u8]) -> Option<Question> {
    if p.len() < 12 || p[2] & 0x80 != 0 || u16::from_be_bytes([p[4], p[5]]) == 0 {
        return None;
    }
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*p.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(p.get(at..at + len)?).to_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]);
    Some(Question {
        name: labels.join("."),
        qtype,
        end: at + 4,
    })
}

/// Addresses of endpoints named `name` on network `net`: container name, alias, `name.net`.
pub fn lookup(eps: &[EndpointRecord], net: &str, name: &str) -> Vec<Ipv4Addr> {
    let name = name.trim_end_matches('.').to_lowercase();
    let short = name
        .strip_suffix(&format!(".{}", net.to_lowercase()))
        .unwrap_or(&name);
    eps.iter()
        .filter(|e| {
            e.container_name.to_lowercase() == short
                || e.aliases.iter().any(|a| a.to_lowercase() == short)
                || (short.len() >= 12 && e.container_id.starts_with(short))
        })
        .filter_map(|e| e.ip)
        .collect()
}

/// The response: the A records (only for A questions), NXDOMAIN when the name is unknown.
pub fn answer(query: &[u8], q: &Question, ips: &[Ipv4Addr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.end + ips.len() * 16);
    out.extend_from_slice(&query[..2]);
    let rcode: u8 = if ips.is_empty() { 3 } else { 0 };
    out.push(0x80 | (query[2] & 0x79)); // QR, opcode and RD copied
    out.push(0x80 | rcode); // RA
    let answers: &[Ipv4Addr] = if q.qtype == 1 { ips } else { &[] };
    let count = u16::try_from(answers.len()).unwrap_or(0);
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..q.end]);
    for ip in answers {
        out.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 2, 0x58, 0, 4]);
        out.extend_from_slice(&ip.octets());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(u8::try_from(l.len()).unwrap());
            q.extend_from_slice(l.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        q
    }

    fn ep(name: &str, alias: &str, ip: [u8; 4]) -> EndpointRecord {
        EndpointRecord {
            container_name: name.into(),
            container_id: "0123456789abcdef".into(),
            aliases: vec![alias.into()],
            ip: Some(Ipv4Addr::from(ip)),
            ..Default::default()
        }
    }

    #[test]
    fn names_aliases_and_name_dot_network_resolve_to_endpoint_addresses() {
        let eps = [
            ep("web", "frontend", [10, 0, 0, 2]),
            ep("db", "store", [10, 0, 0, 3]),
        ];
        assert_eq!(
            lookup(&eps, "appnet", "web"),
            vec![Ipv4Addr::new(10, 0, 0, 2)]
        );
        assert_eq!(
            lookup(&eps, "appnet", "STORE"),
            vec![Ipv4Addr::new(10, 0, 0, 3)]
        );
        assert_eq!(
            lookup(&eps, "appnet", "db.appnet"),
            vec![Ipv4Addr::new(10, 0, 0, 3)]
        );
        assert!(lookup(&eps, "appnet", "nope").is_empty());
    }

    #[test]
    fn an_a_answer_carries_the_question_and_the_address() {
        let q = query("web", 1);
        let parsed = parse_query(&q).unwrap();
        assert_eq!(parsed.name, "web");
        let a = answer(&q, &parsed, &[Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(&a[..2], &[0x12, 0x34]);
        assert_eq!(a[3] & 0x0f, 0);
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1);
        assert_eq!(&a[a.len() - 4..], &[10, 0, 0, 2]);
    }

    #[test]
    fn unknown_names_are_nxdomain_and_responses_are_not_parsed_as_queries() {
        let q = query("nope", 1);
        let parsed = parse_query(&q).unwrap();
        let a = answer(&q, &parsed, &[]);
        assert_eq!(a[3] & 0x0f, 3);
        assert!(parse_query(&a).is_none());
    }

    #[test]
    fn host_resolvers_come_from_nameserver_lines() {
        let r = host_resolvers("# x\nnameserver 10.0.0.53\nsearch lan\nnameserver ::1\n");
        assert_eq!(r.len(), 2);
    }
}
