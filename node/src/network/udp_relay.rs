//! UDP through a published port (a container's, and the routing mesh's): one upstream socket
//! per client address, whose replies go back to the client from the published socket, from
//! the address the client sent to (`IP_PKTINFO`: a socket on all addresses would otherwise
//! answer from whichever the route to the client prefers, and a client of a node's second
//! address, a floating one for instance, would drop the answer). A flow silent both ways for
//! `IDLE` is forgotten with its socket, and a port holds at most `MAX_FLOWS` (the longest
//! silent goes first), so clients that come and go, or forge source addresses, cannot use up
//! the daemon's descriptors.

use std::collections::HashMap;
use std::future::Future;
use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags,
    SockaddrStorage,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// How long a flow lives without a datagram either way (docker-proxy's UDP timeout).
pub const IDLE: Duration = Duration::from_secs(90);

/// Flows one published port keeps at once.
pub const MAX_FLOWS: usize = 1024;

/// The largest datagram relayed.
const DATAGRAM: usize = 65535;

/// When a flow last carried a datagram, and the address its client last sent to.
struct Seen {
    at: Instant,
    to: Option<Ipv4Addr>,
}

struct Flow {
    upstream: Arc<UdpSocket>,
    /// Where the upstream socket sends.
    peer: Option<SocketAddr>,
    seen: Arc<Mutex<Seen>>,
    replies: tokio::task::JoinHandle<()>,
}

impl Drop for Flow {
    fn drop(&mut self) {
        self.replies.abort();
    }
}

type Flows = Arc<Mutex<HashMap<SocketAddr, Flow>>>;

/// Relays datagrams arriving on `published` until the task is dropped; `open(client)` gives
/// a new client's upstream socket, connected where its datagrams go (`None`: nowhere to
/// send them now, and the datagram is dropped, as a full queue would); `keeps(peer)` says
/// whether a flow to `peer` may go on (no: a task gone from the mesh), else the client's next
/// datagram opens a new one.
pub async fn relay<F, Fut, K>(published: Arc<UdpSocket>, open: F, keeps: K)
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = Option<UdpSocket>>,
    K: Fn(SocketAddr) -> bool,
{
    relay_with(published, (open, keeps), IDLE, MAX_FLOWS).await;
}

async fn relay_with<F, Fut, K>(
    published: Arc<UdpSocket>,
    (open, keeps): (F, K),
    idle: Duration,
    max: usize,
) where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = Option<UdpSocket>>,
    K: Fn(SocketAddr) -> bool,
{
    // Without it (an IPv6 socket), answers leave from the route's choice of address.
    let pktinfo = setsockopt(&published, sockopt::Ipv4PacketInfo, &true).is_ok();
    let flows: Flows = Arc::default();
    let mut buf = vec![0u8; DATAGRAM];
    loop {
        let received = if pktinfo {
            recv_with_destination(&published, &mut buf).await
        } else {
            published
                .recv_from(&mut buf)
                .await
                .map(|(n, c)| (n, c, None))
        };
        let Ok((n, client, to)) = received else {
            continue;
        };
        let known = flows.lock().ok().and_then(|mut f| {
            let flow = f.get(&client)?;
            if flow.peer.is_some_and(|p| !keeps(p)) {
                f.remove(&client);
                return None;
            }
            if let Ok(mut seen) = flow.seen.lock() {
                *seen = Seen {
                    at: Instant::now(),
                    to,
                };
            }
            Some(flow.upstream.clone())
        });
        let upstream = match known {
            Some(u) => u,
            None => {
                let Some(u) = open(client).await else {
                    continue;
                };
                let peer = u.peer_addr().ok();
                let u = Arc::new(u);
                let seen = Arc::new(Mutex::new(Seen {
                    at: Instant::now(),
                    to,
                }));
                let replies = tokio::spawn(send_back(
                    published.clone(),
                    client,
                    u.clone(),
                    seen.clone(),
                    (flows.clone(), idle),
                ));
                if let Ok(mut f) = flows.lock() {
                    if f.len() >= max {
                        evict_longest_silent(&mut f);
                    }
                    f.insert(
                        client,
                        Flow {
                            upstream: u.clone(),
                            peer,
                            seen,
                            replies,
                        },
                    );
                }
                u
            }
        };
        let _ = upstream.send(&buf[..n]).await;
    }
}

