//! exec and terminals against a real berthd: exit codes, env, working dir, user, stdin EOF, TTY
//! sizes, execs across a daemon restart, and the errors Docker gives for bad requests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::{cleanup, demux, demux_stream, require_root, wait_until, TestDaemon};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

/// Starts a busybox container that sleeps; returns its id.
fn sleeper(d: &TestDaemon, name: &str, extra: Value) -> String {
    let mut body = json!({"Image": "busybox", "Cmd": ["sleep", "300"]});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let id = d.create(&format!("{}-{name}", d.prefix), body);
    let r = d.req("POST", &format!("/containers/{id}/start"), "");
    assert_eq!(r.status, 204, "start: {}", r.text());
    id
}

/// Creates an exec; returns its id.
fn exec_create(d: &TestDaemon, id: &str, body: Value) -> String {
    let r = d.req("POST", &format!("/containers/{id}/exec"), &body.to_string());
    assert_eq!(r.status, 201, "exec create: {}", r.text());
    r.json()["Id"].as_str().unwrap().to_string()
}

/// Runs an exec to its end without upgrading; returns its raw output and exit code.
fn exec_run(d: &TestDaemon, id: &str, body: Value) -> (Vec<u8>, i64) {
    let exec = exec_create(d, id, body);
    let r = d.req(
        "POST",
        &format!("/exec/{exec}/start"),
        r#"{"Detach":false}"#,
    );
    assert_eq!(r.status, 200, "exec start: {}", r.text());
    let info = d.req("GET", &format!("/exec/{exec}/json"), "").json();
    assert_eq!(info["Running"], false, "{info}");
    (r.body, info["ExitCode"].as_i64().unwrap())
}

fn out(body: Value, d: &TestDaemon, id: &str) -> (String, i64) {
    let (raw, code) = exec_run(d, id, body);
    (String::from_utf8_lossy(&demux(&raw)).into_owned(), code)
}

#[test]
fn exec_reports_output_exit_codes_env_workdir_and_user() {
    require_root!();
    let d = TestDaemon::with_busybox("exec");
    let id = sleeper(
        &d,
        "ex",
        json!({"Env": ["FROM_CONTAINER=c"], "WorkingDir": "/tmp", "HostConfig": {
            "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048},
                        {"Name": "nproc", "Soft": 500, "Hard": 600}],
            "OomScoreAdj": 300,
        }}),
    );
    let attach = json!({"AttachStdout": true, "AttachStderr": true});
    let with = |extra: Value| {
        let mut b = attach.clone();
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    assert_eq!(
        out(with(json!({"Cmd": ["echo", "inside"]})), &d, &id),
        ("inside\n".into(), 0)
    );
    assert_eq!(
        out(with(json!({"Cmd": ["sh", "-c", "exit 4"]})), &d, &id).1,
        4
    );
    assert_eq!(
        out(
            with(json!({"Cmd": ["sh", "-c", "echo $X $FROM_CONTAINER"], "Env": ["X=v"]})),
            &d,
            &id
        )
        .0,
        "v c\n"
    );
    assert_eq!(out(with(json!({"Cmd": ["pwd"]})), &d, &id).0, "/tmp\n");
    assert_eq!(
        out(with(json!({"Cmd": ["pwd"], "WorkingDir": "/etc"})), &d, &id).0,
        "/etc\n"
    );
    assert_eq!(
        out(with(json!({"Cmd": ["id", "-u"], "User": "65534"})), &d, &id).0,
        "65534\n"
    );
    assert_eq!(
        out(
            with(json!({"Cmd": ["id", "-un"], "User": "nobody"})),
            &d,
            &id
        )
        .0,
        "nobody\n"
    );
    let (ps, _) = out(with(json!({"Cmd": ["ps"]})), &d, &id);
    assert!(
        ps.contains("sleep 300"),
        "the exec sees the container's processes: {ps}"
    );
    let (raw, code) = exec_run(&d, &id, with(json!({"Cmd": ["sh", "-c", "echo err >&2"]})));
    assert_eq!(
        (
            String::from_utf8_lossy(&demux_stream(&raw, 2)).as_ref(),
            code
        ),
        ("err\n", 0)
    );
    let (init_seccomp, _) = out(
        with(json!({"Cmd": ["grep", "^Seccomp:", "/proc/1/status"]})),
        &d,
        &id,
    );
    let (exec_seccomp, _) = out(
        with(json!({"Cmd": ["grep", "^Seccomp:", "/proc/self/status"]})),
        &d,
        &id,
    );
    assert_eq!(
        exec_seccomp, init_seccomp,
        "an exec is confined like the init"
    );
    // As Docker's exec, which starts from the container's process: its limits, its OOM score.
    let limits = |of: &str| {
        let read = format!(
            "grep -E '^Max (open files|processes)' /proc/{of}/limits; cat /proc/{of}/oom_score_adj"
        );
        out(with(json!({"Cmd": ["sh", "-c", read]})), &d, &id).0
    };
    let (init, exec) = (limits("1"), limits("self"));
    assert!(
        init.contains("1024") && init.contains("600") && init.ends_with("300\n"),
        "{init}"
    );
    assert_eq!(exec, init, "an exec has the container's limits");
    // runc's words, as Docker passes them on (berth gave libcontainer's), and moby's exit
    // codes for them (Docker 23 on: 127 for what is not there, 20.10 gave 126 to a chdir).
    let unable = "OCI runtime exec failed: exec failed: unable to start container process";
    for (body, said, code) in [
        (
            json!({"Cmd": ["no-such-binary"]}),
            format!(
                r#"{unable}: exec: "no-such-binary": executable file not found in $PATH: unknown"#
            ),
            127,
        ),
        // A path is stat'ed, not looked up in $PATH (berth said "not found in $PATH" of it).
        (
            json!({"Cmd": ["/no-such-binary"]}),
            format!(
                r#"{unable}: exec: "/no-such-binary": stat /no-such-binary: no such file or directory: unknown"#
            ),
            127,
        ),
        (
            json!({"Cmd": ["/etc/passwd"]}),
            format!(r#"{unable}: exec: "/etc/passwd": permission denied: unknown"#),
            126,
        ),
        (
            json!({"Cmd": ["pwd"], "WorkingDir": "/no/such/dir"}),
            format!(
                r#"{unable}: chdir to cwd ("/no/such/dir") set in config.json failed: no such file or directory: unknown"#
            ),
            127,
        ),
        (
            json!({"Cmd": ["pwd"], "WorkingDir": "/etc/passwd"}),
            format!(
                r#"{unable}: chdir to cwd ("/etc/passwd") set in config.json failed: not a directory: unknown"#
            ),
            127,
        ),
    ] {
        assert_eq!(out(with(body), &d, &id), (format!("{said}\r\n"), code));
    }
    d.remove_all();
}

#[test]
fn exec_stdin_ends_at_the_clients_half_close() {
    require_root!();
    let d = TestDaemon::with_busybox("execin");
    let id = sleeper(&d, "in", json!({}));
    let exec = exec_create(
        &d,
        &id,
        json!({"Cmd": ["sh", "-c", "cat; echo after-eof"], "AttachStdin": true, "AttachStdout": true, "AttachStderr": true}),
    );
    let mut s = d.upgraded(
        &format!("/exec/{exec}/start"),
        r#"{"Detach":false,"Tty":false}"#,
    );
    s.write_all(b"hello\n").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&demux_stream(&raw, 1)),
        "hello\nafter-eof\n"
    );
    let info = d.req("GET", &format!("/exec/{exec}/json"), "").json();
    assert_eq!(info["ExitCode"], 0);
    d.remove_all();
}

