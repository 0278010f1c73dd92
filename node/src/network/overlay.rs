//! This node's side of swarm overlay networks beyond one container's endpoint: programming
//! each network's VXLAN tables with the endpoints on other nodes that the dispatcher sent, and
//! keeping the names its DNS answers there.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_overlay::sandbox::sandbox_path;
use berth_overlay::{RemoteEndpoint, Sandbox};

use super::manager::Networks;
use super::net_err;
use super::types::NetworkRecord;
use crate::error::Result;

/// What the swarm says of one overlay network: its endpoints on other nodes and the names its
/// DNS answers (lower case) with their addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverlayView {
    pub vni: u32,
    pub remote: Vec<RemoteEndpoint>,
    pub names: Vec<(String, Vec<Ipv4Addr>)>,
    /// Each VIP on it with the running tasks behind it.
    pub vips: Vec<(Ipv4Addr, Vec<Ipv4Addr>)>,
    /// When it is the ingress network: this node's copy of it, its own address there, and
    /// the published ports.
    pub ingress: Option<IngressLocal>,
}

/// The routing mesh's part of a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressLocal {
    pub network: NetworkRecord,
    pub own: Option<Ipv4Addr>,
    pub ports: Vec<super::mesh::MeshPort>,
}

impl Networks {
    /// Makes every overlay network this node serves reach exactly the endpoints `views`
    /// name for its VXLAN id (none when absent), and answer the names given for it. Networks
    /// without a sandbox yet (no local endpoint was made) are left for the next call.
    pub async fn sync_overlay_peers(&self, views: &[OverlayView]) -> Result<()> {
        let Some(k) = &self.kernel else { return Ok(()) };
        let _g = self.changes.lock().await;
        // Every node joins the ingress network, tasks here or not.
        let ingress = views.iter().find_map(|v| v.ingress.clone());
        if let Some(i) = &ingress {
            self.ensure_overlay(&i.network)?;
        }
        let networks = self.list()?;
        if let Ok(mut names) = self.swarm_names.lock() {
            names.clear();
            for n in &networks {
                if let Some(v) = views.iter().find(|v| Some(v.vni) == n.vni) {
                    names.insert(n.id.clone(), v.names.clone());
                }
            }
        }
        for n in networks {
            let Some(spec) = n.overlay_spec() else {
                continue;
            };
            let is_ingress = ingress.as_ref().is_some_and(|i| i.network.id == n.id);
            if !is_ingress && !sandbox_path(&self.netns_dir, spec.vni).exists() {
                continue;
            }
            let want = views
                .iter()
                .find(|v| v.vni == spec.vni)
                .map_or(&[][..], |v| v.remote.as_slice());
            let sb = Sandbox::ensure(k.netlink.as_ref(), &self.netns_dir, spec)
                .await
                .map_err(net_err)?;
            if let (true, Some(own)) = (is_ingress, ingress.as_ref().and_then(|i| i.own)) {
                // This node's own address on the ingress network, on the sandbox's own link
                // with the MAC the other nodes' tables give it: the mesh connects from it.
                sb.ops()
                    .add_address(sb.local_link(), std::net::IpAddr::V4(own), spec.prefix)
                    .await
                    .map_err(net_err)?;
                sb.ops()
                    .set_link(
                        sb.local_link(),
                        vec![berth_overlay::LinkChange::Mac(
                            berth_overlay::ipam::mac_for(own),
                        )],
                    )
                    .await
                    .map_err(net_err)?;
                let source = super::mesh::MeshSource {
                    sandbox: sb.path().to_path_buf(),
                    address: own,
                };
                let ports = ingress
                    .as_ref()
                    .map(|i| i.ports.clone())
                    .unwrap_or_default();
                self.mesh.sync(&source, &ports).await;
            }
            let report = sb.sync_peers(want).await.map_err(net_err)?;
            if report.added + report.removed > 0 {
                tracing::debug!(network = %n.name, added = report.added, removed = report.removed, "overlay peers");
            }
        }
        if let Ok(mut last) = self.overlay_views.lock() {
            last.clone_from(&views.to_vec());
        }
        self.sync_vips(views).await;
        self.probe_peers(views);
        drop(_g);
        // Copies of networks the swarm no longer has this node serve go, once unused here.
        let served: Vec<u32> = views.iter().map(|v| v.vni).collect();
        self.remove_overlay_copies(|n| n.vni.is_some_and(|v| !served.contains(&v)))
            .await;
        if ingress.is_none() {
            self.mesh.clear();
        }
        Ok(())
    }

    /// Removes this node's copies of swarm networks that `which` picks and no local
    /// container uses or is about to (`copy_hold.rs`), with their sandboxes (after leaving the
    /// swarm: all of them).
    pub async fn remove_overlay_copies(&self, which: impl Fn(&NetworkRecord) -> bool) {
        let Ok(networks) = self.list() else { return };
        for n in networks.iter().filter(|n| n.vni.is_some() && which(n)) {
            if let Err(e) = self.remove_unused_copy(&n.id).await {
                tracing::warn!(network = %n.name, error = %e, "swarm network copy not removed");
            }
        }
    }

    /// Writes the VIP rules of the last swarm view into containers that lack them (a
    /// container just started on an overlay network balances at once, not at the next
    /// session reply).
    pub async fn refresh_vips(&self) {
        let views = match self.overlay_views.lock() {
            Ok(v) => v.clone(),
            Err(_) => return,
        };
        if !views.is_empty() {
            self.sync_vips(&views).await;
        }
    }

    /// Gives each local container on overlay networks the VIP rules of those networks
    /// (written again only when they changed).
    async fn sync_vips(&self, views: &[OverlayView]) {
        // By container: its endpoint ids (new ones after a restart: a new namespace) and VIPs.
        type Vips = Vec<(Ipv4Addr, Vec<Ipv4Addr>)>;
        let mut per_container: BTreeMap<String, (Vec<String>, Vips)> = BTreeMap::new();
        let endpoints = self.endpoints.all().unwrap_or_default();
        for ep in endpoints {
            let Some(vni) = self.get(&ep.network_id).ok().and_then(|n| n.vni) else {
                continue;
            };
            let vips = views
                .iter()
                .find(|v| v.vni == vni)
                .map(|v| v.vips.clone())
                .unwrap_or_default();
            let entry = per_container.entry(ep.container_id).or_default();
            entry.0.push(ep.id);
            entry.1.extend(vips);
        }
        let mut written = match self.vip_rules.lock() {
            Ok(w) => w.clone(),
            Err(_) => return,
        };
        written.retain(|id, _| per_container.contains_key(id));
        for (id, (endpoint_ids, vips)) in per_container {
            let rules = super::vip::render(&vips);
            let stamp = format!("{}\n{rules}", endpoint_ids.join(","));
            if written.get(&id) == Some(&stamp) {
                continue;
            }
            let netns = self.netns_path(&id);
            let applied = tokio::task::spawn_blocking({
                let rules = rules.clone();
                move || super::vip::apply_in(&netns, &rules)
            })
            .await;
            match applied {
                Ok(Ok(())) => {
                    written.insert(id, stamp);
                }
                Ok(Err(e)) => tracing::warn!(container = %id, error = %e, "VIP rules"),
                Err(e) => tracing::warn!(container = %id, error = %e, "VIP rules"),
            }
        }
        if let Ok(mut w) = self.vip_rules.lock() {
            *w = written;
        }
    }
}
