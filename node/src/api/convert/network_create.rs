//! `POST /networks/create` in Docker's shape → the engine's `CreateNetwork`: at most one IPv4
//! and one IPv6 subnet with their ranges, gateways and auxiliary addresses, and the bridge
//! driver's options berth honours; what it cannot do is refused by name.

use bollard_stubs::models::{IpamConfig, NetworkCreateRequest};

use crate::api::error::ApiError;
use crate::network::CreateNetwork;

/// `POST /networks/create`.
pub fn create_request(body: NetworkCreateRequest) -> Result<CreateNetwork, ApiError> {
    if body.name.is_empty() {
        return Err(ApiError::bad_request("network name cannot be empty"));
    }
    if !matches!(body.scope.as_deref(), None | Some("" | "local")) {
        return Err(ApiError::bad_request(format!(
            "Scope {} is not supported by berth: bridge networks are local",
            body.scope.unwrap_or_default()
        )));
    }
    if body.enable_ipv4 == Some(false) {
        return Err(ApiError::bad_request(
            "EnableIPv4=false is not supported by berth: its networks are IPv4",
        ));
    }
    let ipam = body.ipam.unwrap_or_default();
    if let Some(driver) = ipam
        .driver
        .as_deref()
        .filter(|d| !matches!(*d, "" | "default"))
    {
        return Err(ApiError::from(crate::error::EngineError::NotFound(
            format!("error looking up IPAM driver \"{driver}\": plugin \"{driver}\" not found"),
        )));
    }
    // One IPv4 and one IPv6 subnet at most, as Docker's bridge driver takes them; a config
    // is IPv6 by its subnet (or, without one, by any address in it).
    let (v6, v4): (Vec<IpamConfig>, Vec<IpamConfig>) =
        ipam.config.unwrap_or_default().into_iter().partition(|c| {
            [&c.subnet, &c.ip_range, &c.gateway]
                .iter()
                .find_map(|v| v.as_deref().filter(|v| !v.is_empty()))
                .is_some_and(|v| v.contains(':'))
        });
    if v4.len() > 1 || v6.len() > 1 {
        return Err(ApiError::from(crate::error::EngineError::Forbidden(
            "bridge driver doesn't support multiple subnets".into(),
        )));
    }
    let ipv6 = v6.into_iter().next().map(ipv6_request).transpose()?;
    let cfg = v4.into_iter().next().unwrap_or_default();
    if cfg.subnet.as_deref().unwrap_or("").is_empty()
        && (cfg.ip_range.is_some() || cfg.gateway.is_some() || cfg.auxiliary_addresses.is_some())
    {
        // Docker's words for a range or gateway without a subnet.
        return Err(ApiError::bad_request(
            "invalid pool request: ip-range, gateway or auxiliary addresses need a subnet",
        ));
    }
    let options: std::collections::BTreeMap<String, String> =
        body.options.unwrap_or_default().into_iter().collect();
    check_bridge_options(&options)?;
    Ok(CreateNetwork {
        name: body.name,
        driver: body.driver.unwrap_or_default(),
        subnet: cfg.subnet.filter(|s| !s.is_empty()),
        gateway: cfg.gateway.filter(|s| !s.is_empty()),
        internal: body.internal.unwrap_or(false),
        labels: body.labels.unwrap_or_default().into_iter().collect(),
        options,
        ip_range: cfg.ip_range.filter(|s| !s.is_empty()),
        aux_addresses: cfg
            .auxiliary_addresses
            .unwrap_or_default()
            .into_iter()
            .collect(),
        attachable: body.attachable.unwrap_or(false),
        enable_ipv6: body.enable_ipv6.unwrap_or(false),
        ipv6,
    })
}

/// An `IPAM.Config` entry for IPv6: its subnet is needed, as for IPv4; each address in it must
/// be IPv6 (the engine checks that they lie inside the subnet).
fn ipv6_request(c: IpamConfig) -> Result<crate::network::ipv6::Ipv6Request, ApiError> {
    let subnet = c.subnet.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::bad_request(
            "invalid pool request: ip-range, gateway or auxiliary addresses need a subnet",
        )
    })?;
    let mixed = |what: &str, v: &str| {
        ApiError::bad_request(format!(
            "invalid pool request: {what} {v} is not an IPv6 address, but subnet {subnet} is IPv6"
        ))
    };
    for (what, v) in [("gateway", &c.gateway), ("ip-range", &c.ip_range)] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty() && !v.contains(':')) {
            return Err(mixed(what, v));
        }
    }
    let aux_addresses: std::collections::BTreeMap<String, String> = c
        .auxiliary_addresses
        .unwrap_or_default()
        .into_iter()
        .collect();
    if let Some(v) = aux_addresses.values().find(|v| !v.contains(':')) {
        return Err(mixed("auxiliary address", v));
    }
    Ok(crate::network::ipv6::Ipv6Request {
        subnet: subnet.clone(),
        gateway: c.gateway.filter(|s| !s.is_empty()),
        ip_range: c.ip_range.filter(|s| !s.is_empty()),
        aux_addresses,
    })
}

