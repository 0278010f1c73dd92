//! One overlay network on one node: a network namespace of its own holding a bridge (`br0`,
//! with the subnet's gateway address) and the network's VXLAN device (`vxlan0`), and a veth
//! from that bridge into each local container.
//!
//! Why a namespace per network rather than the host's: overlay subnets are chosen by the
//! cluster and may overlap routes of any node's host; inside their own namespace they never
//! meet the host's routing table or firewall, two networks cannot leak into each other, and
//! removing the network is removing the namespace. The VXLAN device is created in the node's
//! namespace and then moved, so its UDP socket stays on the underlay.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::OverlayError;
use crate::netlink::{LinkChange, NetlinkOps};
use crate::netns;
use crate::peers::{self, RemoteEndpoint, SyncReport};
use crate::vxlan::VxlanSpec;

type Result<T> = std::result::Result<T, OverlayError>;

/// The bridge inside a network's namespace.
pub const BRIDGE: &str = "br0";
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

/// A network's namespace on this node, made or found by `Sandbox::ensure`.
pub struct Sandbox {
    path: PathBuf,
    spec: OverlaySpec,
    ops: Arc<dyn NetlinkOps>,
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
    /// Makes (or finds, after a restart or a half-finished attempt) the namespace, bridge and
    /// VXLAN device of network `spec.vni` under `dir`. `host` is the node's namespace.
    pub async fn ensure(host: &dyn NetlinkOps, dir: &Path, spec: OverlaySpec) -> Result<Sandbox> {
        let path = sandbox_path(dir, spec.vni);
        if !path.exists() {
            let p = path.clone();
            blocking(move || netns::create(&p)).await?;
        }
        let ops = host.in_netns(&path).await?;
        let sb = Sandbox { path, spec, ops };
        let links = sb.ops.links().await?;
        let has = |n: &str| links.iter().any(|l| l.name == n);
        if !(has(BRIDGE) && has(VXLAN)) {
            sb.build(host, has(VXLAN)).await?;
        }
        Ok(sb)
    }

    async fn build(&self, host: &dyn NetlinkOps, has_vxlan: bool) -> Result<()> {
        let s = self.spec;
        let staging = staging_name(s.vni, s.port);
        self.ops.add_bridge(BRIDGE, Some(s.mtu)).await?;
        self.ops
            .add_address(BRIDGE, IpAddr::V4(s.gateway), s.prefix)
            .await?;
        if !has_vxlan {
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
        self.ops
            .set_link(
                VXLAN,
                vec![LinkChange::Master(BRIDGE.into()), LinkChange::Up],
            )
            .await
    }

    /// Removes network `vni`'s namespace under `dir` and everything in it (veths to containers
    /// go with their bridge end), and a staging device left for UDP `port`. Missing is not an
    /// error.
    pub async fn remove(host: &dyn NetlinkOps, dir: &Path, vni: u32, port: u16) -> Result<()> {
        host.delete_link(&staging_name(vni, port)).await?;
        let p = sandbox_path(dir, vni);
        blocking(move || netns::remove(&p)).await
    }

    /// The namespace file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The netlink operations inside the namespace.
    pub fn ops(&self) -> &Arc<dyn NetlinkOps> {
        &self.ops
    }

    /// Connects a container: a veth `bridge_side` on the bridge, its peer `ifname` (with the
    /// endpoint's MAC and address) in the namespace bound at `container`.
    pub async fn attach(
        &self,
        container: &Path,
        ifname: &str,
        bridge_side: &str,
        ep: LocalEndpoint,
    ) -> Result<()> {
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
        let inside = self.ops.in_netns(container).await?;
        inside
            .add_address(ifname, IpAddr::V4(ep.ip), self.spec.prefix)
            .await?;
        inside.set_link(ifname, vec![LinkChange::Up]).await
    }

    /// Disconnects the container whose veth is `bridge_side` (its peer goes too).
    pub async fn detach(&self, bridge_side: &str) -> Result<()> {
        self.ops.delete_link(bridge_side).await
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

    async fn sandbox(host: &FakeNetlink) -> Sandbox {
        let path = PathBuf::from("/run/test/ov-4097");
        Sandbox {
            ops: host.in_netns(&path).await.expect("netns"),
            path,
            spec: spec(),
        }
    }

    #[tokio::test]
    async fn the_vxlan_device_is_made_on_the_underlay_then_moved_renamed_and_bridged() {
        let host = FakeNetlink::default();
        let sb = sandbox(&host).await;
        sb.build(&host, false).await.expect("build");
        let ns = Some(sb.path.clone());
        let calls = host.calls();
        let vx = calls
            .iter()
            .position(|c| matches!(c, NetCall::AddVxlan(s) if *s == VxlanSpec { name: "bv12b5-1001".into(), vni: 4097, port: 4789, mtu: 1450 }))
            .expect("vxlan made");
        let moved = calls
            .iter()
            .position(|c| {
                *c == NetCall::SetLink {
                    netns: None,
                    name: "bv12b5-1001".into(),
                    changes: vec![LinkChange::Netns(sb.path.clone())],
                }
            })
            .expect("moved from the node's namespace");
        let renamed = calls
            .iter()
            .position(|c| {
                *c == NetCall::SetLink {
                    netns: ns.clone(),
                    name: "bv12b5-1001".into(),
                    changes: vec![LinkChange::Rename(VXLAN.into())],
                }
            })
            .expect("renamed inside");
        assert!(vx < moved && moved < renamed);
        assert!(calls.contains(&NetCall::AddAddress {
            netns: ns.clone(),
            link: BRIDGE.into(),
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)),
            prefix: 24
        }));
        assert_eq!(
            calls.last(),
            Some(&NetCall::SetLink {
                netns: ns,
                name: VXLAN.into(),
                changes: vec![LinkChange::Master(BRIDGE.into()), LinkChange::Up]
            })
        );
    }

    #[tokio::test]
    async fn a_half_built_sandbox_is_finished_without_a_second_vxlan() {
        let host = FakeNetlink::default();
        let sb = sandbox(&host).await;
        sb.build(&host, true).await.expect("build");
        assert!(!host
            .calls()
            .iter()
            .any(|c| matches!(c, NetCall::AddVxlan(_))));
    }

    #[tokio::test]
    async fn a_container_gets_its_mac_address_and_a_port_on_the_bridge() {
        let host = FakeNetlink::default();
        let sb = sandbox(&host).await;
        let c = PathBuf::from("/run/test/c1");
        let ep = LocalEndpoint {
            ip: Ipv4Addr::new(10, 0, 1, 5),
            mac: [2, 66, 10, 0, 1, 5],
        };
        sb.attach(&c, "eth1", "ve1", ep).await.expect("attach");
        let calls = host.calls();
        assert!(calls.contains(&NetCall::SetLink {
            netns: None,
            name: "eth1".into(),
            changes: vec![LinkChange::Netns(c.clone()), LinkChange::Mac(ep.mac)]
        }));
        assert!(calls.contains(&NetCall::SetLink {
            netns: Some(sb.path.clone()),
            name: "ve1".into(),
            changes: vec![LinkChange::Master(BRIDGE.into()), LinkChange::Up]
        }));
        assert!(calls.contains(&NetCall::AddAddress {
            netns: Some(c),
            link: "eth1".into(),
            addr: IpAddr::V4(ep.ip),
            prefix: 24
        }));
    }
}
