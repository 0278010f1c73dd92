use std::path::PathBuf;

use super::*;

/// A directory with `files` written in it, removed on drop.
struct Dir(tempfile::TempDir);

impl Dir {
    fn with(files: &[(&str, &str)]) -> Dir {
        let d = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(d.path().join(name), text).unwrap();
        }
        Dir(d)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn files_merge_in_order_with_dotenv_anchors_and_extension_fields() {
    let d = Dir::with(&[
        (
            "app.yml",
            "x-common: &common\n  image: busybox:${TAG:-1.36}\n  environment: [A=1]\nservices:\n  web:\n    <<: *common\n    command: echo ${GREETING}\n    x-note: for tools\n  db:\n    image: postgres\n",
        ),
        (
            "override.yml",
            "services:\n  web:\n    environment:\n      B: \"2\"\n    deploy: {replicas: 3}\n",
        ),
        (".env", "GREETING=hello\nTAG=from-dotenv\n"),
    ]);
    let env = |k: &str| (k == "TAG").then(|| "from-shell".to_string());
    let loaded = load(&[d.path("app.yml"), d.path("override.yml")], &env).unwrap();
    let web = &loaded.file.services["web"];
    assert_eq!(
        web.image.as_deref(),
        Some("busybox:from-shell"),
        "the shell wins over .env"
    );
    assert_eq!(
        web.command,
        Some(model::StringOrList::One("echo hello".into()))
    );
    assert_eq!(
        web.environment.as_ref().unwrap().entries(),
        [
            ("A".to_string(), Some("1".to_string())),
            ("B".to_string(), Some("2".to_string()))
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(web.deploy.as_ref().unwrap().replicas, Some(model::Count(3)));
    assert!(web.other.is_empty(), "{:?}", web.other);
    assert_eq!(
        loaded.file.services["db"].image.as_deref(),
        Some("postgres")
    );
    assert!(loaded.warnings.is_empty());
}

#[test]
fn a_wrong_type_is_located_by_file_line_and_key() {
    let d = Dir::with(&[(
        "bad.yml",
        "services:\n  web:\n    image: busybox:latest\n    deploy: {replicas: many}\n",
    )]);
    let err = load(&[d.path("bad.yml")], &no_env).unwrap_err();
    let file = d.path("bad.yml").display().to_string();
    assert!(
        err.starts_with(&format!("{file}:4: services.web.deploy.replicas: ")),
        "{err}"
    );
    assert!(err.contains("\"many\""), "{err}");
}

#[test]
fn an_unknown_key_is_an_error_and_an_unsupported_one_a_warning() {
    let d = Dir::with(&[
        (
            "typo.yml",
            "services:\n  web:\n    image: busybox\n    replicas: 2\n",
        ),
        (
            "build.yml",
            "services:\n  web:\n    image: busybox\n    build: .\n    depends_on: [db]\n  db:\n    image: pg\n",
        ),
        ("top.yml", "services: {}\nvolumez: {}\n"),
    ]);
    let err = load(&[d.path("typo.yml")], &no_env).unwrap_err();
    assert!(
        err.ends_with(
            "typo.yml:4: services.web.replicas: additional property replicas is not allowed"
        ),
        "{err}"
    );
    let loaded = load(&[d.path("build.yml")], &no_env).unwrap();
    assert_eq!(
        loaded.warnings,
        vec!["Ignoring unsupported options: build (service web), depends_on (service web)"]
    );
    let err = load(&[d.path("top.yml")], &no_env).unwrap_err();
    assert!(err.contains("volumez"), "{err}");
}

#[test]
fn a_missing_required_variable_and_a_missing_file_are_errors() {
    let d = Dir::with(&[(
        "req.yml",
        "services:\n  web:\n    image: \"${IMAGE:?set IMAGE}\"\n",
    )]);
    assert_eq!(
        load(&[d.path("req.yml")], &no_env).unwrap_err(),
        "required variable IMAGE is missing a value: set IMAGE in services.web.image"
    );
    let err = load(&[d.path("nope.yml")], &no_env).unwrap_err();
    assert!(
        err.ends_with("nope.yml: no such file or directory"),
        "{err}"
    );
    let d = Dir::with(&[(
        "syntax.yml",
        "services:\n  web:\n    networks: [back\n    image: busybox\n",
    )]);
    let err = load(&[d.path("syntax.yml")], &no_env).unwrap_err();
    let file = d.path("syntax.yml").display().to_string();
    assert!(err.starts_with(&format!("{file}:4: ")), "{err}");
    assert!(err.contains("flow sequence at line 3"), "{err}");
}

/// Every file of the corpus (cli/tests/compose-corpus) and of examples/ loads and converts;
/// what each exercises lands in the spec as docker's CLI would send it.
#[test]
fn the_corpus_and_the_examples_load_and_convert() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let env = |k: &str| (k == "HOME").then(|| "/root".to_string());
    let mut specs = std::collections::BTreeMap::new();
    for dir in [root.join("tests/compose-corpus"), root.join("../examples")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "yml") {
                continue;
            }
            let loaded = load(std::slice::from_ref(&path), &env).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                loaded.warnings.is_empty(),
                "{}: {:?}",
                path.display(),
                loaded.warnings
            );
            let d = super::convert::convert("c", &loaded, &env)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            specs.insert(name, d);
        }
    }
    assert_eq!(specs.len(), 7, "{:?}", specs.keys().collect::<Vec<_>>());

    let api = &specs["long-syntax"].services["c_api"];
    let t = &api["TaskTemplate"];
    assert_eq!(t["ContainerSpec"]["Healthcheck"], serde_json::Value::Null);
    assert_eq!(t["ContainerSpec"]["HealthCheck"]["Test"][0], "NONE");
    assert_eq!(t["RestartPolicy"]["Condition"], "on-failure");
    assert_eq!(t["RestartPolicy"]["MaxAttempts"], 5);
    assert_eq!(t["ContainerSpec"]["Secrets"][0]["File"]["Mode"], 0o400);
    assert_eq!(
        t["ContainerSpec"]["Mounts"][2]["TmpfsOptions"]["SizeBytes"],
        64 << 20
    );
    assert_eq!(api["EndpointSpec"]["Ports"][1]["PublishMode"], "host");

    let b = &specs["anchors-and-extensions"].services["c_b"];
    assert_eq!(b["Mode"], serde_json::json!({ "Global": {} }));
    assert_eq!(b["TaskTemplate"]["LogDriver"]["Name"], "json-file");
    assert_eq!(
        b["TaskTemplate"]["LogDriver"]["Options"],
        serde_json::json!({ "max-size": "10m", "max-file": "3" }),
        "a number is the option's text"
    );
    let env_a =
        &specs["anchors-and-extensions"].services["c_a"]["TaskTemplate"]["ContainerSpec"]["Env"];
    assert_eq!(
        env_a,
        &serde_json::json!(["LOG_LEVEL=info", "NAME=a", "REGION=eu"])
    );

    let net = &specs["networks-and-options"];
    assert!(net.external_networks.contains("company-shared"));
    assert_eq!(
        net.networks["c_front"]["IPAM"]["Config"][0]["Subnet"],
        "10.20.0.0/24"
    );
    let web = &net.services["c_web"]["TaskTemplate"];
    let aliases = &web["Networks"][0]["Aliases"];
    for a in ["web", "www", "site"] {
        assert!(
            aliases.as_array().unwrap().iter().any(|x| x == a),
            "{aliases}"
        );
    }
    assert_eq!(web["ContainerSpec"]["Hosts"][0], "10.1.2.3 db.internal");

    let ports = &specs["ports-short"].services["c_dns"]["EndpointSpec"]["Ports"];
    assert_eq!(ports.as_array().unwrap().len(), 6, "{ports}");
    assert_eq!(ports[0]["Protocol"], "udp");
}

