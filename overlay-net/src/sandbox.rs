//! One overlay network on one node: a network namespace of its own holding the network's VXLAN
//! device (`vxlan0`) and `gw0`, a macvlan on it with the subnet's gateway address; each local
//! container gets a macvlan of its own on `vxlan0` (bridge mode), made in its namespace.
//!
//! Why a namespace per network rather than the host's: overlay subnets are chosen by the
//! cluster and may overlap routes of any node's host; inside their own namespace they never
//! meet the host's routing table or firewall, two networks cannot leak into each other, and
//! removing the network is removing the namespace. The VXLAN device is created in the node's
//! namespace and then moved, so its UDP socket stays on the underlay.
//!
//! Why macvlans rather than Docker's bridge and veths: a container's packet goes from its
//! macvlan straight to the VXLAN device, and an arriving one from the VXLAN device straight to
//! the container's macvlan, in the same pass through the stack; a veth queues each packet again
//! for the other side and the bridge adds a lookup (SPECIFICATION O1: 0.93-0.95x a raw VXLAN
//! device with them, 0.99-1.03x without). Containers on one node still reach each other (bridge
//! mode), and the gateway (the network's DNS server) through `gw0`. Sandboxes made by an older
//! berth (a bridge `br0` with `vxlan0` as its port, a veth per container) are used as they are,
//! and a kernel without macvlans gets that layout.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::OverlayError;
use crate::netlink::{LinkChange, NetlinkOps};
use crate::netns;
use crate::peers::{self, RemoteEndpoint, SyncReport};
use crate::vxlan::VxlanSpec;

type Result<T> = std::result::Result<T, OverlayError>;

/// The bridge inside a network's namespace made by an older berth.
pub const BRIDGE: &str = "br0";
/// The sandbox's own interface, a macvlan on the VXLAN device: the gateway address (where the
/// network's DNS server listens) and, on the ingress network, this node's address.
pub const LOCAL: &str = "gw0";
/// The VXLAN device inside a network's namespace.
pub const VXLAN: &str = "vxlan0";
/// VXLAN's IANA port, Docker's default data path port.
pub const DEFAULT_PORT: u16 = 4789;
/// Bytes VXLAN over IPv4 adds to each frame: outer IP 20, UDP 8, VXLAN 8, inner Ethernet 14.
pub const VXLAN_OVERHEAD: u32 = 50;

/// What a node needs to know of an overlay network to serve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverlaySpec {
    /// VXLAN network identifier; the cluster hands out 4096 and up.
    pub vni: u32,
    pub gateway: Ipv4Addr,
    pub prefix: u8,
    /// The MTU inside the overlay: the underlay's less `VXLAN_OVERHEAD`.
    pub mtu: u32,
    pub port: u16,
}

/// A local endpoint: the container side of a veth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalEndpoint {
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
}

/// How containers are connected to the VXLAN device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Switch {
    /// A macvlan per container on `vxlan0`, and `LOCAL` for the sandbox's addresses.
    Macvlan,
    /// A sandbox of an older berth, or on a kernel without macvlans: bridge `BRIDGE` with the
    /// addresses and `vxlan0` as a port, a veth per container. An older berth's is kept as it
    /// is while it exists: its containers may still run.
    Bridge,
}

/// A container's end of a network, as `Sandbox::detach` finds it.
#[derive(Debug, Clone, Copy)]
pub struct ContainerEnd<'a> {
    /// The container's network namespace file.
    pub netns: &'a Path,
    /// Its link's index there, as `attach` gave it: found even if the container renamed it or
    /// moved its address (it may, with `CAP_NET_ADMIN`).
    pub index: Option<u32>,
    /// Its address, which finds the link of an endpoint recorded without an index.
    pub ip: Option<Ipv4Addr>,
    /// Its veth's bridge end, in an older berth's sandbox.
    pub bridge_side: &'a str,
}

/// The links `Sandbox::ensure` found in a sandbox it has to finish.
#[derive(Debug, Clone, Copy, Default)]
struct Found {
    vxlan: bool,
    local: bool,
    bridge: bool,
}

/// A network's namespace on this node, made or found by `Sandbox::ensure`.
pub struct Sandbox {
    path: PathBuf,
    spec: OverlaySpec,
    ops: Arc<dyn NetlinkOps>,
    switch: Switch,
}

