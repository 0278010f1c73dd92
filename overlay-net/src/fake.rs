//! A recording `NetlinkOps` for tests: every call is logged as a `NetCall`, the Nth call can be
//! made to fail, and links exist only as names in a list. Never touches the kernel.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::OverlayError;
use crate::netlink::{BoxFuture, LinkChange, LinkInfo, NetlinkOps};
use crate::vxlan::{FdbEntry, Neighbour, VxlanSpec};

/// One recorded call; `netns` is `None` for the host namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetCall {
    AddBridge {
        name: String,
        mtu: Option<u32>,
    },
    AddVeth {
        name: String,
        peer: String,
    },
    AddMacvlan {
        netns: Option<PathBuf>,
        lower: String,
        name: String,
        mac: [u8; 6],
        into: Option<PathBuf>,
    },
    SetLink {
        netns: Option<PathBuf>,
        name: String,
        changes: Vec<LinkChange>,
    },
    AddAddress {
        netns: Option<PathBuf>,
        link: String,
        addr: IpAddr,
        prefix: u8,
    },
    AddDefaultRoute {
        netns: Option<PathBuf>,
        gateway: IpAddr,
    },
    DeleteLink {
        name: String,
    },
    AddVxlan(VxlanSpec),
    ReplaceFdb {
        netns: Option<PathBuf>,
        link: String,
        entry: FdbEntry,
    },
    DeleteFdb {
        netns: Option<PathBuf>,
        link: String,
        entry: FdbEntry,
    },
    ReplaceNeighbour {
        netns: Option<PathBuf>,
        link: String,
        neighbour: Neighbour,
    },
    DeleteNeighbour {
        netns: Option<PathBuf>,
        link: String,
        ip: Ipv4Addr,
    },
}

/// Where a table lives: namespace and link.
type TableKey = (Option<PathBuf>, String);

#[derive(Debug, Default)]
struct State {
    calls: Vec<NetCall>,
    links: Vec<LinkInfo>,
    /// The call to fail, and the errno it fails with.
    fail_at: Option<(usize, Option<i32>)>,
    fdb: Vec<(TableKey, FdbEntry)>,
    neighbours: Vec<(TableKey, Neighbour)>,
}

impl State {
    /// A link with the next index.
    fn add_link(&mut self, name: &str, addresses: Vec<(IpAddr, u8)>) {
        let index = u32::try_from(self.links.len()).unwrap_or(0) + 1;
        self.links.push(LinkInfo {
            name: name.into(),
            index,
            addresses,
        });
    }
}

/// The fake; clones share their log.
#[derive(Debug, Clone, Default)]
pub struct FakeNetlink {
    state: Arc<Mutex<State>>,
    netns: Option<PathBuf>,
}

impl FakeNetlink {
    /// Makes the `n`th call (0-based, counted over all clones) fail.
    pub fn fail_at(&self, n: usize) {
        if let Ok(mut s) = self.state.lock() {
            s.fail_at = Some((n, None));
        }
    }

    /// Makes the `n`th call fail as the kernel would with `errno`.
    pub fn fail_at_with(&self, n: usize, errno: i32) {
        if let Ok(mut s) = self.state.lock() {
            s.fail_at = Some((n, Some(errno)));
        }
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<NetCall> {
        self.state
            .lock()
            .map(|s| s.calls.clone())
            .unwrap_or_default()
    }

    /// Pretends a host link with these addresses exists.
    pub fn add_host_link(&self, name: &str, addresses: Vec<(IpAddr, u8)>) {
        if let Ok(mut s) = self.state.lock() {
            s.add_link(name, addresses);
        }
    }

    fn key(&self, link: &str) -> TableKey {
        (self.netns.clone(), link.to_string())
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, OverlayError> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| OverlayError::NoSuchLink("poisoned".into()))?;
        Ok(f(&mut s))
    }

    fn record(&self, call: NetCall) -> Result<(), OverlayError> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| OverlayError::NoSuchLink("poisoned".into()))?;
        let n = s.calls.len();
        s.calls.push(call);
        if let Some((_, errno)) = s.fail_at.filter(|(at, _)| *at == n) {
            return Err(OverlayError::Netlink {
                op: "fake",
                target: n.to_string(),
                message: "injected failure".into(),
                errno,
            });
        }
        Ok(())
    }
}

