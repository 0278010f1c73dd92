//! Published ports: a service's `EndpointSpec.Ports` read with Docker's defaults (TCP, the
//! routing mesh), the ports a task publishes on its node, and the entries of `Endpoint.Ports`
//! as Docker shows them.

use bollard_stubs::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
};
use serde::{Deserialize, Serialize};

/// A port's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (Docker's default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// Docker's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }

    /// The protocol of an `EndpointSpec.Ports` entry: TCP unless it says otherwise.
    pub fn of(p: &EndpointPortConfig) -> Protocol {
        match p.protocol {
            Some(EndpointPortConfigProtocolEnum::UDP) => Protocol::Udp,
            Some(EndpointPortConfigProtocolEnum::SCTP) => Protocol::Sctp,
            _ => Protocol::Tcp,
        }
    }

    fn api(self) -> EndpointPortConfigProtocolEnum {
        match self {
            Self::Tcp => EndpointPortConfigProtocolEnum::TCP,
            Self::Udp => EndpointPortConfigProtocolEnum::UDP,
            Self::Sctp => EndpointPortConfigProtocolEnum::SCTP,
        }
    }
}

/// Whether an `EndpointSpec.Ports` entry goes through the routing mesh (Docker's default
/// mode, `ingress`) rather than only the nodes its tasks run on (`host`).
pub fn on_mesh(p: &EndpointPortConfig) -> bool {
    p.publish_mode != Some(EndpointPortConfigPublishModeEnum::HOST)
}

/// The published port of an entry; 0 when it has none (or one no port can be).
pub fn published(p: &EndpointPortConfig) -> u16 {
    p.published_port
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(0)
}

/// An entry as `Endpoint.Ports` shows it: its protocol and publish mode spelled out.
pub fn with_defaults(p: &EndpointPortConfig) -> EndpointPortConfig {
    let mode = if on_mesh(p) {
        EndpointPortConfigPublishModeEnum::INGRESS
    } else {
        EndpointPortConfigPublishModeEnum::HOST
    };
    EndpointPortConfig {
        name: p.name.clone().filter(|n| !n.is_empty()),
        protocol: Some(Protocol::of(p).api()),
        target_port: p.target_port,
        published_port: p.published_port.filter(|n| *n != 0),
        publish_mode: Some(mode),
    }
}

/// A port published on the task's node (`PublishMode: host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The port inside the container.
    pub target: u16,
    /// The port on the node; 0 asks the node for a free one, as `docker run -p 80` does.
    pub published: u16,
    /// Its protocol.
    pub protocol: Protocol,
}

impl HostPort {
    /// The host-mode entries of `EndpointSpec.Ports`; an entry without a target port is not
    /// one that can be published.
    pub fn of_ports(ports: &[EndpointPortConfig]) -> Vec<HostPort> {
        ports
            .iter()
            .filter(|p| !on_mesh(p))
            .filter_map(|p| {
                Some(HostPort {
                    target: u16::try_from(p.target_port?).ok()?,
                    published: published(p),
                    protocol: Protocol::of(p),
                })
            })
            .collect()
    }
}

/// The ports a task's container publishes on its node, with the numbers it got (Docker's
/// `TaskStatus.PortStatus`, which `docker service ps` shows under PORTS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStatus {
    /// Each port, in host mode.
    #[serde(rename = "Ports", default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<NodePort>,
}

/// One entry of `PortStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePort {
    /// Its protocol.
    #[serde(rename = "Protocol")]
    pub protocol: Protocol,
    /// The port inside the container.
    #[serde(rename = "TargetPort")]
    pub target: u16,
    /// The port on the node.
    #[serde(rename = "PublishedPort")]
    pub published: u16,
    /// Always host mode: the mesh's ports are the service's, not the task's.
    #[serde(rename = "PublishMode")]
    pub mode: NodeMode,
}

/// The publish mode of a task's own ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeMode {
    /// `host`.
    #[serde(rename = "host")]
    Host,
}

impl PortStatus {
    /// The status of the ports a container got.
    pub fn of(ports: &[HostPort]) -> PortStatus {
        PortStatus {
            ports: ports
                .iter()
                .map(|p| NodePort {
                    protocol: p.protocol,
                    target: p.target,
                    published: p.published,
                    mode: NodeMode::Host,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ports(v: serde_json::Value) -> Vec<EndpointPortConfig> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn host_mode_ports_with_a_target_are_the_tasks_and_their_status_reads_as_dockers() {
        let ports = ports(json!([
            { "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host", "Protocol": "udp" },
            { "TargetPort": 81, "PublishedPort": 8081, "PublishMode": "ingress" },
            { "PublishedPort": 8082, "PublishMode": "host" },
            { "TargetPort": 83, "PublishMode": "host" },
        ]));
        let udp = HostPort {
            target: 80,
            published: 8080,
            protocol: Protocol::Udp,
        };
        let any = HostPort {
            target: 83,
            published: 0,
            protocol: Protocol::Tcp,
        };
        assert_eq!(HostPort::of_ports(&ports), vec![udp, any]);
        assert_eq!(
            serde_json::to_value(PortStatus::of(&[udp])).unwrap(),
            json!({ "Ports": [
                { "Protocol": "udp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host" }
            ] })
        );
        assert_eq!(
            serde_json::to_value(PortStatus::of(&[])).unwrap(),
            json!({})
        );
    }

    #[test]
    fn an_entry_is_shown_with_its_protocol_and_mode_spelled_out() {
        let given = ports(json!([
            { "TargetPort": 80, "PublishedPort": 8080 },
            { "Protocol": "", "TargetPort": 53, "PublishMode": "", "Name": "" },
            { "Protocol": "udp", "TargetPort": 53, "PublishedPort": 0, "PublishMode": "host" },
        ]));
        let shown: Vec<EndpointPortConfig> = given.iter().map(with_defaults).collect();
        assert_eq!(
            serde_json::to_value(shown).unwrap(),
            json!([
                { "Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress" },
                { "Protocol": "tcp", "TargetPort": 53, "PublishMode": "ingress" },
                { "Protocol": "udp", "TargetPort": 53, "PublishMode": "host" },
            ])
        );
        assert_eq!(published(&given[1]), 0);
        assert!(on_mesh(&given[1]) && !on_mesh(&given[2]));
    }
}
