//! Health-aware swarm tasks, through the docker CLI against a one-node swarm: a task whose
//! service has a health check is reported running only once its container is healthy, and a
//! task whose container turns unhealthy fails with Docker's error and is replaced.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::time::Duration;

use berth_test_support::{require_root, wait_until, TestDaemon};

#[test]
fn tasks_run_once_healthy_and_an_unhealthy_one_fails_and_is_replaced() {
    require_root!();
    let d = TestDaemon::with_busybox("swhealth");
    d.swarm_init_local(&[]);
    // Unhealthy probes for two seconds (fewer than the retries), then healthy.
    let good = format!("{}-good", d.prefix);
    d.cli_ok(&[
        "service",
        "create",
        "-d",
        "--no-resolve-image",
        "--name",
        &good,
        "--health-cmd",
        "test -e /tmp/ready",
        "--health-interval",
        "1s",
        "--health-retries",
        "5",
        "busybox",
        "sh",
        "-c",
        "sleep 2; touch /tmp/ready; exec sleep 600",
    ]);
    let running = wait_until(Duration::from_secs(60), || {
        d.cli_ok(&[
            "service",
            "ls",
            "--filter",
            &format!("name={good}"),
            "--format",
            "{{.Replicas}}",
        ]) == "1/1"
    });
    assert!(
        running,
        "{}",
        d.cli(&["service", "ps", "--no-trunc", &good]).1
    );
    let label = format!("label=com.docker.swarm.service.name={good}");
    let c = d.cli_ok(&["ps", "-q", "--filter", &label]);
    assert_eq!(
        d.cli_ok(&["inspect", "-f", "{{.State.Health.Status}}", &c]),
        "healthy",
        "running only once healthy"
    );

    // Never healthy: the task fails as unhealthy and the orchestrator makes another.
    let bad = format!("{}-bad", d.prefix);
    d.cli_ok(&[
        "service",
        "create",
        "-d",
        "--no-resolve-image",
        "--name",
        &bad,
        "--health-cmd",
        "false",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "--restart-delay",
        "1s",
        "busybox",
        "sleep",
        "600",
    ]);
    let failed = wait_until(Duration::from_secs(60), || {
        let ps = d.cli_ok(&[
            "service",
            "ps",
            "--no-trunc",
            "--format",
            "{{.Error}}",
            &bad,
        ]);
        ps.lines()
            .filter(|l| l.contains("unhealthy container"))
            .count()
            >= 2
    });
    assert!(
        failed,
        "{}",
        d.cli(&["service", "ps", "--no-trunc", &bad]).1
    );
    let replicas = d.cli_ok(&[
        "service",
        "ls",
        "--filter",
        &format!("name={bad}"),
        "--format",
        "{{.Replicas}}",
    ]);
    assert_eq!(
        replicas,
        "0/1",
        "an unhealthy task never counts as running: {}",
        d.cli(&["service", "ps", "--no-trunc", &bad]).1
    );
}