#[test]
fn terminals_have_the_asked_size_for_exec_and_run() {
    require_root!();
    let d = TestDaemon::with_busybox("tty");
    let id = sleeper(&d, "tty", json!({}));
    let exec = exec_create(
        &d,
        &id,
        json!({"Cmd": ["sh", "-c", "tty; stty size"], "Tty": true, "AttachStdout": true, "ConsoleSize": [33, 77]}),
    );
    let r = d.req(
        "POST",
        &format!("/exec/{exec}/start"),
        r#"{"Tty":true,"ConsoleSize":[33,77]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Raw stream, no frame headers; the terminal turns \n into \r\n.
    let text = r.text().replace('\r', "");
    assert!(text.starts_with("/dev/pts/"), "{text:?}");
    assert!(text.contains("33 77"), "{text:?}");

    let run = d.create(
        &format!("{}-runtty", d.prefix),
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "tty; sleep 1; stty size"], "Tty": true, "HostConfig": {"ConsoleSize": [20, 90]}}),
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{run}/start"), "")
            .status,
        204
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{run}/resize?h=25&w=100"), "")
            .status,
        200
    );
    let r = d.req("POST", &format!("/containers/{run}/wait"), "");
    assert_eq!(r.json()["StatusCode"], 0);
    let logs = d
        .req("GET", &format!("/containers/{run}/logs?stdout=1"), "")
        .text()
        .replace('\r', "");
    assert!(logs.starts_with("/dev/pts/0"), "{logs:?}");
    assert!(
        logs.contains("25 100"),
        "resize reached the terminal: {logs:?}"
    );
    d.remove_all();
}

