//! What the API's service specs and lookups go through: Docker's defaults, Docker's refusals,
//! and finding objects by id, name, hostname or prefix.

use berth_raft::{ClusterState, NodeRole, ObjectKind};
use serde_json::json;

use super::{find, normalize_service};
use crate::error::SwarmError;
use crate::fixtures::{apply, node, service};

fn spec(extra: serde_json::Value) -> serde_json::Value {
    let mut s =
        json!({ "Name": "web", "TaskTemplate": { "ContainerSpec": { "Image": "busybox" } } });
    if let (Some(s), Some(e)) = (s.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    s
}

fn refused(r: Result<serde_json::Value, SwarmError>) -> String {
    match r {
        Err(SwarmError::InvalidArgument(m)) => m,
        other => panic!("not refused with 400: {other:?}"),
    }
}

#[test]
fn a_service_spec_gets_dockers_defaults_and_keeps_what_it_had() {
    let s = normalize_service(spec(json!({ "Labels": { "a": "b" } }))).unwrap();
    assert_eq!(s["Mode"], json!({ "Replicated": { "Replicas": 1 } }));
    assert_eq!(s["Labels"]["a"], "b");
    let unnamed =
        normalize_service(json!({ "TaskTemplate": { "ContainerSpec": { "Image": "x" } } }));
    let name = unnamed.unwrap()["Name"].as_str().unwrap().to_string();
    assert!(name.starts_with("svc-") && name.len() == 14, "{name}");
    let global = normalize_service(spec(json!({ "Mode": { "Global": {} } }))).unwrap();
    assert_eq!(global["Mode"], json!({ "Global": {} }));
}

#[test]
fn a_job_gets_mobys_defaults() {
    let mode = |m: serde_json::Value| {
        normalize_service(spec(json!({ "Mode": m }))).unwrap()["Mode"].clone()
    };
    assert_eq!(
        mode(json!({ "ReplicatedJob": {} })),
        json!({ "ReplicatedJob": { "MaxConcurrent": 1, "TotalCompletions": 1 } })
    );
    assert_eq!(
        mode(json!({ "ReplicatedJob": { "MaxConcurrent": 3 } })),
        json!({ "ReplicatedJob": { "MaxConcurrent": 3, "TotalCompletions": 3 } })
    );
    assert_eq!(
        mode(json!({ "ReplicatedJob": { "MaxConcurrent": 2, "TotalCompletions": 10 } })),
        json!({ "ReplicatedJob": { "MaxConcurrent": 2, "TotalCompletions": 10 } })
    );
    assert_eq!(mode(json!({ "GlobalJob": {} })), json!({ "GlobalJob": {} }));
}

#[test]
fn bad_service_specs_are_refused_with_dockers_words() {
    let no_image = refused(normalize_service(
        json!({ "Name": "web", "TaskTemplate": {} }),
    ));
    assert_eq!(no_image, "ContainerSpec: image reference must be provided");
    let bad_name = refused(normalize_service(spec(json!({ "Name": "no spaces" }))));
    assert!(
        bad_name.contains("name must be valid as a DNS name component"),
        "{bad_name}"
    );
    let job = refused(normalize_service(spec(
        json!({ "Mode": { "ReplicatedJob": { "MaxConcurrent": -1 } } }),
    )));
    assert_eq!(job, "invalid MaxConcurrent -1");
    let mut c = spec(json!({}));
    c["TaskTemplate"]["Placement"] = json!({ "Constraints": ["node.role~~manager"] });
    assert!(refused(normalize_service(c)).starts_with("invalid constraint"));
    let typed = refused(normalize_service(spec(
        json!({ "Mode": { "Replicated": { "Replicas": "3" } } }),
    )));
    assert!(typed.starts_with("invalid service spec"), "{typed}");
    assert!(refused(normalize_service(json!([1]))).contains("must be an object"));
}

#[test]
fn an_sctp_port_on_the_routing_mesh_is_refused_and_in_host_mode_kept() {
    let port = |proto: &str, mode: &str| {
        spec(json!({ "EndpointSpec": { "Ports": [
            { "Protocol": proto, "TargetPort": 9, "PublishedPort": 9009, "PublishMode": mode }
        ] } }))
    };
    let e = refused(normalize_service(port("sctp", "ingress")));
    assert!(
        e.contains("port 9009/sctp") && e.contains("mode=host"),
        "{e}"
    );
    assert!(normalize_service(port("sctp", "host")).is_ok());
    assert!(normalize_service(port("udp", "ingress")).is_ok());
    assert!(normalize_service(port("tcp", "ingress")).is_ok());
}

#[test]
fn objects_are_found_by_id_name_hostname_or_unique_prefix() {
    let mut s = ClusterState::default();
    apply(
        &mut s,
        vec![
            node("n1abc", NodeRole::Manager, "active", "ready"),
            node("n2abc", NodeRole::Worker, "active", "ready"),
            service(1, json!({})),
        ],
    );
    assert_eq!(find(&s, ObjectKind::Service, "svc").unwrap().id, "svc");
    assert_eq!(find(&s, ObjectKind::Service, "web").unwrap().id, "svc");
    assert_eq!(
        find(&s, ObjectKind::Node, "host-n2abc").unwrap().id,
        "n2abc"
    );
    assert_eq!(find(&s, ObjectKind::Node, "n1").unwrap().id, "n1abc");
    match find(&s, ObjectKind::Node, "n") {
        Err(SwarmError::NotFound(m)) => assert!(m.contains("ambiguous"), "{m}"),
        other => panic!("{other:?}"),
    }
    match find(&s, ObjectKind::Service, "") {
        Err(SwarmError::NotFound(m)) => assert_eq!(m, "service  not found"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn task_fields_berth_cannot_honour_are_refused_by_name_and_zero_values_pass() {
    let with = |path: &str, v: serde_json::Value| {
        let mut s = spec(json!({}));
        let mut at = &mut s["TaskTemplate"];
        for key in path.split('.') {
            at = &mut at[key];
        }
        *at = v;
        normalize_service(s)
    };
    for (path, v, needle) in [
        ("Runtime", json!("plugin"), "TaskTemplate.Runtime"),
        (
            "PluginSpec",
            json!({ "Name": "x" }),
            "TaskTemplate.PluginSpec",
        ),
        (
            "ContainerSpec.Isolation",
            json!("hyperv"),
            "ContainerSpec.Isolation",
        ),
        (
            "ContainerSpec.Privileges",
            json!({ "CredentialSpec": { "File": "spec.json" } }),
            "CredentialSpec",
        ),
    ] {
        let e = refused(with(path, v));
        assert!(
            e.contains(needle) && e.contains("not supported"),
            "{path}: {e}"
        );
    }
    // What docker's client sends when nothing is asked.
    let zero = json!({ "CredentialSpec": null, "SELinuxContext": null, "NoNewPrivileges": false });
    assert!(with("ContainerSpec.Privileges", zero).is_ok());
    assert!(with("Runtime", json!("container")).is_ok());
    assert!(with("ContainerSpec.Isolation", json!("default")).is_ok());
    // Labels become the task container's `label=` options, as moby's executor makes them.
    let selinux = json!({ "SELinuxContext": { "Type": "svirt_t" } });
    assert!(with("ContainerSpec.Privileges", selinux).is_ok());
}

#[test]
fn a_spread_over_nothing_a_node_has_is_taken_with_a_warning() {
    // As Docker takes it (docker-py's tests spread over `com.dockerpy.test`): created, the
    // level skipped, and said so; a spread over a node attribute is no warning.
    let mut c = spec(json!({}));
    c["TaskTemplate"]["Placement"] = json!({ "Preferences": [
        { "Spread": { "SpreadDescriptor": "com.dockerpy.test" } },
        { "Spread": { "SpreadDescriptor": "node.hostname" } },
    ] });
    assert!(normalize_service(c.clone()).is_ok());
    assert_eq!(
        crate::spec_warnings(&c),
        ["placement preference spread=com.dockerpy.test names no node label or attribute: it has no effect"]
    );
}
