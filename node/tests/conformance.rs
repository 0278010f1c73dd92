//! Runs `../shared/conformance/docker-cli.sh` (the real docker CLI) against a real berthd, for
//! the groups berth is expected to pass, and fails on any failed case.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

mod common;

use common::TestDaemon;
use std::path::Path;
use std::process::Command;

/// Groups that must pass in full today.
const GROUPS: &[&str] = &["core", "exec", "volume", "network", "swarm"];

#[test]
fn docker_cli_conformance_groups_pass() {
    require_root!();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/docker-cli.sh");
    if !script.exists() {
        panic!("conformance script not found at {}", script.display());
    }
    if Command::new("docker").arg("--version").output().is_err() {
        panic!("the docker CLI is needed for the conformance run");
    }
    let d = TestDaemon::start("conf");
    let out = Command::new("bash")
        .arg(&script)
        .args(GROUPS)
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
    assert_eq!(failed, 0, "conformance: {summary}\n{stdout}");
}
