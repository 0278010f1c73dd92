//! Secrets on a one-node swarm against a real daemon: `berth secret rotate` moves every service
//! using a secret to its next version (target, owner and mode kept) and leaves no running task
//! on the old one, which can then be removed; a task's secrets live on a tmpfs under the exec
//! root that goes with its container, also when the container is removed by hand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::time::Duration;

use base64::Engine as _;
use berth_test_support::image::sleep_service_spec;
use berth_test_support::swarm::init;
use berth_test_support::{require_root, wait_until, TestDaemon};
use serde_json::{json, Value};

const LONG: Duration = Duration::from_secs(90);

fn service_with_secret(name: &str, secret: (&str, &str), target: &str, mode: u32) -> Value {
    let mut spec = sleep_service_spec(name, 2);
    spec["TaskTemplate"]["ContainerSpec"]["Secrets"] = json!([{
        "SecretID": secret.0, "SecretName": secret.1,
        "File": { "Name": target, "UID": "0", "GID": "0", "Mode": mode },
    }]);
    spec["UpdateConfig"] = json!({ "Parallelism": 1, "Order": "start-first" });
    spec
}

fn running_containers(d: &TestDaemon, service: &str) -> Vec<String> {
    let filters = berth_test_support::urlencode(
        &json!({ "label": [format!("com.docker.swarm.service.name={service}")] }).to_string(),
    );
    let r = d.req("GET", &format!("/containers/json?filters={filters}"), "");
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["Id"].as_str().map(str::to_string))
        .collect()
}

/// The secret ids referenced by the service's tasks that are running.
fn running_task_secrets(d: &TestDaemon, service: &str) -> Vec<String> {
    let filters = berth_test_support::urlencode(&json!({ "service": [service] }).to_string());
    let r = d.req("GET", &format!("/tasks?filters={filters}"), "");
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["Status"]["State"] == "running")
        .flat_map(|t| {
            t["Spec"]["ContainerSpec"]["Secrets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|s| s["SecretID"].as_str().map(str::to_string))
        .collect()
}

fn swarm_file_mounts(d: &TestDaemon) -> usize {
    let dir = d.root.join("exec").join("swarm-files");
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let needle = format!(" {}/", dir.display());
    mounts.lines().filter(|l| l.contains(&needle)).count()
}

#[test]
fn rotation_moves_every_service_to_the_next_version_and_leaves_none_on_the_old() {
    require_root!();
    let d = TestDaemon::with_busybox("secrot");
    init(&d);
    let data = base64::engine::general_purpose::STANDARD.encode("v1");
    let r = d.req(
        "POST",
        "/secrets/create",
        &json!({ "Name": "rot", "Data": data }).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let old = r.json()["ID"].as_str().unwrap().to_string();
    for (name, target, mode) in [("rota", "pw", 0o400), ("rotb", "rot", 0o444)] {
        let spec = service_with_secret(name, (&old, "rot"), target, mode);
        let r = d.req("POST", "/services/create", &spec.to_string());
        assert_eq!(r.status, 201, "{}", r.text());
    }
    assert!(
        wait_until(LONG, || running_task_secrets(&d, "rota").len() == 2
            && running_task_secrets(&d, "rotb").len() == 2),
        "services did not start:\n{}",
        d.log()
    );
    assert_eq!(swarm_file_mounts(&d), 4, "one tmpfs per task");

    let file = d.root.join("new-secret");
    std::fs::write(&file, "v2").unwrap();
    let (code, out) = d.berth(&[
        "secret",
        "rotate",
        "-q",
        "--data-file",
        file.to_str().unwrap(),
        "rot",
    ]);
    assert_eq!(code, 0, "rotate: {out}\n{}", d.log());
    let new = d.req("GET", "/secrets/rot-v2", "").json();
    let new_id = new["ID"].as_str().unwrap().to_string();
    assert_eq!(new["Spec"]["Labels"]["com.berth.secret.previous"], "rot");

    // The command waited: every running task is on the new version, none on the old.
    for name in ["rota", "rotb"] {
        let secrets = running_task_secrets(&d, name);
        assert!(!secrets.is_empty(), "{name} has running tasks");
        assert!(secrets.iter().all(|s| *s == new_id), "{name}: {secrets:?}");
        let svc = d.req("GET", &format!("/services/{name}"), "").json();
        let r = &svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"][0];
        assert_eq!(r["SecretName"], "rot-v2");
    }
    let c = &running_containers(&d, "rota")[0];
    let seen = d.cli_ok(&[
        "exec",
        c,
        "sh",
        "-c",
        "stat -c %a /run/secrets/pw; cat /run/secrets/pw",
    ]);
    assert_eq!(seen, "400\nv2", "target and mode kept, new data");

    // A task container removed by hand (not through the swarm) takes its secrets with it.
    let task = d.req("GET", &format!("/containers/{c}/json"), "").json()["Config"]["Labels"]
        ["com.docker.swarm.task.id"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = d.root.join("exec").join("swarm-files").join(&task);
    assert!(dir.exists());
    assert_eq!(
        d.req("DELETE", &format!("/containers/{c}?force=true"), "")
            .status,
        204
    );
    assert!(
        wait_until(LONG, || !dir.exists()),
        "the removed task's tmpfs stayed"
    );

    let (code, out) = d.berth(&["secret", "rm", "rot"]);
    assert_eq!(code, 0, "the old version is unused: {out}");
    for name in ["rota", "rotb"] {
        assert_eq!(
            d.req("DELETE", &format!("/services/{name}"), "").status,
            200
        );
    }
    assert!(
        wait_until(LONG, || swarm_file_mounts(&d) == 0),
        "the tasks' tmpfs went with their containers"
    );
}
