use super::*;
use crate::fixtures::{apply, service_with};

fn refused(raw: Value) -> String {
    match normalize_network(&raw) {
        Err(SwarmError::InvalidArgument(m)) => m,
        other => panic!("expected a refusal of {raw}, got {other:?}"),
    }
}

#[test]
fn an_overlay_create_is_kept_as_sent_with_the_swarm_scope() {
    let raw = json!({ "Name": "ov", "Driver": "overlay", "Attachable": true,
                      "Labels": { "a": "b" },
                      "Options": { "com.docker.network.driver.mtu": "1400" },
                      "IPAM": { "Driver": "default",
                                "Config": [{ "Subnet": "10.5.0.0/24", "Gateway": "10.5.0.9" }] } });
    let spec = normalize_network(&raw).expect("valid");
    assert_eq!(spec["Scope"], "swarm");
    assert_eq!(spec["Attachable"], true);
    assert_eq!(spec["IPAM"]["Config"][0]["Gateway"], "10.5.0.9");
}

#[test]
fn what_berths_overlay_cannot_do_is_refused_by_name() {
    let base = |extra: Value| {
        let mut v = json!({ "Name": "ov", "Driver": "overlay" });
        if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
            m.extend(e);
        }
        v
    };
    assert!(refused(base(json!({ "EnableIPv6": true }))).contains("EnableIPv6"));
    assert!(
        refused(base(json!({ "Ingress": true, "Attachable": true })))
            .contains("ingress network cannot be attachable")
    );
    assert!(normalize_network(&base(json!({ "Ingress": true }))).is_ok());
    assert!(refused(base(json!({ "Options": { "encrypted": "" } }))).contains("encrypted"));
    assert!(refused(base(json!({ "Options": { "x.y": "1" } }))).contains("x.y"));
    assert!(refused(base(
        json!({ "Options": { "com.docker.network.driver.mtu": "big" } })
    ))
    .contains("MTU"));
    assert!(refused(base(json!({ "IPAM": { "Driver": "other" } }))).contains("IPAM driver"));
    assert!(refused(base(
        json!({ "IPAM": { "Config": [{ "Subnet": "fd00::/64" }] } })
    ))
    .contains("IPv4"));
    assert!(refused(base(json!({ "IPAM": { "Config": [
        { "Subnet": "10.1.0.0/24", "Gateway": "10.2.0.1" }] } })))
    .ends_with("invalid gateway 10.2.0.1: parent subnet 10.1.0.0/24 doesn't contain this address"));
    assert_eq!(
        refused(base(
            json!({ "IPAM": { "Config": [{ "Gateway": "10.2.0.1" }] } })
        )),
        "invalid network config:\ninvalid subnet : invalid CIDR block notation"
    );
    assert!(refused(base(json!({ "IPAM": { "Config": [
        { "Subnet": "10.1.0.0/24", "IPRange": "10.1.0.0/28" }] } })))
    .contains("not supported on overlay networks"));
    // Host bits set: refused as Docker 25 on refuses them (berth cleared them).
    assert_eq!(
        refused(base(
            json!({ "IPAM": { "Config": [{ "Subnet": "10.1.0.5/24" }] } })
        )),
        "invalid network config:\ninvalid subnet 10.1.0.5/24: it should be 10.1.0.0/24"
    );
    assert!(refused(base(json!({ "IPAM": { "Config": [
        { "Subnet": "10.1.0.0/24" }, { "Subnet": "10.2.0.0/24" }] } })))
    .contains("one IPv4 subnet"));
    assert!(refused(base(json!({ "Scope": "local" }))).contains("scope"));
    assert!(refused(json!({ "Name": " ", "Driver": "overlay" })).contains("name"));
}

#[test]
fn a_network_is_in_use_by_services_naming_it_by_id_or_name() {
    let mut s = ClusterState::default();
    apply(
        &mut s,
        vec![Op::Create {
            id: "net1".into(),
            attrs: Attrs::Network { name: "ov".into() },
            spec: json!({ "Name": "ov", "Driver": "overlay" }),
            status: json!({}),
        }],
    );
    let tpl = |target: &str| json!({ "ContainerSpec": { "Image": "busybox" }, "Networks": [{ "Target": target }] });
    let mode = json!({ "Replicated": { "Replicas": 1 } });
    apply(
        &mut s,
        vec![
            service_with("s1", "by-id", tpl("net1"), mode.clone(), json!({})),
            service_with("s2", "by-name", tpl("ov"), mode.clone(), json!({})),
            service_with("s3", "other", tpl("elsewhere"), mode, json!({})),
        ],
    );
    let o = s.get(ObjectKind::Network, "net1").expect("net");
    let n = Network::parse(o).expect("parse");
    let users: Vec<String> = services_using(&s, &n)
        .iter()
        .map(|svc| svc.id().to_string())
        .collect();
    assert_eq!(users, vec!["s1".to_string(), "s2".to_string()]);
}
#[test]
fn standalone_containers_get_a_free_address_only_on_attachable_networks() {
    let mut s = ClusterState::default();
    let net = |id: &str, name: &str, attachable: bool| Op::Create {
        id: id.into(),
        attrs: Attrs::Network { name: name.into() },
        spec: json!({ "Name": name, "Driver": "overlay", "Attachable": attachable }),
        status: json!({ "VNI": 4096, "Subnet": "10.0.0.0/24", "Gateway": "10.0.0.1" }),
    };
    apply(
        &mut s,
        vec![net("n1", "open", true), net("n2", "closed", false)],
    );
    match attach_step(&s, "closed", ("c1", "one", "node1")) {
        Err(SwarmError::InvalidArgument(m)) => {
            assert!(m.contains("not manually attachable"), "{m}")
        }
        _ => panic!("a network that is not attachable takes no standalone container"),
    }
    let Ok(AttachStep::Write(version, status, first)) =
        attach_step(&s, "open", ("c1", "one", "node1"))
    else {
        panic!("attach");
    };
    assert_eq!(first.address.to_string(), "10.0.0.2");
    apply(
        &mut s,
        vec![Op::UpdateStatus {
            kind: ObjectKind::Network,
            id: "n1".into(),
            expected_version: Some(version),
            status,
        }],
    );
    match attach_step(&s, "n1", ("c1", "one", "node1")) {
        Ok(AttachStep::Held(again)) => assert_eq!(again.address, first.address),
        _ => panic!("the same container gets the same address again"),
    }
    let Ok(AttachStep::Write(_, _, second)) = attach_step(&s, "open", ("c2", "two", "node1"))
    else {
        panic!("attach");
    };
    assert_eq!(
        second.address.to_string(),
        "10.0.0.3",
        "never an address another holds"
    );
}
