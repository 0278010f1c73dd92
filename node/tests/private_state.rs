//! berthd's state is root's: a local user can read neither a container's environment (in its
//! spec, its monitor config and the records) nor the node key or the cluster CA key (in the
//! swarm directory and the Raft store). Checked with a real berthd and an unprivileged reader.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use berth_test_support::{require_root, TestDaemon};
use serde_json::json;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// What `nobody` finds when it searches `dirs` for `needle` (file names, or errors other than
/// "permission denied").
fn found_by_nobody(dirs: &[&Path], needle: &str) -> String {
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "grep",
            "-rla",
            needle,
        ])
        .args(dirs)
        .output()
        .expect("setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let odd: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.contains("Permission denied"))
        .map(String::from)
        .collect();
    format!("{stdout}{}", odd.join("\n"))
}

#[test]
fn a_local_user_reads_no_container_environment_and_no_swarm_key() {
    require_root!();
    let d = TestDaemon::with_busybox("private");
    let secret = format!("s3cr3t-{}", std::process::id());
    let id = d.create(
        &format!("{}-env", d.prefix),
        json!({"Image": "busybox", "Cmd": ["sleep", "600"], "Env": [format!("TOKEN={secret}")]}),
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/start"), "").status,
        204
    );
    let r = d.req(
        "POST",
        "/swarm/init",
        &json!({"ListenAddr": "127.0.0.1:0", "AdvertiseAddr": "127.0.0.1",
                "DataPathPort": d.net_names().vxlan_port})
        .to_string(),
    );
    assert_eq!(r.status, 200, "init: {}", r.text());

    let (data, exec) = (d.data_root(), d.root.join("exec"));
    // Make the test's own parent directory open, so only berth's modes stand in the way.
    std::fs::set_permissions(&d.root, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(mode(&data), 0o710, "data root");
    assert_eq!(mode(&exec), 0o711, "exec root");
    let key = data.join("swarm/certificates/node.key");
    assert!(key.exists(), "no node key at {}", key.display());
    assert_eq!(mode(&key), 0o600, "node key");
    assert_eq!(mode(&data.join("swarm")), 0o700, "swarm directory");
    assert_eq!(
        mode(&data.join("containers").join(&id)),
        0o710,
        "container directory"
    );
    assert_eq!(
        mode(&data.join("containers").join(&id).join("bundle/config.json")),
        0o600
    );

    let found = found_by_nobody(&[&data, &exec], &secret);
    assert!(
        found.trim().is_empty(),
        "nobody found the container's env: {found}"
    );
    let found = found_by_nobody(&[&data], "PRIVATE KEY");
    assert!(
        found.trim().is_empty(),
        "nobody found a private key: {found}"
    );
    // The API socket stays reachable through the exec root for the socket's group.
    let socket = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "test",
            "-e",
        ])
        .arg(&d.socket)
        .status()
        .unwrap();
    assert!(socket.success(), "the exec root is not traversable");
}
