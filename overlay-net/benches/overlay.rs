//! O1: what berth's overlay costs on the data path. Two nodes (namespaces on a veth underlay),
//! one container namespace on each, and three paths between the same pair, measured in one run:
//! the underlay itself (node to node), a hand-made kernel VXLAN (a VXLAN device made on the
//! underlay and moved straight into each container, static entries, no bridge), and berth's
//! overlay (per-network namespace with the VXLAN device, a macvlan on it in the container, peers
//! synced by the reconciler). Prints TCP throughput and 1-byte request/response latency for each, and
//! berth ÷ raw VXLAN. Needs root; `cargo bench -p berth-overlay --bench overlay`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark: prints its figures and panics on failure"
)]

#[path = "../tests/lab/mod.rs"]
mod lab;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_overlay::sandbox::{DEFAULT_PORT, VXLAN_OVERHEAD};
use berth_overlay::{FdbEntry, LinkChange, Neighbour, VxlanSpec};
use lab::{accept_one, in_ns, mac_of, pair, remote, Lab, Node, Pair, UNDERLAY_MTU};

const SECONDS: u64 = 3;
const ROUND_TRIPS: usize = 10_000;
const RUNS: usize = 3;

/// Bytes per second from `from` to `to:port` over one TCP connection for `SECONDS`.
fn throughput(from: &Path, to_ns: &Path, to: Ipv4Addr, port: u16) -> f64 {
    let addr = SocketAddr::from((to, port));
    let listener = in_ns(to_ns, move || TcpListener::bind(addr).expect("bind"));
    let sink = std::thread::spawn(move || {
        let mut s = accept_one(listener).expect("accept");
        let mut buf = vec![0u8; 1 << 17];
        let mut total = 0u64;
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    });
    let elapsed = in_ns(from, move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
        let buf = vec![0x5au8; 1 << 17];
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(SECONDS) {
            s.write_all(&buf).expect("send");
        }
        s.shutdown(std::net::Shutdown::Write).ok();
        start.elapsed()
    });
    let total = sink.join().expect("sink");
    total as f64 / elapsed.as_secs_f64()
}

/// Round-trip times of 1-byte requests answered by 1-byte responses, sorted.
fn round_trips(from: &Path, to_ns: &Path, to: Ipv4Addr, port: u16) -> Vec<Duration> {
    let addr = SocketAddr::from((to, port));
    let listener = in_ns(to_ns, move || TcpListener::bind(addr).expect("bind"));
    let echo = std::thread::spawn(move || {
        let mut s = accept_one(listener).expect("accept");
        s.set_nodelay(true).ok();
        let mut b = [0u8; 1];
        while s.read_exact(&mut b).is_ok() {
            if s.write_all(&b).is_err() {
                break;
            }
        }
    });
    let mut rtts = in_ns(from, move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
        s.set_nodelay(true).ok();
        let mut out = Vec::with_capacity(ROUND_TRIPS);
        let mut b = [1u8; 1];
        for _ in 0..ROUND_TRIPS {
            let t = Instant::now();
            s.write_all(&b).expect("request");
            s.read_exact(&mut b).expect("response");
            out.push(t.elapsed());
        }
        out
    });
    echo.join().expect("echo");
    rtts.sort();
    rtts
}

