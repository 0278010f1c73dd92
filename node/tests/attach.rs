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
    let d = TestDaemon::start("attach");
    d.import_busybox();
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