impl NetlinkOps for FakeNetlink {
    fn add_bridge(&self, name: &str, mtu: Option<u32>) -> BoxFuture<'_, Result<(), OverlayError>> {
        let r = self.record(NetCall::AddBridge {
            name: name.into(),
            mtu,
        });
        Box::pin(async move { r })
    }

    fn add_veth(
        &self,
        name: &str,
        peer: &str,
        _mtu: Option<u32>,
    ) -> BoxFuture<'_, Result<(), OverlayError>> {
        let r = self.record(NetCall::AddVeth {
            name: name.into(),
            peer: peer.into(),
        });
        Box::pin(async move { r })
    }

    fn add_veth_into(
        &self,
        name: &str,
        peer: &str,
        netns: &std::path::Path,
        mac: [u8; 6],
        _mtu: Option<u32>,
    ) -> BoxFuture<'_, Result<(), OverlayError>> {
        let r = self
            .record(NetCall::AddVeth {
                name: name.into(),
                peer: peer.into(),
            })
            .and_then(|()| {
                self.record(NetCall::SetLink {
                    netns: None,
                    name: peer.into(),
                    changes: vec![LinkChange::Netns(netns.to_path_buf()), LinkChange::Mac(mac)],
                })
            })
            .and_then(|()| self.with_state(|s| s.add_link(peer, Vec::new())));
        Box::pin(async move { r })
    }

    fn add_macvlan(
        &self,
        lower: &str,
        name: &str,
        mac: [u8; 6],
        netns: Option<&Path>,
    ) -> BoxFuture<'_, Result<(), OverlayError>> {
        let r = self
            .record(NetCall::AddMacvlan {
                netns: self.netns.clone(),
                lower: lower.into(),
                name: name.into(),
                mac,
                into: netns.map(Path::to_path_buf),
            })
            .and_then(|()| self.with_state(|s| s.add_link(name, Vec::new())));
        Box::pin(async move { r })
    }

    fn link_index(&self, name: &str) -> BoxFuture<'_, Result<u32, OverlayError>> {
        let r = self.with_state(|s| s.links.iter().find(|l| l.name == name).map(|l| l.index));
        let name = name.to_string();
        Box::pin(async move { r?.ok_or(OverlayError::NoSuchLink(name)) })
    }

    fn set_link(
        &self,
        name: &str,
        changes: Vec<LinkChange>,
    ) -> BoxFuture<'_, Result<(), OverlayError>> {
        let netns = self.netns.clone();
        let r = self.record(NetCall::SetLink {
            netns,
            name: name.into(),
            changes,
        });
        Box::pin(async move { r })
    }

    fn add_address(
        &self,
        link: &str,
        addr: IpAddr,
        prefix: u8,
    ) -> BoxFuture<'_, Result<(), OverlayError>> {
        let netns = self.netns.clone();
        let r = self.record(NetCall::AddAddress {
            netns,
            link: link.into(),
            addr,
            prefix,
        });
        Box::pin(async move { r })
    }

    fn add_default_route(&self, gateway: IpAddr) -> BoxFuture<'_, Result<(), OverlayError>> {
        let netns = self.netns.clone();
        let r = self.record(NetCall::AddDefaultRoute { netns, gateway });
        Box::pin(async move { r })
    }

    fn delete_link(&self, name: &str) -> BoxFuture<'_, Result<(), OverlayError>> {
        let r = self.record(NetCall::DeleteLink { name: name.into() });
        Box::pin(async move { r })
    }

    fn links(&self) -> BoxFuture<'_, Result<Vec<LinkInfo>, OverlayError>> {
        let links = self
            .state
            .lock()
            .map(|s| s.links.clone())
            .unwrap_or_default();
        Box::pin(async move { Ok(links) })
    }

    fn add_vxlan(&self, spec: &VxlanSpec) -> BoxFuture<'_, Result<(), OverlayError>> {
        let r = self.record(NetCall::AddVxlan(spec.clone()));
        Box::pin(async move { r })
    }

    fn fdb(&self, link: &str) -> BoxFuture<'_, Result<Vec<FdbEntry>, OverlayError>> {
        let key = self.key(link);
        let r = self.with_state(|s| {
            s.fdb
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, e)| *e)
                .collect()
        });
        Box::pin(async move { r })
    }

    fn replace_fdb(&self, link: &str, entry: FdbEntry) -> BoxFuture<'_, Result<(), OverlayError>> {
        let key = self.key(link);
        let r = self
            .record(NetCall::ReplaceFdb {
                netns: key.0.clone(),
                link: link.into(),
                entry,
            })
            .and_then(|()| {
                self.with_state(|s| {
                    s.fdb.retain(|(k, e)| !(*k == key && e.mac == entry.mac));
                    s.fdb.push((key, entry));
                })
            });
        Box::pin(async move { r })
    }

    fn delete_fdb(&self, link: &str, entry: FdbEntry) -> BoxFuture<'_, Result<(), OverlayError>> {
        let key = self.key(link);
        let r = self
            .record(NetCall::DeleteFdb {
                netns: key.0.clone(),
                link: link.into(),
                entry,
            })
            .and_then(|()| self.with_state(|s| s.fdb.retain(|(k, e)| !(*k == key && *e == entry))));
        Box::pin(async move { r })
    }

    fn neighbours(&self, link: &str) -> BoxFuture<'_, Result<Vec<Neighbour>, OverlayError>> {
        let key = self.key(link);
        let r = self.with_state(|s| {
            s.neighbours
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, n)| *n)
                .collect()
        });
        Box::pin(async move { r })
    }

    fn replace_neighbour(
        &self,
        link: &str,
        neighbour: Neighbour,
    ) -> BoxFuture<'_, Result<(), OverlayError>> {
        let key = self.key(link);
        let r = self
            .record(NetCall::ReplaceNeighbour {
                netns: key.0.clone(),
                link: link.into(),
                neighbour,
            })
            .and_then(|()| {
                self.with_state(|s| {
                    s.neighbours
                        .retain(|(k, n)| !(*k == key && n.ip == neighbour.ip));
                    s.neighbours.push((key, neighbour));
                })
            });
        Box::pin(async move { r })
    }

    fn delete_neighbour(
        &self,
        link: &str,
        ip: Ipv4Addr,
    ) -> BoxFuture<'_, Result<(), OverlayError>> {
        let key = self.key(link);
        let r = self
            .record(NetCall::DeleteNeighbour {
                netns: key.0.clone(),
                link: link.into(),
                ip,
            })
            .and_then(|()| {
                self.with_state(|s| s.neighbours.retain(|(k, n)| !(*k == key && n.ip == ip)))
            });
        Box::pin(async move { r })
    }

    fn in_netns(&self, path: &Path) -> BoxFuture<'_, Result<Arc<dyn NetlinkOps>, OverlayError>> {
        let inner = FakeNetlink {
            state: self.state.clone(),
            netns: Some(path.to_path_buf()),
        };
        Box::pin(async move {
            let ops: Arc<dyn NetlinkOps> = Arc::new(inner);
            Ok(ops)
        })
    }
}
