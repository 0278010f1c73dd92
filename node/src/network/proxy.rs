//! Published ports on the host side: a small userland proxy per binding (TCP: accept and copy
//! both ways; UDP: one upstream socket per client, `udp_relay`), so `127.0.0.1:hostPort`
//! reaches the container, which DNAT cannot do for loopback without `route_localnet`. Binding
//! here is also how a port already in use is found, before anything else is set up.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::manager::Networks;
use super::types::{EndpointRecord, PortMapping};
use crate::error::{EngineError, Result};

/// A running proxy; dropping it closes the listening socket.
pub struct Proxy {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn host_addr(p: &PortMapping) -> Result<SocketAddr> {
    let ip: IpAddr = if p.host_ip.is_empty() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        p.host_ip
            .parse()
            .map_err(|_| EngineError::InvalidArgument(format!("invalid host IP {}", p.host_ip)))?
    };
    Ok(SocketAddr::new(ip, p.host_port))
}

/// Binds `p` (a zero host port picks a free one and is filled in) and proxies to `target`.
/// Without a host address it binds IPv4's and IPv6's (`0.0.0.0` and `[::]`, the same port, the
/// IPv6 socket for IPv6 only) where the host has IPv6, as Docker's two proxies, and says so in
/// `p.ipv6`.
pub fn start(p: &mut PortMapping, target: Ipv4Addr, endpoint: &str) -> Result<Vec<Proxy>> {
    let to = SocketAddr::new(IpAddr::V4(target), p.container_port);
    let addr = host_addr(p)?;
    if !p.host_ip.is_empty() {
        return Ok(vec![bind(p, addr, to, endpoint, false)?]);
    }
    // An ephemeral port free for IPv4 may be taken for IPv6: another one then.
    for _ in 0..EPHEMERAL_TRIES {
        let mut tried = p.clone();
        let v4 = bind(&mut tried, addr, to, endpoint, false)?;
        let v6_addr = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), tried.host_port);
        match bind(&mut tried.clone(), v6_addr, to, endpoint, true) {
            Ok(v6) => {
                *p = PortMapping {
                    ipv6: true,
                    ..tried
                };
                return Ok(vec![v4, v6]);
            }
            Err(BindError::NoIpv6) => {
                *p = PortMapping {
                    ipv6: false,
                    ..tried
                };
                return Ok(vec![v4]);
            }
            Err(BindError::InUse(_)) if p.host_port == 0 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(EngineError::Internal(format!(
        "driver failed programming external connectivity on endpoint {endpoint}: no port free \
         for both IPv4 and IPv6 after {EPHEMERAL_TRIES} tries"
    )))
}

/// Ephemeral ports tried before a start gives up finding one free for both families.
const EPHEMERAL_TRIES: usize = 8;

/// Why a binding failed.
#[derive(Debug)]
enum BindError {
    /// The host has no IPv6 (a kernel without it, or IPv6 off).
    NoIpv6,
    /// The port is taken (Docker's words).
    InUse(EngineError),
}

impl From<BindError> for EngineError {
    fn from(e: BindError) -> Self {
        match e {
            BindError::NoIpv6 => EngineError::Internal("the host has no IPv6".into()),
            BindError::InUse(e) => e,
        }
    }
}

/// One listening socket at `addr` (for IPv6 only with `v6_only`: the IPv6 half of a pair, so
/// IPv4's may share its port; an address the client named is bound as the kernel binds it),
/// its port written back to `p`, and its proxy task.
fn bind(
    p: &mut PortMapping,
    addr: SocketAddr,
    to: SocketAddr,
    endpoint: &str,
    v6_only: bool,
) -> std::result::Result<Proxy, BindError> {
    let shown = match addr {
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        SocketAddr::V4(a) => a.to_string(),
    };
    let in_use = |e: std::io::Error| {
        BindError::InUse(EngineError::Internal(format!(
            "driver failed programming external connectivity on endpoint {endpoint}: \
             Bind for {shown} failed: port is already allocated ({e})"
        )))
    };
    let udp = p.proto == "udp";
    let fd = listening_socket(addr, udp, v6_only).map_err(|e| match e.raw_os_error() {
        Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL) if addr.is_ipv6() => BindError::NoIpv6,
        _ => in_use(e),
    })?;
    let task = if udp {
        let sock = UdpSocket::from_std(std::net::UdpSocket::from(fd)).map_err(in_use)?;
        p.host_port = sock.local_addr().map_err(in_use)?.port();
        tokio::spawn(udp_loop(Arc::new(sock), to))
    } else {
        let l = TcpListener::from_std(std::net::TcpListener::from(fd)).map_err(in_use)?;
        p.host_port = l.local_addr().map_err(in_use)?.port();
        tokio::spawn(tcp_loop(l, to))
    };
    Ok(Proxy { task })
}

/// A non-blocking socket bound at `addr` (listening, for TCP); with `v6_only` an IPv6 one takes
/// IPv6 only, whatever the host's `bindv6only`.
fn listening_socket(
    addr: SocketAddr,
    udp: bool,
    v6_only: bool,
) -> std::io::Result<std::os::fd::OwnedFd> {
    use nix::sys::socket::{self as s, sockopt, AddressFamily, SockFlag, SockType};
    let family = if addr.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let ty = if udp {
        SockType::Datagram
    } else {
        SockType::Stream
    };
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    let fd = s::socket(family, ty, flags, None)?;
    if v6_only {
        s::setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    if !udp {
        // As std's and tokio's listeners: a port in TIME_WAIT is free to bind.
        s::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    }
    s::bind(fd.as_raw_fd(), &s::SockaddrStorage::from(addr))?;
    if !udp {
        s::listen(&fd, s::Backlog::new(1024).unwrap_or(s::Backlog::MAXCONN))?;
    }
    Ok(fd)
}

async fn tcp_loop(l: TcpListener, to: SocketAddr) {
    loop {
        let Ok((mut client, _)) = l.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            if let Ok(mut up) = TcpStream::connect(to).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
            }
        });
    }
}

/// A container's UDP port: each client's datagrams go from a socket of its own.
async fn udp_loop(sock: Arc<UdpSocket>, to: SocketAddr) {
    let open = move |_client| async move {
        let u = UdpSocket::bind("0.0.0.0:0").await.ok()?;
        u.connect(to).await.ok()?;
        Some(u)
    };
    super::udp_relay::relay(sock, open, |_| true).await;
}

impl Networks {
    /// Starts the proxies of `ep`'s ports, filling in ephemeral host ports; on failure none
    /// of them stays bound.
    pub(crate) async fn start_proxies(&self, ep: &EndpointRecord) -> Result<Vec<PortMapping>> {
        let Some(ip) = ep.ip else {
            return Ok(Vec::new());
        };
        let mut ports = ep.ports.clone();
        let mut proxies = Vec::new();
        for p in &mut ports {
            proxies.extend(start(p, ip, &ep.container_name)?);
        }
        if let Ok(mut m) = self.proxies.lock() {
            m.insert(ep.id.clone(), proxies);
        }
        Ok(ports)
    }
}