/// The namespace file of network `vni` under `dir`.
pub fn sandbox_path(dir: &Path, vni: u32) -> PathBuf {
    dir.join(format!("ov-{vni}"))
}

/// The name the VXLAN device has in the node's namespace before it moves: unique per VNI, so a
/// leftover of a crash is found and removed, and per UDP port, so daemons sharing a host (each
/// on its own port, as they must) never build under one name (hex: at most 13 characters).
fn staging_name(vni: u32, port: u16) -> String {
    format!("bv{port:x}-{vni:x}")
}

async fn blocking(f: impl FnOnce() -> Result<()> + Send + 'static) -> Result<()> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|_| {
        Err(OverlayError::Namespace {
            path: "netns worker".into(),
            source: std::io::Error::other("worker failed"),
        })
    })
}

impl Sandbox {
    /// Makes (or finds, after a restart or a half-finished attempt) the namespace, VXLAN device
    /// and `LOCAL` of network `spec.vni` under `dir`. `host` is the node's namespace.
    pub async fn ensure(host: &dyn NetlinkOps, dir: &Path, spec: OverlaySpec) -> Result<Sandbox> {
        let path = sandbox_path(dir, spec.vni);
        if !path.exists() {
            let p = path.clone();
            blocking(move || netns::create(&p)).await?;
        }
        let ops = host.in_netns(&path).await?;
        let links = ops.links().await?;
        let has = |n: &str| links.iter().any(|l| l.name == n);
        let gateway = (IpAddr::V4(spec.gateway), spec.prefix);
        let finished = links
            .iter()
            .any(|l| l.name == LOCAL && l.addresses.contains(&gateway));
        let switch = if has(BRIDGE) && has(VXLAN) {
            Switch::Bridge
        } else {
            Switch::Macvlan
        };
        let mut sb = Sandbox {
            path,
            spec,
            ops,
            switch,
        };
        if switch == Switch::Macvlan && !finished {
            let found = Found {
                vxlan: has(VXLAN),
                local: has(LOCAL),
                bridge: has(BRIDGE),
            };
            sb.switch = sb.build(host, found).await?;
        }
        Ok(sb)
    }

    /// Makes what is missing of a sandbox (`found` is what is there): the VXLAN device, then
    /// `LOCAL` with the gateway address. A bridge is what an older berth's attempt left before
    /// its VXLAN device was bridged; it goes. On a kernel built without macvlans, the bridge
    /// layout instead. How containers will be connected.
    async fn build(&self, host: &dyn NetlinkOps, found: Found) -> Result<Switch> {
        let s = self.spec;
        let staging = staging_name(s.vni, s.port);
        if found.bridge {
            self.ops.delete_link(BRIDGE).await?;
        }
        if !found.vxlan {
            // Leftovers of an attempt that stopped half-way, in either namespace.
            host.delete_link(&staging).await?;
            self.ops.delete_link(&staging).await?;
            host.add_vxlan(&VxlanSpec {
                name: staging.clone(),
                vni: s.vni,
                port: s.port,
                mtu: s.mtu,
            })
            .await?;
            host.set_link(&staging, vec![LinkChange::Netns(self.path.clone())])
                .await?;
            self.ops
                .set_link(&staging, vec![LinkChange::Rename(VXLAN.into())])
                .await?;
        }
        self.ops.set_link(VXLAN, vec![LinkChange::Up]).await?;
        if !found.local {
            // A random MAC, as the bridge had. Every node has the gateway address; ARP for it
            // never leaves the node (the VXLAN device answers for remote endpoints only).
            let made = self
                .ops
                .add_macvlan(VXLAN, LOCAL, crate::netlink::random_mac(), None)
                .await;
            match made {
                Ok(()) => {}
                Err(e) if e.is_unsupported() => return self.build_bridge().await,
                Err(e) => return Err(e),
            }
        }
        self.ops
            .add_address(LOCAL, IpAddr::V4(s.gateway), s.prefix)
            .await?;
        self.ops.set_link(LOCAL, vec![LinkChange::Up]).await?;
        Ok(Switch::Macvlan)
    }

