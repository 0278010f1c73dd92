//! VXLAN devices and the two tables that steer them: forwarding entries (a remote MAC → the
//! VTEP that holds it) and permanent neighbours (a remote IP → its MAC, answered by the device's
//! ARP proxy). Types here; the rtnetlink side is the `RtNetlink` methods below.

use std::net::{IpAddr, Ipv4Addr};

use futures_util::TryStreamExt;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::LinkVxlan;

use crate::error::OverlayError;
use crate::netlink::{nl_err, RtNetlink};

type Result<T> = std::result::Result<T, OverlayError>;

/// A VXLAN device to create. Learning is always off (the control plane programs every entry)
/// and the ARP proxy on (the device answers ARP from its neighbour table, so no broadcast
/// crosses the underlay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanSpec {
    pub name: String,
    pub vni: u32,
    /// UDP destination port (4789, or the swarm's data path port).
    pub port: u16,
    pub mtu: u32,
}

/// One forwarding entry of a VXLAN device: frames for `mac` go to the VTEP at `vtep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FdbEntry {
    pub mac: [u8; 6],
    pub vtep: Ipv4Addr,
}

/// One permanent neighbour entry: `ip` is at `mac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Neighbour {
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
}

fn mac_of(bytes: &[u8]) -> Option<[u8; 6]> {
    <[u8; 6]>::try_from(bytes).ok()
}

fn ipv4_of(addr: &NeighbourAddress) -> Option<Ipv4Addr> {
    match addr {
        NeighbourAddress::Inet(ip) => Some(*ip),
        NeighbourAddress::Other(b) => <[u8; 4]>::try_from(b.as_slice()).ok().map(Ipv4Addr::from),
        _ => None,
    }
}

fn attrs_of(msg: &NeighbourMessage) -> (Option<Ipv4Addr>, Option<[u8; 6]>) {
    let mut out = (None, None);
    for a in &msg.attributes {
        match a {
            NeighbourAttribute::Destination(d) => out.0 = ipv4_of(d),
            NeighbourAttribute::LinkLayerAddress(l) => out.1 = mac_of(l),
            _ => {}
        }
    }
    out
}

impl RtNetlink {
    pub(crate) async fn vxlan_add(&self, spec: &VxlanSpec) -> Result<()> {
        let b = LinkVxlan::new(&spec.name, spec.vni)
            .port(spec.port)
            .learning(false)
            .proxy(true)
            .mtu(spec.mtu);
        self.handle()
            .link()
            .add(b.build())
            .execute()
            .await
            .map_err(nl_err("add vxlan", &spec.name))
    }

    /// The neighbour table entries of `family` on link `link`.
    async fn dump(
        &self,
        link: &str,
        family: AddressFamily,
        op: &'static str,
    ) -> Result<Vec<NeighbourMessage>> {
        let index = self.index(link).await?;
        let mut out = Vec::new();
        let mut dump = self
            .handle()
            .neighbours()
            .get()
            .set_address_family(family)
            .execute();
        while let Some(msg) = dump.try_next().await.map_err(nl_err(op, link))? {
            if msg.header.ifindex == index {
                out.push(msg);
            }
        }
        Ok(out)
    }

    pub(crate) async fn fdb_list(&self, link: &str) -> Result<Vec<FdbEntry>> {
        let msgs = self.dump(link, AddressFamily::Bridge, "list fdb").await?;
        // Only the device's own entries with a destination: the bridge's entries for the
        // port's address carry no VTEP.
        Ok(msgs
            .iter()
            .filter(|m| m.header.flags.contains(NeighbourFlags::Own))
            .filter_map(|m| match attrs_of(m) {
                (Some(vtep), Some(mac)) => Some(FdbEntry { mac, vtep }),
                _ => None,
            })
            .collect())
    }

    pub(crate) async fn fdb_replace(&self, link: &str, e: FdbEntry) -> Result<()> {
        let index = self.index(link).await?;
        self.handle()
            .neighbours()
            .add_bridge(index, &e.mac)
            .destination(IpAddr::V4(e.vtep))
            .flags(NeighbourFlags::Own)
            .replace()
            .execute()
            .await
            .map_err(nl_err("replace fdb entry on", link))
    }

    pub(crate) async fn fdb_delete(&self, link: &str, e: FdbEntry) -> Result<()> {
        let index = self.index(link).await?;
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Bridge;
        msg.header.ifindex = index;
        msg.header.state = NeighbourState::Permanent;
        msg.header.flags = NeighbourFlags::Own;
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(e.mac.to_vec()));
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
                e.vtep,
            )));
        ignore_missing(
            self.handle().neighbours().del(msg).execute().await,
            "delete fdb entry on",
            link,
        )
    }

    pub(crate) async fn neigh_list(&self, link: &str) -> Result<Vec<Neighbour>> {
        let msgs = self
            .dump(link, AddressFamily::Inet, "list neighbours")
            .await?;
        Ok(msgs
            .iter()
            .filter(|m| m.header.state == NeighbourState::Permanent)
            .filter_map(|m| match attrs_of(m) {
                (Some(ip), Some(mac)) => Some(Neighbour { ip, mac }),
                _ => None,
            })
            .collect())
    }

    pub(crate) async fn neigh_replace(&self, link: &str, n: Neighbour) -> Result<()> {
        let index = self.index(link).await?;
        self.handle()
            .neighbours()
            .add(index, IpAddr::V4(n.ip))
            .link_layer_address(&n.mac)
            .replace()
            .execute()
            .await
            .map_err(nl_err("replace neighbour on", link))
    }

    pub(crate) async fn neigh_delete(&self, link: &str, ip: Ipv4Addr) -> Result<()> {
        let index = self.index(link).await?;
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.ifindex = index;
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
        ignore_missing(
            self.handle().neighbours().del(msg).execute().await,
            "delete neighbour on",
            link,
        )
    }
}

/// Deleting what is already gone is success: the reconciler may race a hand-made change.
fn ignore_missing(
    r: std::result::Result<(), rtnetlink::Error>,
    op: &'static str,
    link: &str,
) -> Result<()> {
    match r {
        Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code() == -libc::ENOENT => Ok(()),
        other => other.map_err(nl_err(op, link)),
    }
}
