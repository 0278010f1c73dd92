use super::*;
use bollard_stubs::models::HostConfig;

fn attached(name: &str, builtin: bool, aliases: &[&str]) -> ContainerNetwork {
    ContainerNetwork {
        network: std::sync::Arc::new(crate::network::NetworkRecord {
            name: name.into(),
            id: format!("{name}-id"),
            builtin,
            ..Default::default()
        }),
        request: crate::network::EndpointRequest {
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        },
        endpoint: None,
    }
}

#[test]
fn inspect_has_every_field_of_dockers_network_settings_for_its_version() {
    use crate::api::ApiVersion;
    let who = Named {
        name: "/web",
        id: "0123456789abcdef",
        hostname: "h",
    };
    let nets = [attached("front", false, &[])];
    let at = |v| settings(&nets, &who, v, None, &[]);
    let old = at(ApiVersion(1, 41));
    for key in [
        "EndpointID",
        "GlobalIPv6Address",
        "IPv6Gateway",
        "HairpinMode",
    ] {
        assert!(old.get(key).is_some(), "{key}: {old}");
    }
    assert!(old["SecondaryIPAddresses"].is_null() && old.get("SecondaryIPAddresses").is_some());
    for key in ["IPAMConfig", "Links", "DriverOpts"] {
        assert!(
            old["Networks"]["front"]
                .get(key)
                .is_some_and(Value::is_null),
            "{key}"
        );
    }
    let new = at(ApiVersion(1, 47));
    assert!(new.get("HairpinMode").is_none(), "gone from 1.44 on: {new}");
    let front = &new["Networks"]["front"];
    assert!(front.get("Aliases").is_some_and(Value::is_null), "{front}");
    assert_eq!(new["GlobalIPv6PrefixLen"], 0);
}

#[test]
fn aliases_keep_the_users_and_dns_names_the_rest_as_moby_since_api_1_45() {
    use crate::api::ApiVersion;
    let id = "0123456789abcdef0123";
    let who = Named {
        name: "/web",
        id,
        hostname: "0123456789ab",
    };
    let nets = [
        attached("front", false, &["www", "web"]),
        attached("bridge", true, &[]),
    ];
    let show = |v: ApiVersion| {
        let s = endpoint_settings(&nets, &who, v);
        let user = &s["front"];
        let default = &s["bridge"];
        (
            user.aliases.clone().unwrap_or_default(),
            user.dns_names.clone(),
            default.aliases.clone().unwrap_or_default(),
            default.dns_names.clone(),
        )
    };
    // The name first, then the aliases, the short id and the hostname, each once.
    let dns = Some(vec!["web".to_string(), "www".into(), "0123456789ab".into()]);
    assert_eq!(
        show(ApiVersion::CURRENT),
        (
            vec!["www".to_string(), "web".into()],
            dns.clone(),
            vec![],
            None
        )
    );
    assert_eq!(show(ApiVersion(1, 45)).0, ["www", "web"]);
    // An older client still finds the short id and the hostname among the aliases.
    assert_eq!(
        show(ApiVersion(1, 44)),
        (
            vec!["www".to_string(), "web".into(), "0123456789ab".into()],
            dns,
            vec![],
            None
        )
    );
}

#[test]
fn port_bindings_become_requests_and_bad_protocols_are_refused() {
    let mut h = HostConfig {
        port_bindings: None,
        ..Default::default()
    };
    h.port_bindings = Some(HashMap::from([(
        "80/tcp".to_string(),
        Some(vec![PortBinding {
            host_ip: Some("127.0.0.1".into()),
            host_port: Some("8080".into()),
        }]),
    )]));
    let n = host_net(&h).unwrap();
    assert_eq!(n.ports[0].container_port, 80);
    assert_eq!(n.ports[0].host_port, "8080");
    h.port_bindings = Some(HashMap::from([("80/sctp".to_string(), None)]));
    assert!(host_net(&h).is_err());
}

#[test]
fn a_container_wide_mac_moves_to_the_main_networks_endpoint() {
    let mut raw = json!({"Image": "busybox", "MacAddress": "02:42:0a:00:00:99",
        "HostConfig": {"NetworkMode": "web"}});
    migrate_mac_address(&mut raw).unwrap();
    assert_eq!(
        raw["NetworkingConfig"]["EndpointsConfig"]["web"]["MacAddress"],
        "02:42:0a:00:00:99"
    );
    let mut raw = json!({"MacAddress": "02:42:0a:00:00:99", "NetworkingConfig":
        {"EndpointsConfig": {"default": {"MacAddress": "02:42:0a:00:00:98"}}}});
    assert!(migrate_mac_address(&mut raw).is_err(), "two different MACs");
    let mut raw = json!({"MacAddress": "02:42:0a:00:00:99", "HostConfig": {"NetworkMode": "host"}});
    assert!(migrate_mac_address(&mut raw).is_err());
    let mut raw = json!({"Image": "busybox"});
    migrate_mac_address(&mut raw).unwrap();
    assert_eq!(raw, json!({"Image": "busybox"}));
}

