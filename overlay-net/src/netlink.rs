//! `NetlinkOps`, the workspace's one netlink trait (links, addresses, routes), and `RtNetlink`,
//! its implementation over rtnetlink. Must not run `ip` or fork: sockets for another network
//! namespace are opened from a short-lived thread that joined it.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use futures_util::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressFlags};
use netlink_packet_route::link::{InfoBridgePort, InfoData, InfoKind, InfoVeth};
use netlink_packet_route::link::{LinkAttribute, LinkMessage, MacVlanMode};
use rtnetlink::{
    Handle, LinkBridge, LinkMacVlan, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use crate::error::OverlayError;
use crate::vxlan::{FdbEntry, Neighbour, VxlanSpec};

/// A boxed future, so the trait stays dyn-compatible.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Result<T> = std::result::Result<T, OverlayError>;

/// One change applied to an existing link by `set_link`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkChange {
    Up,
    /// Attach to this bridge.
    Master(String),
    /// Move into the network namespace bound at this path.
    Netns(PathBuf),
    Rename(String),
    Mac([u8; 6]),
    Mtu(u32),
    /// As a bridge port, isolate it: it reaches the bridge and non-isolated ports only, not
    /// other isolated ports (a bridge without inter-container traffic, `enable_icc=false`).
    Isolated,
}

/// A link as listed by `links`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub name: String,
    pub index: u32,
    /// Addresses with their prefix lengths.
    pub addresses: Vec<(IpAddr, u8)>,
}

/// Links, addresses and routes of one network namespace.
pub trait NetlinkOps: Send + Sync {
    /// Creates a bridge (already existing is not an error) and sets it up.
    fn add_bridge(&self, name: &str, mtu: Option<u32>) -> BoxFuture<'_, Result<()>>;
    /// Creates a veth pair `name` ⇄ `peer`.
    fn add_veth(&self, name: &str, peer: &str, mtu: Option<u32>) -> BoxFuture<'_, Result<()>>;
    /// Creates a veth pair `name` ⇄ `peer` with `peer` (MAC `mac`) made directly in the network
    /// namespace bound at `netns`. Moving a link between namespaces afterwards waits for an
    /// RCU grace period, tens of milliseconds on a busy host.
    fn add_veth_into(
        &self,
        name: &str,
        peer: &str,
        netns: &Path,
        mac: [u8; 6],
        mtu: Option<u32>,
    ) -> BoxFuture<'_, Result<()>>;
    /// Creates macvlan `name` (MAC `mac`, bridge mode, the MTU of `lower`) on link `lower`,
    /// made directly in the network namespace bound at `netns` when given, else here.
    fn add_macvlan(
        &self,
        lower: &str,
        name: &str,
        mac: [u8; 6],
        netns: Option<&Path>,
    ) -> BoxFuture<'_, Result<()>>;
    /// The index of link `name`.
    fn link_index(&self, name: &str) -> BoxFuture<'_, Result<u32>>;
    /// Applies `changes` to link `name`, in one message.
    fn set_link(&self, name: &str, changes: Vec<LinkChange>) -> BoxFuture<'_, Result<()>>;
    /// Adds `addr/prefix` to link `link` (already present is not an error).
    fn add_address(&self, link: &str, addr: IpAddr, prefix: u8) -> BoxFuture<'_, Result<()>>;
    /// Adds the default route through `gateway` (of its family).
    fn add_default_route(&self, gateway: IpAddr) -> BoxFuture<'_, Result<()>>;
    /// Deletes link `name`; a missing link is not an error.
    fn delete_link(&self, name: &str) -> BoxFuture<'_, Result<()>>;
    /// Every link with its addresses.
    fn links(&self) -> BoxFuture<'_, Result<Vec<LinkInfo>>>;
    /// Creates a VXLAN device (learning off, ARP proxy on), down.
    fn add_vxlan(&self, spec: &VxlanSpec) -> BoxFuture<'_, Result<()>>;
    /// The forwarding entries of VXLAN device `link` that name a VTEP.
    fn fdb(&self, link: &str) -> BoxFuture<'_, Result<Vec<FdbEntry>>>;
    /// Adds, or points at a new VTEP, the forwarding entry for `entry.mac`.
    fn replace_fdb(&self, link: &str, entry: FdbEntry) -> BoxFuture<'_, Result<()>>;
    /// Deletes a forwarding entry; a missing one is not an error.
    fn delete_fdb(&self, link: &str, entry: FdbEntry) -> BoxFuture<'_, Result<()>>;
    /// The permanent IPv4 neighbours of `link`.
    fn neighbours(&self, link: &str) -> BoxFuture<'_, Result<Vec<Neighbour>>>;
    /// Adds or replaces a permanent neighbour.
    fn replace_neighbour(&self, link: &str, n: Neighbour) -> BoxFuture<'_, Result<()>>;
    /// Deletes the neighbour entry of `ip`; a missing one is not an error.
    fn delete_neighbour(&self, link: &str, ip: Ipv4Addr) -> BoxFuture<'_, Result<()>>;
    /// The same operations inside the network namespace bound at `path`.
    fn in_netns(&self, path: &Path) -> BoxFuture<'_, Result<Arc<dyn NetlinkOps>>>;
}

