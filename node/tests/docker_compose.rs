//! docker-compose 1.x (Debian's, scripts/deps.sh) against a real berthd, on the project in
//! `docker_compose/`: up, a published port on a service whose first network is internal,
//! names between services, an exec with the service's limits, a recreate that keeps the
//! service's anonymous volume, down.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::process::Command;
use std::time::Duration;

use berth_test_support::{loopback_get, require_root, wait_until, TestDaemon};

#[test]
fn docker_compose_runs_a_project_against_berthd_unchanged() {
    require_root!();
    let d = TestDaemon::with_busybox("compose");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/docker_compose");
    let compose = |greeting: &str, args: &[&str]| {
        let out = Command::new("docker-compose")
            .args(["--ansi", "never", "-p", &d.prefix])
            .args(args)
            .current_dir(&dir)
            .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
            .env("PORT", port.to_string())
            .env("GREETING", greeting)
            .output()
            .expect("run docker-compose");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {stdout}{stderr}\nlog:\n{}",
            d.log()
        );
        // What a command printed, and compose's own progress (on stderr).
        (stdout, stderr)
    };

    compose("one", &["up", "-d"]);
    assert!(
        wait_until(Duration::from_secs(20), || loopback_get(port)
            .contains("hello-compose")),
        "web's published port: {}",
        loopback_get(port)
    );
    let reached = compose(
        "one",
        &[
            "exec",
            "-T",
            "worker",
            "wget",
            "-q",
            "-O-",
            "http://web:8080/",
        ],
    );
    assert!(reached.0.contains("hello-compose"), "{reached:?}");
    let limits = compose(
        "one",
        &["exec", "-T", "web", "sh", "-c", "ulimit -n; ulimit -Hn"],
    );
    assert_eq!(
        limits.0.split_whitespace().collect::<Vec<_>>(),
        ["1024", "2048"]
    );

    // A changed environment recreates web, which keeps its anonymous volume.
    let (_, recreated) = compose("two", &["up", "-d"]);
    assert!(recreated.contains("Recreating"), "{recreated}");
    let log = compose("two", &["exec", "-T", "web", "cat", "/data/log"]);
    assert_eq!(log.0.split_whitespace().collect::<Vec<_>>(), ["one", "two"]);
    assert!(
        wait_until(Duration::from_secs(20), || loopback_get(port)
            .contains("hello-compose")),
        "web's published port after the recreate: {}",
        loopback_get(port)
    );

    compose("two", &["down", "-v"]);
    let left = |what: &str| {
        d.cli_ok(&[
            what,
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", d.prefix),
        ])
    };
    assert_eq!(
        (left("container"), left("network"), left("volume")),
        (String::new(), String::new(), String::new())
    );
    d.remove_all();
}
