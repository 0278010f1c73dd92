//! `GET /containers/json` and inspect against a real berthd: the list's rows are kept
//! rendered between lists (`engine/container/list_rows.rs`), so each list must still show
//! every change a container went through since the last one, and a status that moves with the
//! clock alone; inspect has every field Docker always gives.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::{require_root, wait_until, TestDaemon};
use serde_json::Value;
use std::time::Duration;

/// Every row of `GET /containers/json?all=1<extra>`, checked to carry one status each.
fn list(d: &TestDaemon, extra: &str) -> Vec<Value> {
    let r = d.req("GET", &format!("/containers/json?all=1{extra}"), "");
    assert_eq!(r.status, 200, "list: {}", r.text());
    let rows = r.json().as_array().cloned().expect("a list");
    // A duplicated key would parse (the last one wins); count them in the text.
    assert_eq!(
        r.text().matches("\"Status\":").count(),
        rows.len(),
        "one Status per row: {}",
        r.text()
    );
    rows
}

/// The row of the container with id `id`.
fn row(d: &TestDaemon, id: &str) -> Value {
    list(d, "")
        .into_iter()
        .find(|r| r["Id"] == id)
        .unwrap_or_else(|| panic!("{id} not listed"))
}

fn ip_on(row: &Value, net: &str) -> String {
    row["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .unwrap_or_else(|| panic!("no {net} in {row}"))
        .to_string()
}

#[test]
fn each_list_shows_what_changed_since_the_last_one() {
    require_root!();
    let d = TestDaemon::with_busybox("lsrows");
    let p = &d.prefix;
    let (name, net) = (format!("{p}-c"), format!("{p}-n"));
    d.cli_ok(&["network", "create", &net]);
    let id = d.cli_ok(&[
        "run", "-d", "--init", "--name", &name, "busybox", "sleep", "600",
    ]);
    let first = row(&d, &id);
    assert_eq!(first["State"], "running");
    assert!(!ip_on(&first, "bridge").is_empty(), "{first}");
    assert!(first["Status"].as_str().unwrap().starts_with("Up "));

    // Unchanged, the row is the same, and its status moves with the clock.
    let status = first["Status"].clone();
    assert!(
        wait_until(Duration::from_secs(10), || row(&d, &id)["Status"] != status),
        "the status stayed {status}"
    );
    let mut later = row(&d, &id);
    later["Status"] = status;
    assert_eq!(later, first);

    // A network connected, then the container renamed.
    d.cli_ok(&["network", "connect", &net, &name]);
    let connected = row(&d, &id);
    assert!(!ip_on(&connected, &net).is_empty(), "{connected}");
    assert_eq!(ip_on(&connected, "bridge"), ip_on(&first, "bridge"));
    d.cli_ok(&["rename", &name, &format!("{name}2")]);
    assert_eq!(
        row(&d, &id)["Names"],
        serde_json::json!([format!("/{name}2")])
    );

    // Disconnected, then stopped: no addresses, and an exit status.
    d.cli_ok(&["network", "disconnect", &net, &id]);
    let disconnected = row(&d, &id);
    assert!(disconnected["NetworkSettings"]["Networks"][&net].is_null());
    d.cli_ok(&["stop", &id]);
    let stopped = row(&d, &id);
    assert_eq!(stopped["State"], "exited");
    assert!(
        stopped["Status"].as_str().unwrap().starts_with("Exited ("),
        "{stopped}"
    );
    assert_eq!(ip_on(&stopped, "bridge"), "");

    // Started again, with sizes asked for: they are in the row beside the status.
    d.cli_ok(&["start", &id]);
    let sized = list(&d, "&size=1")
        .into_iter()
        .find(|r| r["Id"] == id)
        .unwrap();
    assert_eq!(sized["State"], "running");
    assert!(!ip_on(&sized, "bridge").is_empty(), "{sized}");
    assert!(
        sized["SizeRw"].is_i64() && sized["SizeRootFs"].is_i64(),
        "{sized}"
    );

    // Removed: gone from the list.
    d.cli_ok(&["rm", "-f", &id]);
    assert!(list(&d, "").iter().all(|r| r["Id"] != id));
}

#[test]
fn inspect_has_every_field_docker_always_gives() {
    require_root!();
    let d = TestDaemon::with_busybox("inspzero");
    let id = d.cli_ok(&["create", "busybox", "true"]);
    let r = d.req("GET", &format!("/containers/{id}/json"), "");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    // Python clients index these; docker 20.10 gives each, zero when unset.
    for key in [
        "MountLabel",
        "ProcessLabel",
        "AppArmorProfile",
        "ExecIDs",
        "GraphDriver",
    ] {
        assert!(v.get(key).is_some(), "{key}: {v}");
    }
    for key in [
        "ContainerIDFile",
        "VolumesFrom",
        "ExtraHosts",
        "GroupAdd",
        "Links",
        "SecurityOpt",
        "ConsoleSize",
        "BlkioWeightDevice",
        "DeviceRequests",
        "KernelMemory",
        "CpuCount",
        "IOMaximumBandwidth",
    ] {
        assert!(v["HostConfig"].get(key).is_some(), "HostConfig.{key}: {v}");
    }
    // The overlay directories, as Docker's overlay2 names them, and they are the real ones.
    let g = &v["GraphDriver"];
    assert_eq!(g["Name"], "overlay2");
    for dir in ["LowerDir", "UpperDir", "WorkDir"] {
        let first = g["Data"][dir].as_str().unwrap().split(':').next().unwrap();
        assert!(std::path::Path::new(first).is_dir(), "{dir}: {g}");
    }
}

/// The list's `Command` quotes an argument holding a space, as moby's (`docker ps` showed
/// `"sh -c echo a b"` for `sh -c 'echo a b'`).
#[test]
fn the_lists_command_quotes_arguments_with_spaces() {
    require_root!();
    let d = TestDaemon::with_busybox("lscmd");
    let name = format!("{}-q", d.prefix);
    d.cli_ok(&["create", "--name", &name, "busybox", "sh", "-c", "echo a b"]);
    let rows = d.req("GET", "/containers/json?all=1", "").json();
    assert_eq!(rows[0]["Command"], "sh -c 'echo a b'", "{rows}");
    d.remove_all();
}
