//! The network parts of requests → engine requests: a create's HostConfig (ports,
//! `--add-host`, `--dns*`, links), `NetworkingConfig` and connect's endpoint settings, with
//! Docker's refusals on the default bridge and the old top-level `MacAddress` moved to its
//! endpoint.

use bollard_stubs::models::{EndpointSettings, HostConfig, NetworkingConfig, PortBinding};
use serde_json::{json, Value};

use crate::api::error::ApiError;
use crate::network::{EndpointRequest, Link, NetRequest, PortRequest};

/// The network parts of a create's HostConfig.
pub fn host_net(h: &HostConfig) -> Result<NetRequest, ApiError> {
    let mut ports = Vec::new();
    for (key, bindings) in h.port_bindings.iter().flatten() {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let container_port: u16 = port
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid port specification: \"{key}\"")))?;
        if !matches!(proto, "tcp" | "udp") {
            return Err(ApiError::bad_request(format!("invalid proto: {proto}")));
        }
        let list = bindings.clone().unwrap_or_default();
        let list = if list.is_empty() {
            vec![PortBinding::default()]
        } else {
            list
        };
        for b in list {
            ports.push(PortRequest {
                container_port,
                proto: proto.to_string(),
                host_ip: b.host_ip.unwrap_or_default(),
                host_port: b.host_port.unwrap_or_default(),
            });
        }
    }
    Ok(NetRequest {
        endpoints: Default::default(),
        ports,
        publish_all: h.publish_all_ports.unwrap_or(false),
        extra_hosts: h.extra_hosts.clone().unwrap_or_default(),
        dns: h.dns.clone().unwrap_or_default(),
        dns_search: h.dns_search.clone().unwrap_or_default(),
        dns_options: h.dns_options.clone().unwrap_or_default(),
        links: links(h.links.as_deref())?,
    })
}

/// `--link` entries: `name:alias`, `name` (the alias is the name), or inspect's own
/// `/name:/container/alias` form, as Docker parses them.
pub fn links(list: Option<&[String]>) -> Result<Vec<Link>, ApiError> {
    let mut out = Vec::new();
    for raw in list.unwrap_or_default() {
        let parts: Vec<&str> = raw.split(':').collect();
        let (name, alias) = match parts.as_slice() {
            [""] | [] => return Err(ApiError::bad_request("empty string specified for links")),
            [one] => (one.to_string(), one.to_string()),
            [name, alias] if name.starts_with('/') => (
                name[1..].to_string(),
                alias.rsplit('/').next().unwrap_or(alias).to_string(),
            ),
            [name, alias] if !name.is_empty() && !alias.is_empty() => {
                (name.to_string(), alias.to_string())
            }
            _ => return Err(ApiError::bad_request(format!("invalid link format: {raw}"))),
        };
        out.push(Link { name, alias });
    }
    Ok(out)
}

/// One endpoint's settings (aliases, `--ip`).
pub fn endpoint_request(e: &EndpointSettings) -> Result<EndpointRequest, ApiError> {
    let ipv4 = match e
        .ipam_config
        .as_ref()
        .and_then(|c| c.ipv4_address.as_deref())
    {
        None | Some("") => None,
        Some(ip) => Some(
            ip.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid IPv4 address: {ip}")))?,
        ),
    };
    let ipv6 = match e
        .ipam_config
        .as_ref()
        .and_then(|c| c.ipv6_address.as_deref())
    {
        None | Some("") => None,
        Some(ip) => Some(
            ip.parse::<std::net::Ipv6Addr>()
                .ok()
                .filter(|v6| !v6.is_unspecified() && v6.to_ipv4_mapped().is_none())
                .ok_or_else(|| ApiError::bad_request(format!("invalid IPv6 address: {ip}")))?,
        ),
    };
    let mac = match e.mac_address.as_deref() {
        None | Some("") => None,
        Some(m) => Some(
            berth_overlay::ipam::parse_mac(m)
                .ok_or_else(|| ApiError::bad_request(format!("invalid MAC address: {m}")))?,
        ),
    };
    let mut link_local = Vec::new();
    for ip in e
        .ipam_config
        .as_ref()
        .and_then(|c| c.link_local_ips.as_deref())
        .unwrap_or_default()
    {
        match ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(v4)) => link_local.push(v4),
            Ok(std::net::IpAddr::V6(_)) => {
                return Err(ApiError::bad_request(format!(
                    "IPAMConfig.LinkLocalIPs is not supported by berth for IPv6 ({ip}): only IPv4 link-local addresses are"
                )))
            }
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "invalid link-local IP address: {ip}"
                )))
            }
        }
    }
    let driver_opts: std::collections::BTreeMap<String, String> = e
        .driver_opts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    for key in berth_swarm::spec_support::UNSUPPORTED_ENDPOINT_OPTS {
        if driver_opts.contains_key(key) {
            return Err(ApiError::bad_request(format!(
                "DriverOpts {key} is not supported by berth: per-endpoint sysctls and interface names"
            )));
        }
    }
    Ok(EndpointRequest {
        ipv6,
        aliases: e.aliases.clone().unwrap_or_default(),
        ipv4,
        mac,
        links: links(e.links.as_deref())?,
        link_local,
        driver_opts,
    })
}

