//! DNS wire format for the embedded server: parsing a query's first question, building the
//! answer, and the name lookup in the endpoint table. Pure functions over bytes from a
//! container: no length in a packet is trusted, and nothing here may panic on any input.

use std::net::IpAddr;

use crate::network::types::EndpointRecord;

/// The fixed header of every DNS message.
const HEADER_LEN: usize = 12;
/// RFC 1035's limit on a name's encoded length.
const MAX_NAME_LEN: usize = 255;
/// RFC 1035's limit on one label.
const MAX_LABEL_LEN: usize = 63;
/// A UDP answer without EDNS must fit in 512 bytes; beyond that it is truncated (TC).
const MAX_UDP_ANSWER: usize = 512;
/// A record's fixed part with a compressed name: pointer, type, class, TTL, length.
const RECORD_HEAD_LEN: usize = 12;
/// One A record: the fixed part and four address bytes.
#[cfg(test)]
const A_RECORD_LEN: usize = RECORD_HEAD_LEN + 4;
/// TTL of the answers: 600 s, as Docker's resolver.
const TTL: [u8; 4] = [0, 0, 2, 0x58];

const QTYPE_A: u16 = 1;
const QTYPE_AAAA: u16 = 28;
const RCODE_NXDOMAIN: u8 = 3;

/// The question of a query.
#[derive(Debug, PartialEq, Eq)]
pub struct Question {
    /// Lower case, no trailing dot.
    pub name: String,
    pub qtype: u16,
    /// Where the question section ends (type and class included); always within the packet.
    pub end: usize,
}

/// Parses the first question of a standard query; `None` for anything else: a response, another
/// opcode, no question, a compression pointer or over-long label or name, or a question cut
/// short before its type and class.
pub fn parse_query(p: &[u8]) -> Option<Question> {
    let header = p.get(..HEADER_LEN)?;
    let is_response = header[2] & 0x80 != 0;
    let opcode = (header[2] >> 3) & 0x0f;
    let questions = u16::from_be_bytes([header[4], header[5]]);
    if is_response || opcode != 0 || questions == 0 {
        return None;
    }
    let mut at = HEADER_LEN;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*p.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        // Covers compression pointers (0xC0) too: a query's question has no earlier name to
        // point at, so a pointer here is malformed.
        if len > MAX_LABEL_LEN || at - HEADER_LEN + len > MAX_NAME_LEN {
            return None;
        }
        labels.push(String::from_utf8_lossy(p.get(at..at + len)?).to_lowercase());
        at += len;
    }
    let fixed = p.get(at..at + 4)?;
    Some(Question {
        name: labels.join("."),
        qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
        end: at + 4,
    })
}

/// Whether `reply` is a response to `query` (same id, QR set): relayed answers are checked so a
/// stray or spoofed datagram is not handed to the container.
pub fn is_reply_to(query: &[u8], reply: &[u8]) -> bool {
    match (query.get(..2), reply.get(..HEADER_LEN)) {
        (Some(id), Some(h)) => h[..2] == *id && h[2] & 0x80 != 0,
        _ => false,
    }
}

/// Addresses of endpoints named `name` on network `net`: container name, alias, `name.net`;
/// each endpoint's IPv4 address, then its IPv6 one.
pub fn lookup(eps: &[EndpointRecord], net: &str, name: &str) -> Vec<IpAddr> {
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
        .flat_map(|e| {
            let v4 = e.ip.map(IpAddr::V4);
            v4.into_iter().chain(e.ip6.map(IpAddr::V6))
        })
        .collect()
}

/// The response to `query`, whose first question `q` was parsed from it, for a name with
/// addresses `ips`: the A records of its IPv4 addresses for an A question, the AAAA records of
/// its IPv6 ones for an AAAA question, none for other questions (a name without an address of
/// the family asked answers empty, not NXDOMAIN), NXDOMAIN when the name is unknown. Only the
/// first question is answered; answers beyond 512 bytes (a UDP answer) are left out and the
/// response is marked truncated, which sends resolvers to TCP (`answer_within`).
pub fn answer(query: &[u8], q: &Question, ips: &[IpAddr]) -> Vec<u8> {
    answer_within(query, q, ips, MAX_UDP_ANSWER)
}

