use std::path::PathBuf;

use serde_json::json;

use super::*;

fn loaded(text: &str) -> Loaded {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("app.yml");
    std::fs::write(&p, text).unwrap();
    let l = crate::compose::load(&[p], &|_| None).unwrap();
    Loaded {
        base_dir: PathBuf::from("/srv/app"),
        ..l
    }
}

#[test]
fn services_networks_and_labels_are_named_for_the_stack() {
    let l = loaded(
        "services:\n  web:\n    image: busybox:latest\n    command: [\"httpd\", \"-f\"]\n    environment: {ROLE: web, FROM_SHELL: null}\n    networks:\n      front: {aliases: [www]}\n    ports: [\"8080:80\", {target: 53, published: 5353, protocol: udp, mode: host}]\n    deploy:\n      replicas: 2\n      labels: {tier: web}\n      update_config: {parallelism: 1, delay: 1s}\n      restart_policy: {condition: on-failure, max_attempts: 3}\n      resources: {limits: {cpus: '0.5', memory: 64M}}\n      placement: {constraints: [node.role==worker], max_replicas_per_node: 1}\n  agent:\n    image: busybox\n    deploy: {mode: global}\nnetworks:\n  front:\n    attachable: true\n",
    );
    let env = |k: &str| (k == "FROM_SHELL").then(|| "yes".to_string());
    let d = convert("st", &l, &env).unwrap();
    assert_eq!(
        d.networks.keys().collect::<Vec<_>>(),
        vec!["st_default", "st_front"]
    );
    assert_eq!(
        d.networks["st_front"],
        json!({ "Name": "st_front", "Driver": "overlay", "Scope": "swarm", "Attachable": true,
                "Labels": { NAMESPACE_LABEL: "st" } })
    );
    let web = &d.services["st_web"];
    assert_eq!(
        web["Labels"],
        json!({ "tier": "web", NAMESPACE_LABEL: "st", "com.docker.stack.image": "busybox:latest" })
    );
    let c = &web["TaskTemplate"]["ContainerSpec"];
    assert_eq!(c["Args"], json!(["httpd", "-f"]));
    assert_eq!(c["Env"], json!(["FROM_SHELL=yes", "ROLE=web"]));
    assert_eq!(c["Labels"], json!({ NAMESPACE_LABEL: "st" }));
    assert_eq!(
        web["TaskTemplate"]["Networks"],
        json!([{ "Target": "st_front", "Aliases": ["www", "web"] }])
    );
    assert_eq!(web["Mode"], json!({ "Replicated": { "Replicas": 2 } }));
    assert_eq!(
        web["UpdateConfig"],
        json!({ "Parallelism": 1, "Delay": 1_000_000_000u64 })
    );
    assert_eq!(
        web["TaskTemplate"]["RestartPolicy"],
        json!({ "Condition": "on-failure", "MaxAttempts": 3 })
    );
    assert_eq!(
        web["TaskTemplate"]["Resources"],
        json!({ "Limits": { "NanoCPUs": 500_000_000, "MemoryBytes": 67_108_864 } })
    );
    assert_eq!(
        web["TaskTemplate"]["Placement"],
        json!({ "Constraints": ["node.role==worker"], "MaxReplicas": 1 })
    );
    assert_eq!(
        web["EndpointSpec"]["Ports"],
        json!([
            { "Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress" },
            { "Protocol": "udp", "TargetPort": 53, "PublishedPort": 5353, "PublishMode": "host" },
        ])
    );
    let agent = &d.services["st_agent"];
    assert_eq!(agent["Mode"], json!({ "Global": {} }));
    assert_eq!(
        agent["TaskTemplate"]["Networks"],
        json!([{ "Target": "st_default", "Aliases": ["agent"] }])
    );
}

#[test]
fn volumes_secrets_and_mistakes() {
    let l = loaded(
        "services:\n  db:\n    image: pg\n    volumes: [\"data:/var/lib/db\", \"./conf:/etc/db:ro\", \"/scratch\"]\n    secrets: [{source: pw, target: db-password, mode: 0400}]\nvolumes:\n  data: {labels: {backup: daily}}\nsecrets:\n  pw: {external: true}\n",
    );
    let d = convert("st", &l, &|_| None).unwrap();
    let c = &d.services["st_db"]["TaskTemplate"]["ContainerSpec"];
    assert_eq!(
        c["Mounts"],
        json!([
            { "Type": "volume", "Source": "st_data", "Target": "/var/lib/db",
              "VolumeOptions": { "Labels": { "backup": "daily", NAMESPACE_LABEL: "st" } } },
            { "Type": "bind", "Source": "/srv/app/conf", "Target": "/etc/db", "ReadOnly": true },
            { "Type": "volume", "Target": "/scratch" },
        ])
    );
    assert_eq!(
        c["Secrets"],
        json!([{ "SecretName": "pw",
                 "File": { "Name": "db-password", "UID": "0", "GID": "0", "Mode": 0o400 } }])
    );
    assert!(d.secrets.is_empty(), "an external secret is not created");

    let undeclared = loaded("services:\n  web: {image: x, networks: [nope]}\n");
    assert_eq!(
        convert("st", &undeclared, &|_| None).unwrap_err(),
        "service \"web\" references network \"nope\", which is not declared"
    );
    let no_volume = loaded("services:\n  web: {image: x, volumes: [\"v:/v\"]}\n");
    assert_eq!(
        convert("st", &no_volume, &|_| None).unwrap_err(),
        "undefined volume \"v\""
    );
    let no_image = loaded("services:\n  web: {command: x}\n");
    assert!(convert("st", &no_image, &|_| None)
        .unwrap_err()
        .starts_with("Service web has neither an image"));
    let global = loaded("services:\n  web: {image: x, deploy: {mode: global, replicas: 2}}\n");
    assert!(convert("st", &global, &|_| None)
        .unwrap_err()
        .contains("replicas can only be used with replicated"));
}