/// Docker's refusals for what only user networks give (a fixed address, aliases), and for a
/// MAC address where the container gets no interface of its own.
pub fn check_default_bridge_endpoint(
    mode: &str,
    endpoints: &std::collections::BTreeMap<String, EndpointRequest>,
) -> Result<(), ApiError> {
    let own_interface = matches!(mode, "" | "default" | "bridge");
    if !own_interface && !matches!(mode, "host" | "none") && !mode.starts_with("container:") {
        return Ok(());
    }
    let keys: &[&str] = if own_interface {
        &["default", "bridge"]
    } else {
        &[mode]
    };
    for key in keys {
        let Some(e) = endpoints.get(*key) else {
            continue;
        };
        if e.ipv4.is_some() || e.ipv6.is_some() {
            return Err(ApiError::bad_request(
                "user specified IP address is supported on user defined networks only",
            ));
        }
        if !e.aliases.is_empty() {
            return Err(ApiError::bad_request(
                "network-scoped alias is supported only for containers in user defined networks",
            ));
        }
        if !e.links.is_empty() && !own_interface {
            return Err(ApiError::bad_request(
                "links are supported only for containers on a network",
            ));
        }
        if e.mac.is_some() && !own_interface {
            return Err(ApiError::bad_request(
                "conflicting options: mac-address and the network mode",
            ));
        }
    }
    Ok(())
}

/// Moves the container-level `MacAddress` clients before API 1.44 send (docker 20.10's
/// `--mac-address`) to the endpoint of the container's network, as Docker does since.
pub fn migrate_mac_address(raw: &mut Value) -> Result<(), ApiError> {
    let Some(mac) = raw
        .get("MacAddress")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(String::from)
    else {
        return Ok(());
    };
    let mode = raw["HostConfig"]["NetworkMode"]
        .as_str()
        .filter(|m| !m.is_empty())
        .unwrap_or("default")
        .to_string();
    if mode == "host" || mode == "none" || mode.starts_with("container:") {
        return Err(ApiError::bad_request(
            "conflicting options: mac-address and the network mode",
        ));
    }
    if !raw["NetworkingConfig"].is_object() {
        raw["NetworkingConfig"] = json!({});
    }
    let endpoints = &mut raw["NetworkingConfig"]["EndpointsConfig"];
    if !endpoints.is_object() {
        *endpoints = json!({});
    }
    let endpoint = &mut endpoints[&mode];
    if !endpoint.is_object() {
        *endpoint = json!({});
    }
    match endpoint["MacAddress"].as_str().filter(|m| !m.is_empty()) {
        Some(other) if other != mac => Err(ApiError::bad_request(format!(
            "the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty ({mac} and {other})"
        ))),
        _ => {
            endpoint["MacAddress"] = json!(mac);
            Ok(())
        }
    }
}

/// `NetworkingConfig.EndpointsConfig` by network name.
pub fn endpoints(
    cfg: Option<&NetworkingConfig>,
) -> Result<std::collections::BTreeMap<String, EndpointRequest>, ApiError> {
    let mut out = std::collections::BTreeMap::new();
    for (name, e) in cfg
        .and_then(|c| c.endpoints_config.as_ref())
        .into_iter()
        .flatten()
    {
        out.insert(name.clone(), endpoint_request(e)?);
    }
    Ok(out)
}