/// `NetlinkOps` over an rtnetlink socket of one namespace.
#[derive(Clone)]
pub struct RtNetlink {
    handle: Handle,
}

pub(crate) fn nl_err<'a>(
    op: &'static str,
    target: &'a str,
) -> impl Fn(rtnetlink::Error) -> OverlayError + 'a {
    move |e| OverlayError::Netlink {
        op,
        target: target.to_string(),
        message: match &e {
            rtnetlink::Error::NetlinkError(m) => m.to_io().to_string(),
            other => other.to_string(),
        },
        errno: match &e {
            rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
            _ => None,
        },
    }
}

/// Opens the namespace file bound at `p`, for a request that names it by descriptor.
fn open_netns(p: &Path) -> Result<std::fs::File> {
    std::fs::File::open(p).map_err(|source| OverlayError::Namespace {
        path: p.display().to_string(),
        source,
    })
}

impl RtNetlink {
    /// Creates a link. `_netns`, a namespace file the message names by descriptor, stays open
    /// until the kernel has the request.
    async fn add_link(
        &self,
        msg: LinkMessage,
        op: &'static str,
        name: &str,
        _netns: Option<std::fs::File>,
    ) -> Result<()> {
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(nl_err(op, name))
    }

    /// A socket in the calling thread's namespace. Call inside a tokio runtime.
    pub fn new() -> Result<Self> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| OverlayError::Namespace {
                path: "netlink socket".into(),
                source: e,
            })?;
        tokio::spawn(conn);
        Ok(RtNetlink { handle })
    }

    /// A socket opened from a thread that joined the namespace bound at `path`.
    pub async fn for_netns(path: &Path) -> Result<Self> {
        let rt = tokio::runtime::Handle::current();
        let p = path.to_path_buf();
        let opened = tokio::task::spawn_blocking(move || {
            std::thread::spawn(move || -> Result<_> {
                let ns_err = |source| OverlayError::Namespace {
                    path: p.display().to_string(),
                    source,
                };
                let file = std::fs::File::open(&p).map_err(ns_err)?;
                nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| ns_err(e.into()))?;
                let _guard = rt.enter();
                rtnetlink::new_connection().map_err(ns_err)
            })
            .join()
        })
        .await;
        let (conn, handle, _) = match opened {
            Ok(Ok(r)) => r?,
            _ => {
                return Err(OverlayError::Namespace {
                    path: path.display().to_string(),
                    source: std::io::Error::other("netns thread failed"),
                })
            }
        };
        tokio::spawn(conn);
        Ok(RtNetlink { handle })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    pub(crate) async fn index(&self, name: &str) -> Result<u32> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(msg)) => Ok(msg.header.index),
            Ok(None) => Err(OverlayError::NoSuchLink(name.to_string())),
            Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code() == -libc::ENODEV => {
                Err(OverlayError::NoSuchLink(name.to_string()))
            }
            Err(e) => Err(nl_err("get link", name)(e)),
        }
    }

    async fn set(&self, name: &str, changes: Vec<LinkChange>) -> Result<()> {
        let index = self.index(name).await?;
        let mut b = LinkUnspec::new_with_index(index);
        let mut _netns: Option<std::fs::File> = None;
        let mut isolated = false;
        for c in changes {
            b = match c {
                LinkChange::Isolated => {
                    isolated = true;
                    b
                }
                LinkChange::Up => b.up(),
                LinkChange::Master(m) => b.controller(self.index(&m).await?),
                LinkChange::Netns(p) => {
                    let f = open_netns(&p)?;
                    let b = b.setns_by_fd(f.as_raw_fd());
                    _netns = Some(f);
                    b
                }
                LinkChange::Rename(n) => b.name(n),
                LinkChange::Mac(m) => b.address(m.to_vec()),
                LinkChange::Mtu(m) => b.mtu(m),
            };
        }
        self.handle
            .link()
            .set(b.build())
            .execute()
            .await
            .map_err(nl_err("set link", name))?;
        if isolated {
            // A port attribute: its own message (RTM_NEWLINK, as `ip link set … type
            // bridge_slave`; a plain set is accepted and ignored), once the link is a port.
            let port = rtnetlink::LinkBridgePort::new(index)
                .append_info_data(InfoBridgePort::Isolated(true))
                .build();
            self.handle
                .link()
                .set_port(port)
                .execute()
                .await
                .map_err(nl_err("isolate bridge port", name))?;
        }
        Ok(())
    }
}

