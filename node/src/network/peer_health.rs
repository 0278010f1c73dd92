//! Which remote VXLAN endpoints answer this node, per overlay network (`network inspect
//! --verbose` shows it on each peer). At most every `PROBE_EVERY`, at a peer sync, one ICMP
//! echo goes to one remote endpoint behind each VTEP, sent from inside a local container's
//! namespace on that network: the overlay's gateway address is the same on every node, so a
//! probe from the sandbox would be answered to the remote node's own bridge; a container's
//! address is this node's alone, so the reply crosses the VXLAN back. No local container: no
//! probe (this node does not serve the network's data path then).
//! The probe's socket lives in a container's namespace, so a container can forge replies: it
//! can make a peer look healthy to `inspect`, nothing else.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use nix::sys::socket::{
    recvfrom, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol,
    SockType, SockaddrIn,
};

use super::manager::Networks;
use super::types::EndpointRecord;

/// How often a network's peers are probed at most.
const PROBE_EVERY: Duration = Duration::from_secs(5);
/// How long one echo may take.
const ECHO_TIMEOUT: Duration = Duration::from_secs(1);

/// What this node's last probe of one remote VTEP found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerHealth {
    /// Whether the last echo came back.
    pub answered: bool,
    /// When an echo last came back.
    pub last_seen: Option<DateTime<Utc>>,
    /// The last answered echo's round trip.
    pub rtt_ms: Option<f64>,
}

/// Probe results by (VXLAN id, VTEP address), and when the last round started.
#[derive(Debug, Default)]
pub struct HealthTable {
    peers: BTreeMap<(u32, Ipv4Addr), PeerHealth>,
    last_round: Option<Instant>,
}

/// One echo: from the namespace at `netns` to `target`, an endpoint behind `vtep`.
#[derive(Debug, Clone)]
struct Probe {
    vni: u32,
    vtep: Ipv4Addr,
    netns: PathBuf,
    target: Ipv4Addr,
}

impl Networks {
    /// What this node's last probes of network `vni`'s peers found, by VTEP address.
    pub fn peer_health(&self, vni: u32) -> BTreeMap<Ipv4Addr, PeerHealth> {
        let table = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        table
            .peers
            .iter()
            .filter(|((v, _), _)| *v == vni)
            .map(|((_, vtep), h)| (*vtep, *h))
            .collect()
    }

    /// Starts a probe round in the background unless one started within `PROBE_EVERY`.
    pub(crate) fn probe_peers(&self, views: &[super::OverlayView]) {
        if self.kernel.is_none() {
            return;
        }
        {
            let mut table = self.health.lock().unwrap_or_else(PoisonError::into_inner);
            if table.last_round.is_some_and(|t| t.elapsed() < PROBE_EVERY) {
                return;
            }
            table.last_round = Some(Instant::now());
        }
        let local: Vec<EndpointRecord> = self.endpoints.all().unwrap_or_default();
        let networks = self.list().unwrap_or_default();
        let mut probes = Vec::new();
        for v in views.iter().filter(|v| v.ingress.is_none()) {
            let Some(n) = networks.iter().find(|n| n.vni == Some(v.vni)) else {
                continue;
            };
            let Some(from) = local
                .iter()
                .find(|e| e.network_id == n.id && e.ip.is_some())
            else {
                continue;
            };
            let mut seen = std::collections::BTreeSet::new();
            for r in &v.remote {
                if seen.insert(r.vtep) {
                    probes.push(Probe {
                        vni: v.vni,
                        vtep: r.vtep,
                        netns: self.netns_path(&from.container_id),
                        target: r.ip,
                    });
                }
            }
        }
        let table = self.health.clone();
        let wanted: Vec<(u32, Ipv4Addr)> = probes.iter().map(|p| (p.vni, p.vtep)).collect();
        tokio::task::spawn_blocking(move || {
            let results: Vec<(Probe, Option<Duration>)> = probes
                .into_iter()
                .map(|p| {
                    let rtt = echo_in(&p.netns, p.target).ok().flatten();
                    (p, rtt)
                })
                .collect();
            record(&table, &wanted, results);
        });
    }
}

