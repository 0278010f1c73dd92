//! The two-node lab the overlay test and benchmark share: network namespaces for nodes and
//! containers under one directory (removed even on panic), a veth underlay between the nodes,
//! and helpers to run code inside a namespace.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "shared by a test and a bench; each uses part of it, and panics on failure"
)]

use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_overlay::sandbox::{Sandbox, DEFAULT_PORT};
use berth_overlay::{
    netns, LinkChange, LocalEndpoint, NetlinkOps, OverlaySpec, RemoteEndpoint, RtNetlink,
};

pub const UNDERLAY_MTU: u32 = 1500;

/// Whether to skip (saying so): the lab needs root.
pub fn skip_unless_root() -> bool {
    let skip = !nix::unistd::geteuid().is_root();
    if skip {
        eprintln!("SKIP (needs root)");
    }
    skip
}

/// Namespaces of one test run under a directory of its own, removed even on panic.
pub struct Lab {
    dir: PathBuf,
    made: Vec<PathBuf>,
}

impl Lab {
    pub fn new() -> Lab {
        // One per lab: the tests of a file run at once in one process.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("berth-ovtest-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("lab dir");
        Lab {
            dir,
            made: Vec::new(),
        }
    }

    pub fn netns(&mut self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        netns::create(&p).expect("netns");
        self.made.push(p.clone());
        p
    }

    pub fn sandboxes(&mut self, node: &str) -> PathBuf {
        let d = self.dir.join(format!("{node}-sb"));
        std::fs::create_dir_all(&d).expect("sandbox dir");
        d
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Sandboxes first (they live in the nodes' sandbox dirs), then nodes and containers.
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for d in rd.flatten().filter(|d| d.path().is_dir()) {
                if let Ok(inner) = std::fs::read_dir(d.path()) {
                    for f in inner.flatten() {
                        let _ = netns::remove(&f.path());
                    }
                }
            }
        }
        for p in self.made.iter().rev() {
            let _ = netns::remove(p);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `f` on a thread inside the network namespace bound at `ns`.
pub fn in_ns<T: Send + 'static>(ns: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.to_path_buf();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&ns).expect("open netns");
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("netns thread")
}

/// Docker's MAC of an address (what berth gives endpoints).
pub use berth_overlay::ipam::mac_for as mac_of;

pub struct Node {
    /// The node's own namespace (its underlay end).
    pub ns: PathBuf,
    pub vtep: Ipv4Addr,
    pub ops: Arc<dyn NetlinkOps>,
    pub sandboxes: PathBuf,
}

pub async fn underlay(lab: &mut Lab, tag: &str) -> (Node, Node) {
    let a = lab.netns(&format!("{tag}-a"));
    let b = lab.netns(&format!("{tag}-b"));
    let host = RtNetlink::new().expect("netlink");
    let (ua, ub) = (format!("{tag}ua"), format!("{tag}ub"));
    host.add_veth(&ua, &ub, Some(UNDERLAY_MTU))
        .await
        .expect("underlay veth");
    host.set_link(&ua, vec![LinkChange::Netns(a.clone())])
        .await
        .expect("move a");
    host.set_link(&ub, vec![LinkChange::Netns(b.clone())])
        .await
        .expect("move b");
    let mut nodes = Vec::new();
    for (ns, link, last) in [(a, ua, 1u8), (b, ub, 2u8)] {
        let ops = host.in_netns(&ns).await.expect("node netlink");
        let vtep = Ipv4Addr::new(192, 168, 251, last);
        ops.add_address(&link, IpAddr::V4(vtep), 24)
            .await
            .expect("vtep address");
        ops.set_link(&link, vec![LinkChange::Up]).await.expect("up");
        let sandboxes = lab.sandboxes(&ns.file_name().expect("name").to_string_lossy());
        nodes.push(Node {
            ns: ns.clone(),
            vtep,
            ops,
            sandboxes,
        });
    }
    let b = nodes.pop().expect("b");
    let a = nodes.pop().expect("a");
    (a, b)
}

pub fn spec(vni: u32) -> OverlaySpec {
    OverlaySpec {
        vni,
        gateway: Ipv4Addr::new(10, 77, 1, 1),
        prefix: 24,
        mtu: UNDERLAY_MTU - 50,
        port: DEFAULT_PORT,
    }
}

/// A container namespace attached to `sb` with address `ip`.
pub async fn container(lab: &mut Lab, sb: &Sandbox, name: &str, ip: Ipv4Addr) -> PathBuf {
    let c = lab.netns(name);
    let ep = LocalEndpoint {
        ip,
        mac: mac_of(ip),
    };
    sb.attach(&c, "eth0", &format!("ve{}", ip.octets()[3]), ep)
        .await
        .expect("attach");
    let inside = sb.ops().in_netns(&c).await.expect("container netlink");
    inside
        .set_link("lo", vec![LinkChange::Up])
        .await
        .expect("lo up");
    c
}

pub fn remote(ip: Ipv4Addr, node: &Node) -> RemoteEndpoint {
    RemoteEndpoint {
        ip,
        mac: mac_of(ip),
        vtep: node.vtep,
    }
}

/// Accepts one connection on `listener` within a few seconds (the client may never come).
pub fn accept_one(listener: TcpListener) -> Option<TcpStream> {
    listener.set_nonblocking(true).ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).ok()?;
                return Some(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(_) => return None,
        }
    }
    None
}

/// Two nodes serving network VNI 4097, one container on each (10.77.1.2 on a, 10.77.1.3 on
/// b), peers not yet synced.
pub struct Pair {
    pub a: Node,
    pub b: Node,
    pub sa: Sandbox,
    pub sb: Sandbox,
    pub c1: PathBuf,
    pub c2: PathBuf,
    pub ip1: Ipv4Addr,
    pub ip2: Ipv4Addr,
}

pub async fn pair(lab: &mut Lab, tag: &str) -> Pair {
    let (a, b) = underlay(lab, tag).await;
    let sa = Sandbox::ensure(a.ops.as_ref(), &a.sandboxes, spec(4097))
        .await
        .expect("sandbox a");
    let sb = Sandbox::ensure(b.ops.as_ref(), &b.sandboxes, spec(4097))
        .await
        .expect("sandbox b");
    let (ip1, ip2) = (Ipv4Addr::new(10, 77, 1, 2), Ipv4Addr::new(10, 77, 1, 3));
    let c1 = container(lab, &sa, "c1", ip1).await;
    let c2 = container(lab, &sb, "c2", ip2).await;
    Pair {
        a,
        b,
        sa,
        sb,
        c1,
        c2,
        ip1,
        ip2,
    }
}
