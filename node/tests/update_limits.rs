//! `docker update` of cpusets and the memory reservation: applied to a running container's
//! cgroups and kept for its next start; what an update does not change is refused by name; a
//! refused update changes nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::path::Path;

use berth_test_support::{require_root, TestDaemon};
use serde_json::{json, Value};

fn cgroup_file(hierarchy: &str, id: &str, file: &str) -> String {
    std::fs::read_to_string(
        Path::new("/sys/fs/cgroup")
            .join(hierarchy)
            .join("berth")
            .join(id)
            .join(file),
    )
    .unwrap_or_else(|e| panic!("{hierarchy}/berth/{id}/{file}: {e}"))
    .trim()
    .to_string()
}

fn resources(d: &TestDaemon, id: &str) -> (Value, Value, Value) {
    let h = d.inspect(id)["HostConfig"].clone();
    (
        h["CpusetCpus"].clone(),
        h["MemoryReservation"].clone(),
        h["MemorySwap"].clone(),
    )
}

#[test]
fn update_changes_cpusets_and_memory_reservation_and_refuses_what_it_cannot_change() {
    require_root!();
    if !Path::new("/sys/fs/cgroup/cpuset/cpuset.cpus").exists() {
        eprintln!("skipped: no cgroup v1 cpuset hierarchy");
        return;
    }
    let d = TestDaemon::start("updlim");
    d.import_busybox();
    let name = format!("{}-c", d.prefix);
    d.cli_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "300"]);
    let id = d.cli_ok(&["inspect", "-f", "{{.Id}}", &name]);

    // The real docker CLI's update: the running container's cgroups change, and inspect says so.
    d.cli_ok(&[
        "update",
        "--cpuset-cpus",
        "0",
        "--cpuset-mems",
        "0",
        "--memory-reservation",
        "16m",
        &name,
    ]);
    assert_eq!(cgroup_file("cpuset", &id, "cpuset.cpus"), "0");
    assert_eq!(cgroup_file("cpuset", &id, "cpuset.mems"), "0");
    assert_eq!(
        cgroup_file("memory", &id, "memory.soft_limit_in_bytes"),
        (16 << 20).to_string()
    );
    let after = resources(&d, &id);
    assert_eq!((&after.0, &after.1), (&json!("0"), &json!(16 << 20)));
    let inside = d.cli_ok(&[
        "exec",
        &name,
        "grep",
        "Cpus_allowed_list",
        "/proc/self/status",
    ]);
    assert!(inside.ends_with("\t0"), "{inside}");

    // Bad values: Docker's status and words, and nothing changes.
    for (body, words) in [
        (r#"{"CpusetCpus":"0-"}"#, "Invalid value 0- for cpuset.cpus"),
        (
            r#"{"CpusetCpus":"4095"}"#,
            "Requested CPUs are not available - requested 4095",
        ),
        (
            r#"{"Memory":8388608}"#,
            "Minimum memory limit can not be less than memory reservation limit",
        ),
        (
            r#"{"Memory":67108864,"MemorySwap":33554432}"#,
            "Minimum memoryswap limit should be larger than memory limit",
        ),
        (
            r#"{"Ulimits":[{"Name":"nofile","Soft":10,"Hard":10}]}"#,
            "Ulimits is not supported by berth",
        ),
        (r#"{"BlkioWeight":300}"#, "BlkioWeight is not supported"),
        (
            r#"{"KernelMemory":4194304}"#,
            "KernelMemory is not supported",
        ),
    ] {
        let r = d.req("POST", &format!("/containers/{id}/update"), body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.text().contains(words), "{body}: {}", r.text());
        assert_eq!(resources(&d, &id), after, "{body} changed the record");
    }
    assert_eq!(cgroup_file("cpuset", &id, "cpuset.cpus"), "0");

    // A stopped container keeps the new values for its next start.
    d.cli_ok(&["stop", "-t", "0", &name]);
    d.cli_ok(&["update", "--cpuset-cpus", "1", &name]);
    assert_eq!(resources(&d, &id).0, json!("1"));
    d.cli_ok(&["start", &name]);
    assert_eq!(cgroup_file("cpuset", &id, "cpuset.cpus"), "1");
    d.remove_all();
}
