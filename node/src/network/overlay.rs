//! This node's side of swarm overlay networks beyond one container's endpoint: programming
//! each network's VXLAN tables with the endpoints on other nodes that the dispatcher sent.

use berth_overlay::sandbox::sandbox_path;
use berth_overlay::{RemoteEndpoint, Sandbox};

use super::manager::Networks;
use super::net_err;
use crate::error::Result;

impl Networks {
    /// Makes every overlay network this node serves reach exactly the endpoints `peers`
    /// names for its VXLAN id (none when absent). Networks without a sandbox yet (no local
    /// endpoint was made) are left for the next call.
    pub async fn sync_overlay_peers(&self, peers: &[(u32, Vec<RemoteEndpoint>)]) -> Result<()> {
        let Some(k) = &self.kernel else { return Ok(()) };
        let _g = self.changes.lock().await;
        for n in self.list()? {
            let Some(spec) = n.overlay_spec() else {
                continue;
            };
            if !sandbox_path(&self.netns_dir, spec.vni).exists() {
                continue;
            }
            let want = peers
                .iter()
                .find(|(vni, _)| *vni == spec.vni)
                .map_or(&[][..], |(_, r)| r.as_slice());
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
