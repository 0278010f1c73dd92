//! Networks in Docker's shapes: records → `Network` (list and inspect) and a container's
//! `NetworkSettings`. The requests (the network parts of HostConfig, `NetworkingConfig`,
//! connect) are `network_request`'s, re-exported here. What a network create may ask and berth
//! cannot do is refused by name (`support::NETWORK_CREATE`, `network_create`), never dropped.

pub use super::network_request::*;

use std::collections::{BTreeMap, HashMap};

use bollard_stubs::models::{
    EndpointResource, EndpointSettings, Ipam, IpamConfig, Network, NetworkSettings, PortBinding,
};
use serde_json::{json, Value};

use crate::network::engine_ops::ContainerNetwork;
use crate::network::{
    EndpointRecord, NetworkRecord, PortMapping, OPT_HOST_BINDING, OPT_ICC, OPT_MASQUERADE, OPT_MTU,
};

/// The default bridge's options as Docker shows them: its daemon-level settings, which berth's
/// default bridge has (inter-container traffic and masquerading on, ports bound on every
/// address, the bridge's MTU), and that it is the default one (scripts look for it so).
fn default_bridge_options(n: &NetworkRecord) -> Value {
    let mut options: BTreeMap<String, String> = n.options.clone();
    let mtu = n.mtu.unwrap_or(1500).to_string();
    for (k, v) in [
        ("com.docker.network.bridge.default_bridge", "true"),
        (OPT_ICC, "true"),
        (OPT_MASQUERADE, "true"),
        (OPT_HOST_BINDING, "0.0.0.0"),
        (OPT_MTU, mtu.as_str()),
    ] {
        options
            .entry(k.to_string())
            .or_insert_with(|| v.to_string());
    }
    serde_json::to_value(options).unwrap_or(Value::Null)
}

/// A network for list and inspect; `containers` only for inspect.
pub fn network(n: &NetworkRecord, containers: Option<&[EndpointRecord]>) -> Value {
    let mut ipam_config = if n.subnet.is_empty() {
        Vec::new()
    } else {
        vec![IpamConfig {
            subnet: Some(n.subnet.clone()),
            gateway: Some(n.gateway.clone()).filter(|_| !n.gateway_implied),
            ip_range: Some(n.ip_range.clone()).filter(|r| !r.is_empty()),
            auxiliary_addresses: (!n.aux_addresses.is_empty()).then(|| {
                n.aux_addresses
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_string()))
                    .collect()
            }),
        }]
    };
    // As Docker shows it: the gateway only when one was asked for.
    ipam_config.extend(n.ipv6.as_ref().map(|p| IpamConfig {
        subnet: Some(p.subnet.clone()),
        gateway: p.gateway.map(|g| g.to_string()),
        ip_range: Some(p.ip_range.clone()).filter(|r| !r.is_empty()),
        auxiliary_addresses: (!p.aux_addresses.is_empty()).then(|| {
            p.aux_addresses
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect()
        }),
    }));
    let base = Network {
        name: Some(n.name.clone()),
        id: Some(n.id.clone()),
        created: Some(n.created.clone()),
        scope: Some(if n.vni.is_some() { "swarm" } else { "local" }.into()),
        driver: Some(n.driver.clone()),
        enable_ipv4: Some(true),
        enable_ipv6: Some(n.enable_ipv6),
        ipam: Some(Ipam {
            driver: Some("default".into()),
            config: Some(ipam_config),
            options: None,
        }),
        internal: Some(n.internal),
        attachable: Some(n.attachable),
        ingress: Some(false),
        config_only: Some(false),
        options: Some(
            n.options
                .clone()
                .into_iter()
                .chain(n.vni.map(|v| {
                    (
                        berth_swarm::model::OPT_VXLANID_LIST.to_string(),
                        v.to_string(),
                    )
                }))
                .collect(),
        ),
        labels: Some(n.labels.clone().into_iter().collect()),
        ..Default::default()
    };
    let mut v = serde_json::to_value(base).unwrap_or(Value::Null);
    if n.builtin && n.driver == "bridge" {
        v["Options"] = default_bridge_options(n);
    }
    // Go shows the default driver's unset options as null (docker-py's users test for None).
    v["IPAM"]["Options"] = Value::Null;
    let eps: HashMap<String, EndpointResource> = containers
        .unwrap_or(&[])
        .iter()
        .map(|e| {
            (
                e.container_id.clone(),
                EndpointResource {
                    name: Some(e.container_name.clone()),
                    endpoint_id: Some(e.id.clone()),
                    mac_address: Some(e.mac.clone()),
                    ipv4_address: e.ip.map(|ip| format!("{ip}/{}", e.prefix)),
                    ipv6_address: Some(
                        e.ip6
                            .map(|ip| format!("{ip}/{}", e.prefix6))
                            .unwrap_or_default(),
                    ),
                },
            )
        })
        .collect();
    if let Value::Object(m) = &mut v {
        m.insert("ConfigFrom".into(), json!({"Network": ""}));
        m.insert(
            "Containers".into(),
            serde_json::to_value(eps).unwrap_or_default(),
        );
    }
    v
}

