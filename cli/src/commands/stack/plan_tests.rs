use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn desired(services: &[(&str, Value)]) -> Desired {
    let mut d = Desired::default();
    d.networks
        .insert("st_default".into(), json!({ "Name": "st_default" }));
    d.services = services
        .iter()
        .map(|(n, s)| ((*n).to_string(), s.clone()))
        .collect();
    d
}

fn spec(image: &str, args: &[&str]) -> Value {
    json!({ "Name": "st_web", "Labels": { "com.docker.stack.namespace": "st" },
            "TaskTemplate": { "ContainerSpec": { "Image": image, "Args": args } },
            "Mode": { "Replicated": { "Replicas": 1 } } })
}

#[test]
fn an_unchanged_service_is_left_alone_a_changed_one_shows_its_fields() {
    let mut stored = spec("busybox:latest@sha256:abc", &["sleep", "60"]);
    // What the daemon adds when it stores a spec: empty fields.
    stored["TaskTemplate"]["Placement"] = json!({});
    stored["TaskTemplate"]["ForceUpdate"] = json!(null);
    // And what it shows in every container service's spec, as moby does.
    stored["TaskTemplate"]["Runtime"] = json!("container");
    stored["TaskTemplate"]["ContainerSpec"]["Isolation"] = json!("default");
    // docker's stack deploy sends an empty endpoint for a service without ports; it shows
    // swarmkit's first mode.
    stored["EndpointSpec"] = json!({ "Mode": "vip" });
    let existing = Existing {
        services: BTreeMap::from([("st_web".to_string(), ("id1".to_string(), 7, stored))]),
        networks: ["st_default".to_string()].into_iter().collect(),
        ..Default::default()
    };
    let same = desired(&[("st_web", spec("busybox:latest", &["sleep", "60"]))]);
    assert_eq!(
        plan(&same, &existing, false).unwrap(),
        vec![Step::Unchanged("st_web".into())]
    );
    let changed = desired(&[
        ("st_web", spec("busybox:latest", &["sleep", "70"])),
        ("st_db", spec("pg", &[])),
    ]);
    let steps = plan(&changed, &existing, false).unwrap();
    assert_eq!(
        steps,
        vec![
            Step::CreateService("st_db".into()),
            Step::UpdateService {
                name: "st_web".into(),
                changes: vec![Change {
                    path: "TaskTemplate.ContainerSpec.Args".into(),
                    old: Some(json!(["sleep", "60"])),
                    new: Some(json!(["sleep", "70"])),
                }],
            },
        ]
    );
    assert_eq!(
        render("st", &steps),
        "Stack st: 1 to create, 1 to update, 0 unchanged, 0 to remove\ncreate service st_db\nupdate service st_web\n    TaskTemplate.ContainerSpec.Args: [\"sleep\",\"60\"] -> [\"sleep\",\"70\"]\n"
    );
}

#[test]
fn prune_removes_what_the_file_dropped_and_a_missing_external_network_fails() {
    let existing = Existing {
        services: BTreeMap::from([("st_old".to_string(), ("id".to_string(), 1, spec("x", &[])))]),
        ..Default::default()
    };
    let d = desired(&[]);
    assert_eq!(
        plan(&d, &existing, false).unwrap(),
        vec![Step::CreateNetwork("st_default".into())]
    );
    assert_eq!(
        plan(&d, &existing, true).unwrap(),
        vec![
            Step::CreateNetwork("st_default".into()),
            Step::RemoveService("st_old".into())
        ]
    );
    let mut ext = desired(&[]);
    ext.external_networks.insert("shared".into());
    assert!(plan(&ext, &existing, false)
        .unwrap_err()
        .starts_with("network \"shared\" is declared as external, but could not be found"));
}

#[test]
fn a_missing_external_secret_fails_before_anything_is_made() {
    let mut web = spec("x", &[]);
    web["TaskTemplate"]["ContainerSpec"]["Secrets"] =
        json!([{ "SecretName": "ext", "File": { "Name": "ext" } }]);
    let d = desired(&[("st_web", web)]);
    assert_eq!(
        plan(&d, &Existing::default(), false).unwrap_err(),
        "secret not found: ext"
    );
    let have = Existing {
        secrets: BTreeMap::from([("ext".to_string(), "id".to_string())]),
        ..Default::default()
    };
    assert!(plan(&d, &have, false).is_ok());
}

#[test]
fn the_ingress_attachment_the_daemon_adds_for_published_ports_is_no_change() {
    let mut new = spec("busybox:latest", &["httpd"]);
    new["TaskTemplate"]["Networks"] = json!([{ "Target": "st_front", "Aliases": ["web"] }]);
    new["EndpointSpec"] = json!({ "Ports": [{ "TargetPort": 80, "PublishedPort": 8080 }] });
    let mut stored = new.clone();
    stored["TaskTemplate"]["Networks"] = json!([
        { "Target": "st_front", "Aliases": ["web"] }, { "Target": "ingress" }
    ]);
    assert_eq!(diff(&stored, &new), vec![]);
    // Another network that appeared is still a change.
    stored["TaskTemplate"]["Networks"][1] = json!({ "Target": "st_back" });
    assert_eq!(diff(&stored, &new).len(), 1);
}

#[test]
fn the_platforms_a_deploy_took_from_the_registry_are_no_change() {
    let new = spec("localhost:5000/app:latest", &["sleep"]);
    let mut stored = new.clone();
    stored["TaskTemplate"]["ContainerSpec"]["Image"] = json!(format!(
        "localhost:5000/app:latest@sha256:{}",
        "a".repeat(64)
    ));
    stored["TaskTemplate"]["Placement"] =
        json!({ "Platforms": [{ "Architecture": "amd64", "OS": "linux" }] });
    assert_eq!(diff(&stored, &new), vec![]);
    // A constraint beside them is still a change.
    stored["TaskTemplate"]["Placement"]["Constraints"] = json!(["node.role==worker"]);
    assert_eq!(diff(&stored, &new).len(), 1);
}
