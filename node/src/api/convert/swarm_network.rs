//! Overlay networks in Docker's `Network` shape (list and inspect), and Docker's list filters
//! applied to them.

use std::collections::{BTreeMap, HashMap};

use berth_swarm::model::OPT_VXLANID_LIST;
use berth_swarm::query::NetworkInfo;
use bollard_stubs::models::{Ipam, IpamConfig, Network};
use serde_json::{json, Value};

use super::swarm::time;

/// An overlay network as `GET /networks` and `/networks/{id}` show it. Before the leader has
/// allocated it, IPAM shows what was asked for.
pub fn network(n: &NetworkInfo) -> Value {
    let spec = &n.spec;
    let config = match &n.allocation {
        Some(a) => vec![IpamConfig {
            subnet: Some(a.subnet.clone()),
            gateway: Some(a.gateway.to_string()),
            ..Default::default()
        }],
        None => spec
            .ipam
            .as_ref()
            .and_then(|i| i.config.clone())
            .unwrap_or_default(),
    };
    let mut options: HashMap<String, String> = spec.options.clone().unwrap_or_default();
    if let Some(a) = &n.allocation {
        options.insert(OPT_VXLANID_LIST.into(), a.vni.to_string());
    }
    let base = Network {
        name: Some(spec.name.clone()),
        id: Some(n.envelope.id.clone()),
        created: Some(time(&n.envelope.created_at)),
        scope: Some("swarm".into()),
        driver: Some("overlay".into()),
        enable_ipv4: Some(true),
        enable_ipv6: Some(false),
        ipam: Some(Ipam {
            driver: Some("default".into()),
            config: Some(config),
            options: None,
        }),
        internal: Some(spec.internal.unwrap_or(false)),
        attachable: Some(spec.attachable.unwrap_or(false)),
        ingress: Some(spec.ingress.unwrap_or(false)),
        config_only: Some(false),
        options: Some(options),
        labels: Some(spec.labels.clone().unwrap_or_default()),
        ..Default::default()
    };
    let mut v = serde_json::to_value(base).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("ConfigFrom".into(), json!({"Network": ""}));
        m.insert("Containers".into(), json!({}));
    }
    v
}

/// An overlay network in swarmkit's `Network` shape, as a task's `NetworksAttachments` show
/// it: the spec moby made of the create request, the driver's state (the VXLAN id) and the
/// allocated address space.
pub fn swarm_object(n: &NetworkInfo) -> Value {
    let spec = &n.spec;
    let mut driver = json!({ "Name": "overlay" });
    if let Some(options) = spec.options.as_ref().filter(|o| !o.is_empty()) {
        driver["Options"] = json!(options);
    }
    let mut shown = json!({
        "Name": spec.name,
        "Labels": spec.labels.clone().unwrap_or_default(),
        "DriverConfiguration": driver,
        "Scope": "swarm",
    });
    // Go leaves these out when false.
    for (key, on) in [
        ("Internal", spec.internal),
        ("Attachable", spec.attachable),
        ("Ingress", spec.ingress),
    ] {
        if on == Some(true) {
            shown[key] = json!(true);
        }
    }
    if let Some(ipam) = &spec.ipam {
        // Go leaves out empty configs and empty fields of each.
        let configs: Vec<Value> = ipam
            .config
            .iter()
            .flatten()
            .map(|c| {
                let mut one = json!({});
                for (key, value) in [("Subnet", &c.subnet), ("Gateway", &c.gateway)] {
                    if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
                        one[key] = json!(v);
                    }
                }
                one
            })
            .collect();
        let mut options = json!({ "Driver": { "Name": ipam.driver.clone().unwrap_or_else(|| "default".into()) } });
        if !configs.is_empty() {
            options["Configs"] = json!(configs);
        }
        shown["IPAMOptions"] = options;
    }
    let mut v = json!({
        "ID": n.envelope.id,
        "Version": { "Index": n.envelope.version },
        "CreatedAt": time(&n.envelope.created_at),
        "UpdatedAt": time(&n.envelope.updated_at),
        "Spec": shown,
    });
    if let Some(a) = &n.allocation {
        v["DriverState"] = json!({ "Name": "overlay",
            "Options": { OPT_VXLANID_LIST: a.vni.to_string() } });
        v["IPAMOptions"] = json!({ "Driver": { "Name": "default" },
            "Configs": [{ "Subnet": a.subnet, "Gateway": a.gateway.to_string() }] });
    }
    v
}

