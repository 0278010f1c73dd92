//! DNS over TCP on the same address as the UDP server: resolvers ask here when a UDP answer
//! came back truncated (more addresses than 512 bytes hold: an alias or `tasks.<service>` with
//! a few dozen containers), and glibc's lookup failed outright without it. Each message is
//! length-prefixed (RFC 1035 4.2.2). Connections come from containers and may be hostile:
//! at most `MAX_CONNECTIONS` at once (others are closed at once), an idle one is closed after
//! `IDLE`, and a message that does not parse closes its connection.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::packet::{answer_within, parse_query};
use super::server::{relay, Server};

/// Connections served at once, per network.
const MAX_CONNECTIONS: usize = 64;
/// How long a connection may wait between messages (and within one).
const IDLE: Duration = Duration::from_secs(10);
/// The largest message the length prefix allows.
const MAX_TCP_ANSWER: usize = 65_535;

/// Accepts connections until the task is aborted.
pub(super) async fn serve(server: Arc<Server>, listener: TcpListener) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue; // dropped: closed
        };
        let server = server.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(IDLE * 30, connection(&server, stream, peer.ip())).await;
            drop(slot);
        });
    }
}

/// Answers the connection's queries in turn until it closes, idles or sends garbage.
async fn connection(server: &Server, mut stream: TcpStream, asker: IpAddr) {
    loop {
        let read = async {
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).await?;
            let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut query).await.map(|_| query)
        };
        let Ok(Ok(query)) = tokio::time::timeout(IDLE, read).await else {
            return;
        };
        let Some(reply) = respond(server, &query, asker).await else {
            return;
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut out = Vec::with_capacity(reply.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&reply);
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// The reply to one query: the server's own answer, whole, or the reply of the resolver it
/// relays the name to (`None`: the query does not parse, the relays are busy or no resolver
/// answered).
async fn respond(server: &Server, query: &[u8], asker: IpAddr) -> Option<Vec<u8>> {
    let q = parse_query(query)?;
    let ips = server.resolve(&q.name, asker);
    let upstream = if ips.is_empty() {
        server.upstream_for(asker)
    } else {
        Arc::default()
    };
    if upstream.is_empty() {
        return Some(answer_within(query, &q, &ips, MAX_TCP_ANSWER));
    }
    let _permit = server.relays.clone().try_acquire_owned().ok()?;
    relay(query, &upstream).await
}
