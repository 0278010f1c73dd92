//! Two nodes (network namespaces joined by a veth underlay), each serving overlay networks
//! through real VXLAN devices and macvlans: containers on different nodes talk over TCP and UDP
//! once the peer tables are synced, a hand-deleted forwarding entry is repaired by the next
//! sync, two networks with the same subnet never see each other, containers of one node reach
//! each other and their gateway, and a sandbox an older berth made (bridge and veths) keeps
//! working beside newer ones. Needs root.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

use berth_overlay::sandbox::{sandbox_path, ContainerEnd, Sandbox, BRIDGE, LOCAL, VXLAN};
use berth_overlay::{netns, FdbEntry, LinkChange, LocalEndpoint, VxlanSpec};

mod lab;

use lab::{accept_one, container, in_ns, mac_of, pair, remote, spec, underlay, Lab, Node, Pair};

/// Whether a TCP exchange from `from` to `to:port` works (the server echoes five bytes).
fn tcp_works(from: &Path, to_ns: &Path, to: Ipv4Addr, port: u16) -> bool {
    let addr = SocketAddr::from((to, port));
    let listener = in_ns(to_ns, move || TcpListener::bind(addr).expect("bind"));
    let server = std::thread::spawn(move || {
        if let Some(mut s) = accept_one(listener) {
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut buf = [0u8; 5];
            if s.read_exact(&mut buf).is_ok() {
                let _ = s.write_all(&buf);
            }
        }
    });
    let ok = in_ns(from, move || {
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut back = [0u8; 5];
        s.write_all(b"hello").is_ok() && s.read_exact(&mut back).is_ok() && &back == b"hello"
    });
    let _ = server.join();
    ok
}

fn udp_works(from: &Path, to_ns: &Path, to: Ipv4Addr, port: u16) -> bool {
    let addr = SocketAddr::from((to, port));
    let server = in_ns(to_ns, move || UdpSocket::bind(addr).expect("bind udp"));
    server.set_read_timeout(Some(Duration::from_secs(5))).ok();
    in_ns(from, move || {
        let s = UdpSocket::bind("0.0.0.0:0").expect("client udp");
        s.send_to(b"ping", addr).expect("send");
    });
    let mut buf = [0u8; 4];
    matches!(server.recv_from(&mut buf), Ok((4, _))) && &buf == b"ping"
}

/// The names of the links in the namespace bound at `ns`, as node `n` lists them.
async fn link_names(n: &Node, ns: &Path) -> Vec<String> {
    let ops = n.ops.in_netns(ns).await.expect("netlink");
    let links = ops.links().await.expect("links");
    links.into_iter().map(|l| l.name).collect()
}