/// Docker frames an exec's output by the start request's `Tty`, not the exec's: docker-py
/// starts a TTY exec with `Tty: false` and reads frames; a start with `Tty: true` reads raw.
#[test]
fn the_start_requests_tty_chooses_frames_or_raw_output() {
    require_root!();
    let d = TestDaemon::with_busybox("ttyframe");
    let id = sleeper(&d, "tf", json!({}));
    for (exec_tty, start_tty) in [(true, false), (false, true)] {
        let exec = exec_create(
            &d,
            &id,
            json!({"Cmd": ["printf", "hi"], "Tty": exec_tty, "AttachStdout": true}),
        );
        let r = d.req(
            "POST",
            &format!("/exec/{exec}/start"),
            &json!({"Tty": start_tty}).to_string(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        if start_tty {
            assert_eq!(r.body, b"hi", "exec tty {exec_tty}");
        } else {
            assert_eq!(r.body, b"\x01\0\0\0\0\0\0\x02hi", "exec tty {exec_tty}");
        }
    }
}

#[test]
fn a_detached_exec_survives_a_daemon_restart_and_exec_works_after_it() {
    require_root!();
    let mut d = TestDaemon::with_busybox("execrs");
    let id = sleeper(&d, "rs", json!({}));
    let exec = exec_create(
        &d,
        &id,
        json!({"Cmd": ["sh", "-c", "echo $$ > /tmp/pid; sleep 300"]}),
    );
    let r = d.req("POST", &format!("/exec/{exec}/start"), r#"{"Detach":true}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let pid = d.req("GET", &format!("/exec/{exec}/json"), "").json()["Pid"]
        .as_i64()
        .unwrap();
    assert!(pid > 0);
    d.kill9();
    d.spawn();
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the exec outlived the daemon"
    );
    let (ps, code) = out(json!({"Cmd": ["ps"], "AttachStdout": true}), &d, &id);
    assert_eq!(code, 0);
    assert!(ps.contains("sleep 300"), "{ps}");
    // Stopping the container ends the exec too, and its monitor reaps it.
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/stop?t=1"), "")
            .status,
        204
    );
    assert!(wait_until(Duration::from_secs(10), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    }));
    d.remove_all();
}

#[test]
fn bad_exec_requests_get_dockers_errors() {
    require_root!();
    let d = TestDaemon::with_busybox("execbad");
    let stopped = d.create(
        &format!("{}-stopped", d.prefix),
        json!({"Image": "busybox"}),
    );
    let r = d.req(
        "POST",
        &format!("/containers/{stopped}/exec"),
        r#"{"Cmd":["true"]}"#,
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("is not running"));
    let r = d.req("POST", "/exec/0123456789abcdef/start", "{}");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["message"],
        "No such exec instance: 0123456789abcdef"
    );
    assert_eq!(d.req("GET", "/exec/nope/json", "").status, 404);
    let id = sleeper(&d, "bad", json!({}));
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/exec"), r#"{"Cmd":[]}"#)
            .status,
        400
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/exec"), "{not json")
            .status,
        400
    );
    assert_eq!(
        d.req("POST", "/containers/nope/exec", r#"{"Cmd":["true"]}"#)
            .status,
        404
    );
    let exec = exec_create(&d, &id, json!({"Cmd": ["true"]}));
    assert_eq!(
        d.req("POST", &format!("/exec/{exec}/start"), r#"{"Detach":true}"#)
            .status,
        200
    );
    assert_eq!(
        d.req("POST", &format!("/exec/{exec}/start"), r#"{"Detach":true}"#)
            .status,
        409
    );
    assert_eq!(
        d.req("GET", "/_ping", "").status,
        200,
        "the daemon keeps serving"
    );
    d.remove_all();
}

/// A field of `/proc/<pid>/status` as a number.
fn status_field(pid: i32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// The children of `parent` that have exited and wait to be reaped.
fn zombies_of(parent: i32) -> Vec<i32> {
    cleanup::processes()
        .into_iter()
        .filter(|p| p.ppid == parent && cleanup::state_of(p.pid) == Some('Z'))
        .map(|p| p.pid)
        .collect()
}

#[test]
fn an_idle_monitor_sleeps_and_still_reaps_what_a_failed_exec_left() {
    // Each monitor used to wake every second to look for exited children: with a thousand
    // containers, a thousand wakeups a second on an idle machine.
    require_root!();
    let d = TestDaemon::with_busybox("execidle");
    let id = sleeper(&d, "idle", json!({}));
    assert_eq!(out(json!({"Cmd": ["true"]}), &d, &id).1, 0);
    // libcontainer's helpers of a failed exec end with no pidfd watching them.
    let failed = exec_create(&d, &id, json!({"Cmd": ["/no/such/binary"]}));
    let _ = d.req(
        "POST",
        &format!("/exec/{failed}/start"),
        r#"{"Detach":false}"#,
    );
    let monitor = cleanup::processes()
        .into_iter()
        .find(|p| p.program() == "berth-monitor" && p.mentions(&id))
        .map(|p| p.pid)
        .expect("the container's monitor");
    assert!(
        wait_until(Duration::from_secs(20), || zombies_of(monitor).is_empty()),
        "the monitor left zombies: {:?}",
        zombies_of(monitor)
    );
    let switches = || status_field(monitor, "voluntary_ctxt_switches");
    let quiet = wait_until(Duration::from_secs(30), || {
        let before = switches();
        std::thread::sleep(Duration::from_secs(3));
        before.is_some() && switches() == before
    });
    assert!(quiet, "the idle monitor {monitor} kept waking up");
    // Asleep, it still sees the container end.
    let r = d.req("POST", &format!("/containers/{id}/stop?t=1"), "");
    assert_eq!(r.status, 204, "stop: {}", r.text());
    assert!(
        wait_until(Duration::from_secs(20), || !cleanup::is_alive(monitor)),
        "the monitor outlived its container"
    );
    assert_eq!(d.inspect(&id)["State"]["Status"], "exited");
}
