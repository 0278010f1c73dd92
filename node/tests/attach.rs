//! Attach over an upgraded connection, as `docker run -i` does: attach before start, send
//! stdin, half-close, read the multiplexed output until the container ends.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::{demux_stream, require_root, TestDaemon};
use serde_json::json;
use std::io::{Read, Write};
use std::net::Shutdown;

#[test]
fn attached_stdin_reaches_the_container_and_half_close_ends_it() {
    require_root!();
    let d = TestDaemon::with_busybox("attach");
    let id = d.create(
        &format!("{}-cat", d.prefix),
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "cat; echo done >&2"], "OpenStdin": true, "StdinOnce": true, "AttachStdin": true}),
    );
    let mut s = d.upgraded(
        &format!("/v1.47/containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1"),
        "",
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/start"), "").status,
        204
    );
    s.write_all(b"hello over stdin\n").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    // stdout and stderr are separate pipes, so their relative order is not defined.
    assert_eq!(
        String::from_utf8_lossy(&demux_stream(&out, 1)),
        "hello over stdin\n"
    );
    assert_eq!(String::from_utf8_lossy(&demux_stream(&out, 2)), "done\n");
    let r = d.req("POST", &format!("/containers/{id}/wait"), "");
    assert_eq!(r.json()["StatusCode"], 0);
}

#[test]
fn attach_replays_the_output_so_far_with_logs_and_follows_only_with_stream() {
    require_root!();
    let d = TestDaemon::with_busybox("attlogs");
    let id = d.create(
        &format!("{}-w", d.prefix),
        json!({"Image": "busybox", "Cmd": ["sh", "-c",
            "echo before; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo after"]}),
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/start"), "").status,
        204
    );
    assert!(berth_test_support::wait_until(
        std::time::Duration::from_secs(10),
        || d.logs(&id).contains("before")
    ));
    let attach = |query: &str| {
        d.upgraded(
            &format!("/v1.47/containers/{id}/attach?stdout=1&stderr=1&{query}"),
            "",
        )
    };
    // No stream: the history (with logs) or nothing, and the connection ends at once.
    let mut out = Vec::new();
    attach("logs=1&stream=0").read_to_end(&mut out).unwrap();
    assert_eq!(String::from_utf8_lossy(&demux_stream(&out, 1)), "before\n");
    out.clear();
    attach("stream=0").read_to_end(&mut out).unwrap();
    assert!(out.is_empty(), "{out:?}");
    // Both: the history, then what comes next, until the container ends.
    let mut s = attach("logs=1&stream=1");
    let exec = d.req(
        "POST",
        &format!("/containers/{id}/exec"),
        r#"{"Cmd":["touch","/tmp/go"]}"#,
    );
    let eid = exec.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(
        d.req("POST", &format!("/exec/{eid}/start"), r#"{"Detach":true}"#)
            .status,
        200
    );
    out.clear();
    s.read_to_end(&mut out).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&demux_stream(&out, 1)),
        "before\nafter\n"
    );
}

/// docker-py reads the `101` through `http.client`'s buffered reader, which takes whatever has
/// arrived with it, and then reads the output from the raw socket: output sent right behind
/// the answer was lost (docker-py's `attach(stream=False, logs=True)` of a stopped container
/// returned nothing in about one try of five).
#[test]
fn output_replayed_on_attach_waits_for_the_client_to_read_the_answer() {
    require_root!();
    let d = TestDaemon::with_busybox("attread");
    let id = d.create(
        &format!("{}-echo", d.prefix),
        json!({"Image": "busybox", "Cmd": ["echo", "hello"]}),
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/start"), "").status,
        204
    );
    let r = d.req(
        "POST",
        &format!("/containers/{id}/wait?condition=not-running"),
        "",
    );
    assert_eq!(r.json()["StatusCode"], 0);
    for attempt in 0..40 {
        let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        write!(
            s,
            "POST /v1.47/containers/{id}/attach?logs=1&stream=0&stdout=1&stderr=1 HTTP/1.1\r\n\
             Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        // As http.client: a buffered reader for the answer's head, dropped with what it holds.
        let mut head = std::io::BufReader::new(&s);
        let mut line = String::new();
        loop {
            line.clear();
            std::io::BufRead::read_line(&mut head, &mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        drop(head);
        let mut out = Vec::new();
        (&s).read_to_end(&mut out).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&demux_stream(&out, 1)),
            "hello\n",
            "attempt {attempt}"
        );
    }
}