/// A container's `NetworkSettings`, with the top-level fields older clients read. `exposed`:
/// the ports a running container exposes, each listed as Docker lists it (`null` when not
/// published); none for a stopped one. `sandbox`: the container's ID and the path of its own
/// network namespace while it runs; Docker names that file by its sandbox's ID, berth by the
/// container's, so the container's ID is the sandbox's.
pub fn settings(
    nets: &[ContainerNetwork],
    who: &Named<'_>,
    version: crate::api::ApiVersion,
    sandbox: Option<(&str, String)>,
    exposed: &[String],
) -> Value {
    let mut ports: HashMap<String, Option<Vec<PortBinding>>> =
        exposed.iter().map(|p| (exposed_key(p), None)).collect();
    for c in nets {
        let ep = c.endpoint.as_ref();
        for p in ep.map(|e| e.ports.as_slice()).unwrap_or(&[]) {
            ports
                .entry(format!("{}/{}", p.container_port, p.proto))
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .extend(shown_host_ips(p).map(|ip| PortBinding {
                    host_ip: Some(ip),
                    host_port: Some(p.host_port.to_string()),
                }));
        }
    }
    let networks = endpoint_settings(nets, who, version);
    let first = nets.iter().find_map(|c| c.endpoint.clone());
    let s = NetworkSettings {
        sandbox_id: Some(
            sandbox
                .as_ref()
                .map(|s| s.0.to_string())
                .unwrap_or_default(),
        ),
        sandbox_key: Some(sandbox.map(|s| s.1).unwrap_or_default()),
        ports: Some(ports),
        networks: Some(networks),
    };
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        let text =
            |f: &dyn Fn(&EndpointRecord) -> String| first.as_deref().map(f).unwrap_or_default();
        m.insert(
            "IPAddress".into(),
            json!(text(&|e| e.ip.map(|i| i.to_string()).unwrap_or_default())),
        );
        m.insert(
            "Gateway".into(),
            json!(text(&|e| e
                .gateway
                .map(|i| i.to_string())
                .unwrap_or_default())),
        );
        m.insert("MacAddress".into(), json!(text(&|e| e.mac.clone())));
        m.insert(
            "IPPrefixLen".into(),
            json!(first.as_ref().map(|e| e.prefix).unwrap_or(0)),
        );
        m.insert("Bridge".into(), json!(""));
        // The rest of the top level Docker's struct has (its default bridge's endpoint, here
        // the first one as for IPv4), and before API 1.44 the fields it dropped then.
        m.insert("EndpointID".into(), json!(text(&|e| e.id.clone())));
        m.insert(
            "GlobalIPv6Address".into(),
            json!(text(&|e| e.ip6.map(|i| i.to_string()).unwrap_or_default())),
        );
        m.insert(
            "GlobalIPv6PrefixLen".into(),
            json!(first.as_ref().map_or(0, |e| e.prefix6)),
        );
        m.insert(
            "IPv6Gateway".into(),
            json!(text(&|e| e
                .gateway6
                .map(|i| i.to_string())
                .unwrap_or_default())),
        );
        if version < crate::api::ApiVersion(1, 44) {
            let zeros = json!({"HairpinMode": false, "LinkLocalIPv6Address": "",
                "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": null,
                "SecondaryIPv6Addresses": null});
            super::inspect_defaults::fill_missing(m, zeros);
        }
        fill_endpoint_nulls(m.get_mut("Networks"));
    }
    v
}

/// Each endpoint's fields Go encodes even when unset (docker-py's users index them), in the
/// `Networks` object of an inspect answer or a list row.
pub fn fill_endpoint_nulls(networks: Option<&mut Value>) {
    let Some(Value::Object(networks)) = networks else {
        return;
    };
    for ep in networks.values_mut().filter_map(Value::as_object_mut) {
        super::inspect_defaults::fill_missing(
            ep,
            json!({"IPAMConfig": null, "Links": null, "Aliases": null, "DriverOpts": null}),
        );
    }
}

/// The host addresses a published port is bound on, as Docker shows them: the one asked, else
/// `0.0.0.0` and, where the host has IPv6, `::`.
pub fn shown_host_ips(p: &PortMapping) -> impl Iterator<Item = String> {
    let first = if p.host_ip.is_empty() {
        "0.0.0.0".to_string()
    } else {
        p.host_ip.clone()
    };
    std::iter::once(first).chain(p.ipv6.then(|| "::".to_string()))
}