/// Writes a round's results; peers no longer probed are forgotten.
fn record(
    table: &Arc<Mutex<HealthTable>>,
    wanted: &[(u32, Ipv4Addr)],
    results: Vec<(Probe, Option<Duration>)>,
) {
    let mut t = table.lock().unwrap_or_else(PoisonError::into_inner);
    t.peers.retain(|k, _| wanted.contains(k));
    for (p, rtt) in results {
        let before = t.peers.get(&(p.vni, p.vtep)).copied();
        let h = PeerHealth {
            answered: rtt.is_some(),
            last_seen: if rtt.is_some() {
                Some(Utc::now())
            } else {
                before.and_then(|b| b.last_seen)
            },
            rtt_ms: rtt
                .map(|d| d.as_secs_f64() * 1000.0)
                .or(before.and_then(|b| b.rtt_ms)),
        };
        t.peers.insert((p.vni, p.vtep), h);
    }
}

/// One ICMP echo to `target` from the network namespace at `netns`: its round trip, `None`
/// without an answer in time.
fn echo_in(netns: &Path, target: Ipv4Addr) -> std::io::Result<Option<Duration>> {
    let netns = netns.to_path_buf();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&netns)?;
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        echo(target)
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("probe thread failed")))
}

fn echo(target: Ipv4Addr) -> std::io::Result<Option<Duration>> {
    let fd: OwnedFd = socket(
        AddressFamily::Inet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    )?;
    let timeout = nix::sys::time::TimeVal::new(0, 200_000);
    setsockopt(&fd, sockopt::ReceiveTimeout, &timeout)?;
    let id: u16 = rand::random();
    let packet = echo_request(id, 1);
    let to = SockaddrIn::from(std::net::SocketAddrV4::new(target, 0));
    let start = Instant::now();
    sendto(fd.as_raw_fd(), &packet, &to, MsgFlags::empty())?;
    let mut buf = [0u8; 1500];
    while start.elapsed() < ECHO_TIMEOUT {
        let (n, from) = match recvfrom::<SockaddrIn>(fd.as_raw_fd(), &mut buf) {
            Ok(r) => r,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        let from_target = from.is_some_and(|a| a.ip() == target);
        if from_target && is_echo_reply(buf.get(..n).unwrap_or_default(), id) {
            return Ok(Some(start.elapsed()));
        }
    }
    Ok(None)
}

/// An ICMP echo request with identifier `id` and sequence `seq`.
fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![8, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"berth-peer-probe");
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// Whether a raw IPv4 datagram (header included) is an echo reply with identifier `id`.
/// Hostile bytes are possible: every index is checked.
fn is_echo_reply(datagram: &[u8], id: u16) -> bool {
    let Some(&first) = datagram.first() else {
        return false;
    };
    let header = usize::from(first & 0x0f) * 4;
    let Some(icmp) = datagram.get(header..) else {
        return false;
    };
    matches!(icmp, [0, 0, _, _, a, b, ..] if u16::from_be_bytes([*a, *b]) == id)
}

/// The Internet checksum.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_check_out_and_replies_are_parsed_without_trusting_lengths() {
        let req = echo_request(0x1234, 1);
        assert_eq!(checksum(&req), 0, "a correct checksum sums to zero");
        let mut reply = vec![0x45u8; 20];
        reply.extend_from_slice(&[0, 0, 0, 0, 0x12, 0x34, 0, 1]);
        assert!(is_echo_reply(&reply, 0x1234));
        assert!(!is_echo_reply(&reply, 0x4321));
        assert!(!is_echo_reply(&[], 1));
        assert!(
            !is_echo_reply(&[0x4f], 1),
            "a header longer than the datagram"
        );
        reply[20] = 8;
        assert!(!is_echo_reply(&reply, 0x1234), "a request is no reply");
    }
}