    /// The layout before macvlans, for a kernel without them: bridge `BRIDGE` with the gateway
    /// address and the VXLAN device as a port.
    async fn build_bridge(&self) -> Result<Switch> {
        let s = self.spec;
        self.ops.add_bridge(BRIDGE, Some(s.mtu)).await?;
        self.ops
            .add_address(BRIDGE, IpAddr::V4(s.gateway), s.prefix)
            .await?;
        self.ops
            .set_link(
                VXLAN,
                vec![LinkChange::Master(BRIDGE.into()), LinkChange::Up],
            )
            .await?;
        Ok(Switch::Bridge)
    }

    /// Removes network `vni`'s namespace under `dir` and everything in it (containers'
    /// macvlans go with the VXLAN device, an older sandbox's veths with their bridge end), and a
    /// staging device left for UDP `port`. Missing is not an error.
    pub async fn remove(host: &dyn NetlinkOps, dir: &Path, vni: u32, port: u16) -> Result<()> {
        host.delete_link(&staging_name(vni, port)).await?;
        let p = sandbox_path(dir, vni);
        blocking(move || netns::remove(&p)).await
    }

    /// The namespace file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sandbox's own interface, which holds its addresses.
    pub fn local_link(&self) -> &'static str {
        match self.switch {
            Switch::Macvlan => LOCAL,
            Switch::Bridge => BRIDGE,
        }
    }

    /// The netlink operations inside the namespace.
    pub fn ops(&self) -> &Arc<dyn NetlinkOps> {
        &self.ops
    }

    /// Connects a container: link `ifname` (with the endpoint's MAC and address) in the
    /// namespace bound at `container`, a macvlan on the VXLAN device; in an older berth's
    /// sandbox, a veth whose end `bridge_side` is a port of the bridge. The link's index in the
    /// container's namespace, for `detach`.
    pub async fn attach(
        &self,
        container: &Path,
        ifname: &str,
        bridge_side: &str,
        ep: LocalEndpoint,
    ) -> Result<u32> {
        match self.switch {
            Switch::Macvlan => {
                self.ops
                    .add_macvlan(VXLAN, ifname, ep.mac, Some(container))
                    .await?;
            }
            Switch::Bridge => {
                let mtu = Some(self.spec.mtu);
                self.ops
                    .add_veth_into(bridge_side, ifname, container, ep.mac, mtu)
                    .await?;
                self.ops
                    .set_link(
                        bridge_side,
                        vec![LinkChange::Master(BRIDGE.into()), LinkChange::Up],
                    )
                    .await?;
            }
        }
        let inside = self.ops.in_netns(container).await?;
        inside
            .add_address(ifname, IpAddr::V4(ep.ip), self.spec.prefix)
            .await?;
        inside.set_link(ifname, vec![LinkChange::Up]).await?;
        inside.link_index(ifname).await
    }

    /// Disconnects a container from network `vni` under `dir`: its link on the network in its
    /// namespace (by index, else by address), and the bridge end an older berth's sandbox has
    /// (its peer goes with it). Whatever is missing is not an error. A container whose
    /// namespace is gone lost its link with it.
    pub async fn detach(
        host: &dyn NetlinkOps,
        dir: &Path,
        vni: u32,
        end: &ContainerEnd<'_>,
    ) -> Result<()> {
        let path = sandbox_path(dir, vni);
        if path.exists() {
            host.in_netns(&path)
                .await?
                .delete_link(end.bridge_side)
                .await?;
        }
        if !end.netns.exists() || (end.index.is_none() && end.ip.is_none()) {
            return Ok(());
        }
        let inside = host.in_netns(end.netns).await?;
        let links = inside.links().await?;
        let ours = links.iter().find(|l| match (end.index, end.ip) {
            (Some(index), _) => l.index == index,
            (None, Some(ip)) => l.addresses.iter().any(|(a, _)| *a == IpAddr::V4(ip)),
            (None, None) => false,
        });
        match ours {
            Some(l) => inside.delete_link(&l.name).await,
            None => Ok(()),
        }
    }

    /// Makes the VXLAN device's tables hold exactly `remote` (see `peers::sync`).
    pub async fn sync_peers(&self, remote: &[RemoteEndpoint]) -> Result<SyncReport> {
        peers::sync(self.ops.as_ref(), VXLAN, remote).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeNetlink, NetCall};

    fn spec() -> OverlaySpec {
        OverlaySpec {
            vni: 4097,
            gateway: Ipv4Addr::new(10, 0, 1, 1),
            prefix: 24,
            mtu: 1450,
            port: DEFAULT_PORT,
        }
    }

    async fn sandbox(host: &FakeNetlink, switch: Switch) -> Sandbox {
        let path = PathBuf::from("/run/test/ov-4097");
        Sandbox {
            ops: host.in_netns(&path).await.expect("netns"),
            path,
            spec: spec(),
            switch,
        }
    }

    /// A directory of its own under the temporary one, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let d = std::env::temp_dir().join(format!("berth-sbtest-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&d).expect("scratch dir");
            Scratch(d)
        }

        /// A file standing for a namespace file (the fake never opens it).
        fn file(&self, name: &str) -> PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, b"").expect("scratch file");
            p
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn ep() -> LocalEndpoint {
        LocalEndpoint {
            ip: Ipv4Addr::new(10, 0, 1, 5),
            mac: [2, 66, 10, 0, 1, 5],
        }
    }

    #[tokio::test]
    async fn the_vxlan_device_is_made_on_the_underlay_then_moved_renamed_and_given_the_gateway() {
        let host = FakeNetlink::default();
        let sb = sandbox(&host, Switch::Macvlan).await;
        let switch = sb.build(&host, Found::default()).await.expect("build");
        assert_eq!(switch, Switch::Macvlan);
        let ns = Some(sb.path.clone());
        let calls = host.calls();
        let at = |want: &dyn Fn(&NetCall) -> bool, what: &str| {
            calls
                .iter()
                .position(want)
                .unwrap_or_else(|| panic!("{what}: {calls:?}"))
        };
        let vx = at(
            &|c| matches!(c, NetCall::AddVxlan(s) if *s == VxlanSpec { name: "bv12b5-1001".into(), vni: 4097, port: 4789, mtu: 1450 }),
            "vxlan made",
        );
        let moved = at(
            &|c| {
                *c == NetCall::SetLink {
                    netns: None,
                    name: "bv12b5-1001".into(),
                    changes: vec![LinkChange::Netns(sb.path.clone())],
                }
            },
            "moved from the node's namespace",
        );
        let renamed = at(
            &|c| {
                *c == NetCall::SetLink {
                    netns: ns.clone(),
                    name: "bv12b5-1001".into(),
                    changes: vec![LinkChange::Rename(VXLAN.into())],
                }
            },
            "renamed inside",
        );
        let up = at(
            &|c| {
                *c == NetCall::SetLink {
                    netns: ns.clone(),
                    name: VXLAN.into(),
                    changes: vec![LinkChange::Up],
                }
            },
            "up, on no bridge",
        );
        let local = at(
            &|c| {
                matches!(c, NetCall::AddMacvlan { netns, lower, name, into: None, mac }
                    if *netns == ns && lower == VXLAN && name == LOCAL && mac[0] & 3 == 2)
            },
            "the sandbox's own macvlan, with a local unicast MAC",
        );
        let gateway = at(
            &|c| {
                *c == NetCall::AddAddress {
                    netns: ns.clone(),
                    link: LOCAL.into(),
                    addr: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)),
                    prefix: 24,
                }
            },
            "the gateway on it",
        );
        assert!(vx < moved && moved < renamed && renamed < up && up < local && local < gateway);
        assert!(!calls.iter().any(|c| matches!(c, NetCall::AddBridge { .. })));
        assert_eq!(
            calls.last(),
            Some(&NetCall::SetLink {
                netns: ns,
                name: LOCAL.into(),
                changes: vec![LinkChange::Up]
            })
        );
    }

    #[tokio::test]
    async fn on_a_kernel_without_macvlans_the_sandbox_is_a_bridge() {
        let host = FakeNetlink::default();
        let sb = sandbox(&host, Switch::Macvlan).await;
        // The seventh call, after the VXLAN device is made, moved, renamed and up.
        host.fail_at_with(6, libc::EOPNOTSUPP);
        let switch = sb.build(&host, Found::default()).await.expect("build");
        assert_eq!(switch, Switch::Bridge);
        let ns = Some(sb.path.clone());
        let calls = host.calls();
        assert!(matches!(&calls[6], NetCall::AddMacvlan { name, .. } if name == LOCAL));
        assert_eq!(
            calls[7..],
            [
                NetCall::AddBridge {
                    name: BRIDGE.into(),
                    mtu: Some(1450)
                },
                NetCall::AddAddress {
                    netns: ns.clone(),
                    link: BRIDGE.into(),
                    addr: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)),
                    prefix: 24
                },
                NetCall::SetLink {
                    netns: ns,
                    name: VXLAN.into(),
                    changes: vec![LinkChange::Master(BRIDGE.into()), LinkChange::Up]
                },
            ]
        );
    }

    #[tokio::test]
    async fn another_refusal_of_the_macvlan_is_an_error() {
        let host = FakeNetlink::default();
        let sb = sandbox(&host, Switch::Macvlan).await;
        host.fail_at_with(6, libc::EPERM);
        assert!(sb.build(&host, Found::default()).await.is_err());
        assert!(!host
            .calls()
            .iter()
            .any(|c| matches!(c, NetCall::AddBridge { .. })));
    }

    #[tokio::test]
    async fn a_half_built_sandbox_is_finished_without_a_second_vxlan() {
        let host = FakeNetlink::default();
        let sb = sandbox(&host, Switch::Macvlan).await;
        let found = Found {
            vxlan: true,
            ..Found::default()
        };
        sb.build(&host, found).await.expect("build");
        let calls = host.calls();
        assert!(!calls.iter().any(|c| matches!(c, NetCall::AddVxlan(_))));
        assert!(calls
            .iter()
            .any(|c| matches!(c, NetCall::AddMacvlan { name, .. } if name == LOCAL)));
    }

    #[tokio::test]
    async fn an_older_berths_half_built_bridge_goes_before_the_sandbox_is_made() {
        let host = FakeNetlink::default();
        let sb = sandbox(&host, Switch::Macvlan).await;
        let found = Found {
            bridge: true,
            ..Found::default()
        };
        sb.build(&host, found).await.expect("build");
        assert_eq!(
            host.calls().first(),
            Some(&NetCall::DeleteLink {
                name: BRIDGE.into()
            })
        );
    }

    #[tokio::test]
    async fn a_container_gets_a_macvlan_on_the_vxlan_device_made_in_its_namespace() {
        let host = FakeNetlink::default();
        let sb = sandbox(&host, Switch::Macvlan).await;
        let c = PathBuf::from("/run/test/c1");
        sb.attach(&c, "eth1", "ve1", ep()).await.expect("attach");
        let calls = host.calls();
        assert_eq!(
            calls.first(),
            Some(&NetCall::AddMacvlan {
                netns: Some(sb.path.clone()),
                lower: VXLAN.into(),
                name: "eth1".into(),
                mac: ep().mac,
                into: Some(c.clone()),
            })
        );
        assert!(!calls.iter().any(|c| matches!(c, NetCall::AddVeth { .. })));
        assert!(calls.contains(&NetCall::AddAddress {
            netns: Some(c.clone()),
            link: "eth1".into(),
            addr: IpAddr::V4(ep().ip),
            prefix: 24
        }));
        assert!(calls.contains(&NetCall::SetLink {
            netns: Some(c),
            name: "eth1".into(),
            changes: vec![LinkChange::Up]
        }));
    }

    #[tokio::test]
    async fn an_older_berths_sandbox_is_found_and_its_containers_get_a_bridge_port() {
        let scratch = Scratch::new("legacy");
        scratch.file("ov-4097");
        let host = FakeNetlink::default();
        host.add_host_link(BRIDGE, vec![(IpAddr::V4(spec().gateway), 24)]);
        host.add_host_link(VXLAN, Vec::new());
        let sb = Sandbox::ensure(&host, &scratch.0, spec())
            .await
            .expect("ensure");
        assert_eq!(sb.local_link(), BRIDGE);
        let c = PathBuf::from("/run/test/c1");
        sb.attach(&c, "eth1", "ve1", ep()).await.expect("attach");
        let calls = host.calls();
        assert!(!calls
            .iter()
            .any(|c| matches!(c, NetCall::AddMacvlan { .. } | NetCall::AddVxlan(_))));
        assert!(calls.contains(&NetCall::SetLink {
            netns: None,
            name: "eth1".into(),
            changes: vec![LinkChange::Netns(c.clone()), LinkChange::Mac(ep().mac)]
        }));
        assert!(calls.contains(&NetCall::SetLink {
            netns: Some(scratch.0.join("ov-4097")),
            name: "ve1".into(),
            changes: vec![LinkChange::Master(BRIDGE.into()), LinkChange::Up]
        }));
    }

    #[tokio::test]
    async fn a_sandbox_whose_local_link_lacks_the_gateway_gets_it_without_a_second_link() {
        let scratch = Scratch::new("nogw");
        scratch.file("ov-4097");
        let host = FakeNetlink::default();
        host.add_host_link(VXLAN, Vec::new());
        host.add_host_link(LOCAL, Vec::new());
        let sb = Sandbox::ensure(&host, &scratch.0, spec())
            .await
            .expect("ensure");
        let calls = host.calls();
        assert!(!calls
            .iter()
            .any(|c| matches!(c, NetCall::AddMacvlan { .. } | NetCall::AddVxlan(_))));
        assert!(calls.contains(&NetCall::AddAddress {
            netns: Some(sb.path.clone()),
            link: LOCAL.into(),
            addr: IpAddr::V4(spec().gateway),
            prefix: 24
        }));
    }

    #[tokio::test]
    async fn a_made_sandbox_is_found_as_it_is() {
        let scratch = Scratch::new("found");
        scratch.file("ov-4097");
        let host = FakeNetlink::default();
        host.add_host_link(VXLAN, Vec::new());
        host.add_host_link(LOCAL, vec![(IpAddr::V4(spec().gateway), 24)]);
        let sb = Sandbox::ensure(&host, &scratch.0, spec())
            .await
            .expect("ensure");
        assert_eq!(sb.local_link(), LOCAL);
        assert_eq!(host.calls(), Vec::new());
    }

    fn end<'a>(netns: &'a Path, index: Option<u32>) -> ContainerEnd<'a> {
        ContainerEnd {
            netns,
            index,
            ip: Some(ep().ip),
            bridge_side: "ve1",
        }
    }

    #[tokio::test]
    async fn detach_deletes_the_link_attach_made_even_renamed_and_readdressed() {
        let scratch = Scratch::new("detach");
        scratch.file("ov-4097");
        let c = scratch.file("c1");
        let host = FakeNetlink::default();
        let sb = sandbox(&host, Switch::Macvlan).await;
        host.add_host_link("lo", Vec::new());
        let index = sb.attach(&c, "eth1", "ve1", ep()).await.expect("attach");
        // What the fake knows of the container's namespace: its link, now holding nothing,
        // and another link holding the endpoint's address.
        host.add_host_link("decoy", vec![(IpAddr::V4(ep().ip), 24)]);
        let before = host.calls().len();
        Sandbox::detach(&host, &scratch.0, 4097, &end(&c, Some(index)))
            .await
            .expect("detach");
        assert_eq!(
            host.calls()[before..],
            [
                NetCall::DeleteLink { name: "ve1".into() },
                NetCall::DeleteLink {
                    name: "eth1".into()
                }
            ]
        );
    }

    #[tokio::test]
    async fn detach_of_an_endpoint_recorded_without_an_index_finds_its_link_by_address() {
        let scratch = Scratch::new("byaddr");
        let c = scratch.file("c1");
        let host = FakeNetlink::default();
        host.add_host_link("eth0", vec![(IpAddr::V4(Ipv4Addr::new(172, 18, 0, 5)), 16)]);
        host.add_host_link("eth1", vec![(IpAddr::V4(ep().ip), 24)]);
        Sandbox::detach(&host, &scratch.0, 4097, &end(&c, None))
            .await
            .expect("detach");
        assert_eq!(
            host.calls(),
            vec![NetCall::DeleteLink {
                name: "eth1".into()
            }]
        );
    }

    #[tokio::test]
    async fn detach_of_a_container_whose_namespace_is_gone_touches_nothing_inside() {
        let scratch = Scratch::new("gone");
        let host = FakeNetlink::default();
        host.add_host_link("eth1", vec![(IpAddr::V4(ep().ip), 24)]);
        let c = scratch.0.join("c1");
        Sandbox::detach(&host, &scratch.0, 4097, &end(&c, Some(1)))
            .await
            .expect("detach");
        assert_eq!(host.calls(), Vec::new());
    }
}
