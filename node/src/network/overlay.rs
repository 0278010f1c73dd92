//! This node's side of swarm overlay networks beyond one container's endpoint: programming
//! each network's VXLAN tables with the endpoints on other nodes that the dispatcher sent, and
//! keeping the names its DNS answers there.

use std::net::Ipv4Addr;

use berth_overlay::sandbox::sandbox_path;
use berth_overlay::{RemoteEndpoint, Sandbox};

use super::manager::Networks;
use super::net_err;
use crate::error::Result;

/// What the swarm says of one overlay network: its endpoints on other nodes and the names its
/// DNS answers (lower case) with their addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverlayView {
    pub vni: u32,
    pub remote: Vec<RemoteEndpoint>,
    pub names: Vec<(String, Vec<Ipv4Addr>)>,
}

impl Networks {
    /// Makes every overlay network this node serves reach exactly the endpoints `views`
    /// name for its VXLAN id (none when absent), and answer the names given for it. Networks
    /// without a sandbox yet (no local endpoint was made) are left for the next call.
    pub async fn sync_overlay_peers(&self, views: &[OverlayView]) -> Result<()> {
        let Some(k) = &self.kernel else { return Ok(()) };
        let _g = self.changes.lock().await;
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
            if !sandbox_path(&self.netns_dir, spec.vni).exists() {
                continue;
            }
            let want = views
                .iter()
                .find(|v| v.vni == spec.vni)
                .map_or(&[][..], |v| v.remote.as_slice());
            let sb = Sandbox::ensure(k.netlink.as_ref(), &self.netns_dir, spec)
                .await
                .map_err(net_err)?;
            let report = sb.sync_peers(want).await.map_err(net_err)?;
            if report.added + report.removed > 0 {
                tracing::debug!(network = %n.name, added = report.added, removed = report.removed, "overlay peers");
            }
        }
        Ok(())
    }
}