/// `answer` in at most `max` bytes (65,535 over TCP).
pub fn answer_within(query: &[u8], q: &Question, ips: &[IpAddr], max: usize) -> Vec<u8> {
    let (Some(id), Some(&flags), Some(question)) =
        (query.get(..2), query.get(2), query.get(HEADER_LEN..q.end))
    else {
        return Vec::new();
    };
    let answers: Vec<(u16, Vec<u8>)> = ips
        .iter()
        .filter_map(|ip| match (ip, q.qtype) {
            (IpAddr::V4(v4), QTYPE_A) => Some((QTYPE_A, v4.octets().to_vec())),
            (IpAddr::V6(v6), QTYPE_AAAA) => Some((QTYPE_AAAA, v6.octets().to_vec())),
            _ => None,
        })
        .collect();
    let mut room = max.saturating_sub(HEADER_LEN + question.len());
    let sent: Vec<&(u16, Vec<u8>)> = answers
        .iter()
        .take_while(|(_, addr)| {
            let len = RECORD_HEAD_LEN + addr.len();
            let fits = len <= room;
            room = room.saturating_sub(len);
            fits
        })
        .collect();
    let truncated = sent.len() < answers.len();
    let rcode = if ips.is_empty() { RCODE_NXDOMAIN } else { 0 };
    let count = u16::try_from(sent.len()).unwrap_or(0);

    let mut out = Vec::with_capacity(max.min(MAX_UDP_ANSWER));
    out.extend_from_slice(id);
    // QR, then the query's opcode and RD; TC when answers were left out.
    out.push(0x80 | (flags & 0x79) | if truncated { 0x02 } else { 0 });
    out.push(0x80 | rcode); // RA
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for (qtype, addr) in sent {
        out.extend_from_slice(&[0xC0, 0x0C]);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        out.extend_from_slice(&TTL);
        out.extend_from_slice(&u16::try_from(addr.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(addr);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

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
        let v4 = |d| vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, d))];
        assert_eq!(lookup(&eps, "appnet", "web"), v4(2));
        assert_eq!(lookup(&eps, "appnet", "STORE"), v4(3));
        assert_eq!(lookup(&eps, "appnet", "db.appnet"), v4(3));
        assert!(lookup(&eps, "appnet", "nope").is_empty());
    }

    #[test]
    fn an_a_answer_carries_the_question_and_the_address() {
        let q = query("web", 1);
        let parsed = parse_query(&q).unwrap();
        assert_eq!(parsed.name, "web");
        let a = answer(&q, &parsed, &[IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))]);
        assert_eq!(&a[..2], &[0x12, 0x34]);
        assert_eq!(a[3] & 0x0f, 0);
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1);
        assert_eq!(&a[a.len() - 4..], &[10, 0, 0, 2]);
    }

    #[test]
    fn an_aaaa_question_gets_the_ipv6_addresses_and_an_a_question_the_ipv4_ones() {
        let v6 = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2);
        let ips = [IpAddr::V4(Ipv4Addr::new(172, 19, 0, 2)), IpAddr::V6(v6)];
        let q = query("web", QTYPE_AAAA);
        let parsed = parse_query(&q).unwrap();
        let a = answer(&q, &parsed, &ips);
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1);
        assert_eq!(a.len(), q.len() + RECORD_HEAD_LEN + 16);
        let record = &a[q.len()..];
        assert_eq!(&record[2..4], &QTYPE_AAAA.to_be_bytes());
        assert_eq!(&record[10..12], &[0, 16]);
        assert_eq!(&record[12..], &v6.octets());
        let q = query("web", QTYPE_A);
        let a = answer(&q, &parse_query(&q).unwrap(), &ips);
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1);
        assert_eq!(&a[a.len() - 4..], &[172, 19, 0, 2]);
        // An IPv4-only name asked for AAAA: found, no records (not NXDOMAIN).
        let q = query("web", QTYPE_AAAA);
        let a = answer(&q, &parse_query(&q).unwrap(), &ips[..1]);
        assert_eq!((a[3] & 0x0f, u16::from_be_bytes([a[6], a[7]])), (0, 0));
        // And the endpoint table gives both, IPv4 first.
        let mut e = ep("web", "w", [172, 19, 0, 2]);
        e.ip6 = Some(v6);
        assert_eq!(lookup(&[e], "n", "web"), ips.to_vec());
    }

    #[test]
    fn unknown_names_are_nxdomain_and_responses_are_not_parsed_as_queries() {
        let q = query("nope", 1);
        let parsed = parse_query(&q).unwrap();
        let a = answer(&q, &parsed, &[]);
        assert_eq!(a[3] & 0x0f, 3);
        assert!(parse_query(&a).is_none());
        assert!(is_reply_to(&q, &a));
        assert!(!is_reply_to(&q, &q));
    }

    #[test]
    fn a_question_without_its_class_is_refused_not_sliced() {
        // The packet from the review that killed berthd: qtype present, qclass missing.
        let p = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03web\x00\x00\x01";
        assert_eq!(parse_query(p), None);
        let mut cut = query("web", 1);
        while cut.pop().is_some() {
            assert_eq!(parse_query(&cut), None, "{cut:?}");
        }
    }

    #[test]
    fn pointers_long_labels_long_names_and_other_opcodes_are_refused() {
        let mut pointer = query("web", 1);
        pointer[12] = 0xC0;
        assert_eq!(parse_query(&pointer), None);
        assert_eq!(parse_query(&query(&"a".repeat(64), 1)), None);
        let long = vec!["a".repeat(63); 5].join(".");
        assert_eq!(parse_query(&query(&long, 1)), None);
        let mut notify = query("web", 1);
        notify[2] |= 4 << 3;
        assert_eq!(parse_query(&notify), None);
    }

    #[test]
    fn many_addresses_are_truncated_to_a_udp_answer() {
        let q = query("web", 1);
        let parsed = parse_query(&q).unwrap();
        let ips: Vec<IpAddr> = (0..200u8)
            .map(|i| IpAddr::V4(Ipv4Addr::new(10, 0, 1, i)))
            .collect();
        let a = answer(&q, &parsed, &ips);
        assert!(a.len() <= MAX_UDP_ANSWER, "{}", a.len());
        assert_ne!(a[2] & 0x02, 0, "TC set");
        let count = usize::from(u16::from_be_bytes([a[6], a[7]]));
        assert_eq!(a.len(), q.len() + count * A_RECORD_LEN);
        // Over TCP the answer holds them all, untruncated.
        let whole = answer_within(&q, &parsed, &ips, 65_535);
        assert_eq!(whole[2] & 0x02, 0, "TC clear");
        assert_eq!(u16::from_be_bytes([whole[6], whole[7]]), 200);
        assert_eq!(whole.len(), q.len() + 200 * A_RECORD_LEN);
    }

    #[test]
    fn any_bytes_parse_and_answer_without_panicking() {
        // A seeded walk over mutated queries and random bytes; the fuzz target does the same
        // for longer (node/fuzz).
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let base = query("web.appnet", 1);
        for _ in 0..20_000 {
            let mut p = if next() % 2 == 0 {
                base.clone()
            } else {
                vec![0; usize::try_from(next() % 40).unwrap()]
            };
            for _ in 0..next() % 6 {
                if p.is_empty() {
                    break;
                }
                let i = usize::try_from(next() % p.len() as u64).unwrap();
                p[i] = u8::try_from(next() & 0xff).unwrap();
            }
            p.truncate(usize::try_from(next() % (p.len() as u64 + 1)).unwrap());
            if let Some(q) = parse_query(&p) {
                assert!(q.end <= p.len());
                let _ = answer(&p, &q, &[IpAddr::V4(Ipv4Addr::LOCALHOST)]);
            }
            let _ = is_reply_to(&base, &p);
        }
    }
}
