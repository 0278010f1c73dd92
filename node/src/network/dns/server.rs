//! The DNS server's socket loop: receives queries on the gateway address, answers the names it
//! knows and relays the rest to the asking container's `--dns` servers or the host's resolvers. A flood from a container is bounded:
//! relays in flight are capped (the rest are dropped, as a busy resolver would), and a relayed
//! answer is only accepted from the resolver asked and for the query sent.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

use super::packet::{answer, is_reply_to, lookup, parse_query};
use crate::error::{EngineError, Result};
use crate::network::endpoint_table::EndpointTable;
use crate::network::types::{EndpointRecord, NetworkRecord};

/// Relayed queries waiting for the host's resolvers at once, per network. Each holds a socket;
/// without a cap, a query flood for unknown names would exhaust berthd's descriptors.
const MAX_RELAYS_IN_FLIGHT: usize = 64;
/// How long a resolver has to answer a relayed query.
const RELAY_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest datagram read: EDNS answers from resolvers may exceed 512 bytes.
const MAX_DATAGRAM: usize = 4096;

/// Names the swarm gives on overlay networks, by network id: (name, addresses).
pub type SwarmNames = Arc<Mutex<HashMap<String, Vec<(String, Vec<Ipv4Addr>)>>>>;

/// A running server; dropping it stops it.
pub struct DnsServer {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl DnsServer {
    /// Binds `<gateway>:53` and serves network `n` from the endpoint records and the swarm's
    /// names; the socket is made inside the network namespace bound at `netns` when given
    /// (an overlay network's gateway lives in its sandbox).
    pub fn start(
        n: &NetworkRecord,
        endpoints: EndpointTable,
        names: SwarmNames,
        netns: Option<&Path>,
    ) -> Result<DnsServer> {
        let addr = SocketAddr::new(
            n.gateway
                .parse::<std::net::IpAddr>()
                .map_err(|_| EngineError::Internal(format!("bad gateway {}", n.gateway)))?,
            53,
        );
        let std_sock = in_netns(netns, move || std::net::UdpSocket::bind(addr))
            .map_err(|e| EngineError::io(format!("bind DNS on {addr}"), e))?;
        // TCP is for answers a UDP one truncated; without it the server still answers.
        let listener = in_netns(netns, move || {
            let l = std::net::TcpListener::bind(addr)?;
            l.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(l)
        })
        .inspect_err(|e| tracing::warn!(%addr, error = %e, "DNS over TCP not served"))
        .ok();
        std_sock
            .set_nonblocking(true)
            .map_err(|e| EngineError::io("DNS socket", e))?;
        let sock =
            Arc::new(UdpSocket::from_std(std_sock).map_err(|e| EngineError::io("DNS socket", e))?);
        let upstream =
            host_resolvers(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
        let server = Arc::new(Server {
            sock,
            endpoints,
            net_id: n.id.clone(),
            net_name: n.name.clone(),
            upstream: Arc::new(upstream),
            relays: Arc::new(Semaphore::new(MAX_RELAYS_IN_FLIGHT)),
            names,
        });
        let mut tasks = vec![tokio::spawn(server.clone().run())];
        if let Some(l) = listener {
            tasks.push(tokio::spawn(super::tcp::serve(server, l)));
        }
        Ok(DnsServer { tasks })
    }
}

pub(super) struct Server {
    sock: Arc<UdpSocket>,
    endpoints: EndpointTable,
    net_id: String,
    net_name: String,
    upstream: Arc<Vec<SocketAddr>>,
    pub(super) relays: Arc<Semaphore>,
    names: SwarmNames,
}

impl Server {
    async fn run(self: Arc<Self>) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let Ok((len, from)) = self.sock.recv_from(&mut buf).await else {
                continue;
            };
            let query = &buf[..len];
            let Some(q) = parse_query(query) else {
                continue;
            };
            let ips = self.resolve(&q.name, from.ip());
            let ups = if ips.is_empty() {
                self.upstream_for(from.ip())
            } else {
                Arc::default()
            };
            if ups.is_empty() {
                let _ = self.sock.send_to(&answer(query, &q, &ips), from).await;
                continue;
            }
            let Ok(permit) = self.relays.clone().try_acquire_owned() else {
                tracing::debug!(network = %self.net_name, "DNS relays busy, query dropped");
                continue;
            };
            let (sock, query) = (self.sock.clone(), query.to_vec());
            tokio::spawn(async move {
                if let Some(reply) = relay(&query, &ups).await {
                    let _ = sock.send_to(&reply, from).await;
                }
                drop(permit);
            });
        }
    }

