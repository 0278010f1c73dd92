//! The signal a stop or a restart sends (`docker stop -s`, `docker restart -s`), and a stop
//! with a signal that does not exist, which must change nothing; real-time stop signals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::time::Duration;

use berth_test_support::{require_root, wait_until, TestDaemon};

/// Prints "up" at each start and the signal it gets, then exits 0; exits 1 by itself once
/// `/tmp/quit` appears.
const TRAPPER: &str = "echo up; trap 'echo got USR1; exit 0' USR1; \
                       trap 'echo got TERM; exit 0' TERM; \
                       while [ ! -e /tmp/quit ]; do sleep 0.1; done; rm /tmp/quit; exit 1";

#[test]
fn restart_sends_the_signal_asked_for_and_a_bad_stop_signal_changes_nothing() {
    require_root!();
    let d = TestDaemon::with_busybox("stopsig");
    let name = format!("{}-t", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        TRAPPER,
    ]);
    assert!(wait_until(Duration::from_secs(10), || d
        .cli_ok(&["logs", &name])
        .contains("up")));

    // `docker restart -s`: the container gets that signal, not its stop signal.
    d.cli_ok(&["restart", "-s", "SIGUSR1", "-t", "10", &name]);
    let logs = d.cli_ok(&["logs", &name]);
    assert!(logs.contains("got USR1"), "{logs}");
    assert!(!logs.contains("got TERM"), "{logs}");
    assert!(
        wait_until(Duration::from_secs(10), || d
            .cli_ok(&["logs", &name])
            .matches("up")
            .count()
            == 2),
        "started again: {}",
        d.cli_ok(&["logs", &name])
    );

    // A signal that does not exist: refused, and the container is not marked stopped by
    // hand, so its restart policy still brings it back when it exits on its own.
    let (code, out) = d.cli(&["stop", "-s", "SIGNOPE", &name]);
    assert_ne!(code, 0, "{out}");
    assert_eq!(
        d.cli_ok(&["inspect", "-f", "{{.State.Running}}", &name]),
        "true"
    );
    d.cli_ok(&["exec", &name, "touch", "/tmp/quit"]);
    assert!(
        wait_until(Duration::from_secs(20), || d
            .cli_ok(&["logs", &name])
            .matches("up")
            .count()
            == 3),
        "the restart policy brought it back: {}",
        d.cli_ok(&["logs", &name])
    );
    d.remove_all();
}

#[test]
fn a_real_time_stop_signal_stops_the_container_and_a_bad_one_is_refused_at_create() {
    require_root!();
    let d = TestDaemon::with_busybox("stopsigrt");
    let name = format!("{}-rt", d.prefix);
    // systemd images stop on SIGRTMIN+3 (37 with glibc's numbering).
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--stop-signal",
        "SIGRTMIN+3",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got 37; exit 7' 37; echo up; while :; do sleep 0.1; done",
    ]);
    assert!(wait_until(Duration::from_secs(10), || d
        .cli_ok(&["logs", &name])
        .contains("up")));
    d.cli_ok(&["stop", "-t", "20", &name]);
    assert_eq!(
        d.cli_ok(&["inspect", "-f", "{{.State.ExitCode}}", &name]),
        "7",
        "{}",
        d.cli_ok(&["logs", &name])
    );
    let (code, out) = d.cli(&["create", "--stop-signal", "NOSIG", "busybox"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Invalid signal: NOSIG"), "{out}");
    d.remove_all();
}
