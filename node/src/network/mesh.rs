//! The routing mesh on this node: for every port a service publishes in ingress mode, a
//! listener on all of the node's addresses whose connections go, round robin, to the
//! service's running tasks on the ingress network, wherever they run. The connection to the
//! task is made inside the ingress network's sandbox from this node's own address there, so
//! replies from tasks on other nodes come back over the overlay to this node. No IPVS.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
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

struct Listener {
    task: JoinHandle<()>,
    route: Arc<Mutex<Route>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The node's mesh listeners, by published port.
#[derive(Default)]
pub struct Mesh {
    listeners: Mutex<HashMap<u16, Listener>>,
}

impl Mesh {
    /// Closes every listener (this node serves no routing mesh).
    pub fn clear(&self) {
        if let Ok(mut ls) = self.listeners.lock() {
            ls.clear();
        }
    }

    /// Serves exactly `ports` (TCP), from `source`; listeners of ports gone are closed.
    pub async fn sync(&self, source: &MeshSource, ports: &[MeshPort]) {
        let tcp: Vec<&MeshPort> = ports.iter().filter(|p| p.protocol == "tcp").collect();
        for p in ports.iter().filter(|p| p.protocol != "tcp") {
            tracing::warn!(port = p.published, protocol = %p.protocol, "the routing mesh serves TCP only; this port is not published");
        }
        let mut fresh = Vec::new();
        if let Ok(mut ls) = self.listeners.lock() {
            ls.retain(|port, _| tcp.iter().any(|p| p.published == *port));
            for p in &tcp {
                let backends = p
                    .backends
                    .iter()
                    .map(|ip| SocketAddrV4::new(*ip, p.target))
                    .collect();
                match ls.get(&p.published) {
                    Some(l) => {
                        if let Ok(mut r) = l.route.lock() {
                            r.source = source.clone();
                            r.backends = backends;
                        }
                    }
                    None => fresh.push((p.published, backends)),
                }
            }
        }
        for (port, backends) in fresh {
            let route = Arc::new(Mutex::new(Route {
                source: source.clone(),
                backends,
                next: 0,
            }));
            let bound = tokio::net::TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await;
            let listener = match bound {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(port, error = %e, "routing mesh port not published");
                    continue;
                }
            };
            let task = tokio::spawn(serve(listener, route.clone()));
            if let Ok(mut ls) = self.listeners.lock() {
                ls.insert(port, Listener { task, route });
            }
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, route: Arc<Mutex<Route>>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let picked = route.lock().ok().and_then(|mut r| {
            if r.backends.is_empty() {
                return None;
            }
            let i = r.next % r.backends.len();
            r.next = r.next.wrapping_add(1);
            Some((r.source.clone(), r.backends[i]))
        });
        let Some((source, backend)) = picked else {
            continue;
        };
        tokio::spawn(async move {
            let Ok(Ok(task)) =
                tokio::task::spawn_blocking(move || connect_from(&source, backend)).await
            else {
                return;
            };
            let (Ok(task), mut client) = (tokio::net::TcpStream::from_std(task), client) else {
                return;
            };
            let mut task = task;
            let _ = tokio::io::copy_bidirectional(&mut client, &mut task).await;
        });
    }
}

/// A TCP connection to `backend` made inside the sandbox from `source.address`, on a thread
/// of its own (it joins the sandbox's namespace and ends).
fn connect_from(
    source: &MeshSource,
    backend: SocketAddrV4,
) -> std::io::Result<std::net::TcpStream> {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    let source = source.clone();
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&source.sandbox)?;
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        let fd = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(std::io::Error::from)?;
        bind(
            fd.as_raw_fd(),
            &SockaddrIn::from(SocketAddrV4::new(source.address, 0)),
        )
        .map_err(std::io::Error::from)?;
        connect(fd.as_raw_fd(), &SockaddrIn::from(backend)).map_err(std::io::Error::from)?;
        let stream = std::net::TcpStream::from(fd);
        stream.set_nonblocking(true)?;
        Ok(stream)
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("mesh connect thread failed")))
}
