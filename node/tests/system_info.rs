//! What `/version` and `/info` say about the daemon, as Docker's do: the commit it was built
//! from and when (the docker CLI prints them, and printed "unknown" and nothing), its
//! components, the commits of what runs containers, the event listeners, the node's generic
//! resources, and no warnings as `null`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use berth_test_support::{require_root, wait_until, TestDaemon};
use serde_json::{json, Value};

/// The commit of the checkout the tests were built from, as berthd's build script reads it.
fn checkout_commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[test]
fn version_and_info_name_the_build_and_what_the_daemon_holds() {
    require_root!();
    let flags = ["--node-generic-resource".to_string(), "gpu=GPU-a".into()];
    let d = TestDaemon::start_with("sysinfo", &flags);
    let commit = checkout_commit();

    let v = d.req("GET", "/version", "").json();
    assert_eq!(v["GitCommit"], json!(commit), "{v}");
    let built = v["BuildTime"].as_str().unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(built).is_ok() || commit == "unknown",
        "BuildTime {built:?}"
    );
    let names: Vec<&str> = v["Components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Engine", "berth-monitor", "berth-init"]);
    for c in v["Components"].as_array().unwrap() {
        assert_eq!(c["Details"]["GitCommit"], json!(commit), "{c}");
    }
    assert_eq!(v["Components"][0]["Details"]["ApiVersion"], v["ApiVersion"]);

    let info = d.req("GET", "/info", "").json();
    assert_eq!(info["ContainerdCommit"]["ID"], "N/A");
    assert_eq!(info["RuncCommit"]["ID"], json!(commit));
    assert_eq!(info["InitCommit"]["ID"], json!(commit));
    assert_eq!(
        info["GenericResources"],
        json!([{ "NamedResourceSpec": { "Kind": "gpu", "Value": "GPU-a" } }])
    );
    assert!(info["NGoroutines"].as_i64().unwrap() > 0, "{info}");
    let warnings = &info["Warnings"];
    assert!(
        warnings.is_null() || warnings.as_array().is_some_and(|w| !w.is_empty()),
        "no warnings are null, as Docker's: {warnings}"
    );

    let listeners = || d.req("GET", "/info", "").json()["NEventsListener"].as_i64();
    assert_eq!(listeners(), Some(0));
    let mut events = UnixStream::connect(&d.socket).unwrap();
    events
        .write_all(b"GET /events HTTP/1.1\r\nHost: berth\r\n\r\n")
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || listeners() == Some(1)),
        "a client following events is counted: {:?}",
        listeners()
    );
    drop(events);
    // The stream ends when its next event finds the client gone.
    d.req(
        "POST",
        "/volumes/create",
        &json!({ "Name": d.prefix }).to_string(),
    );
    assert!(
        wait_until(Duration::from_secs(10), || listeners() == Some(0)),
        "{:?}",
        listeners()
    );
    d.req("DELETE", &format!("/volumes/{}", d.prefix), "");

    let plain = TestDaemon::start("sysinfo0");
    let info: Value = plain.req("GET", "/info", "").json();
    assert!(
        info.as_object().unwrap().contains_key("GenericResources")
            && info["GenericResources"].is_null(),
        "none is null, as Docker's"
    );
}