/// Who a container is, for its endpoints' `DNSNames` and older clients' `Aliases`.
pub struct Named<'a> {
    pub name: &'a str,
    pub id: &'a str,
    pub hostname: &'a str,
}

/// API 1.45 moved the short id and the hostname out of a network's `Aliases` (which keeps only
/// the `--network-alias` values) into `DNSNames`; moby still adds them to `Aliases` for an
/// older client, on user-defined networks.
const ALIASES_WITHOUT_ID: crate::api::ApiVersion = crate::api::ApiVersion(1, 45);

/// Each network's `EndpointSettings` for a container, by network name (inspect's and the
/// container list's `NetworkSettings.Networks`), as API `version` shows them.
pub fn endpoint_settings(
    nets: &[ContainerNetwork],
    who: &Named<'_>,
    version: crate::api::ApiVersion,
) -> HashMap<String, EndpointSettings> {
    let short_id = crate::engine::short_id(who.id);
    let mut networks = HashMap::new();
    for c in nets {
        let ep = c.endpoint.as_ref();
        // moby's `buildEndpointDNSNames`: the name, the aliases, the short id, the hostname,
        // each once, on user-defined networks only.
        let dns_names = (!c.network.builtin).then(|| {
            let mut names = vec![who.name.trim_start_matches('/').to_string()];
            names.extend(c.request.aliases.iter().cloned());
            names.extend([short_id.to_string(), who.hostname.to_string()]);
            dedup(names)
        });
        let mut aliases = c.request.aliases.clone();
        if version < ALIASES_WITHOUT_ID && !c.network.builtin {
            aliases.extend([short_id.to_string(), who.hostname.to_string()]);
            aliases = dedup(aliases);
        }
        let req = &c.request;
        // What the request asked for, shown back as Docker shows its endpoint config (also
        // before the container runs).
        let ipam_config = (req.ipv4.is_some() || req.ipv6.is_some() || !req.link_local.is_empty())
            .then(|| bollard_stubs::models::EndpointIpamConfig {
                ipv4_address: req.ipv4.map(|ip| ip.to_string()),
                ipv6_address: req.ipv6.map(|ip| ip.to_string()),
                link_local_ips: (!req.link_local.is_empty())
                    .then(|| req.link_local.iter().map(ToString::to_string).collect()),
            });
        let mac = ep
            .map(|e| e.mac.clone())
            .filter(|m| !m.is_empty())
            .or_else(|| req.mac.map(berth_overlay::ipam::mac_text))
            .unwrap_or_default();
        networks.insert(
            c.network.name.clone(),
            EndpointSettings {
                aliases: (!aliases.is_empty()).then_some(aliases),
                ipam_config,
                driver_opts: (!req.driver_opts.is_empty())
                    .then(|| req.driver_opts.clone().into_iter().collect()),
                dns_names,
                links: (!c.request.links.is_empty()).then(|| {
                    c.request
                        .links
                        .iter()
                        .map(|l| format!("{}:{}", l.name, l.alias))
                        .collect()
                }),
                network_id: Some(c.network.id.clone()),
                endpoint_id: Some(ep.map(|e| e.id.clone()).unwrap_or_default()),
                gateway: Some(
                    ep.and_then(|e| e.gateway)
                        .map(|g| g.to_string())
                        .unwrap_or_default(),
                ),
                ip_address: Some(
                    ep.and_then(|e| e.ip)
                        .map(|g| g.to_string())
                        .unwrap_or_default(),
                ),
                ip_prefix_len: Some(ep.map(|e| i64::from(e.prefix)).unwrap_or(0)),
                mac_address: Some(mac),
                ipv6_gateway: Some(
                    ep.and_then(|e| e.gateway6)
                        .map(|g| g.to_string())
                        .unwrap_or_default(),
                ),
                global_ipv6_address: Some(
                    ep.and_then(|e| e.ip6)
                        .map(|g| g.to_string())
                        .unwrap_or_default(),
                ),
                global_ipv6_prefix_len: Some(ep.map_or(0, |e| i64::from(e.prefix6))),
                ..Default::default()
            },
        );
    }
    networks
}

/// `names` without the empty ones and the repeats, in their first order.
fn dedup(names: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    names
        .into_iter()
        .filter(|n| !n.is_empty() && seen.insert(n.clone()))
        .collect()
}

/// An exposed port as Docker keys it: `80/tcp` (a bare number is TCP).
pub fn exposed_key(port: &str) -> String {
    if port.contains('/') {
        port.to_string()
    } else {
        format!("{port}/tcp")
    }
}

#[cfg(test)]
#[path = "network_tests.rs"]
mod tests;
