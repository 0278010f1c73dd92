//! The routing mesh on this node: for every port a service publishes in ingress mode, a
//! listener (TCP) or socket (UDP) on all of the node's addresses whose connections and flows
//! go, round robin, to the service's running tasks on the ingress network, wherever they run.
//! The connection (or a UDP flow's socket) to the task is made inside the ingress network's
//! sandbox from this node's own address there, so replies from tasks on other nodes come back
//! over the overlay to this node. No IPVS.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

/// One published port as the swarm gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshPort {
    pub published: u16,
    pub target: u16,
    pub protocol: String,
    pub backends: Vec<Ipv4Addr>,
}

/// Where connections to tasks are made from: the ingress sandbox and this node's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshSource {
    pub sandbox: PathBuf,
    pub address: Ipv4Addr,
}

struct Route {
    source: MeshSource,
    backends: Vec<SocketAddrV4>,
    next: usize,
}

impl Route {
    /// The next task, round robin, and where to reach it from.
    fn pick(route: &Mutex<Route>) -> Option<(MeshSource, SocketAddrV4)> {
        let mut r = route.lock().ok()?;
        if r.backends.is_empty() {
            return None;
        }
        let i = r.next % r.backends.len();
        r.next = r.next.wrapping_add(1);
        Some((r.source.clone(), r.backends[i]))
    }
}

/// What the mesh carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    fn of(protocol: &str) -> Option<Transport> {
        match protocol {
            "tcp" => Some(Transport::Tcp),
            "udp" => Some(Transport::Udp),
            _ => None,
        }
    }
}

struct Listener {
    task: JoinHandle<()>,
    route: Arc<Mutex<Route>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The node's mesh listeners, by published port and transport.
#[derive(Default)]
pub struct Mesh {
    listeners: Mutex<HashMap<(u16, Transport), Listener>>,
}

impl Mesh {
    /// Closes every listener (this node serves no routing mesh).
    pub fn clear(&self) {
        if let Ok(mut ls) = self.listeners.lock() {
            ls.clear();
        }
    }

    /// Serves exactly `ports` (TCP and UDP), from `source`; listeners of ports gone are
    /// closed.
    pub async fn sync(&self, source: &MeshSource, ports: &[MeshPort]) {
        let mut wanted = Vec::new();
        for p in ports {
            match Transport::of(&p.protocol) {
                Some(t) => wanted.push(((p.published, t), p)),
                // The swarm refuses these on the mesh; a spec stored before that is not served.
                None => {
                    tracing::warn!(port = p.published, protocol = %p.protocol, "the routing mesh serves TCP and UDP only; this port is not published")
                }
            }
        }
        let mut fresh = Vec::new();
        if let Ok(mut ls) = self.listeners.lock() {
            ls.retain(|key, _| wanted.iter().any(|(k, _)| k == key));
            for (key, p) in &wanted {
                let backends = p
                    .backends
                    .iter()
                    .map(|ip| SocketAddrV4::new(*ip, p.target))
                    .collect();
                match ls.get(key) {
                    Some(l) => {
                        if let Ok(mut r) = l.route.lock() {
                            r.source = source.clone();
                            r.backends = backends;
                        }
                    }
                    None => fresh.push((*key, backends)),
                }
            }
        }
        for ((port, transport), backends) in fresh {
            let route = Arc::new(Mutex::new(Route {
                source: source.clone(),
                backends,
                next: 0,
            }));
            let on = SocketAddr::from(([0, 0, 0, 0], port));
            let task = match transport {
                Transport::Tcp => match tokio::net::TcpListener::bind(on).await {
                    Ok(l) => tokio::spawn(serve_tcp(l, route.clone())),
                    Err(e) => {
                        tracing::warn!(port, error = %e, "routing mesh port not published");
                        continue;
                    }
                },
                Transport::Udp => match tokio::net::UdpSocket::bind(on).await {
                    Ok(s) => tokio::spawn(serve_udp(s, route.clone())),
                    Err(e) => {
                        tracing::warn!(port, error = %e, "routing mesh UDP port not published");
                        continue;
                    }
                },
            };
            if let Ok(mut ls) = self.listeners.lock() {
                ls.insert((port, transport), Listener { task, route });
            }
        }
    }
}

async fn serve_tcp(listener: tokio::net::TcpListener, route: Arc<Mutex<Route>>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let Some((source, backend)) = Route::pick(&route) else {
            continue;
        };
        tokio::spawn(async move {
            let connected =
                tokio::task::spawn_blocking(move || socket_from(&source, backend, Transport::Tcp))
                    .await;
            let Ok(Ok(fd)) = connected else {
                return;
            };
            let task = std::net::TcpStream::from(fd);
            if task.set_nonblocking(true).is_err() {
                return;
            }
            let (Ok(mut task), mut client) = (tokio::net::TcpStream::from_std(task), client) else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut task).await;
        });
    }
}

/// A UDP port: each client's flow goes to one task, picked when the flow starts, until that
/// task leaves the mesh (its next datagram then goes to a task still there).
async fn serve_udp(socket: tokio::net::UdpSocket, route: Arc<Mutex<Route>>) {
    let picking = route.clone();
    let open = move |_client| {
        let picked = Route::pick(&picking);
        async move {
            let (source, backend) = picked?;
            let fd =
                tokio::task::spawn_blocking(move || socket_from(&source, backend, Transport::Udp))
                    .await
                    .ok()?
                    .ok()?;
            let socket = std::net::UdpSocket::from(fd);
            socket.set_nonblocking(true).ok()?;
            tokio::net::UdpSocket::from_std(socket).ok()
        }
    };
    let keeps = move |peer: SocketAddr| {
        let SocketAddr::V4(peer) = peer else {
            return false;
        };
        route.lock().is_ok_and(|r| r.backends.contains(&peer))
    };
    super::udp_relay::relay(Arc::new(socket), open, keeps).await;
}

/// A socket connected to `backend`, made inside the sandbox from `source.address`, on a
/// thread of its own (it joins the sandbox's namespace and ends).
fn socket_from(
    source: &MeshSource,
    backend: SocketAddrV4,
    transport: Transport,
) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    let source = source.clone();
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&source.sandbox)?;
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        let ty = match transport {
            Transport::Tcp => SockType::Stream,
            Transport::Udp => SockType::Datagram,
        };
        let fd = socket(AddressFamily::Inet, ty, SockFlag::SOCK_CLOEXEC, None)
            .map_err(std::io::Error::from)?;
        bind(
            fd.as_raw_fd(),
            &SockaddrIn::from(SocketAddrV4::new(source.address, 0)),
        )
        .map_err(std::io::Error::from)?;
        connect(fd.as_raw_fd(), &SockaddrIn::from(backend)).map_err(std::io::Error::from)?;
        Ok(fd)
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("mesh socket thread failed")))
}