    /// Where a name this server does not know is relayed for the container at `asker`: its
    /// `--dns` servers, else the host's resolvers.
    pub(super) fn upstream_for(&self, asker: IpAddr) -> Arc<Vec<SocketAddr>> {
        let own = self
            .endpoints
            .on_network(&self.net_id)
            .ok()
            .and_then(|eps| {
                eps.into_iter()
                    .find(|e| e.ip.map(IpAddr::V4) == Some(asker) && !e.resolvers.is_empty())
            });
        match own {
            Some(e) => Arc::new(
                e.resolvers
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, 53))
                    .collect(),
            ),
            None => self.upstream.clone(),
        }
    }

    /// The addresses of `name` for the container at `asker`: on this network first, then on
    /// the asker's other networks. Its resolv.conf names one server (its first network's), and
    /// Docker's resolver answers for every network a container is on.
    pub(super) fn resolve(&self, name: &str, asker: IpAddr) -> Vec<IpAddr> {
        let all: Vec<EndpointRecord> = self.endpoints.all().unwrap_or_default();
        let me = all
            .iter()
            .find(|e| e.network_id == self.net_id && e.ip.map(IpAddr::V4) == Some(asker));
        // A link's alias is the asker's own name for another container (Docker's resolver
        // looks it up before anything else).
        let wanted = name.trim_end_matches('.');
        let name = me
            .and_then(|m| {
                m.links
                    .iter()
                    .find(|l| l.alias.eq_ignore_ascii_case(wanted))
            })
            .map_or(name, |l| l.name.as_str());
        let ips = self.on_network(&all, &self.net_id, &self.net_name, name);
        if !ips.is_empty() {
            return ips;
        }
        let Some(me) = me else {
            return Vec::new();
        };
        all.iter()
            .filter(|e| e.container_id == me.container_id && e.network_id != self.net_id)
            // Another network's `name.<network>` form is not known here: only bare names.
            .map(|other| self.on_network(&all, &other.network_id, "", name))
            .find(|ips| !ips.is_empty())
            .unwrap_or_default()
    }

    /// `name` on network `net_id`: the swarm's names first (a task's endpoint carries its
    /// service's aliases, which must answer the service's VIP, not the task asking), then
    /// containers' names and aliases.
    fn on_network(
        &self,
        all: &[EndpointRecord],
        net_id: &str,
        net_name: &str,
        name: &str,
    ) -> Vec<IpAddr> {
        let ips = self.swarm_lookup(net_id, name);
        if !ips.is_empty() {
            return ips;
        }
        let here: Vec<EndpointRecord> = all
            .iter()
            .filter(|e| e.network_id == net_id)
            .cloned()
            .collect();
        lookup(&here, net_name, name)
    }

    /// A service name, alias or `tasks.<service>` the swarm gave for network `net_id`.
    fn swarm_lookup(&self, net_id: &str, name: &str) -> Vec<IpAddr> {
        let name = name.trim_end_matches('.').to_lowercase();
        let Ok(all) = self.names.lock() else {
            return Vec::new();
        };
        all.get(net_id)
            .and_then(|records| records.iter().find(|(n, _)| *n == name))
            .map(|(_, ips)| ips.iter().copied().map(IpAddr::V4).collect())
            .unwrap_or_default()
    }
}

/// What `make` makes (a socket), made inside the network namespace bound at `netns` when
/// given, on a short-lived thread that joined it (a socket stays in the namespace it was made
/// in).
fn in_netns<T: Send + 'static>(
    netns: Option<&Path>,
    make: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let Some(netns) = netns else {
        return make();
    };
    let netns = netns.to_path_buf();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&netns)?;
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        make()
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("netns thread failed")))
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

/// Asks each resolver in turn; the first answer to this query wins.
pub(super) async fn relay(query: &[u8], upstream: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstream {
        let bind = if up.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let Ok(s) = UdpSocket::bind(bind).await else {
            continue;
        };
        // Connected: the kernel drops datagrams from anyone but the resolver asked.
        if s.connect(up).await.is_err() || s.send(query).await.is_err() {
            continue;
        }
        let mut b = vec![0u8; MAX_DATAGRAM];
        let wait = async {
            loop {
                match s.recv(&mut b).await {
                    Ok(n) if is_reply_to(query, &b[..n]) => return Some(n),
                    Ok(_) => continue,
                    Err(_) => return None,
                }
            }
        };
        if let Ok(Some(n)) = tokio::time::timeout(RELAY_TIMEOUT, wait).await {
            b.truncate(n);
            return Some(b);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_resolvers_come_from_nameserver_lines() {
        let r = host_resolvers("# x\nnameserver 10.0.0.53\nsearch lan\nnameserver ::1\n");
        assert_eq!(r.len(), 2);
    }
}