/// Whether an overlay network passes Docker's `network ls` filters.
pub fn matches(n: &NetworkInfo, filters: &BTreeMap<String, Vec<String>>) -> bool {
    let labels = n.spec.labels.clone().unwrap_or_default();
    filters.iter().all(|(k, vals)| {
        vals.iter().any(|v| match k.as_str() {
            "name" => n.spec.name.contains(v.as_str()),
            "id" => n.envelope.id.starts_with(v.as_str()),
            "driver" => v == "overlay",
            "type" => v == "custom",
            "label" => berth_swarm::query::label_matches(&labels, v),
            "scope" => v == "swarm",
            _ => false,
        })
    })
}

/// Docker's verbose `Services` and `Peers` of a swarm network; each peer also says whether its
/// VXLAN endpoint answered this node's last probe (`Healthy`, with `LastSeen` and `RttMs`;
/// absent when this node has not probed it: no container here on the network).
pub fn detail(
    d: &berth_swarm::query::NetworkDetail,
    health: &BTreeMap<std::net::Ipv4Addr, crate::network::PeerHealth>,
) -> (Value, Value) {
    let services: serde_json::Map<String, Value> = d
        .services
        .iter()
        .map(|(name, s)| {
            let tasks: Vec<Value> = s
                .tasks
                .iter()
                .map(|t| {
                    json!({
                        "Name": t.name, "EndpointID": "", "EndpointIP": t.ip.to_string(),
                        "Info": { "Host IP": t.host.map(|h| h.to_string()).unwrap_or_default() },
                    })
                })
                .collect();
            let vip = s.vip.map(|v| v.to_string()).unwrap_or_default();
            let entry = json!({ "VIP": vip, "Ports": [], "LocalLBIndex": 0, "Tasks": tasks });
            (name.clone(), entry)
        })
        .collect();
    let peers: Vec<Value> = d
        .peers
        .iter()
        .map(|(name, ip)| {
            let mut p = json!({ "Name": name, "IP": ip.to_string() });
            if let Some(h) = health.get(ip) {
                p["Healthy"] = json!(h.answered);
                p["LastSeen"] = json!(h.last_seen.map(|t| time(&t)));
                p["RttMs"] = json!(h.rtt_ms);
            }
            p
        })
        .collect();
    (Value::Object(services), Value::Array(peers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_swarm::model::NetworkAllocation;
    use berth_swarm::query::Envelope;

    #[test]
    fn a_tasks_network_shows_as_swarmkits_with_gos_empty_fields_left_out() {
        let spec = serde_json::from_value(json!({ "Name": "front", "Driver": "overlay",
            "Attachable": true, "Labels": { "k": "v" },
            "IPAM": { "Driver": "default", "Config": [], "Options": {} } }))
        .unwrap();
        let info = NetworkInfo {
            envelope: Envelope {
                id: "n1".into(),
                version: 7,
                created_at: chrono::DateTime::UNIX_EPOCH,
                updated_at: chrono::DateTime::UNIX_EPOCH,
            },
            spec,
            allocation: Some(NetworkAllocation {
                vni: 4097,
                subnet: "10.0.1.0/24".into(),
                gateway: "10.0.1.1".parse().unwrap(),
                attachments: Vec::new(),
            }),
            port: 4789,
        };
        let v = swarm_object(&info);
        assert_eq!(
            v["Spec"],
            json!({ "Name": "front", "Labels": { "k": "v" },
                    "DriverConfiguration": { "Name": "overlay" }, "Scope": "swarm",
                    "Attachable": true, "IPAMOptions": { "Driver": { "Name": "default" } } })
        );
        assert_eq!(v["Version"]["Index"], 7);
        assert_eq!(v["DriverState"]["Options"][OPT_VXLANID_LIST], "4097");
        assert_eq!(
            v["IPAMOptions"],
            json!({ "Driver": { "Name": "default" },
                    "Configs": [{ "Subnet": "10.0.1.0/24", "Gateway": "10.0.1.1" }] })
        );
    }
}