#[test]
fn an_ipv6_network_and_its_endpoints_show_their_ipv6_addresses_as_docker() {
    use std::net::Ipv6Addr;
    let pool = crate::network::ipv6::Ipv6Pool {
        subnet: "fd42::/64".into(),
        ..Default::default()
    };
    let n = NetworkRecord {
        name: "v6".into(),
        id: "v6-id".into(),
        driver: "bridge".into(),
        subnet: "172.19.0.0/16".into(),
        gateway: "172.19.0.1".into(),
        enable_ipv6: true,
        ipv6: Some(pool),
        ..Default::default()
    };
    let ep = EndpointRecord {
        container_id: "c1".into(),
        ip: Some("172.19.0.2".parse().unwrap()),
        prefix: 16,
        ip6: Some(Ipv6Addr::new(0xfd42, 0, 0, 0, 0, 0, 0, 2)),
        prefix6: 64,
        gateway6: Some(Ipv6Addr::new(0xfd42, 0, 0, 0, 0, 0, 0, 1)),
        ..Default::default()
    };
    let shown = network(&n, Some(std::slice::from_ref(&ep)));
    assert_eq!(shown["EnableIPv6"], true);
    // Docker shows the IPv6 subnet's gateway only when one was asked for.
    assert_eq!(
        shown["IPAM"]["Config"][1],
        serde_json::json!({"Subnet": "fd42::/64"})
    );
    assert_eq!(shown["Containers"]["c1"]["IPv6Address"], "fd42::2/64");
    let mut c = attached("v6", false, &[]);
    c.network = std::sync::Arc::new(n);
    c.request.ipv6 = Some(Ipv6Addr::new(0xfd42, 0, 0, 0, 0, 0, 0, 2));
    c.endpoint = Some(std::sync::Arc::new(ep));
    let who = Named {
        name: "/web",
        id: "0123456789abcdef",
        hostname: "h",
    };
    let s = settings(&[c], &who, crate::api::ApiVersion(1, 41), None, &[]);
    let e = &s["Networks"]["v6"];
    assert_eq!(e["GlobalIPv6Address"], "fd42::2");
    assert_eq!(e["GlobalIPv6PrefixLen"], 64);
    assert_eq!(e["IPv6Gateway"], "fd42::1");
    assert_eq!(
        e["IPAMConfig"],
        serde_json::json!({"IPv6Address": "fd42::2"})
    );
    assert_eq!(s["GlobalIPv6Address"], "fd42::2");
}

#[test]
fn a_port_published_without_an_address_shows_both_families_where_both_are_bound() {
    let mut p = PortMapping {
        container_port: 80,
        proto: "tcp".into(),
        host_port: 8080,
        ipv6: true,
        ..Default::default()
    };
    assert_eq!(shown_host_ips(&p).collect::<Vec<_>>(), ["0.0.0.0", "::"]);
    p.ipv6 = false;
    assert_eq!(shown_host_ips(&p).collect::<Vec<_>>(), ["0.0.0.0"]);
    p.host_ip = "127.0.0.1".into();
    assert_eq!(shown_host_ips(&p).collect::<Vec<_>>(), ["127.0.0.1"]);
}

#[test]
fn a_subnet_asked_without_a_gateway_is_shown_without_one_as_docker() {
    let mut n = NetworkRecord {
        subnet: "10.55.0.0/16".into(),
        gateway: "10.55.0.1".into(),
        gateway_implied: true,
        ..Default::default()
    };
    assert_eq!(
        network(&n, None)["IPAM"]["Config"][0],
        serde_json::json!({"Subnet": "10.55.0.0/16"})
    );
    n.gateway_implied = false;
    assert_eq!(
        network(&n, None)["IPAM"]["Config"][0]["Gateway"],
        "10.55.0.1"
    );
}

#[test]
fn the_default_bridge_shows_its_daemon_settings_as_dockers_options() {
    let n = NetworkRecord {
        name: "bridge".into(),
        id: "b".into(),
        driver: "bridge".into(),
        builtin: true,
        subnet: "172.17.0.0/16".into(),
        gateway: "172.17.0.1".into(),
        bridge: "berth0".into(),
        options: [(
            crate::network::types::OPT_BRIDGE_NAME.to_string(),
            "berth0".to_string(),
        )]
        .into(),
        ..Default::default()
    };
    let options = network(&n, None)["Options"].clone();
    assert_eq!(
        options,
        json!({
            "com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_icc": "true",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
            "com.docker.network.bridge.name": "berth0",
            "com.docker.network.driver.mtu": "1500",
        })
    );
    let user = NetworkRecord {
        builtin: false,
        ..n
    };
    assert_eq!(
        network(&user, None)["Options"],
        json!({ "com.docker.network.bridge.name": "berth0" })
    );
}