#[test]
fn docker_compose_keys_a_stack_does_not_take_are_refused_and_conflicts_named() {
    let d = Dir::with(&[
        (
            "mem.yml",
            "services:\n  web:\n    image: busybox\n    mem_limit: 64m\n",
        ),
        (
            "restart.yml",
            "services:\n  web:\n    image: busybox\n    restart: always\n    deploy:\n      restart_policy: {condition: none}\n",
        ),
        (
            "extvol.yml",
            "services: {}\nvolumes:\n  data:\n    external: true\n    driver: local\n",
        ),
        (
            "extnet.yml",
            "services: {}\nnetworks:\n  front:\n    external: true\n    attachable: true\n",
        ),
    ]);
    let err = load(&[d.path("mem.yml")], &no_env).unwrap_err();
    assert!(
        err.ends_with(
            "services.web.mem_limit: additional property mem_limit is not allowed in a stack: \
             use deploy.resources.limits.memory"
        ),
        "{err}"
    );
    let loaded = load(&[d.path("restart.yml")], &no_env).unwrap();
    assert_eq!(
        loaded.warnings,
        vec!["Ignoring unsupported options: restart (service web: deploy.restart_policy applies)"]
    );
    assert_eq!(
        load(&[d.path("extvol.yml")], &no_env).unwrap_err(),
        "conflicting parameters \"external\" and \"driver\" specified for volume \"data\""
    );
    assert_eq!(
        load(&[d.path("extnet.yml")], &no_env).unwrap_err(),
        "conflicting parameters \"external\" and \"attachable\" specified for network \"front\""
    );
}

