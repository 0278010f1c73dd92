//! Overlay networks: what the user asked (Docker's `NetworkCreateRequest`, as sent) in an
//! object's `spec`, and what the leader's allocator gave it (VNI, subnet, gateway) in its
//! `status`, empty until then.

use berth_overlay::ipam::Subnet;
use berth_raft::{Attrs, Object};
use bollard_stubs::models::NetworkCreateRequest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::Ipv4Addr;

use super::ModelError;

/// The lowest VXLAN id the cluster hands out (Docker's overlay starts at 4096 too, leaving the
/// lower ids to hand-made VXLANs).
pub const FIRST_VNI: u32 = 4096;
/// The largest VXLAN id (24 bits).
pub const LAST_VNI: u32 = (1 << 24) - 1;
/// The option naming the MTU of an overlay network.
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
/// The option Docker shows the VXLAN id under.
pub const OPT_VXLANID_LIST: &str = "com.docker.network.driver.overlay.vxlanid_list";

/// What the allocator gave a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAllocation {
    /// The VXLAN id.
    #[serde(rename = "VNI")]
    pub vni: u32,
    /// The subnet (`a.b.c.d/n`).
    #[serde(rename = "Subnet")]
    pub subnet: String,
    /// The gateway address.
    #[serde(rename = "Gateway")]
    pub gateway: Ipv4Addr,
    /// Standalone containers attached to it (attachable networks), with their addresses.
    #[serde(rename = "Attachments", default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<ContainerAttachment>,
}

/// A standalone container on an attachable network (Docker's network attachment task).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerAttachment {
    /// The container's id.
    #[serde(rename = "ID")]
    pub container_id: String,
    /// Its name (what the network's DNS answers).
    #[serde(rename = "Name")]
    pub name: String,
    /// The node it runs on.
    #[serde(rename = "Node")]
    pub node_id: String,
    /// Its address.
    #[serde(rename = "Address")]
    pub address: Ipv4Addr,
}

impl NetworkAllocation {
    /// The status as the store keeps it.
    pub fn to_value(&self) -> Value {
        // Numbers and strings: serializing cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The subnet, parsed (the allocator only writes valid ones).
    pub fn subnet(&self) -> Option<Subnet> {
        Subnet::parse(&self.subnet)
    }
}

/// The typed view of a network object.
#[derive(Debug, Clone)]
pub struct Network<'a> {
    /// The stored object.
    pub object: &'a Object,
    /// The request as sent (driver `overlay`).
    pub spec: NetworkCreateRequest,
    /// What the allocator gave it, once it has.
    pub allocation: Option<NetworkAllocation>,
}

impl<'a> Network<'a> {
    /// Reads a network object; a spec or status of the wrong shape is an error.
    pub fn parse(object: &'a Object) -> Result<Self, ModelError> {
        if !matches!(object.attrs, Attrs::Network { .. }) {
            return Err(ModelError::of(object, "not a network"));
        }
        let spec = NetworkCreateRequest::deserialize(&object.spec)
            .map_err(|e| ModelError::of(object, format!("spec: {e}")))?;
        let allocation = match &object.status {
            Value::Object(m) if m.is_empty() => None,
            Value::Null => None,
            other => Some(
                NetworkAllocation::deserialize(other)
                    .map_err(|e| ModelError::of(object, format!("status: {e}")))?,
            ),
        };
        Ok(Network {
            object,
            spec,
            allocation,
        })
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.object.id
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The subnet the user asked for, if any (`IPAM.Config[0].Subnet`).
    pub fn requested_subnet(&self) -> Option<&str> {
        let ipam = self.spec.ipam.as_ref()?;
        let first = ipam.config.as_ref()?.first()?;
        first.subnet.as_deref().filter(|s| !s.is_empty())
    }

    /// The gateway the user asked for, if any.
    pub fn requested_gateway(&self) -> Option<&str> {
        let ipam = self.spec.ipam.as_ref()?;
        let first = ipam.config.as_ref()?.first()?;
        first.gateway.as_deref().filter(|s| !s.is_empty())
    }

    /// The MTU option, when set.
    pub fn mtu(&self) -> Option<u32> {
        let opts = self.spec.options.as_ref()?;
        opts.get(OPT_MTU)?.parse().ok()
    }
}
