//! Secrets across three berthd nodes in their own namespaces: a secret reaches only the node
//! running a task that uses it (the worker and the other manager never hold it, on disk or in
//! their memory-backed files), no manager's data root holds it in plaintext (its Raft store is
//! sealed), and an autolocked manager restarts locked, refuses service calls with Docker's
//! message, and serves again after `swarm unlock`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod swarm_support;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use berth_chaos_tests::swarm::{self, service_spec};
use berth_chaos_tests::{require_root, Cluster};
use serde_json::{json, Value};
use swarm_support::*;

/// Three nodes: 0 and 1 managers, 2 a worker, all ready.
fn two_managers_and_a_worker() -> Cluster {
    three_node_swarm(2)
}

/// Whether any file under `dir` contains one of `needles` (`grep -a`, every file).
fn holds(dir: &Path, needles: &[&str]) -> bool {
    let mut cmd = Command::new("grep");
    cmd.args(["-r", "-a", "-l", "-F"]);
    for n in needles {
        cmd.arg("-e").arg(n);
    }
    let out = cmd.arg(dir).output().unwrap();
    let found = String::from_utf8_lossy(&out.stdout);
    if !found.trim().is_empty() {
        eprintln!("found in: {found}");
    }
    !found.trim().is_empty()
}

fn exec(node: &berth_chaos_tests::Node, id: &str, cmd: &[&str]) -> String {
    let r = node
        .send(
            "POST",
            &format!("/containers/{id}/exec"),
            &json!({ "Cmd": cmd, "AttachStdout": true, "AttachStderr": true, "Tty": true }),
        )
        .unwrap();
    assert_eq!(r.status, 201, "exec create: {}", r.text());
    let exec_id = r.json()["Id"].as_str().unwrap().to_string();
    let body = json!({ "Detach": false, "Tty": true });
    node.send("POST", &format!("/exec/{exec_id}/start"), &body)
        .unwrap()
        .text()
}

#[test]
fn a_secret_reaches_only_the_node_that_runs_its_task_and_no_disk_in_plaintext() {
    require_root!();
    let c = two_managers_and_a_worker();
    let _logs = LogsOnFailure::new(&c);
    let plain = format!("plaintext-{}-k9", c.prefix());
    let encoded = base64::engine::general_purpose::STANDARD.encode(&plain);
    let needles = [plain.as_str(), encoded.as_str()];
    let body = json!({ "Name": "chaos-secret", "Data": encoded });
    let r = c.node(0).send("POST", "/secrets/create", &body).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let secret_id = r.json()["ID"].as_str().unwrap().to_string();

    let n0 = c.node(0).swarm_node_id().unwrap();
    let mut spec = service_spec("uses-secret", 1);
    spec["TaskTemplate"]["Placement"] = json!({ "Constraints": [format!("node.id=={n0}")] });
    spec["TaskTemplate"]["ContainerSpec"]["Secrets"] = json!([{ "SecretID": secret_id,
        "SecretName": "chaos-secret",
        "File": { "Name": "pw", "UID": "0", "GID": "0", "Mode": 0o400 } }]);
    c.node(0).create_service(&spec).unwrap();
    let mut container = String::new();
    let running = wait(|| {
        let list = c
            .node(0)
            .service_containers("uses-secret")
            .unwrap_or_default();
        container = list
            .first()
            .and_then(|x| x["Id"].as_str())
            .unwrap_or("")
            .to_string();
        !container.is_empty()
    });
    assert!(running, "the task runs on node 0");
    assert_eq!(
        exec(c.node(0), &container, &["cat", "/run/secrets/pw"]),
        plain
    );
    // A global service's task starting on every node proves each has had a session since
    // the secret's task was assigned: what they could have received, they have.
    c.node(0)
        .create_service(&swarm::global_spec("probe"))
        .unwrap();
    let everywhere = wait(|| {
        (0..3).all(|i| {
            !c.node(i)
                .service_containers("probe")
                .unwrap_or_default()
                .is_empty()
        })
    });
    assert!(everywhere, "the probe runs on every node");

    for i in [1, 2] {
        let n = c.node(i);
        assert!(
            !holds(&n.data_root(), &needles),
            "node {i}'s disk holds the secret"
        );
        assert!(
            !holds(&n.exec_root(), &needles),
            "node {i}'s memory-backed files hold it"
        );
    }
    assert!(
        holds(&c.node(0).exec_root(), &[plain.as_str()]),
        "node 0 holds it on its task's tmpfs"
    );
    for i in [0, 1] {
        assert!(
            !holds(&c.node(i).data_root(), &needles),
            "manager {i}'s data root holds the secret's plaintext"
        );
    }
}

fn swarm_update(node: &berth_chaos_tests::Node, change: impl FnOnce(&mut Value)) {
    let swarm = node.send("GET", "/swarm", &Value::Null).unwrap().json();
    let version = swarm["Version"]["Index"].as_u64().unwrap();
    let mut spec = swarm["Spec"].clone();
    change(&mut spec);
    let r = node
        .send("POST", &format!("/swarm/update?version={version}"), &spec)
        .unwrap();
    assert_eq!(r.status, 200, "swarm update: {}", r.text());
}

#[test]
fn an_autolocked_manager_restarts_locked_and_serves_again_once_unlocked() {
    require_root!();
    let mut c = two_managers_and_a_worker();
    let _logs = LogsOnFailure::new(&c);
    swarm_update(c.node(0), |s| {
        s["EncryptionConfig"] = json!({ "AutoLockManagers": true });
    });
    let key = c
        .node(0)
        .send("GET", "/swarm/unlockkey", &Value::Null)
        .unwrap()
        .json()["UnlockKey"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(key.starts_with("SWMKEY-1-"), "{key}");
    // Each manager re-wraps its data key with the unlock key; then no key file is left.
    let kek = c.node(1).data_root().join("swarm/raft-keys/kek");
    assert!(wait(|| !kek.exists()), "manager 1 still has its key file");

    c.restart(1).unwrap();
    let info = c.node(1).send("GET", "/info", &Value::Null).unwrap().json();
    assert_eq!(info["Swarm"]["LocalNodeState"], "locked");
    let r = c.node(1).send("GET", "/services", &Value::Null).unwrap();
    refused(
        r,
        503,
        "Swarm is encrypted and needs to be unlocked before it can be used",
    );
    let wrong = json!({ "UnlockKey": "SWMKEY-1-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
    let r = c.node(1).send("POST", "/swarm/unlock", &wrong).unwrap();
    refused(r, 400, "invalid key");

    let r = c
        .node(1)
        .send("POST", "/swarm/unlock", &json!({ "UnlockKey": key }))
        .unwrap();
    assert_eq!(r.status, 200, "unlock: {}", r.text());
    let serving = wait(|| {
        c.node(1)
            .send("GET", "/services", &Value::Null)
            .is_ok_and(|r| r.status == 200)
    });
    assert!(serving, "manager 1 serves again");
    let reachable = wait(|| {
        c.node(0).swarm_nodes().unwrap_or_default().iter().all(|n| {
            n["Status"]["State"] == "ready"
                && (n["ManagerStatus"].is_null()
                    || n["ManagerStatus"]["Reachability"] == "reachable")
        })
    });
    assert!(reachable, "{:#?}", c.node(0).swarm_nodes());
}
