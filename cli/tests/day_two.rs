//! Root-gated: the `berth` binary against a real berthd (from target/debug) on a throwaway
//! data root: exec exit codes and stdin EOF, cp both ways keeping modes, pause/unpause, rename,
//! top, stats --no-stream and events with --since/--until/--filter. The daemon is
//! berth-test-support's: containers are removed and the daemon stopped in `Drop`, even when an
//! assertion fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_test_support::{busybox_tar, require_root, TestDaemon};

/// The shared test daemon, driven through the `berth` binary.
struct Daemon {
    /// Stops berthd and removes what it made when the test ends.
    _inner: TestDaemon,
    root: PathBuf,
    host: String,
}

impl Daemon {
    fn start() -> Self {
        let inner = TestDaemon::start("cli");
        let host = format!("unix://{}", inner.socket.display());
        Daemon {
            root: inner.root.clone(),
            host,
            _inner: inner,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.env("BERTH_HOST", &self.host).args(args);
        cmd
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run berth")
    }

    fn berth_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run berth");
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// stdout of a command that must succeed.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn exec_returns_the_exit_code_and_sees_stdin_end(d: &Daemon, name: &str) {
    let out = d.berth(&["exec", name, "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = d.berth_with_stdin(&["exec", "-i", name, "cat"], b"hello\n");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    let env = d.ok(&[
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        name,
        "sh",
        "-c",
        "echo $X $(pwd)",
    ]);
    assert_eq!(env, "1 /tmp\n");
}

fn cp_copies_both_ways_keeping_modes(d: &Daemon, name: &str) {
    let local = d.root.join("cp");
    std::fs::create_dir_all(local.join("tree/sub")).unwrap();
    let script = local.join("tree/run.sh");
    std::fs::write(&script, "echo ran\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o751)).unwrap();
    std::fs::write(local.join("tree/sub/data"), "data").unwrap();
    let tree = local.join("tree");
    d.ok(&["cp", tree.to_str().unwrap(), &format!("{name}:/tmp/")]);
    let mode = d.ok(&["exec", name, "stat", "-c", "%a", "/tmp/tree/run.sh"]);
    assert_eq!(mode.trim(), "751");
    assert_eq!(d.ok(&["exec", name, "cat", "/tmp/tree/sub/data"]), "data");
    let back = local.join("back");
    d.ok(&["cp", &format!("{name}:/tmp/tree"), back.to_str().unwrap()]);
    let meta = std::fs::metadata(back.join("run.sh")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o751);
    assert_eq!(
        std::fs::read_to_string(back.join("sub/data")).unwrap(),
        "data"
    );
    let missing = d.berth(&["cp", &format!("{name}:/nope"), local.to_str().unwrap()]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).starts_with("Error response from daemon:"));
}

fn pause_unpause_rename_and_top_work(d: &Daemon, name: &str, renamed: &str) {
    assert_eq!(d.ok(&["pause", name]), format!("{name}\n"));
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", name]),
        "paused\n"
    );
    assert_eq!(d.ok(&["unpause", name]), format!("{name}\n"));
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", name]),
        "running\n"
    );
    d.ok(&["rename", name, renamed]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.Name}}", renamed]),
        format!("/{renamed}\n")
    );
    let top = d.ok(&["top", renamed]);
    assert!(top.starts_with("UID"), "{top}");
    assert!(top.contains("sleep 600"), "{top}");
}

/// `inspect` prints the daemon's JSON, so fields berth's API models lack still format (the
/// top-level `NetworkSettings.IPAddress` printed `<no value>`).
fn inspect_prints_what_the_daemon_sent(d: &Daemon, name: &str) {
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.IPAddress}}|{{.NetworkSettings.SandboxKey}}",
            name
        ])
        .trim_end()
        .split('|')
        .next(),
        Some("")
    );
    let raw = d.ok(&["inspect", name, "busybox:latest"]);
    let all: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{raw}");
    assert!(
        all[0]["NetworkSettings"].get("IPAddress").is_some(),
        "{raw}"
    );
    assert!(
        raw.starts_with("[\n    {\n        \""),
        "docker's indent: {raw}"
    );
    let image = d.ok(&[
        "inspect",
        "--type",
        "image",
        "-f",
        "{{.Id}}",
        "busybox:latest",
    ]);
    assert!(image.starts_with("sha256:"), "{image}");
    let missing = d.berth(&["inspect", "--type", "image", name]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains(&format!("No such image: {name}")),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

fn stats_no_stream_prints_one_table(d: &Daemon, name: &str) {
    let table = d.ok(&["stats", "--no-stream", name]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("CONTAINER ID   NAME"), "{table}");
    let row = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        name,
    ]);
    assert!(row.starts_with(&format!("{name} ")), "{row}");
}

fn events_honour_since_until_and_filters(d: &Daemon, name: &str, since: f64) {
    let until = format!("{:.9}", unix_now());
    let since = format!("{since:.9}");
    let args = [
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=pause",
        "--filter",
        "event=unpause",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ];
    let started = Instant::now();
    let out = d.ok(&args);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out, format!("pause {name}\nunpause {name}\n"));
    let line = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=rename",
    ]);
    assert!(line.contains(" container rename "), "{line}");
}

#[test]
fn day_two_commands_work_against_a_real_berthd() {
    require_root!();
    if berth_test_support::berthd_binary().is_none() || !Path::new("/bin/busybox").exists() {
        eprintln!("SKIP (needs berthd built and busybox-static): cargo build -p berth-node --bins");
        return;
    }
    let d = Daemon::start();
    let tar = busybox_tar(&d.root);
    d.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        tar.to_str().unwrap(),
        "busybox:latest",
    ]);
    let since = unix_now() - 1.0;
    let name = format!("cli{}", std::process::id());
    let renamed = format!("{name}b");
    // No network: the test is about the CLI, not the bridge.
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &name,
        "busybox",
        "sleep",
        "600",
    ]);
    exec_returns_the_exit_code_and_sees_stdin_end(&d, &name);
    cp_copies_both_ways_keeping_modes(&d, &name);
    pause_unpause_rename_and_top_work(&d, &name, &renamed);
    inspect_prints_what_the_daemon_sent(&d, &renamed);
    stats_no_stream_prints_one_table(&d, &renamed);
    events_honour_since_until_and_filters(&d, &name, since);
}
