//! Volumes against a real berthd: data outlives containers and daemon restarts, copy-up keeps
//! owners and modes, binds and tmpfs, anonymous volumes and `rm -v`, and Docker's errors; a
//! bind of a host mount made after berthd started.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::{require_root, urlencode, HostMount, TestDaemon};
use serde_json::{json, Value};

/// Runs a container to its end; returns its logs and exit code.
fn run(d: &TestDaemon, name: &str, body: Value) -> (String, i64) {
    d.run_to_end("v1.47", name, body)
}

#[test]
fn named_volume_data_outlives_containers_and_restarts_and_copy_up_keeps_modes() {
    require_root!();
    let mut d = TestDaemon::with_busybox("vol");
    let vol = format!("{}-data", d.prefix);
    let r = d.req(
        "POST",
        "/volumes/create",
        &json!({"Name": vol, "Labels": {"tier": "db"}}).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["Driver"], "local");
    let write = json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo kept > /data/f"], "HostConfig": {"Binds": [format!("{vol}:/data")]}});
    assert_eq!(run(&d, "w", write).1, 0);
    d.kill9();
    d.spawn();
    let read = json!({"Image": "busybox", "Cmd": ["cat", "/data/f"], "HostConfig": {"Binds": [format!("{vol}:/data:ro")]}});
    assert_eq!(run(&d, "r", read).0, "kept\n");
    // A new volume over /etc gets the image's files, with their modes.
    let fresh = format!("{}-etc", d.prefix);
    let stat = json!({"Image": "busybox", "Cmd": ["stat", "-c", "%a %u", "/etc/passwd"], "HostConfig": {"Binds": [format!("{fresh}:/etc")]}});
    let (out, code) = run(&d, "etc", stat);
    assert_eq!(code, 0, "{out}");
    let want = {
        use std::os::unix::fs::MetadataExt;
        let md =
            std::fs::metadata(d.data_root().join(format!("volumes/{fresh}/_data/passwd"))).unwrap();
        format!("{:o} {}\n", md.mode() & 0o777, md.uid())
    };
    assert_eq!(out, want);
    let list = d
        .req(
            "GET",
            &format!("/volumes?filters={}", urlencode(r#"{"label":["tier=db"]}"#)),
            "",
        )
        .json();
    let names: Vec<&str> = list["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![vol.as_str()]);
    // Docker's nulls: no warnings, and no labels on a volume made without any.
    assert_eq!(list["Warnings"], Value::Null);
    assert_eq!(list["Volumes"][0]["Labels"], json!({"tier": "db"}));
    let plain = d.req("GET", &format!("/volumes/{fresh}"), "").json();
    assert_eq!(plain["Labels"], Value::Null, "{plain}");
    d.remove_all();
}

#[test]
fn in_use_volumes_are_refused_and_anonymous_ones_go_with_rm_v() {
    require_root!();
    let d = TestDaemon::with_busybox("volrm");
    let vol = format!("{}-used", d.prefix);
    let user = d.create(&format!("{}-user", d.prefix), json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Binds": [format!("{vol}:/v")]}, "Volumes": {"/anon": {}}}));
    let r = d.req("DELETE", &format!("/volumes/{vol}"), "");
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("volume is in use"));
    let mounts = d.inspect(&user)["Mounts"].clone();
    let anon = mounts
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/anon")
        .map(|m| m["Name"].as_str().unwrap().to_string())
        .unwrap();
    assert_eq!(mounts.as_array().unwrap().len(), 2, "{mounts}");
    // moby's mark on a volume made without a name, by a container or by a create.
    let anon_labels = d.req("GET", &format!("/volumes/{anon}"), "").json()["Labels"].clone();
    assert_eq!(anon_labels, json!({"com.docker.volume.anonymous": ""}));
    let unnamed = d.req("POST", "/volumes/create", "{}").json()["Name"]
        .as_str()
        .unwrap()
        .to_string();
    let pruned = d.req("POST", "/volumes/prune", "").json();
    assert_eq!(pruned["VolumesDeleted"], json!([unnamed]), "{pruned}");
    // Nothing left to prune: an empty list, as moby's, not null.
    let again = d.req("POST", "/volumes/prune", "").json();
    assert_eq!(again["VolumesDeleted"], json!([]), "{again}");
    // A client older than API 1.42 prunes named volumes too, as it did then (moby adds `all`
    // for it); berth kept them whatever the version.
    let named = format!("{}-old-client", d.prefix);
    let body = json!({"Name": named, "Labels": {"prune-test": "1"}}).to_string();
    assert_eq!(d.req("POST", "/volumes/create", &body).status, 201);
    let filters = urlencode(r#"{"label":["prune-test=1"]}"#);
    let path = |v: &str| format!("{v}/volumes/prune?filters={filters}");
    let kept = d.req("POST", &path(""), "").json();
    assert_eq!(kept["VolumesDeleted"], json!([]), "{kept}");
    let old = d.req("POST", &path("/v1.41"), "").json();
    assert_eq!(old["VolumesDeleted"], json!([named]), "{old}");
    assert_eq!(
        d.req("DELETE", &format!("/containers/{user}?v=1"), "")
            .status,
        204
    );
    assert_eq!(
        d.req("GET", &format!("/volumes/{anon}"), "").status,
        404,
        "anonymous volume removed"
    );
    assert_eq!(
        d.req("GET", &format!("/volumes/{vol}"), "").status,
        200,
        "named volume kept"
    );
    assert_eq!(d.req("DELETE", &format!("/volumes/{vol}"), "").status, 204);
    assert_eq!(d.req("DELETE", "/volumes/nope", "").status, 404);
    assert_eq!(d.req("DELETE", "/volumes/nope?force=1", "").status, 204);
    let bad = d.req("POST", "/volumes/create", r#"{"Name":"a/b"}"#);
    assert_eq!(bad.status, 400, "{}", bad.text());
    let bad = d.req(
        "POST",
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"Binds":["v:relative"]}}"#,
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    let bad = d.req("POST", "/containers/create", r#"{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"bind","Source":"/no/such/dir","Target":"/x"}]}}"#);
    assert_eq!(bad.status, 400, "{}", bad.text());
    d.remove_all();
}

#[test]
fn binds_are_writable_or_read_only_and_tmpfs_is_mounted() {
    require_root!();
    let d = TestDaemon::with_busybox("bind");
    let host = d.root.join("bind-src");
    let spec = format!("{}:/b", host.display());
    let (_, code) = run(
        &d,
        "bw",
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo from-container > /b/x"], "HostConfig": {"Binds": [spec.clone()]}}),
    );
    assert_eq!(code, 0);
    assert_eq!(
        std::fs::read_to_string(host.join("x")).unwrap(),
        "from-container\n"
    );
    let (_, code) = run(
        &d,
        "bro",
        json!({"Image": "busybox", "Cmd": ["touch", "/b/y"], "HostConfig": {"Binds": [format!("{spec}:ro")]}}),
    );
    assert_eq!(code, 1, "read-only bind");
    let (out, _) = run(
        &d,
        "tmp",
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "grep ' /scratch ' /proc/mounts"], "HostConfig": {"Tmpfs": {"/scratch": "size=1m"}}}),
    );
    assert!(out.starts_with("tmpfs /scratch tmpfs"), "{out}");
    d.remove_all();
}

#[test]
fn binds_see_host_mounts_made_after_the_daemon_started_and_monitors_copy_no_others() {
    require_root!();
    let d = TestDaemon::with_busybox("latemnt");
    // Mounted after berthd made the namespace its monitors start from: one the container
    // binds, which it must see as it is now, and one it does not, which its monitor's mount
    // table must not carry (the table a monitor copies does not grow with the host's).
    let used = HostMount::tmpfs(d.root.join("late-used"));
    let other = HostMount::tmpfs(d.root.join("late-other"));
    std::fs::write(used.0.join("f"), "on the late mount\n").unwrap();
    let id = d.create(
        &format!("{}-late", d.prefix),
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "cat /b/f; sleep 1000"],
               "HostConfig": {"Binds": [format!("{}:/b", used.0.display())]}}),
    );
    let r = d.req("POST", &format!("/containers/{id}/start"), "");
    assert_eq!(r.status, 204, "start: {}", r.text());
    let pids: Value = serde_json::from_slice(
        &std::fs::read(d.data_root().join("containers").join(&id).join("pids.json")).unwrap(),
    )
    .unwrap();
    let monitor = pids["monitor"].as_i64().unwrap();
    let table = std::fs::read_to_string(format!("/proc/{monitor}/mountinfo")).unwrap();
    assert!(
        berth_test_support::wait_until(std::time::Duration::from_secs(10), || d.logs(&id)
            == "on the late mount\n"),
        "the bind shows the host's mount: {:?}",
        d.logs(&id)
    );
    let point = |p: &std::path::Path| format!(" {} ", p.display());
    assert!(
        !table.contains(&point(&other.0)),
        "a host mount the container does not use is in its monitor's table:\n{table}"
    );
    assert!(table.contains(&point(&used.0)), "{table}");
    // A source inside the late mount (as a swarm task's secrets lie inside their own tmpfs):
    // the template has no such path to attach it to, yet the container starts and sees it.
    std::fs::create_dir(used.0.join("inner")).unwrap();
    std::fs::write(used.0.join("inner/g"), "inside the late mount\n").unwrap();
    let inner = d.create(
        &format!("{}-inner", d.prefix),
        json!({"Image": "busybox", "Cmd": ["cat", "/b/g"],
               "HostConfig": {"Binds": [format!("{}:/b", used.0.join("inner").display())]}}),
    );
    let r = d.req("POST", &format!("/containers/{inner}/start"), "");
    assert_eq!(r.status, 204, "start: {}", r.text());
    assert!(
        berth_test_support::wait_until(std::time::Duration::from_secs(10), || d.logs(&inner)
            == "inside the late mount\n"),
        "a source inside a late host mount: {:?}",
        d.logs(&inner)
    );
    d.remove_all();
}