#[test]
fn a_health_check_reaches_the_typed_spec_the_request_is_sent_as() {
    let l = loaded(
        "services:\n  web:\n    image: busybox\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 5s\n      retries: 3\n",
    );
    let d = convert("st", &l, &|_| None).unwrap();
    let spec: bollard::models::ServiceSpec =
        serde_json::from_value(d.services["st_web"].clone()).unwrap();
    let c = spec.task_template.unwrap().container_spec.unwrap();
    let h = c.health_check.expect("the health check was dropped");
    assert_eq!(h.test.unwrap(), ["CMD", "true"]);
    assert_eq!(h.interval, Some(5_000_000_000));
    assert_eq!(h.retries, Some(3));
}

#[test]
fn generic_resources_are_reserved_counts_and_refused_as_limits() {
    let l = loaded(
        "services:\n  ml:\n    image: busybox\n    deploy:\n      resources:\n        reservations:\n          generic_resources:\n            - discrete_resource_spec: {kind: gpu, value: 2}\n",
    );
    let d = convert("st", &l, &|_| None).unwrap();
    assert_eq!(
        d.services["st_ml"]["TaskTemplate"]["Resources"]["Reservations"]["GenericResources"],
        json!([{ "DiscreteResourceSpec": { "Kind": "gpu", "Value": 2 } }])
    );
    let l = loaded(
        "services:\n  ml:\n    image: busybox\n    deploy:\n      resources:\n        limits:\n          generic_resources:\n            - discrete_resource_spec: {kind: gpu, value: 2}\n",
    );
    let err = convert("st", &l, &|_| None).unwrap_err().to_string();
    assert!(err.contains("limits.generic_resources"), "{err}");
}

#[test]
fn volume_options_without_a_driver_are_the_local_drivers_and_a_disabled_check_has_no_test() {
    let l = loaded(
        "services:\n  app:\n    image: busybox\n    volumes: [\"nfs:/data\"]\nvolumes:\n  nfs:\n    driver_opts: {type: nfs, o: \"addr=10.0.0.1,rw\", device: \":/export\"}\n",
    );
    let d = convert("st", &l, &|_| None).unwrap();
    let m = &d.services["st_app"]["TaskTemplate"]["ContainerSpec"]["Mounts"][0];
    assert_eq!(
        m["VolumeOptions"]["DriverConfig"],
        json!({ "Name": "local",
                "Options": { "type": "nfs", "o": "addr=10.0.0.1,rw", "device": ":/export" } })
    );
    let l = loaded(
        "services:\n  app:\n    image: busybox\n    healthcheck: {disable: true, test: [\"CMD\", \"true\"]}\n",
    );
    let err = convert("st", &l, &|_| None).unwrap_err();
    assert!(
        err.contains("test and disable can't be set at the same time"),
        "{err}"
    );
}

#[test]
fn a_bare_key_in_an_env_file_takes_its_value_from_the_environment() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("app.env"), "A=1\nFROM_SHELL\nUNSET_KEY\n").unwrap();
    std::fs::write(
        d.path().join("app.yml"),
        "services:\n  app:\n    image: busybox\n    env_file: app.env\n",
    )
    .unwrap();
    let l = crate::compose::load(&[d.path().join("app.yml")], &|_| None).unwrap();
    let env = |k: &str| (k == "FROM_SHELL").then(|| "yes".to_string());
    let out = convert("st", &l, &env).unwrap();
    assert_eq!(
        out.services["st_app"]["TaskTemplate"]["ContainerSpec"]["Env"],
        json!(["A=1", "FROM_SHELL=yes"]),
        "an unset bare key is left out, as compose does"
    );
}

#[test]
fn mount_options_of_another_type_are_refused_and_a_tilde_is_the_home_directory() {
    let l = loaded(
        "services:\n  app:\n    image: busybox\n    volumes:\n      - {type: volume, source: data, target: /d, bind: {propagation: rshared}}\nvolumes:\n  data: {}\n",
    );
    let err = convert("st", &l, &|_| None).unwrap_err();
    assert!(
        err.ends_with("services.app.volumes: bind options are incompatible with type volume"),
        "{err}"
    );
    let l = loaded(
        "services:\n  app:\n    image: busybox\n    volumes:\n      - {type: bind, source: /srv, target: /d, volume: {nocopy: true}}\n",
    );
    let err = convert("st", &l, &|_| None).unwrap_err();
    assert!(
        err.contains("volume options are incompatible with type bind"),
        "{err}"
    );
    let l = loaded("services:\n  app:\n    image: busybox\n    volumes: [\"~/data:/data\"]\n");
    let d = convert("st", &l, &|_| None).unwrap();
    let home = std::env::var("HOME").unwrap_or_default();
    assert_eq!(
        d.services["st_app"]["TaskTemplate"]["ContainerSpec"]["Mounts"][0]["Source"],
        json!(format!("{home}/data"))
    );
}
