//! A stack redeploy of secrets and configs that exist already, as `docker stack deploy` does
//! it: changed labels are applied, changed data is the daemon's refusal (not silence), and a
//! secret's template driver is set as a config's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod common;

use berth_test_support::require_root;
use common::Cli;
use serde_json::Value;

const STACK: &str = "services:
  app:
    image: busybox
    command: [sleep, '300']
    secrets: [s]
    configs: [c]
secrets:
  s: {file: ./s.txt, labels: {v: 'LABEL'}, template_driver: golang}
configs:
  c: {file: ./c.txt, labels: {v: 'LABEL'}}
";

fn object(d: &Cli, kind: &str, name: &str) -> Value {
    let all = d.daemon.req("GET", &format!("/{kind}"), "").json();
    all.as_array()
        .unwrap()
        .iter()
        .find(|o| o["Spec"]["Name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} {name}: {all}"))
}

#[test]
fn a_redeploy_updates_labels_of_existing_secrets_and_configs_and_refuses_changed_data() {
    require_root!();
    let d = Cli::start("stackobj");
    d.import_busybox();
    d.daemon.swarm_init_local(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stack.yml");
    std::fs::write(dir.path().join("s.txt"), "secret one").unwrap();
    std::fs::write(dir.path().join("c.txt"), "config one").unwrap();
    let deploy = |label: &str| {
        std::fs::write(&file, STACK.replace("LABEL", label)).unwrap();
        d.berth(&[
            "stack",
            "deploy",
            "--resolve-image",
            "never",
            "-c",
            file.to_str().unwrap(),
            "st",
        ])
    };
    let r = deploy("1");
    assert_eq!(r.code, Some(0), "{}{}", r.out, r.err);
    let s = object(&d, "secrets", "st_s");
    assert_eq!(s["Spec"]["Templating"]["Name"], "golang", "{s}");

    let r = deploy("2");
    assert_eq!(r.code, Some(0), "{}{}", r.out, r.err);
    assert_eq!(object(&d, "secrets", "st_s")["Spec"]["Labels"]["v"], "2");
    assert_eq!(object(&d, "configs", "st_c")["Spec"]["Labels"]["v"], "2");

    std::fs::write(dir.path().join("s.txt"), "secret two").unwrap();
    let r = deploy("2");
    assert_ne!(r.code, Some(0), "{}{}", r.out, r.err);
    assert!(
        r.err.contains("failed to update secret st_s")
            && r.err.contains("only updates to Labels are allowed"),
        "{}",
        r.err
    );
}

#[test]
fn a_redeploy_rolls_out_a_tag_that_now_names_another_image() {
    require_root!();
    let Some(reg) = berth_test_support::registry::Registry::start() else {
        return;
    };
    let d = Cli::start("stackmoved");
    d.import_busybox();
    d.daemon.swarm_init_local(&[]);
    let image = format!("{}/app:latest", reg.host());
    d.ok(&["tag", "busybox", &image]);
    d.ok(&["push", &image]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stack.yml");
    std::fs::write(
        &file,
        format!("services:\n  app:\n    image: {image}\n    command: [sleep, '300']\n"),
    )
    .unwrap();
    // Waits for the service each time, so the next deploy reads its settled version.
    let deploy = || d.ok(&["stack", "deploy", "-c", file.to_str().unwrap(), "st"]);
    let pinned = || {
        let svc = d.daemon.req("GET", "/services/st_app", "").json();
        svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
            .as_str()
            .unwrap()
            .to_string()
    };
    deploy();
    let first = pinned();
    assert!(first.contains("@sha256:"), "{first}");
    let out = deploy();
    assert!(!out.contains("Updating service"), "nothing moved: {out}");
    // The tag is pushed again with another image: the next deploy rolls it out.
    d.ok(&["run", "--name", "changed", "busybox", "touch", "/changed"]);
    d.ok(&["commit", "changed", &image]);
    d.ok(&["push", &image]);
    let out = deploy();
    assert!(out.contains("Updating service st_app"), "{out}");
    let second = pinned();
    assert!(
        second.contains("@sha256:") && second != first,
        "{first} → {second}"
    );
}
