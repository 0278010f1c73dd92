use super::*;

#[test]
fn a_secret_is_stored_without_its_data_in_the_spec() {
    let raw = json!({ "Name": "db-pass", "Labels": { "a": "b" }, "Data": "czNjcjN0" });
    let (name, spec, data) = normalize(SecretKind::Secret, &raw).unwrap();
    assert_eq!(name, "db-pass");
    assert_eq!(data, b"s3cr3t");
    assert!(spec.get("Data").is_none());
    assert_eq!(spec["Labels"]["a"], "b");
}

#[test]
fn sizes_follow_swarmkits_limits() {
    let big = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 500 * 1024]);
    let e = normalize(SecretKind::Secret, &json!({ "Name": "s", "Data": big }))
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("secret data must be larger than 0 and less than 512000 bytes"),
        "{e}"
    );
    assert!(normalize(SecretKind::Config, &json!({ "Name": "c", "Data": big })).is_ok());
    let e = normalize(SecretKind::Config, &json!({ "Name": "c", "Data": "" }))
        .unwrap_err()
        .to_string();
    assert!(e.contains("config data must be larger than 0"), "{e}");
}

#[test]
fn bad_names_drivers_and_other_template_drivers_are_refused_by_name() {
    for name in ["", "-x", "x-", "a/b", &"n".repeat(65)] {
        assert!(
            normalize(SecretKind::Secret, &json!({ "Name": name, "Data": "eA==" })).is_err(),
            "{name}"
        );
    }
    let e = normalize(
        SecretKind::Config,
        &json!({ "Name": "c", "Data": "eA==", "Templating": { "Name": "jinja" } }),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("template driver \"jinja\""), "{e}");
    let (_, spec, _) = normalize(
        SecretKind::Config,
        &json!({ "Name": "c", "Data": "eA==", "Templating": { "Name": "golang" } }),
    )
    .unwrap();
    assert_eq!(spec["Templating"], json!({ "Name": "golang" }), "kept");
    let e = normalize(
        SecretKind::Secret,
        &json!({ "Name": "c", "Data": "eA==", "Driver": { "Name": "vault" } }),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("\"vault\""), "{e}");
}

#[test]
fn services_using_names_the_services_referencing_an_id() {
    let mut s = ClusterState::default();
    let spec = json!({ "Name": "web", "TaskTemplate": { "ContainerSpec": { "Image": "b",
        "Secrets": [{ "SecretID": "sec1", "SecretName": "db", "File": { "Name": "db" } }] } } });
    crate::fixtures::apply(
        &mut s,
        vec![Op::Create {
            id: "svc1".into(),
            attrs: berth_raft::Attrs::Service { name: "web".into() },
            spec,
            status: json!({}),
        }],
    );
    assert_eq!(services_using(&s, SecretKind::Secret, "sec1"), vec!["web"]);
    assert!(services_using(&s, SecretKind::Secret, "sec2").is_empty());
    assert!(services_using(&s, SecretKind::Config, "sec1").is_empty());
}