#[test]
fn volume_options_berth_cannot_honour_are_refused_and_prune_filters_apply() {
    require_root!();
    let d = TestDaemon::start("volopts");
    // The local driver's `size` needs XFS project quotas: Docker refuses it without them.
    let r = d.req(
        "POST",
        "/volumes/create",
        r#"{"Name":"volopts-q","DriverOpts":{"size":"10m"}}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r
        .text()
        .contains("quota size requested but no quota support"));
    assert_eq!(d.req("GET", "/volumes/volopts-q", "").status, 404);
    let r = d.req(
        "POST",
        "/volumes/create",
        r#"{"Name":"volopts-c","ClusterVolumeSpec":{"Group":"g"}}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("ClusterVolumeSpec"));
    assert_eq!(d.req("GET", "/volumes/volopts-c", "").status, 404);
    // Docker's words, each naming the volume.
    for (body, said) in [
        (
            json!({"Name": "volopts-o", "DriverOpts": {"foo": "bar"}}),
            r#"create volopts-o: invalid option: "foo""#,
        ),
        (
            json!({"Name": "volopts-d", "Driver": "nosuch"}),
            r#"create volopts-d: error looking up volume plugin nosuch: plugin "nosuch" not found"#,
        ),
    ] {
        let r = d.req("POST", "/volumes/create", &body.to_string());
        assert_eq!((r.status, r.json()["message"].clone()), (400, json!(said)));
    }
    // A filesystem the kernel refuses is refused at create (Docker mounts it at the first
    // start), in Go's words: "invalid argument", not nix's "EINVAL: Invalid argument".
    let body = json!({"Name": "volopts-t", "DriverOpts":
        {"type": "tmpfs", "device": "tmpfs", "o": "size=abc"}});
    let r = d.req("POST", "/volumes/create", &body.to_string());
    assert_eq!(r.status, 400, "{}", r.text());
    let said = r.json()["message"].as_str().unwrap().to_string();
    assert!(said.starts_with("error while mounting volume '"), "{said}");
    assert!(
        said.ends_with("_data, data: size=abc: invalid argument"),
        "{said}"
    );
    assert_eq!(d.req("GET", "/volumes/volopts-t", "").status, 404);
    assert!(!d.data_root().join("volumes/volopts-t").exists());

    for (name, labels) in [
        ("volopts-keep", json!({"keep": "1"})),
        ("volopts-tmp", json!({})),
    ] {
        let body = json!({"Name": name, "Labels": labels}).to_string();
        assert_eq!(d.req("POST", "/volumes/create", &body).status, 201);
    }
    // PUT updates cluster volumes only.
    let r = d.req("PUT", "/volumes/volopts-keep?version=1", r#"{"Spec":{}}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("cluster volumes"));
    assert_eq!(
        d.req("PUT", "/volumes/volopts-none?version=1", "{}").status,
        404
    );
    // The answer comes after the whole spec is read, however long: not a broken pipe.
    let long = format!(r#"{{"Labels":{{"pad":"{}"}}}}"#, "x".repeat(1 << 20));
    assert_eq!(
        d.req("PUT", "/volumes/volopts-none?version=1", &long)
            .status,
        404
    );

    let filters = urlencode(r#"{"all":["true"],"label!":["keep"]}"#);
    let r = d.req("POST", &format!("/volumes/prune?filters={filters}"), "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["VolumesDeleted"], json!(["volopts-tmp"]));
    assert_eq!(d.req("GET", "/volumes/volopts-keep", "").status, 200);
    assert_eq!(d.req("DELETE", "/volumes/volopts-keep", "").status, 204);
}