/// The bridge driver's options: the name, MTU, masquerading, inter-container traffic
/// (`enable_icc=false` isolates the bridge's ports) and default host address are honoured; the ones berth cannot do yet are refused by name. Other keys Docker's bridge
/// driver stores without reading, and so does berth (inspect shows them).
fn check_bridge_options(
    options: &std::collections::BTreeMap<String, String>,
) -> Result<(), ApiError> {
    use crate::network::{is_false, OPT_HOST_BINDING};
    let refuse = |key: &str, why: &str| {
        Err(ApiError::bad_request(format!(
            "option {key} is not supported by berth: {why}"
        )))
    };
    for (key, value) in options {
        match key.as_str() {
            OPT_HOST_BINDING if value.parse::<std::net::Ipv4Addr>().is_err() => {
                return Err(ApiError::bad_request(format!(
                    "failed to parse bridge option {key}: invalid IPv4 address {value:?}"
                )))
            }
            "com.docker.network.bridge.inhibit_ipv4"
            | "com.docker.network.bridge.default_bridge"
                if !is_false(value) =>
            {
                return refuse(key, "berth's user networks are IPv4 bridges it manages")
            }
            "com.docker.network.enable_ipv6" if !is_false(value) => {
                return refuse(key, "ask for IPv6 with EnableIPv6 (--ipv6)")
            }
            "com.docker.network.container_iface_prefix" => {
                return refuse(key, "container interfaces are named eth<n>")
            }
            "com.docker.network.bridge.gateway_mode_ipv4" if value != "nat" => {
                return refuse(key, "only nat is supported")
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::Ipam;

    #[test]
    fn create_takes_the_ipv4_pool_and_options() {
        let body = NetworkCreateRequest {
            name: "n1".into(),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some("10.7.0.0/24".into()),
                    gateway: Some("10.7.0.254".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            internal: Some(true),
            ..Default::default()
        };
        let req = create_request(body).unwrap();
        assert_eq!(req.subnet.as_deref(), Some("10.7.0.0/24"));
        assert_eq!(req.gateway.as_deref(), Some("10.7.0.254"));
        assert!(req.internal);
    }

    fn with_configs(configs: Vec<IpamConfig>) -> NetworkCreateRequest {
        NetworkCreateRequest {
            name: "n6".into(),
            enable_ipv6: Some(true),
            ipam: Some(Ipam {
                config: Some(configs),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn config(subnet: &str, gateway: Option<&str>, range: Option<&str>) -> IpamConfig {
        IpamConfig {
            subnet: Some(subnet.into()),
            gateway: gateway.map(Into::into),
            ip_range: range.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn an_ipv6_subnet_goes_beside_the_ipv4_one_in_either_order() {
        let req = create_request(with_configs(vec![
            config(
                "2001:389::/64",
                Some("2001:389::ffff"),
                Some("2001:389::/96"),
            ),
            config("10.7.0.0/24", None, None),
        ]))
        .unwrap();
        assert!(req.enable_ipv6);
        assert_eq!(req.subnet.as_deref(), Some("10.7.0.0/24"));
        let v6 = req.ipv6.unwrap();
        assert_eq!(v6.subnet, "2001:389::/64");
        assert_eq!(v6.gateway.as_deref(), Some("2001:389::ffff"));
        assert_eq!(v6.ip_range.as_deref(), Some("2001:389::/96"));
        // Only an IPv6 subnet: the IPv4 one comes from the pools.
        let req = create_request(with_configs(vec![config("fd00::/64", None, None)])).unwrap();
        assert_eq!(
            (req.subnet, req.ipv6.map(|p| p.subnet)),
            (None, Some("fd00::/64".into()))
        );
    }

    #[test]
    fn two_subnets_of_a_family_and_mixed_families_are_refused_in_dockers_words() {
        let err = |configs| create_request(with_configs(configs)).unwrap_err();
        let e = err(vec![
            config("fd00:1::/64", None, None),
            config("fd00:2::/64", None, None),
        ]);
        assert_eq!(e.status, axum::http::StatusCode::FORBIDDEN);
        assert!(e
            .message
            .contains("bridge driver doesn't support multiple subnets"));
        let e = err(vec![
            config("10.7.0.0/24", None, None),
            config("10.8.0.0/24", None, None),
        ]);
        assert!(e.message.contains("multiple subnets"), "{}", e.message);
        let e = err(vec![config("fd00::/64", Some("10.0.0.1"), None)]);
        assert!(
            e.message
                .contains("gateway 10.0.0.1 is not an IPv6 address"),
            "{}",
            e.message
        );
        let mut aux = config("fd00::/64", None, None);
        aux.auxiliary_addresses = Some([("a".to_string(), "10.0.0.9".to_string())].into());
        assert!(err(vec![aux])
            .message
            .contains("auxiliary address 10.0.0.9"));
    }
}
