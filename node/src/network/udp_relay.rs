//! UDP through a published port (a container's, and the routing mesh's): one upstream socket
//! per client address, whose replies go back to the client from the published socket. A flow
//! silent both ways for `IDLE` is forgotten with its socket, and a port holds at most
//! `MAX_FLOWS` (the longest silent goes first), so clients that come and go, or forge source
//! addresses, cannot use up the daemon's descriptors.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

/// How long a flow lives without a datagram either way (docker-proxy's UDP timeout).
pub const IDLE: Duration = Duration::from_secs(90);

/// Flows one published port keeps at once.
pub const MAX_FLOWS: usize = 1024;

/// The largest datagram relayed.
const DATAGRAM: usize = 65535;

struct Flow {
    upstream: Arc<UdpSocket>,
    last: Arc<Mutex<Instant>>,
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
/// send them now, and the datagram is dropped, as a full queue would).
pub async fn relay<F, Fut>(published: Arc<UdpSocket>, open: F)
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = Option<UdpSocket>>,
{
    relay_with(published, open, IDLE, MAX_FLOWS).await;
}

async fn relay_with<F, Fut>(published: Arc<UdpSocket>, open: F, idle: Duration, max: usize)
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = Option<UdpSocket>>,
{
    let flows: Flows = Arc::default();
    let mut buf = vec![0u8; DATAGRAM];
    loop {
        let Ok((n, client)) = published.recv_from(&mut buf).await else {
            continue;
        };
        let known = flows.lock().ok().and_then(|f| {
            let flow = f.get(&client)?;
            if let Ok(mut last) = flow.last.lock() {
                *last = Instant::now();
            }
            Some(flow.upstream.clone())
        });
        let upstream = match known {
            Some(u) => u,
            None => {
                let Some(u) = open(client).await else {
                    continue;
                };
                let u = Arc::new(u);
                let last = Arc::new(Mutex::new(Instant::now()));
                let replies = tokio::spawn(send_back(
                    published.clone(),
                    client,
                    u.clone(),
                    last.clone(),
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
                            last,
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

fn evict_longest_silent(flows: &mut HashMap<SocketAddr, Flow>) {
    let oldest = flows
        .iter()
        .filter_map(|(addr, f)| Some((*f.last.lock().ok()?, *addr)))
        .min()
        .map(|(_, addr)| addr);
    if let Some(addr) = oldest {
        flows.remove(&addr);
    }
}

/// Sends `upstream`'s replies to `client` until the flow has been silent for `idle`, then
/// forgets it.
async fn send_back(
    published: Arc<UdpSocket>,
    client: SocketAddr,
    upstream: Arc<UdpSocket>,
    last: Arc<Mutex<Instant>>,
    (flows, idle): (Flows, Duration),
) {
    let mut buf = vec![0u8; DATAGRAM];
    loop {
        let since = last.lock().map(|l| l.elapsed()).unwrap_or(idle);
        let Some(wait) = idle.checked_sub(since).filter(|w| !w.is_zero()) else {
            break;
        };
        // An error on a connected UDP socket is the previous datagram's ICMP answer (nothing
        // listening there): the flow goes on, as it does when the wait ends.
        if let Ok(Ok(n)) = tokio::time::timeout(wait, upstream.recv(&mut buf)).await {
            if let Ok(mut l) = last.lock() {
                *l = Instant::now();
            }
            let _ = published.send_to(&buf[..n], client).await;
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
