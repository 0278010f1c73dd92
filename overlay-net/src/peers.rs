//! The control plane's half of a VXLAN device: given every remote endpoint the cluster state
//! names, make the device's forwarding and neighbour tables hold exactly those, whatever the
//! kernel holds now (entries added, changed or deleted by hand come back as they should be).
//! `plan` is pure; `sync` reads the tables, plans and applies.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::error::OverlayError;
use crate::netlink::NetlinkOps;
use crate::vxlan::{FdbEntry, Neighbour};

/// An endpoint on another node: its address and MAC on the overlay, and that node's VTEP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemoteEndpoint {
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    pub vtep: Ipv4Addr,
}

/// The changes that bring a device's tables to the desired set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerPlan {
    /// Entries to add or re-point (replace keys on the MAC).
    pub put_fdb: Vec<FdbEntry>,
    pub delete_fdb: Vec<FdbEntry>,
    /// Neighbours to add or change (replace keys on the IP).
    pub put_neighbours: Vec<Neighbour>,
    pub delete_neighbours: Vec<Ipv4Addr>,
}

impl PeerPlan {
    /// Whether the tables already match.
    pub fn is_empty(&self) -> bool {
        self.put_fdb.is_empty()
            && self.delete_fdb.is_empty()
            && self.put_neighbours.is_empty()
            && self.delete_neighbours.is_empty()
    }
}

/// What `sync` changed, for logs and the peer view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: usize,
    pub removed: usize,
}

/// Plans the changes from the tables the kernel holds to `desired`. Two endpoints with one MAC
/// cannot both be reached; the one with the highest VTEP address wins, so every node decides
/// alike.
pub fn plan(desired: &[RemoteEndpoint], fdb: &[FdbEntry], neighbours: &[Neighbour]) -> PeerPlan {
    let mut want_fdb: BTreeMap<[u8; 6], Ipv4Addr> = BTreeMap::new();
    let mut want_neigh: BTreeMap<Ipv4Addr, [u8; 6]> = BTreeMap::new();
    for e in desired {
        let vtep = want_fdb.entry(e.mac).or_insert(e.vtep);
        *vtep = (*vtep).max(e.vtep);
        want_neigh.insert(e.ip, e.mac);
    }
    let mut out = PeerPlan::default();
    for e in fdb {
        if want_fdb.get(&e.mac) != Some(&e.vtep) {
            out.delete_fdb.push(*e);
        }
    }
    for (mac, vtep) in &want_fdb {
        if !fdb.contains(&FdbEntry {
            mac: *mac,
            vtep: *vtep,
        }) {
            out.put_fdb.push(FdbEntry {
                mac: *mac,
                vtep: *vtep,
            });
        }
    }
    for n in neighbours {
        if !want_neigh.contains_key(&n.ip) {
            out.delete_neighbours.push(n.ip);
        }
    }
    for (ip, mac) in &want_neigh {
        if !neighbours.iter().any(|n| n.ip == *ip && n.mac == *mac) {
            out.put_neighbours.push(Neighbour { ip: *ip, mac: *mac });
        }
    }
    out
}

