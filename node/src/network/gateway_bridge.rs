//! The gateway bridge of swarm tasks (Docker's `docker_gwbridge`): an overlay endpoint has no
//! way out of its overlay, so a task on overlay networks also gets an endpoint on this local
//! bridge, which carries its default route and is masqueraded. Containers on it cannot reach
//! each other (`enable_icc=false`): tasks of unrelated overlays must not meet here.

use std::collections::BTreeMap;

use super::manager::{CreateNetwork, Networks};
use super::types::{NetworkRecord, OPT_BRIDGE_NAME, OPT_ICC, OPT_MASQUERADE};
use crate::error::Result;

/// The network's name, as Docker's.
pub const GATEWAY_BRIDGE: &str = "docker_gwbridge";

impl Networks {
    /// The gateway bridge, created on first need. Its Linux bridge is named after the default
    /// one (`berth0` → `berth0-gw`), so daemons with their own default bridge do not share it.
    pub async fn ensure_gateway_bridge(&self) -> Result<NetworkRecord> {
        if let Some(n) = self
            .find(GATEWAY_BRIDGE)?
            .filter(|n| n.name == GATEWAY_BRIDGE)
        {
            return Ok(n);
        }
        let mut options = BTreeMap::new();
        options.insert(
            OPT_BRIDGE_NAME.to_string(),
            bridge_name(&self.cfg.bridge_name),
        );
        options.insert(OPT_ICC.to_string(), "false".to_string());
        options.insert(OPT_MASQUERADE.to_string(), "true".to_string());
        let req = CreateNetwork {
            name: GATEWAY_BRIDGE.to_string(),
            driver: "bridge".to_string(),
            options,
            ..CreateNetwork::default()
        };
        match self.create(req).await {
            Ok(n) => Ok(n),
            // Two tasks starting at once: the other made it.
            Err(e) => self
                .find(GATEWAY_BRIDGE)?
                .filter(|n| n.name == GATEWAY_BRIDGE)
                .ok_or(e),
        }
    }
}

/// The Linux name of the gateway bridge for default bridge `default` (at most 15 bytes).
fn bridge_name(default: &str) -> String {
    let base: String = default.chars().take(12).collect();
    format!("{base}-gw")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bridge_is_named_after_the_default_one_within_linux_limits() {
        assert_eq!(bridge_name("berth0"), "berth0-gw");
        assert_eq!(bridge_name("bt0123456789ab"), "bt0123456789-gw");
        assert!(bridge_name("a-very-long-bridge-name").len() <= 15);
    }
}
