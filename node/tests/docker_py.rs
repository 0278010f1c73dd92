//! docker-py (Debian's python3-docker, scripts/deps.sh) against a real berthd: containers,
//! exec, archives, networks, volumes, builds, images, events, the swarm, nodes, secrets,
//! configs and a service with most of its options, each called as docker-py's users call it
//! (`docker_py/client.py`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::swarm::init;
use berth_test_support::{require_root, TestDaemon};

#[test]
fn docker_py_works_against_berthd_unchanged() {
    require_root!();
    let d = TestDaemon::with_busybox("dockerpy");
    // The swarm through the API: Debian's docker-py cannot choose the VXLAN port, and test
    // daemons each need their own.
    init(&d);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/docker_py/client.py");
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(format!("unix://{}", d.socket.display()))
        // The service's published port, on every address of the host: one of its own (the
        // conformance script publishes 18080), from the daemon's unique names.
        .arg((17_000 + d.net_names().vxlan_port % 1_000).to_string())
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}\nlog:\n{}", d.log());
    assert!(!text.contains("FAIL"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok ")).count(),
        17,
        "{text}"
    );
    d.remove_all();
}