/// A datagram, its sender and the local address it was sent to.
async fn recv_with_destination(
    socket: &UdpSocket,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr, Option<Ipv4Addr>)> {
    socket
        .async_io(Interest::READABLE, || {
            let mut iov = [IoSliceMut::new(buf)];
            let mut space = nix::cmsg_space!(libc::in_pktinfo);
            let msg = recvmsg::<SockaddrStorage>(
                socket.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_DONTWAIT,
            )?;
            let mut to = None;
            for cmsg in msg.cmsgs()? {
                if let ControlMessageOwned::Ipv4PacketInfo(info) = cmsg {
                    // The local address it came in on (the header's destination unless that was a
                    // broadcast one).
                    to = Some(Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr)));
                }
            }
            let from = msg
                .address
                .and_then(|a| a.as_sockaddr_in().map(|a| SocketAddr::from(*a)))
                .ok_or_else(|| std::io::Error::other("a datagram without an IPv4 sender"))?;
            Ok((msg.bytes, from, to))
        })
        .await
}

/// Sends `datagram` to `client` from local address `from` (the routing's choice without one).
async fn send_from(
    socket: &UdpSocket,
    datagram: &[u8],
    client: SocketAddr,
    from: Option<Ipv4Addr>,
) -> std::io::Result<()> {
    let (Some(from), SocketAddr::V4(to)) = (from, client) else {
        return socket.send_to(datagram, client).await.map(|_| ());
    };
    let info = libc::in_pktinfo {
        ipi_ifindex: 0,
        ipi_spec_dst: libc::in_addr {
            s_addr: u32::from(from).to_be(),
        },
        ipi_addr: libc::in_addr { s_addr: 0 },
    };
    let to = nix::sys::socket::SockaddrIn::from(to);
    socket
        .async_io(Interest::WRITABLE, || {
            let iov = [IoSlice::new(datagram)];
            let cmsgs = [ControlMessage::Ipv4PacketInfo(&info)];
            sendmsg(
                socket.as_raw_fd(),
                &iov,
                &cmsgs,
                MsgFlags::MSG_DONTWAIT,
                Some(&to),
            )?;
            Ok(())
        })
        .await
}

fn evict_longest_silent(flows: &mut HashMap<SocketAddr, Flow>) {
    let oldest = flows
        .iter()
        .filter_map(|(addr, f)| Some((f.seen.lock().ok()?.at, *addr)))
        .min()
        .map(|(_, addr)| addr);
    if let Some(addr) = oldest {
        flows.remove(&addr);
    }
}

/// Sends `upstream`'s replies to `client`, from the address it last sent to, until the flow
/// has been silent for `idle`, then forgets it.
async fn send_back(
    published: Arc<UdpSocket>,
    client: SocketAddr,
    upstream: Arc<UdpSocket>,
    seen: Arc<Mutex<Seen>>,
    (flows, idle): (Flows, Duration),
) {
    let mut buf = vec![0u8; DATAGRAM];
    loop {
        let since = seen.lock().map(|s| s.at.elapsed()).unwrap_or(idle);
        let Some(wait) = idle.checked_sub(since).filter(|w| !w.is_zero()) else {
            break;
        };
        // An error on a connected UDP socket is the previous datagram's ICMP answer (nothing
        // listening there): the flow goes on, as it does when the wait ends.
        if let Ok(Ok(n)) = tokio::time::timeout(wait, upstream.recv(&mut buf)).await {
            let from = seen.lock().ok().and_then(|mut s| {
                s.at = Instant::now();
                s.to
            });
            let _ = send_from(&published, &buf[..n], client, from).await;
        }
    }
    if let Ok(mut f) = flows.lock() {
        // Only this flow: the client may have a newer one by now. Removing it aborts this
        // task, which has no await left.
        if f.get(&client)
            .is_some_and(|x| Arc::ptr_eq(&x.upstream, &upstream))
        {
            f.remove(&client);
        }
    }
}

#[cfg(test)]
#[path = "udp_relay_tests.rs"]
mod tests;
