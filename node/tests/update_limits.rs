//! `docker update` of cpusets and the memory reservation: applied to a running container's
//! cgroups and kept for its next start; what an update does not change is refused by name; a
//! refused update changes nothing. Block I/O limits, set at create, reach the container's
//! cgroup and inspect.
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
    let d = TestDaemon::with_busybox("updlim");
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
        // Checked before it reaches the kernel, which refused it (EBUSY, a 500).
        (r#"{"Memory":1024}"#, "Minimum memory limit allowed is 6MB"),
        (
            r#"{"Memory":67108864,"MemorySwap":33554432}"#,
            "Minimum memoryswap limit should be larger than memory limit",
        ),
        (
            r#"{"Ulimits":[{"Name":"nofile","Soft":10,"Hard":10}]}"#,
            "Ulimits is not supported by berth",
        ),
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

/// A block device of this machine and its `major:minor` (a disk before a loop device).
fn a_block_device() -> Option<(String, String)> {
    use std::os::unix::fs::FileTypeExt;
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .ok()?
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort_by_key(|n| (n.starts_with("loop") || n.starts_with("ram"), n.clone()));
    names.into_iter().find_map(|n| {
        let dev = format!("/dev/{n}");
        let is_block = std::fs::metadata(&dev).ok()?.file_type().is_block_device();
        let numbers = std::fs::read_to_string(format!("/sys/block/{n}/dev")).ok()?;
        is_block.then(|| (dev, numbers.trim().to_string()))
    })
}

#[test]
fn block_io_limits_reach_the_containers_cgroup_and_inspect_and_an_update_refuses_them() {
    require_root!();
    if !Path::new("/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device").exists() {
        eprintln!("skipped: no cgroup v1 blkio hierarchy with throttling");
        return;
    }
    let (dev, numbers) = a_block_device().expect("a block device in /sys/block");
    let d = TestDaemon::with_busybox("blkio");
    let id = d.cli_ok(&[
        "run",
        "-d",
        "--device-read-bps",
        &format!("{dev}:1mb"),
        "--device-write-iops",
        &format!("{dev}:100"),
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(
        cgroup_file("blkio", &id, "blkio.throttle.read_bps_device"),
        format!("{numbers} 1048576")
    );
    assert_eq!(
        cgroup_file("blkio", &id, "blkio.throttle.write_iops_device"),
        format!("{numbers} 100")
    );
    assert_eq!(
        cgroup_file("blkio", &id, "blkio.throttle.write_bps_device"),
        ""
    );
    let h = d.inspect(&id)["HostConfig"].clone();
    assert_eq!(
        h["BlkioDeviceReadBps"],
        json!([{ "Path": dev, "Rate": 1048576 }])
    );
    assert_eq!(
        h["BlkioDeviceWriteIOps"],
        json!([{ "Path": dev, "Rate": 100 }])
    );
    // Unset: Docker's empty list.
    assert_eq!(h["BlkioDeviceWriteBps"], json!([]));

    // Docker's update ignores them; berth says so.
    let r = d.req(
        "POST",
        &format!("/containers/{id}/update"),
        &json!({ "BlkioDeviceReadBps": [{ "Path": dev, "Rate": 1 }] }).to_string(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("set at create"), "{}", r.text());

    // berth's CLI sends the same: the rates reach the cgroup.
    let (code, out) = d.berth(&[
        "run",
        "-d",
        "--device-read-iops",
        &format!("{dev}:50"),
        "--device-write-bps",
        &format!("{dev}:2mb"),
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(code, 0, "{out}");
    let by_berth = out.trim().lines().last().unwrap_or("").to_string();
    assert_eq!(
        cgroup_file("blkio", &by_berth, "blkio.throttle.read_iops_device"),
        format!("{numbers} 50")
    );
    assert_eq!(
        cgroup_file("blkio", &by_berth, "blkio.throttle.write_bps_device"),
        format!("{numbers} 2097152")
    );

    // Not a block device, no such device, and docker's CLI words for a bad flag, from both
    // clients.
    for (flag, words) in [
        ("/dev/null:1mb", "not a block device"),
        ("/dev/berth-none:1mb", "No such file or directory"),
        ("sda:1mb", "bad format for device path: sda:1mb"),
        ("/dev/sda:fast", "invalid rate for device: /dev/sda:fast"),
    ] {
        let args = ["create", "--device-read-bps", flag, "busybox", "true"];
        for (client, (code, out)) in [("docker", d.cli(&args)), ("berth", d.berth(&args))] {
            assert_ne!(code, 0, "{client}: {flag} was accepted: {out}");
            assert!(out.contains(words), "{client}: {flag}: {out}");
        }
    }
    d.remove_all();
}

/// `--blkio-weight` and `--blkio-weight-device` as Docker's daemon takes them: where the kernel
/// has no weights (no CFQ, as here) they are dropped with Docker's warnings, at create and at
/// update, and the container runs; where it has them the weight reaches the cgroup. berth
/// refused both by name.
#[test]
fn block_io_weights_apply_or_are_dropped_with_dockers_warnings() {
    require_root!();
    let d = TestDaemon::with_busybox("blkiow");
    let has_weight = Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists();
    let has_device = Path::new("/sys/fs/cgroup/blkio/blkio.weight_device").exists();
    let dropped_device = "Your kernel does not support Block I/O weight_device or the cgroup \
                          is not mounted. Weight-device discarded.";
    let dropped_weight =
        "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight \
         discarded.";
    let create = |name: &str, host: Value| {
        d.req(
            "POST",
            &format!("/containers/create?name={}-{name}", d.prefix),
            &json!({"Image": "busybox", "Cmd": ["sleep", "600"], "HostConfig": host}).to_string(),
        )
    };
    let warnings = |r: &berth_test_support::Response| -> Vec<String> {
        serde_json::from_value(r.json()["Warnings"].clone()).unwrap()
    };
    // Per-device weights: dropped with the warning, or refused by name where the kernel has
    // them (berth does not apply them).
    let r = create(
        "wd",
        json!({"BlkioWeightDevice": [{"Path": "/dev/null", "Weight": 200}]}),
    );
    if has_device {
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains("BlkioWeightDevice"), "{}", r.text());
    } else {
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(warnings(&r), [dropped_device]);
        let id = r.json()["Id"].as_str().unwrap().to_string();
        assert_eq!(d.inspect(&id)["HostConfig"]["BlkioWeightDevice"], json!([]));
    }
    let r = create("w", json!({"BlkioWeight": 300}));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        warnings(&r).iter().any(|w| w == dropped_weight),
        !has_weight,
        "{}",
        r.text()
    );
    let id = r.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/start"), "").status,
        204
    );
    let host = d.inspect(&id)["HostConfig"].clone();
    assert_eq!(host["BlkioWeight"], if has_weight { 300 } else { 0 });
    if has_weight {
        assert_eq!(cgroup_file("blkio", &id, "blkio.weight"), "300");
    }
    // An update: the same check, its warnings in the answer.
    let r = d.req(
        "POST",
        &format!("/containers/{id}/update"),
        r#"{"BlkioWeight": 500}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        warnings(&r).iter().any(|w| w == dropped_weight),
        !has_weight,
        "{}",
        r.text()
    );
    assert_eq!(
        d.inspect(&id)["HostConfig"]["BlkioWeight"],
        if has_weight { 500 } else { 0 }
    );
    if has_weight {
        assert_eq!(cgroup_file("blkio", &id, "blkio.weight"), "500");
        let r = d.req(
            "POST",
            &format!("/containers/{id}/update"),
            r#"{"BlkioWeight": 5}"#,
        );
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r
            .text()
            .contains("Range of blkio weight is from 10 to 1000"));
    }
    // The docker CLI prints the warning and runs the container.
    let out = d.cli_ok(&[
        "run",
        "--rm",
        "--blkio-weight",
        "300",
        "busybox",
        "echo",
        "ran",
    ]);
    assert!(out.starts_with("ran\n") || out == "ran", "{out}");
    assert_eq!(out.contains(dropped_weight), !has_weight, "{out}");
    // berth's CLI alike: the flags, and the update's warnings printed after the names.
    let (code, out) = d.berth(&["update", "--blkio-weight", "300", &id]);
    assert_eq!(code, 0, "{out}");
    let expected = if has_weight {
        format!("{id}\n")
    } else {
        format!("{id}\n{dropped_weight}\n")
    };
    assert_eq!(out, expected);
    if !has_device {
        let (code, out) = d.berth(&[
            "run",
            "--rm",
            "--blkio-weight-device",
            "/dev/null:200",
            "busybox",
            "echo",
            "ran",
        ]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains(&format!("WARNING: {dropped_device}")), "{out}");
    }
    d.remove_all();
}
