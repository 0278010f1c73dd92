//! The `network connect`/`disconnect` and `volume mount`/`unmount` events Docker logs around a
//! container's start and exit (moby's sandbox and mount set-up), in its order: the connects and
//! mounts before `start`, the disconnects and unmounts after `die` (of `none` and `host` too,
//! which have no endpoints here). Tools that follow
//! containers onto networks (reverse proxies, service registrators) wait for them.

use std::collections::BTreeMap;

use super::types::ContainerRecord;
use crate::engine::volume::MountKind;
use crate::engine::Engine;

impl Engine {
    /// Before the container's `start`: a `connect` per network it has an endpoint on, then a
    /// `mount` per volume.
    pub(crate) fn attach_events(&self, rec: &ContainerRecord) {
        self.endpoint_events(rec, "connect");
        for m in volumes(rec) {
            let attrs = BTreeMap::from([
                ("container".to_string(), rec.id.clone()),
                ("destination".to_string(), m.target.clone()),
                ("driver".to_string(), "local".to_string()),
                // Docker's volumes have no propagation of their own (binds do).
                ("propagation".to_string(), String::new()),
                ("read/write".to_string(), (!m.read_only).to_string()),
            ]);
            self.events.emit("volume", "mount", &m.source, attrs);
        }
    }

    /// After its `die`, while its endpoints are still there: a `disconnect` per network, then
    /// an `unmount` per volume.
    pub(crate) fn detach_events(&self, rec: &ContainerRecord) {
        self.endpoint_events(rec, "disconnect");
        for m in volumes(rec) {
            let attrs = BTreeMap::from([
                ("container".to_string(), rec.id.clone()),
                ("driver".to_string(), "local".to_string()),
            ]);
            self.events.emit("volume", "unmount", &m.source, attrs);
        }
    }
}

impl Engine {
    /// `action` for each network the container has an endpoint on, or for `none` or `host`.
    fn endpoint_events(&self, rec: &ContainerRecord, action: &str) {
        // `none` and `host` have no endpoints here; moby's sandbox joins them all the same.
        if matches!(rec.host.network_mode.as_str(), "none" | "host") {
            if let Ok(Some(n)) = self.networks().find(&rec.host.network_mode) {
                self.network_endpoint_event(action, &n, &rec.id);
            }
            return;
        }
        for n in self.container_networks(rec) {
            if n.endpoint.is_some() {
                self.network_endpoint_event(action, &n.network, &rec.id);
            }
        }
    }
}

fn volumes(rec: &ContainerRecord) -> impl Iterator<Item = &crate::engine::volume::MountSpec> {
    rec.host
        .mounts
        .iter()
        .filter(|m| m.kind == MountKind::Volume && !m.source.is_empty())
}
