//! `berth logs` against a real berthd: `--since` with a fraction of a second (docker's client
//! keeps it), `--details`, stdout and stderr apart.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod common;

use berth_test_support::{require_root, wait_until};
use common::Cli;

#[test]
fn logs_since_keeps_fractions_and_details_prefix_each_line() {
    require_root!();
    let d = Cli::start("clilogs");
    d.import_busybox();
    let name = format!("{}-l", d.daemon.prefix);
    d.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo a; sleep 0.2; echo b; echo e >&2; sleep 300",
    ]);
    assert!(wait_until(std::time::Duration::from_secs(10), || d
        .ok(&["logs", &name])
        .contains('b')));
    // The times of `a` and `b`, then a --since between them: only `b`.
    let stamped = d.ok(&["logs", "-t", &name]);
    let at = |word: &str| {
        let line = stamped
            .lines()
            .find(|l| l.ends_with(&format!(" {word}")))
            .unwrap();
        chrono::DateTime::parse_from_rfc3339(line.split(' ').next().unwrap()).unwrap()
    };
    let (a, b) = (at("a"), at("b"));
    let between = a + (b - a) / 2;
    let since = between.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let r = d.berth(&["logs", "--since", &since, &name]);
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert_eq!(r.out, "b\n", "since {since} (a at {a}, b at {b})");
    assert_eq!(r.err, "e\n");
    let r = d.berth(&["logs", "--details", &name]);
    assert_eq!(r.out, " a\n b\n");
    d.ok(&["rm", "-f", &name]);
}