#[test]
fn a_ulimit_or_an_external_name_with_another_key_is_refused() {
    let d = Dir::with(&[
        (
            "ulimit.yml",
            "services:\n  web:\n    image: busybox\n    ulimits:\n      nofile: {soft: 1, hard: 2, max: 3}\n",
        ),
        (
            "external.yml",
            "services: {}\nvolumes:\n  data:\n    external: {name: x, driver: y}\n",
        ),
    ]);
    assert!(load(&[d.path("ulimit.yml")], &no_env).is_err());
    assert!(load(&[d.path("external.yml")], &no_env).is_err());
}

#[test]
fn an_unknown_key_in_a_long_form_is_named() {
    let d = Dir::with(&[
        (
            "ports.yml",
            "services:\n  web:\n    image: busybox\n    ports:\n      - {target: 80, app_protocol: http}\n",
        ),
        (
            "bind.yml",
            "services:\n  web:\n    image: busybox\n    volumes:\n      - {type: bind, source: /a, target: /b, bind: {create_host_path: true}}\n",
        ),
        (
            "secret.yml",
            "services:\n  web:\n    image: busybox\n    secrets:\n      - {source: s, owner: root}\nsecrets:\n  s: {file: ./s}\n",
        ),
        (
            "nets.yml",
            "services:\n  web:\n    image: busybox\n    networks:\n      front: {alias: [w]}\nnetworks:\n  front: {}\n",
        ),
    ]);
    for (file, key) in [
        ("ports.yml", "app_protocol"),
        ("bind.yml", "create_host_path"),
        ("secret.yml", "owner"),
        ("nets.yml", "alias"),
    ] {
        let err = load(&[d.path(file)], &no_env).unwrap_err();
        assert!(
            err.contains(&format!("unknown field `{key}`")),
            "{file}: {err}"
        );
        assert!(!err.contains("did not match any variant"), "{file}: {err}");
    }
    // The short forms still read.
    let d = Dir::with(&[(
        "ok.yml",
        "services:\n  web:\n    image: busybox\n    ports: [80, \"8080:80\"]\n    volumes: [\"/a:/b\"]\n    networks: [front]\nnetworks:\n  front: {}\n",
    )]);
    assert!(load(&[d.path("ok.yml")], &no_env).is_ok());
}