#[tokio::test]
async fn containers_on_two_nodes_talk_over_the_overlay_and_the_reconciler_repairs_it() {
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
    } = pair(&mut lab, &format!("o{}", std::process::id() % 100_000)).await;

    assert!(
        !tcp_works(&c1, &c2, ip2, 7001),
        "nothing crosses before the control plane programs the peers"
    );
    sa.sync_peers(&[remote(ip2, &b)]).await.expect("sync a");
    sb.sync_peers(&[remote(ip1, &a)]).await.expect("sync b");
    assert!(tcp_works(&c1, &c2, ip2, 7002), "TCP a → b");
    assert!(tcp_works(&c2, &c1, ip1, 7003), "TCP b → a");
    assert!(udp_works(&c1, &c2, ip2, 7004), "UDP a → b");

    // Someone deletes the forwarding entry by hand: traffic stops, the next sync repairs it.
    let entry = FdbEntry {
        mac: mac_of(ip2),
        vtep: b.vtep,
    };
    sa.ops()
        .delete_fdb(VXLAN, entry)
        .await
        .expect("delete by hand");
    assert!(
        !tcp_works(&c1, &c2, ip2, 7005),
        "no forwarding entry, no traffic"
    );
    let r = sa.ops().fdb(VXLAN).await.expect("fdb");
    assert!(r.is_empty(), "the kernel lists what was left: {r:?}");
    let report = sa.sync_peers(&[remote(ip2, &b)]).await.expect("repair");
    assert_eq!(report.added, 1);
    assert!(tcp_works(&c1, &c2, ip2, 7006), "repaired");

    // A second network with the same subnet: its containers reach each other and never the
    // first network's, even with an entry that sends the first network's MAC to node b.
    let sa2 = Sandbox::ensure(a.ops.as_ref(), &a.sandboxes, spec(4098))
        .await
        .expect("sandbox a2");
    let sb2 = Sandbox::ensure(b.ops.as_ref(), &b.sandboxes, spec(4098))
        .await
        .expect("sandbox b2");
    let (ip3, ip4) = (Ipv4Addr::new(10, 77, 1, 4), Ipv4Addr::new(10, 77, 1, 5));
    let c3 = container(&mut lab, &sa2, "c3", ip3).await;
    let c4 = container(&mut lab, &sb2, "c4", ip4).await;
    sa2.sync_peers(&[remote(ip4, &b), remote(ip2, &b)])
        .await
        .expect("sync a2");
    sb2.sync_peers(&[remote(ip3, &a)]).await.expect("sync b2");
    assert!(tcp_works(&c3, &c4, ip4, 7007), "second network works");
    assert!(
        !tcp_works(&c3, &c2, ip2, 7008),
        "VNI 4098 must not reach a container of VNI 4097"
    );

    // Ensure is idempotent: a restarted agent finds the sandbox as it was, traffic unharmed.
    Sandbox::ensure(a.ops.as_ref(), &a.sandboxes, spec(4097))
        .await
        .expect("again");
    assert!(tcp_works(&c1, &c2, ip2, 7009), "after a second ensure");

    Sandbox::remove(a.ops.as_ref(), &a.sandboxes, 4097, spec(4097).port)
        .await
        .expect("remove");
    assert!(!a.sandboxes.join("ov-4097").exists());
}

#[tokio::test]
async fn containers_on_one_node_reach_each_other_and_the_gateway_and_detach_cuts_one_off() {
    if lab::skip_unless_root() {
        return;
    }
    let mut lab = Lab::new();
    let Pair { a, sa, c1, ip1, .. } =
        pair(&mut lab, &format!("l{}", std::process::id() % 100_000)).await;
    let ip3 = Ipv4Addr::new(10, 77, 1, 4);
    let c3 = lab.netns("c3");
    let ep3 = LocalEndpoint {
        ip: ip3,
        mac: mac_of(ip3),
    };
    let c3_index = sa.attach(&c3, "eth0", "ve4", ep3).await.expect("attach");
    let inside = a.ops.in_netns(&c3).await.expect("c3 netlink");
    inside
        .set_link("lo", vec![LinkChange::Up])
        .await
        .expect("lo up");
    assert!(
        tcp_works(&c1, &c3, ip3, 7101),
        "TCP between two containers of a node"
    );
    assert!(tcp_works(&c3, &c1, ip1, 7102), "and back");
    assert!(udp_works(&c3, &c1, ip1, 7103), "UDP between them");
    // The gateway lives in the sandbox (the network's DNS server listens there).
    let gateway = spec(4097).gateway;
    assert!(
        tcp_works(&c1, sa.path(), gateway, 7104),
        "a container reaches its network's gateway address in the sandbox"
    );

    // Renamed and readdressed inside (a container may, with CAP_NET_ADMIN): still found.
    inside
        .set_link("eth0", vec![LinkChange::Rename("hidden".into())])
        .await
        .expect("rename");
    inside
        .add_address("lo", IpAddr::V4(ip3), 32)
        .await
        .expect("address elsewhere");
    let end = ContainerEnd {
        netns: &c3,
        index: Some(c3_index),
        ip: Some(ip3),
        bridge_side: "ve4",
    };
    Sandbox::detach(a.ops.as_ref(), &a.sandboxes, 4097, &end)
        .await
        .expect("detach");
    assert_eq!(
        link_names(&a, &c3).await,
        ["lo"],
        "the container's link is gone"
    );
    let gone = SocketAddr::from((ip3, 7105));
    assert!(
        in_ns(&c1, move || TcpStream::connect_timeout(
            &gone,
            Duration::from_secs(1)
        )
        .is_err()),
        "its address answers no more"
    );
    assert!(
        tcp_works(&c1, sa.path(), gateway, 7106),
        "the others are unharmed"
    );
}