fn link_name(msg: &LinkMessage) -> String {
    msg.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

impl NetlinkOps for RtNetlink {
    fn add_bridge(&self, name: &str, mtu: Option<u32>) -> BoxFuture<'_, Result<()>> {
        let name = name.to_string();
        Box::pin(async move {
            let mut b = LinkBridge::new(&name);
            if let Some(m) = mtu {
                b = b.mtu(m);
            }
            let mut changes = vec![LinkChange::Up];
            match self.add_link(b.build(), "add bridge", &name, None).await {
                // A bridge without an address of its own takes its lowest port's, so it would
                // change as containers come and go, and their ARP entries for the gateway would
                // point nowhere until they expire (~30 s without DNS or a way out). Docker sets
                // one too. Only on creation: an existing bridge keeps the address its
                // containers know.
                Ok(()) => changes.insert(0, LinkChange::Mac(random_mac())),
                Err(e) if e.is_exists() => {}
                Err(e) => return Err(e),
            }
            self.set(&name, changes).await
        })
    }

    fn add_veth(&self, name: &str, peer: &str, mtu: Option<u32>) -> BoxFuture<'_, Result<()>> {
        let (name, peer) = (name.to_string(), peer.to_string());
        Box::pin(async move {
            let mut b = LinkVeth::new(&name, &peer);
            if let Some(m) = mtu {
                b = b.mtu(m);
            }
            self.add_link(b.build(), "add veth", &name, None).await
        })
    }

    fn add_veth_into(
        &self,
        name: &str,
        peer: &str,
        netns: &Path,
        mac: [u8; 6],
        mtu: Option<u32>,
    ) -> BoxFuture<'_, Result<()>> {
        let (name, peer, netns) = (name.to_string(), peer.to_string(), netns.to_path_buf());
        Box::pin(async move {
            let ns = open_netns(&netns)?;
            let mut p = LinkMessageBuilder::<LinkUnspec>::new()
                .name(peer)
                .address(mac.to_vec())
                .setns_by_fd(ns.as_raw_fd());
            let mut b = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                .name(name.clone());
            if let Some(m) = mtu {
                p = p.mtu(m);
                b = b.mtu(m);
            }
            let b = b.set_info_data(InfoData::Veth(InfoVeth::Peer(p.build())));
            self.add_link(b.build(), "add veth", &name, Some(ns)).await
        })
    }

    fn add_macvlan(
        &self,
        lower: &str,
        name: &str,
        mac: [u8; 6],
        netns: Option<&Path>,
    ) -> BoxFuture<'_, Result<()>> {
        let (lower, name, netns) = (
            lower.to_string(),
            name.to_string(),
            netns.map(Path::to_path_buf),
        );
        Box::pin(async move {
            let index = self.index(&lower).await?;
            let ns = netns.as_deref().map(open_netns).transpose()?;
            let mut b = LinkMacVlan::new(&name, index, MacVlanMode::Bridge).address(mac.to_vec());
            if let Some(f) = &ns {
                b = b.setns_by_fd(f.as_raw_fd());
            }
            self.add_link(b.build(), "add macvlan", &name, ns).await
        })
    }

    fn link_index(&self, name: &str) -> BoxFuture<'_, Result<u32>> {
        let name = name.to_string();
        Box::pin(async move { self.index(&name).await })
    }

    fn set_link(&self, name: &str, changes: Vec<LinkChange>) -> BoxFuture<'_, Result<()>> {
        let name = name.to_string();
        Box::pin(async move { self.set(&name, changes).await })
    }

    fn add_address(&self, link: &str, addr: IpAddr, prefix: u8) -> BoxFuture<'_, Result<()>> {
        let link = link.to_string();
        Box::pin(async move {
            let index = self.index(&link).await?;
            let mut req = self.handle.address().add(index, addr, prefix);
            if addr.is_ipv6() {
                // Without duplicate address detection, as libnetwork adds a container's IPv6
                // address: the address is given by the network's IPAM, and until detection
                // ends (a second or more) it is "tentative", unusable as a source.
                req.message_mut()
                    .attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
            match req.execute().await {
                Ok(()) => Ok(()),
                Err(e) => {
                    let e = nl_err("add address", &link)(e);
                    if e.is_exists() {
                        Ok(())
                    } else {
                        Err(e)
                    }
                }
            }
        })
    }

    fn add_default_route(&self, gateway: IpAddr) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let route = match gateway {
                IpAddr::V4(v4) => RouteMessageBuilder::<Ipv4Addr>::new().gateway(v4).build(),
                IpAddr::V6(v6) => RouteMessageBuilder::<Ipv6Addr>::new().gateway(v6).build(),
            };
            self.handle
                .route()
                .add(route)
                .execute()
                .await
                .map_err(nl_err("add route via", &gateway.to_string()))
        })
    }

    fn delete_link(&self, name: &str) -> BoxFuture<'_, Result<()>> {
        let name = name.to_string();
        Box::pin(async move {
            let index = match self.index(&name).await {
                Ok(i) => i,
                Err(OverlayError::NoSuchLink(_)) => return Ok(()),
                Err(e) => return Err(e),
            };
            self.handle
                .link()
                .del(index)
                .execute()
                .await
                .map_err(nl_err("delete link", &name))
        })
    }

    fn links(&self) -> BoxFuture<'_, Result<Vec<LinkInfo>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut links = self.handle.link().get().execute();
            while let Some(msg) = links.try_next().await.map_err(nl_err("list links", ""))? {
                out.push(LinkInfo {
                    name: link_name(&msg),
                    index: msg.header.index,
                    addresses: Vec::new(),
                });
            }
            let mut addrs = self.handle.address().get().execute();
            while let Some(msg) = addrs
                .try_next()
                .await
                .map_err(nl_err("list addresses", ""))?
            {
                let ip = msg.attributes.iter().find_map(|a| match a {
                    netlink_packet_route::address::AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                });
                if let (Some(ip), Some(l)) =
                    (ip, out.iter_mut().find(|l| l.index == msg.header.index))
                {
                    l.addresses.push((ip, msg.header.prefix_len));
                }
            }
            Ok(out)
        })
    }

    fn add_vxlan(&self, spec: &VxlanSpec) -> BoxFuture<'_, Result<()>> {
        let spec = spec.clone();
        Box::pin(async move { self.vxlan_add(&spec).await })
    }

    fn fdb(&self, link: &str) -> BoxFuture<'_, Result<Vec<FdbEntry>>> {
        let link = link.to_string();
        Box::pin(async move { self.fdb_list(&link).await })
    }

    fn replace_fdb(&self, link: &str, entry: FdbEntry) -> BoxFuture<'_, Result<()>> {
        let link = link.to_string();
        Box::pin(async move { self.fdb_replace(&link, entry).await })
    }

    fn delete_fdb(&self, link: &str, entry: FdbEntry) -> BoxFuture<'_, Result<()>> {
        let link = link.to_string();
        Box::pin(async move { self.fdb_delete(&link, entry).await })
    }

    fn neighbours(&self, link: &str) -> BoxFuture<'_, Result<Vec<Neighbour>>> {
        let link = link.to_string();
        Box::pin(async move { self.neigh_list(&link).await })
    }

    fn replace_neighbour(&self, link: &str, n: Neighbour) -> BoxFuture<'_, Result<()>> {
        let link = link.to_string();
        Box::pin(async move { self.neigh_replace(&link, n).await })
    }

    fn delete_neighbour(&self, link: &str, ip: Ipv4Addr) -> BoxFuture<'_, Result<()>> {
        let link = link.to_string();
        Box::pin(async move { self.neigh_delete(&link, ip).await })
    }

    fn in_netns(&self, path: &Path) -> BoxFuture<'_, Result<Arc<dyn NetlinkOps>>> {
        let path = path.to_path_buf();
        Box::pin(async move {
            let ops: Arc<dyn NetlinkOps> = Arc::new(RtNetlink::for_netns(&path).await?);
            Ok(ops)
        })
    }
}

/// A random unicast, locally administered MAC address.
pub(crate) fn random_mac() -> [u8; 6] {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let b = h.finish().to_be_bytes();
    [(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]]
}
