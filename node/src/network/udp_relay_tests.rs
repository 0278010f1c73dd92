//! The relay over loopback: answers come back to each client, also after its flow was
//! forgotten, and the flows a port keeps are bounded.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;

use super::relay_with;

/// An upstream that answers every datagram with `echo:` and what it got.
async fn echo_server() -> SocketAddr {
    named_echo_server("echo").await
}

/// An upstream that answers every datagram with `{name}:` and what it got.
async fn named_echo_server(name: &'static str) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let mut out = format!("{name}:").into_bytes();
            out.extend_from_slice(&buf[..n]);
            let _ = s.send_to(&out, from).await;
        }
    });
    addr
}

/// An upstream socket on loopback connected to `to`.
async fn upstream_to(to: SocketAddr) -> Option<UdpSocket> {
    let u = UdpSocket::bind("127.0.0.1:0").await.ok()?;
    u.connect(to).await.ok()?;
    Some(u)
}

/// A published port relaying to `to`, with `idle` and `max`; its address and a count of the
/// upstream sockets opened.
async fn published(to: SocketAddr, idle: Duration, max: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = sock.local_addr().unwrap();
    let opened = Arc::new(AtomicUsize::new(0));
    let count = opened.clone();
    let open = move |_client| {
        let count = count.clone();
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            upstream_to(to).await
        }
    };
    tokio::spawn(relay_with(sock, (open, |_| true), idle, max));
    (addr, opened)
}

async fn ask(client: &UdpSocket, to: SocketAddr, what: &str) -> String {
    client.send_to(what.as_bytes(), to).await.unwrap();
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), client.recv(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn a_client_back_after_its_flow_was_forgotten_is_answered_again() {
    let (port, opened) = published(echo_server().await, Duration::from_millis(200), 16).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    assert_eq!(ask(&client, port, "one").await, "echo:one");
    assert_eq!(ask(&client, port, "two").await, "echo:two");
    assert_eq!(opened.load(Ordering::SeqCst), 1, "one flow per client");
    // Silent for longer than the flow lives: the next datagram opens a new flow, and its
    // answer comes back (before, the old upstream socket kept taking the client's datagrams
    // after the task sending its replies back had ended).
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(ask(&client, port, "three").await, "echo:three");
    assert_eq!(opened.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_port_keeps_at_most_its_flows_and_every_client_is_answered() {
    let (port, opened) = published(echo_server().await, Duration::from_secs(60), 2).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    }
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(ask(c, port, &format!("c{i}")).await, format!("echo:c{i}"));
    }
    assert_eq!(opened.load(Ordering::SeqCst), 3);
    // The third flow pushed out the first, the longest silent: it gets a new one.
    assert_eq!(ask(&clients[1], port, "again").await, "echo:again");
    assert_eq!(
        opened.load(Ordering::SeqCst),
        3,
        "the second's flow was kept"
    );
    assert_eq!(ask(&clients[0], port, "again").await, "echo:again");
    assert_eq!(opened.load(Ordering::SeqCst), 4, "the first's flow was new");
}

#[tokio::test]
async fn a_datagram_with_nowhere_to_go_is_dropped_and_the_port_serves_on() {
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let port = sock.local_addr().unwrap();
    let to = echo_server().await;
    let first = Arc::new(AtomicUsize::new(0));
    let open = move |_client| {
        let first = first.clone();
        async move {
            if first.fetch_add(1, Ordering::SeqCst) == 0 {
                return None;
            }
            upstream_to(to).await
        }
    };
    tokio::spawn(relay_with(
        sock,
        (open, |_| true),
        Duration::from_secs(60),
        4,
    ));
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(b"lost", port).await.unwrap();
    let mut buf = [0u8; 64];
    let nothing = tokio::time::timeout(Duration::from_millis(300), client.recv(&mut buf)).await;
    assert!(nothing.is_err(), "no upstream: no answer");
    assert_eq!(ask(&client, port, "found").await, "echo:found");
}

#[tokio::test]
async fn an_answer_leaves_from_the_address_the_client_sent_to() {
    // A port on all addresses; the client talks to 127.0.0.2, which the route back to
    // 127.0.0.1 would not pick as the source, over a connected socket that takes answers
    // from 127.0.0.2 only.
    let sock = Arc::new(UdpSocket::bind("0.0.0.0:0").await.unwrap());
    let port = sock.local_addr().unwrap().port();
    let to = echo_server().await;
    let open = move |_client| upstream_to(to);
    tokio::spawn(relay_with(
        sock,
        (open, |_| true),
        Duration::from_secs(60),
        4,
    ));
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .connect(SocketAddr::from(([127, 0, 0, 2], port)))
        .await
        .unwrap();
    client.send(b"second").await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), client.recv(&mut buf))
        .await
        .expect("an answer from 127.0.0.2")
        .unwrap();
    assert_eq!(&buf[..n], b"echo:second");
}

#[tokio::test]
async fn a_flow_whose_upstream_left_moves_to_one_still_there() {
    let (a, b) = (named_echo_server("a").await, named_echo_server("b").await);
    let current = Arc::new(Mutex::new(a));
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let port = sock.local_addr().unwrap();
    let picking = current.clone();
    let open = move |_client| {
        let to = *picking.lock().unwrap();
        async move { upstream_to(to).await }
    };
    let still = current.clone();
    let keeps = move |peer: SocketAddr| peer == *still.lock().unwrap();
    tokio::spawn(relay_with(sock, (open, keeps), Duration::from_secs(60), 4));
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    assert_eq!(ask(&client, port, "one").await, "a:one");
    // `a` leaves (a task gone from the mesh) and flows go to `b` now: a client that keeps
    // sending moves there at its next datagram, not left sending to `a` until it is idle.
    *current.lock().unwrap() = b;
    assert_eq!(ask(&client, port, "two").await, "b:two");
}