/// The `percent`th percentile of `sorted`, in µs.
fn pct(sorted: &[Duration], percent: usize) -> f64 {
    let i = sorted.len().saturating_sub(1) * percent / 100;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// A hand-made VXLAN: a device made on node `n`'s underlay, moved into container `c`, with an
/// address and static entries for the other side. No bridge, no veth, no reconciler.
async fn raw_vxlan(n: &Node, c: &Path, own: Ipv4Addr, peer: Ipv4Addr, peer_vtep: Ipv4Addr) {
    let name = "rawvx";
    n.ops
        .add_vxlan(&VxlanSpec {
            name: name.into(),
            vni: 5000,
            port: DEFAULT_PORT,
            mtu: UNDERLAY_MTU - VXLAN_OVERHEAD,
        })
        .await
        .expect("raw vxlan");
    n.ops
        .set_link(
            name,
            vec![
                LinkChange::Netns(c.to_path_buf()),
                LinkChange::Mac(mac_of(own)),
            ],
        )
        .await
        .expect("move raw vxlan");
    let inside = n.ops.in_netns(c).await.expect("container netlink");
    inside
        .add_address(name, IpAddr::V4(own), 24)
        .await
        .expect("raw address");
    inside
        .set_link(name, vec![LinkChange::Up])
        .await
        .expect("raw up");
    inside
        .replace_fdb(
            name,
            FdbEntry {
                mac: mac_of(peer),
                vtep: peer_vtep,
            },
        )
        .await
        .expect("raw fdb");
    inside
        .replace_neighbour(
            name,
            Neighbour {
                ip: peer,
                mac: mac_of(peer),
            },
        )
        .await
        .expect("raw neighbour");
}

struct Path3 {
    name: &'static str,
    from: PathBuf,
    to_ns: PathBuf,
    to: Ipv4Addr,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if lab::skip_unless_root() {
        return;
    }
    let mut lab = Lab::new();
    let Pair {
        a,
        b,
        sa,
        sb,
        c1,
        c2,
        ip1,
        ip2,
    } = pair(&mut lab, &format!("ob{}", std::process::id() % 100_000)).await;
    sa.sync_peers(&[remote(ip2, &b)]).await.expect("sync a");
    sb.sync_peers(&[remote(ip1, &a)]).await.expect("sync b");
    let (r1, r2) = (Ipv4Addr::new(10, 88, 0, 1), Ipv4Addr::new(10, 88, 0, 2));
    raw_vxlan(&a, &c1, r1, r2, b.vtep).await;
    raw_vxlan(&b, &c2, r2, r1, a.vtep).await;

    let paths = [
        Path3 {
            name: "underlay (veth, node to node)",
            from: a.ns.clone(),
            to_ns: b.ns.clone(),
            to: b.vtep,
        },
        Path3 {
            name: "raw kernel VXLAN",
            from: c1.clone(),
            to_ns: c2.clone(),
            to: r2,
        },
        Path3 {
            name: "berth overlay",
            from: c1.clone(),
            to_ns: c2.clone(),
            to: ip2,
        },
    ];
    println!(
        "O1 overlay data path: {RUNS} runs of {SECONDS} s per path (alternating), {ROUND_TRIPS} round trips, MTU {} inside",
        UNDERLAY_MTU - VXLAN_OVERHEAD
    );
    let mut gbit = vec![Vec::new(); paths.len()];
    let mut port = 9000u16;
    for _ in 0..RUNS {
        for (i, p) in paths.iter().enumerate() {
            port += 1;
            gbit[i].push(throughput(&p.from, &p.to_ns, p.to, port) * 8.0 / 1e9);
        }
    }
    let mut lat = Vec::new();
    for p in &paths {
        port += 1;
        lat.push(round_trips(&p.from, &p.to_ns, p.to, port));
    }
    let mut med = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let runs: Vec<String> = gbit[i].iter().map(|g| format!("{g:.1}")).collect();
        let m = median(gbit[i].clone());
        med.push(m);
        println!(
            "{:32} throughput median {m:6.2} Gbit/s (runs {}), RTT p50 {:6.1} µs p99 {:6.1} µs",
            p.name,
            runs.join(" / "),
            pct(&lat[i], 50),
            pct(&lat[i], 99)
        );
    }
    println!(
        "berth ÷ raw VXLAN: throughput {:.2}×, RTT p50 {:.2}×; raw VXLAN ÷ underlay: {:.2}×",
        med[2] / med[1],
        pct(&lat[2], 50) / pct(&lat[1], 50),
        med[1] / med[0]
    );
}
