//! Runs `../shared/conformance/docker-cli.sh` (the real docker CLI) against a real berthd, for
//! the groups berth is expected to pass, and fails on any failed case.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::{require_root, TestDaemon};
use std::path::Path;
use std::process::Command;

/// Groups that must pass in full today.
const GROUPS: &[&str] = &[
    "core", "exec", "volume", "network", "swarm", "build", "overlay", "secret", "stack",
];

/// The docker CLI, then the same cases with berth's own CLI in docker's place (a drop-in
/// client). One after the other: both swarm groups listen on the swarm port 2377.
#[test]
fn docker_and_berth_cli_conformance_groups_pass() {
    require_root!();
    run_groups("docker", "conf");
    let berth = berth_test_support::bin_dir().join("berth");
    run_groups(berth.to_str().unwrap(), "confb");
}

fn run_groups(client: &str, name: &str) {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/docker-cli.sh");
    if !script.exists() {
        panic!("conformance script not found at {}", script.display());
    }
    if Command::new("docker").arg("--version").output().is_err() {
        panic!("the docker CLI is needed for the conformance run");
    }
    let d = TestDaemon::start(name);
    let out = Command::new("bash")
        .arg(&script)
        .args(GROUPS)
        .env("DOCKER", client)
        .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
        .env("DOCKER_CONFIG", d.root.join("docker-config"))
        .output()
        .expect("run docker-cli.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed, "))
        .unwrap_or("");
    let failed: u32 = summary
        .split(", ")
        .nth(1)
        .and_then(|f| f.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX);
    assert_eq!(failed, 0, "conformance with {client}: {summary}\n{stdout}");
}
