//! A TLS listener for `axum::serve`: the accept loop only accepts; each handshake runs in its
//! own task with a deadline and hands the finished stream over a channel. So a client that
//! stalls mid-handshake, or one whose certificate is refused, never holds up anyone else. A
//! client speaking plain HTTP gets Go's 400 (as from dockerd) rather than a bare close.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at most; a connection beyond that is closed at once, so a flood of
/// silent connections costs descriptors only for `HANDSHAKE_TIMEOUT` and never blocks accept.
const MAX_PENDING_HANDSHAKES: usize = 512;

/// Finished handshakes waiting for the HTTP server to take them.
const READY_QUEUE: usize = 64;

/// An established TLS connection and its peer.
type Ready = (TlsStream<TcpStream>, SocketAddr);

/// Accepts TLS connections on a tcp listener; dropping it stops accepting and abandons the
/// handshakes in progress.
pub struct TlsListener {
    ready: mpsc::Receiver<Ready>,
    local: SocketAddr,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `tcp` with `config`. Must be called inside a tokio runtime.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let accept_loop = tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), tx));
        Ok(TlsListener {
            ready,
            local,
            accept_loop,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn accept_loop(tcp: TcpListener, acceptor: TlsAcceptor, tx: mpsc::Sender<Ready>) {
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    // Owned here so that aborting the loop also ends the handshakes in progress.
    let mut handshakes = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = tcp.accept() => a,
            Some(_) = handshakes.join_next() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors, mostly: give connections time to close, as axum does.
                tracing::warn!(error = %e, "accepting a tcp connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = pending.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many TLS handshakes in progress; connection closed");
            continue;
        };
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        handshakes.spawn(async move {
            let done = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&acceptor, stream)).await;
            drop(permit);
            match done {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// Go's answer to plain HTTP on a TLS port, which docker and curl users know from dockerd.
const PLAIN_HTTP_ANSWER: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

async fn handshake(acceptor: &TlsAcceptor, stream: TcpStream) -> io::Result<TlsStream<TcpStream>> {
    // A TLS client opens with a handshake record (0x16); a request line starts with a method.
    // A client that forgot --tlsverify then reads why instead of a closed connection.
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 1 && first[0].is_ascii_uppercase() {
        let mut stream = stream;
        stream.write_all(PLAIN_HTTP_ANSWER).await?;
        let _ = stream.shutdown().await;
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the client sent plain HTTP",
        ));
    }
    acceptor.accept(stream).await
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept loop never ends on its own; after an abort there is nothing to serve.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}
