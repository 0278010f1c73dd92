//! Published ports on the host side: a small userland proxy per binding (TCP: accept and copy
//! both ways; UDP: one upstream socket per client, `udp_relay`), so `127.0.0.1:hostPort`
//! reaches the container, which DNAT cannot do for loopback without `route_localnet`. Binding
//! here is also how a port already in use is found, before anything else is set up.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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
pub async fn start(p: &mut PortMapping, target: Ipv4Addr, endpoint: &str) -> Result<Proxy> {
    let addr = host_addr(p)?;
    let in_use = |e: std::io::Error| {
        EngineError::Internal(format!(
            "driver failed programming external connectivity on endpoint {endpoint}: \
             Bind for {addr} failed: port is already allocated ({e})"
        ))
    };
    let to = SocketAddr::new(IpAddr::V4(target), p.container_port);
    let task = if p.proto == "udp" {
        let sock = UdpSocket::bind(addr).await.map_err(in_use)?;
        p.host_port = sock.local_addr().map_err(in_use)?.port();
        tokio::spawn(udp_loop(Arc::new(sock), to))
    } else {
        let l = TcpListener::bind(addr).await.map_err(in_use)?;
        p.host_port = l.local_addr().map_err(in_use)?.port();
        tokio::spawn(tcp_loop(l, to))
    };
    Ok(Proxy { task })
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
            proxies.push(start(p, ip, &ep.container_name).await?);
        }
        if let Ok(mut m) = self.proxies.lock() {
            m.insert(ep.id.clone(), proxies);
        }
        Ok(ports)
    }
}
