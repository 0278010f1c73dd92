//! Published ports across services: Docker's refusals, and numbers for mesh ports sent
//! without one.

use berth_raft::{Attrs, ClusterState, Op};
use bollard_stubs::models::ServiceSpec;
use serde_json::{json, Value};

use super::{assign, check_conflicts, check_spec, taken};
use crate::error::SwarmError;
use crate::fixtures::{apply, object};
use crate::model::Service;

fn spec(ports: Value) -> ServiceSpec {
    serde_json::from_value(json!({ "Name": "new", "EndpointSpec": { "Ports": ports } })).unwrap()
}

fn refused(r: Result<(), SwarmError>) -> String {
    match r {
        Err(SwarmError::InvalidArgument(m)) => m,
        other => panic!("not refused with 400: {other:?}"),
    }
}

/// A state with service `id`, named `name`, publishing `ports`, with `status`.
fn with_service(s: &mut ClusterState, id: &str, name: &str, ports: Value, status: Value) {
    apply(
        s,
        vec![Op::Create {
            id: id.into(),
            attrs: Attrs::Service { name: name.into() },
            spec: json!({ "Name": name, "TaskTemplate": { "ContainerSpec": { "Image": "x" } },
                          "EndpointSpec": { "Ports": ports } }),
            status,
        }],
    );
}

#[test]
fn a_spec_docker_refuses_on_its_own_is_refused() {
    let dnsrr: ServiceSpec = serde_json::from_value(json!({ "EndpointSpec": {
        "Mode": "dnsrr", "Ports": [{ "TargetPort": 80, "PublishedPort": 8080 }] } }))
    .unwrap();
    assert_eq!(
        refused(check_spec(&dnsrr)),
        "rpc error: code = InvalidArgument desc = EndpointSpec: port published with ingress mode can't be used with dnsrr mode"
    );
    let twice = spec(json!([
        { "TargetPort": 80, "PublishedPort": 8080 },
        { "TargetPort": 81, "PublishedPort": 8080, "Protocol": "tcp" },
    ]));
    assert_eq!(
        refused(check_spec(&twice)),
        "rpc error: code = InvalidArgument desc = EndpointSpec: duplicate published ports provided"
    );
    let sctp = spec(json!([{ "TargetPort": 9, "PublishedPort": 9009, "Protocol": "sctp" }]));
    let e = refused(check_spec(&sctp));
    assert!(
        e.contains("port 9009/sctp") && e.contains("mode=host"),
        "{e}"
    );

    // One number for TCP and UDP, a host-mode port with dnsrr, SCTP on the node: all fine.
    let both = spec(json!([
        { "TargetPort": 53, "PublishedPort": 53, "Protocol": "tcp" },
        { "TargetPort": 53, "PublishedPort": 53, "Protocol": "udp" },
        { "TargetPort": 9, "PublishedPort": 9009, "Protocol": "sctp", "PublishMode": "host" },
    ]));
    check_spec(&both).unwrap();
    let host_dnsrr: ServiceSpec = serde_json::from_value(json!({ "EndpointSpec": {
        "Mode": "dnsrr", "Ports": [{ "TargetPort": 80, "PublishedPort": 80, "PublishMode": "host" }] } }))
    .unwrap();
    check_spec(&host_dnsrr).unwrap();
}

#[test]
fn a_port_another_service_holds_is_refused_in_swarmkits_words() {
    let mut s = ClusterState::default();
    with_service(
        &mut s,
        "s1",
        "web",
        json!([{ "TargetPort": 80, "PublishedPort": 8080 },
               { "TargetPort": 81, "PublishedPort": 9090, "PublishMode": "host" }]),
        json!({}),
    );
    let mesh = |n: u16, proto: &str, mode: &str| {
        spec(
            json!([{ "TargetPort": 1, "PublishedPort": n, "Protocol": proto, "PublishMode": mode }]),
        )
    };
    assert_eq!(
        refused(check_conflicts(&s, &mesh(8080, "tcp", "ingress"), None)),
        "rpc error: code = InvalidArgument desc = port '8080' is already in use by service 'web' (s1) as an ingress port"
    );
    // A host-mode port where another service is on the mesh, and the other way round.
    let e = refused(check_conflicts(&s, &mesh(8080, "tcp", "host"), None));
    assert!(e.ends_with("as an ingress port"), "{e}");
    let e = refused(check_conflicts(&s, &mesh(9090, "tcp", "ingress"), None));
    assert!(
        e.ends_with("by service 'web' (s1) as a host-published port"),
        "{e}"
    );
    // Host-mode ports of two services may share a number; UDP is another port; the service
    // itself keeps its ports on update.
    check_conflicts(&s, &mesh(9090, "tcp", "host"), None).unwrap();
    check_conflicts(&s, &mesh(8080, "udp", "ingress"), None).unwrap();
    check_conflicts(&s, &mesh(8080, "tcp", "ingress"), Some("s1")).unwrap();

    // A number the allocator gave counts as much as one sent.
    with_service(
        &mut s,
        "s2",
        "api",
        json!([{ "TargetPort": 80 }]),
        json!({ "Ports": [{ "Protocol": "tcp", "TargetPort": 80, "PublishedPort": 30000,
                            "PublishMode": "ingress" }] }),
    );
    let e = refused(check_conflicts(&s, &mesh(30000, "tcp", "ingress"), None));
    assert!(e.contains("by service 'api' (s2)"), "{e}");
}

#[test]
fn a_mesh_port_without_a_number_gets_the_lowest_free_one_and_keeps_it() {
    let mut s = ClusterState::default();
    with_service(
        &mut s,
        "s1",
        "web",
        json!([{ "TargetPort": 1, "PublishedPort": 30000 }]),
        json!({}),
    );
    let ports = json!([
        { "TargetPort": 80 },
        { "TargetPort": 53, "Protocol": "udp" },
        { "TargetPort": 443, "PublishedPort": 8443 },
        { "TargetPort": 22, "PublishMode": "host" },
    ]);
    with_service(&mut s, "s2", "api", ports.clone(), json!({}));
    let services: Vec<Service<'_>> = ["s1", "s2"]
        .iter()
        .map(|id| Service::parse(s.get(berth_raft::ObjectKind::Service, id).unwrap()).unwrap())
        .collect();
    let mut held = taken(&services);
    let given = assign(&services[1], &mut held).unwrap();
    assert_eq!(
        serde_json::to_value(&given).unwrap(),
        json!([
            { "Protocol": "tcp", "TargetPort": 80, "PublishedPort": 30001, "PublishMode": "ingress" },
            { "Protocol": "udp", "TargetPort": 53, "PublishedPort": 30000, "PublishMode": "ingress" },
            { "Protocol": "tcp", "TargetPort": 443, "PublishedPort": 8443, "PublishMode": "ingress" },
            { "Protocol": "tcp", "TargetPort": 22, "PublishMode": "host" },
        ])
    );

    // Once stored, the same numbers come back, whatever else was taken meanwhile.
    let stored = object(
        "s2",
        Attrs::Service { name: "api".into() },
        json!({ "Name": "api", "EndpointSpec": { "Ports": ports } }),
        json!({ "Ports": given }),
    );
    let again = Service::parse(&stored).unwrap();
    let mut held = taken(std::slice::from_ref(&again));
    held.insert((crate::model::Protocol::Tcp, 30002));
    assert_eq!(assign(&again, &mut held).unwrap(), given);
}