#[tokio::test]
async fn a_sandbox_an_older_berth_made_serves_its_containers_new_ones_and_newer_nodes() {
    if lab::skip_unless_root() {
        return;
    }
    let mut lab = Lab::new();
    let (a, b) = underlay(&mut lab, &format!("g{}", std::process::id() % 100_000)).await;
    let net = spec(4099);
    // What berth made before session 30: a bridge with the gateway, the VXLAN device its port.
    let path = sandbox_path(&a.sandboxes, 4099);
    netns::create(&path).expect("sandbox netns");
    let inside = a.ops.in_netns(&path).await.expect("sandbox netlink");
    inside
        .add_bridge(BRIDGE, Some(net.mtu))
        .await
        .expect("bridge");
    inside
        .add_address(BRIDGE, IpAddr::V4(net.gateway), net.prefix)
        .await
        .expect("gateway");
    let vxlan = VxlanSpec {
        name: "oldvx".into(),
        vni: 4099,
        port: net.port,
        mtu: net.mtu,
    };
    a.ops.add_vxlan(&vxlan).await.expect("vxlan");
    a.ops
        .set_link("oldvx", vec![LinkChange::Netns(path.clone())])
        .await
        .expect("move");
    inside
        .set_link("oldvx", vec![LinkChange::Rename(VXLAN.into())])
        .await
        .expect("rename");
    inside
        .set_link(
            VXLAN,
            vec![LinkChange::Master(BRIDGE.into()), LinkChange::Up],
        )
        .await
        .expect("port");

    let sa = Sandbox::ensure(a.ops.as_ref(), &a.sandboxes, net)
        .await
        .expect("found");
    assert_eq!(sa.local_link(), BRIDGE, "used as it is");
    let (ip1, ip2, ip3) = (
        Ipv4Addr::new(10, 77, 1, 2),
        Ipv4Addr::new(10, 77, 1, 3),
        Ipv4Addr::new(10, 77, 1, 4),
    );
    let c1 = container(&mut lab, &sa, "c1", ip1).await;
    let c2 = container(&mut lab, &sa, "c2", ip2).await;
    assert!(
        tcp_works(&c1, &c2, ip2, 7201),
        "two containers on its bridge"
    );
    assert!(
        tcp_works(&c2, sa.path(), net.gateway, 7202),
        "and its gateway"
    );

    let sb = Sandbox::ensure(b.ops.as_ref(), &b.sandboxes, net)
        .await
        .expect("newer sandbox");
    assert_eq!(sb.local_link(), LOCAL);
    let c3 = container(&mut lab, &sb, "c3", ip3).await;
    sa.sync_peers(&[remote(ip3, &b)]).await.expect("sync a");
    sb.sync_peers(&[remote(ip1, &a), remote(ip2, &a)])
        .await
        .expect("sync b");
    assert!(
        tcp_works(&c1, &c3, ip3, 7203),
        "an older node and a newer one talk"
    );
    assert!(tcp_works(&c3, &c2, ip2, 7204), "both ways");

    // The lab names a container's bridge end after its address's last byte.
    let end = ContainerEnd {
        netns: &c2,
        index: None,
        ip: Some(ip2),
        bridge_side: "ve3",
    };
    Sandbox::detach(a.ops.as_ref(), &a.sandboxes, 4099, &end)
        .await
        .expect("detach");
    assert_eq!(
        link_names(&a, &c2).await,
        ["lo"],
        "its veth went with its bridge end"
    );
    assert!(tcp_works(&c3, &c1, ip1, 7205), "the others are unharmed");
}