/// Brings the tables of VXLAN device `link` (reached through `ops`) to `desired`. Deletions go
/// first: a re-pointed MAC loses its old remote before it gets the new one, so it never has two.
pub async fn sync(
    ops: &dyn NetlinkOps,
    link: &str,
    desired: &[RemoteEndpoint],
) -> Result<SyncReport, OverlayError> {
    let fdb = ops.fdb(link).await?;
    let neighbours = ops.neighbours(link).await?;
    let p = plan(desired, &fdb, &neighbours);
    for e in &p.delete_fdb {
        ops.delete_fdb(link, *e).await?;
    }
    for ip in &p.delete_neighbours {
        ops.delete_neighbour(link, *ip).await?;
    }
    for e in &p.put_fdb {
        ops.replace_fdb(link, *e).await?;
    }
    for n in &p.put_neighbours {
        ops.replace_neighbour(link, *n).await?;
    }
    Ok(SyncReport {
        added: p.put_fdb.len() + p.put_neighbours.len(),
        removed: p.delete_fdb.len() + p.delete_neighbours.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeNetlink, NetCall};

    const A: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 2);

    fn ep(last: u8, vtep: Ipv4Addr) -> RemoteEndpoint {
        RemoteEndpoint {
            ip: Ipv4Addr::new(10, 0, 1, last),
            mac: [2, 66, 10, 0, 1, last],
            vtep,
        }
    }

    fn fdb(e: &RemoteEndpoint) -> FdbEntry {
        FdbEntry {
            mac: e.mac,
            vtep: e.vtep,
        }
    }

    fn neigh(e: &RemoteEndpoint) -> Neighbour {
        Neighbour {
            ip: e.ip,
            mac: e.mac,
        }
    }

    #[test]
    fn empty_tables_get_every_remote_endpoint() {
        let want = [ep(2, A), ep(3, B)];
        let p = plan(&want, &[], &[]);
        assert_eq!(p.put_fdb, vec![fdb(&want[0]), fdb(&want[1])]);
        assert_eq!(p.put_neighbours, vec![neigh(&want[0]), neigh(&want[1])]);
        assert!(p.delete_fdb.is_empty() && p.delete_neighbours.is_empty());
    }

    #[test]
    fn matching_tables_need_nothing() {
        let want = [ep(2, A), ep(3, B)];
        let f: Vec<_> = want.iter().map(fdb).collect();
        let n: Vec<_> = want.iter().map(neigh).collect();
        assert!(plan(&want, &f, &n).is_empty());
    }

    #[test]
    fn a_gone_endpoint_loses_both_entries_and_a_moved_one_is_re_pointed() {
        let gone = ep(2, A);
        let moved_before = ep(3, A);
        let moved_after = ep(3, B);
        let p = plan(
            &[moved_after],
            &[fdb(&gone), fdb(&moved_before)],
            &[neigh(&gone), neigh(&moved_before)],
        );
        assert_eq!(p.delete_fdb, vec![fdb(&gone), fdb(&moved_before)]);
        assert_eq!(p.put_fdb, vec![fdb(&moved_after)]);
        assert_eq!(p.delete_neighbours, vec![gone.ip]);
        assert!(
            p.put_neighbours.is_empty(),
            "the IP → MAC entry did not change"
        );
    }

    #[test]
    fn a_neighbour_with_a_wrong_mac_is_replaced() {
        let want = ep(2, A);
        let wrong = Neighbour {
            ip: want.ip,
            mac: [2, 0, 0, 0, 0, 9],
        };
        let p = plan(&[want], &[fdb(&want)], &[wrong]);
        assert_eq!(p.put_neighbours, vec![neigh(&want)]);
        assert!(p.delete_neighbours.is_empty());
    }

    #[test]
    fn a_mac_claimed_twice_goes_to_the_highest_vtep_on_every_node() {
        let one = ep(2, A);
        let two = RemoteEndpoint { vtep: B, ..one };
        assert_eq!(plan(&[one, two], &[], &[]).put_fdb, vec![fdb(&two)]);
        assert_eq!(plan(&[two, one], &[], &[]).put_fdb, vec![fdb(&two)]);
    }

    #[tokio::test]
    async fn sync_deletes_before_it_adds_and_a_second_sync_changes_nothing() {
        let ops = FakeNetlink::default();
        let stale = ep(9, A);
        ops.replace_fdb("vxlan0", fdb(&stale)).await.ok();
        ops.replace_neighbour("vxlan0", neigh(&stale)).await.ok();
        let before = ops.calls().len();
        let want = [ep(2, B)];
        let r = sync(&ops, "vxlan0", &want).await.expect("sync");
        assert_eq!(
            r,
            SyncReport {
                added: 2,
                removed: 2
            }
        );
        let calls = ops.calls()[before..].to_vec();
        assert!(matches!(calls[0], NetCall::DeleteFdb { .. }));
        assert!(matches!(calls[1], NetCall::DeleteNeighbour { .. }));
        assert!(matches!(calls[2], NetCall::ReplaceFdb { .. }));
        assert_eq!(ops.fdb("vxlan0").await.expect("fdb"), vec![fdb(&want[0])]);
        assert_eq!(
            ops.neighbours("vxlan0").await.expect("n"),
            vec![neigh(&want[0])]
        );
        let r = sync(&ops, "vxlan0", &want).await.expect("sync");
        assert_eq!(r, SyncReport::default());
    }

    #[tokio::test]
    async fn a_failed_write_is_reported_and_the_next_sync_finishes_the_job() {
        let ops = FakeNetlink::default();
        let want = [ep(2, A), ep(3, B)];
        ops.fail_at(1);
        assert!(sync(&ops, "vxlan0", &want).await.is_err());
        sync(&ops, "vxlan0", &want).await.expect("retry");
        assert_eq!(ops.fdb("vxlan0").await.expect("fdb").len(), 2);
        assert_eq!(ops.neighbours("vxlan0").await.expect("n").len(), 2);
    }
}
