//! Mount options against a real berthd, each as Docker honours it: bind propagation with a real
//! shared host mount (and `rslave` by default for a bind of the daemon's root), recursive read-only by API version, non-recursive binds, tmpfs `noexec`,
//! a volume made with the mount's labels and driver options, and inspect showing each create
//! field as sent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::path::Path;

use berth_test_support::{require_root, HostMount, TestDaemon};
use nix::mount::{umount2, MntFlags, MsFlags};
use serde_json::{json, Value};

fn run_at(d: &TestDaemon, version: &str, name: &str, body: Value) -> (String, i64) {
    d.run_to_end(version, name, body)
}

fn run(d: &TestDaemon, name: &str, body: Value) -> (String, i64) {
    d.run_to_end("v1.47", name, body)
}

/// Whether the host's mount table has a mount at `point`.
fn host_has_mount(point: &Path) -> bool {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let needle = format!(" {} ", point.display());
    table.lines().any(|l| l.contains(&needle))
}

/// A container that waits for `/b/go`, made on the host after the host's own mount at `sub`,
/// then tells whether it sees that mount (propagation happens at mount time, so no race).
fn sees_host_mount_after_start(d: &TestDaemon, name: &str, src: &Path, bind: &str) -> String {
    let id = d.create(
        &format!("{}-{name}", d.prefix),
        json!({"Image": "busybox", "Cmd": ["sh", "-c",
            "while [ ! -e /b/go ]; do sleep 0.05; done; grep -c ' /b/sub ' /proc/mounts || true"],
            "HostConfig": {"Binds": [format!("{}:/b{bind}", src.display())]}}),
    );
    let r = d.req("POST", &format!("/containers/{id}/start"), "");
    assert_eq!(r.status, 204, "start: {}", r.text());
    let sub = HostMount::tmpfs(src.join("sub"));
    std::fs::write(src.join("go"), "").unwrap();
    d.req("POST", &format!("/containers/{id}/wait"), "");
    let out = d.logs(&id).trim().to_string();
    drop(sub);
    std::fs::remove_file(src.join("go")).unwrap();
    d.req("DELETE", &format!("/containers/{id}?force=1"), "");
    out
}

#[test]
fn bind_propagation_follows_docker() {
    require_root!();
    let d = TestDaemon::with_busybox("mprop");
    let shared = HostMount::bound(d.root.join("shared-src"), MsFlags::MS_SHARED);
    // Default `rprivate`: a host mount made after the start stays out of the container.
    // berth made the bind a slave of the shared source before (libcontainer ignored it).
    assert_eq!(sees_host_mount_after_start(&d, "priv", &shared.0, ""), "0");
    // `rslave`: the container sees it.
    assert_eq!(
        sees_host_mount_after_start(&d, "slave", &shared.0, ":rslave"),
        "1"
    );
    // `rshared`: a mount the container makes reaches the host.
    let (out, code) = run(
        &d,
        "shared",
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "mkdir -p /b/inner && mount -t tmpfs t /b/inner"],
               "HostConfig": {"CapAdd": ["SYS_ADMIN"],
                              "Binds": [format!("{}:/b:rshared", shared.0.display())]}}),
    );
    assert_eq!(code, 0, "{out}");
    let inner = shared.0.join("inner");
    assert!(
        host_has_mount(&inner),
        "the container's mount did not reach the host"
    );
    let _ = umount2(&inner, MntFlags::MNT_DETACH);
    // A slave bind of a private source: Docker's error at start, nothing left running.
    let private = HostMount::bound(d.root.join("private-src"), MsFlags::MS_PRIVATE);
    for (mode, want) in [
        ("rshared", "is not a shared mount"),
        ("rslave", "is not a shared or slave mount"),
    ] {
        let id = d.create(
            &format!("{}-{mode}-priv", d.prefix),
            json!({"Image": "busybox", "Cmd": ["true"],
                   "HostConfig": {"Binds": [format!("{}:/b:{mode}", private.0.display())]}}),
        );
        let r = d.req("POST", &format!("/containers/{id}/start"), "");
        assert_eq!(r.status, 500, "{}", r.text());
        let text = r.text();
        assert!(
            text.contains(&format!(
                "path {0} is mounted on {0} but",
                private.0.display()
            )) && text.contains(want),
            "{text}"
        );
        assert_eq!(d.inspect(&id)["State"]["Status"], "created");
    }
    let c = d.create(
        &format!("{}-insp", d.prefix),
        json!({"Image": "busybox", "HostConfig": {"Binds": [format!("{}:/b:ro,rslave", shared.0.display())]}}),
    );
    let m = &d.inspect(&c)["Mounts"][0];
    assert_eq!(
        (&m["Mode"], &m["Propagation"], &m["RW"]),
        (&json!("ro,rslave"), &json!("rslave"), &json!(false))
    );
    d.remove_all();
}

#[test]
fn a_bind_of_the_daemon_root_is_rslave_unless_it_cannot_be() {
    require_root!();
    let d = TestDaemon::with_busybox("mroot");
    // Inside the data root, as `-v /var/lib/docker:…` or `-v /:/host` (which holds it) are.
    let shared = HostMount::bound(d.data_root().join("probe-shared"), MsFlags::MS_SHARED);
    let private = HostMount::bound(d.data_root().join("probe-private"), MsFlags::MS_PRIVATE);
    // No propagation named: `rslave`, so a host mount made after the start shows inside.
    assert_eq!(sees_host_mount_after_start(&d, "rs", &shared.0, ""), "1");
    // On a private mount it cannot be a slave: moby falls back to private and starts.
    assert_eq!(sees_host_mount_after_start(&d, "rp", &private.0, ""), "0");
    let c = d.create(
        &format!("{}-rinsp", d.prefix),
        json!({"Image": "busybox", "HostConfig": {"Binds": [format!("{}:/b:ro", private.0.display())]}}),
    );
    assert_eq!(d.inspect(&c)["Mounts"][0]["Propagation"], "rslave");
    // A named propagation other than rslave or rshared: moby's 400 at create.
    let bind = json!({"Binds": [format!("{}:/b:rprivate", private.0.display())]});
    let mount = json!({"Mounts": [{"Type": "bind", "Source": private.0, "Target": "/b",
                                   "BindOptions": {"Propagation": "slave"}}]});
    for host in [bind, mount] {
        let r = d.req(
            "POST",
            "/containers/create",
            &json!({"Image": "busybox", "HostConfig": host}).to_string(),
        );
        assert_eq!(r.status, 400, "{}", r.text());
        let message = r.json()["message"].as_str().unwrap_or_default().to_string();
        assert!(
            message.contains(
                "must use either propagation mode \"rslave\" or \"rshared\" when mount \
                 source is within the daemon root"
            ),
            "{message}"
        );
    }
    d.remove_all();
}

#[test]
fn read_only_binds_are_recursive_for_new_clients_and_binds_can_leave_submounts_out() {
    require_root!();
    let d = TestDaemon::with_busybox("mro");
    let src = d.root.join("ro-src");
    std::fs::create_dir_all(&src).unwrap();
    let sub = HostMount::tmpfs(src.join("sub"));
    let touch =
        |bind: Value| json!({"Image": "busybox", "Cmd": ["touch", "/b/sub/f"], "HostConfig": bind});
    let ro = json!({"Binds": [format!("{}:/b:ro", src.display())]});
    // API 1.44 made read-only binds read-only below too; older clients keep the old way.
    let (out, code) = run(&d, "new", touch(ro.clone()));
    assert_eq!(
        code, 1,
        "a new client's read-only bind left a submount writable: {out}"
    );
    assert!(out.contains("Read-only file system"), "{out}");
    assert_eq!(run_at(&d, "v1.41", "old", touch(ro)).1, 0);
    let writable_below = json!({"Mounts": [{"Type": "bind", "Source": src, "Target": "/b",
        "ReadOnly": true, "BindOptions": {"ReadOnlyNonRecursive": true}}]});
    assert_eq!(run(&d, "nonrec", touch(writable_below)).1, 0);
    std::fs::remove_file(sub.0.join("f")).unwrap();
    // A non-recursive bind does not carry the mounts below its source.
    let (out, code) = run(
        &d,
        "alone",
        json!({"Image": "busybox", "Cmd": ["grep", "-c", " /b/sub ", "/proc/mounts"],
               "HostConfig": {"Mounts": [{"Type": "bind", "Source": src, "Target": "/b",
                                          "BindOptions": {"NonRecursive": true}}]}}),
    );
    assert_eq!((out.trim(), code), ("0", 1));
    let (out, _) = run(
        &d,
        "rec",
        json!({"Image": "busybox", "Cmd": ["grep", "-c", " /b/sub ", "/proc/mounts"],
               "HostConfig": {"Binds": [format!("{}:/b", src.display())]}}),
    );
    assert_eq!(out.trim(), "1");
    // CreateMountpoint makes a missing source; without it, Docker's 400.
    let missing = d.root.join("made/by/berth");
    let body = |create: bool| {
        json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Mounts": [{"Type": "bind",
            "Source": missing, "Target": "/m", "BindOptions": {"CreateMountpoint": create}}]}})
    };
    let r = d.req("POST", "/containers/create", &body(false).to_string());
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("bind source path does not exist"));
    assert_eq!(run(&d, "mkpoint", body(true)).1, 0);
    assert!(missing.is_dir());
    drop(sub);
    d.remove_all();
}

#[test]
fn tmpfs_is_noexec_unless_asked_and_volume_mounts_make_their_volume() {
    require_root!();
    let d = TestDaemon::with_busybox("mtmp");
    let opts = |target: &str| format!("grep ' {target} ' /proc/mounts | cut -d' ' -f4");
    let (out, _) = run(
        &d,
        "tmpfs",
        json!({"Image": "busybox", "Cmd": ["sh", "-c", format!("{}; {}; {}", opts("/t"), opts("/u"), opts("/x"))],
               "HostConfig": {"Tmpfs": {"/t": "size=1m", "/x": "exec"},
                              "Mounts": [{"Type": "tmpfs", "Target": "/u"}]}}),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].contains("noexec"), "--tmpfs: {}", lines[0]);
    assert!(
        lines[1].contains("noexec"),
        "--mount type=tmpfs: {}",
        lines[1]
    );
    assert!(
        !lines[2].contains("noexec"),
        "--tmpfs /x:exec: {}",
        lines[2]
    );
    let (out, _) = run(
        &d,
        "exec",
        json!({"Image": "busybox", "Cmd": ["sh", "-c", opts("/u")],
               "HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": "/u",
                                          "TmpfsOptions": {"Options": [["exec"]]}}]}}),
    );
    assert!(!out.contains("noexec"), "{out}");

    // VolumeOptions make the volume with their labels and driver options (dropped before).
    let vol = format!("{}-v", d.prefix);
    let (out, code) = run(
        &d,
        "vol",
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "grep ' /v ' /proc/mounts | cut -d' ' -f3"],
               "HostConfig": {"Mounts": [{"Type": "volume", "Source": vol, "Target": "/v",
                   "VolumeOptions": {"Labels": {"tier": "cache"},
                       "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs"}}}}]}}),
    );
    assert_eq!((out.trim(), code), ("tmpfs", 0));
    let v = d.req("GET", &format!("/volumes/{vol}"), "").json();
    assert_eq!(v["Labels"], json!({"tier": "cache"}));
    assert_eq!(v["Options"], json!({"type": "tmpfs", "device": "tmpfs"}));
    assert_eq!(d.req("DELETE", &format!("/volumes/{vol}"), "").status, 204);
    d.remove_all();
}

#[test]
fn a_volume_subpath_mounts_only_that_part_and_follows_no_symlink() {
    require_root!();
    let d = TestDaemon::with_busybox("msub");
    let vol = format!("{}-v", d.prefix);
    // What a container leaves in the volume: content, and symlinks out of it.
    let (_, code) = run(
        &d,
        "fill",
        json!({"Image": "busybox", "Cmd": ["sh", "-c",
            "mkdir -p /v/a /v/empty && echo inner > /v/a/f && echo top > /v/top && ln -s /etc /v/esc && ln -s a /v/lnk"],
            "HostConfig": {"Binds": [format!("{vol}:/v")]}}),
    );
    assert_eq!(code, 0);
    let at = |subpath: &str, target: &str| {
        json!({"Type": "volume", "Source": vol, "Target": target,
               "VolumeOptions": {"Subpath": subpath}})
    };
    let (out, code) = run(
        &d,
        "sub",
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "ls /d; cat /d/f"],
               "HostConfig": {"Mounts": [at("a", "/d")]}}),
    );
    assert_eq!((out.as_str(), code), ("f\ninner\n", 0));
    let (out, code) = run(
        &d,
        "file",
        json!({"Image": "busybox", "Cmd": ["cat", "/top"], "HostConfig": {"Mounts": [at("top", "/top")]}}),
    );
    assert_eq!((out.as_str(), code), ("top\n", 0));
    // A symlink anywhere on the way, or a missing path: refused at start, in Docker's words.
    for (name, subpath, cause) in [
        ("esc", "esc", "too many levels of symbolic links"),
        ("lnk", "lnk/f", "too many levels of symbolic links"),
        ("none", "nope", "no such file or directory"),
    ] {
        let id = d.create(
            &format!("{}-{name}", d.prefix),
            json!({"Image": "busybox", "Cmd": ["ls", "/d"], "HostConfig": {"Mounts": [at(subpath, "/d")]}}),
        );
        let r = d.req("POST", &format!("/containers/{id}/start"), "");
        assert_eq!(r.status, 404, "{name}: {}", r.text());
        let want = format!(
            "cannot access path {}: {cause}",
            d.data_root()
                .join("volumes")
                .join(&vol)
                .join("_data")
                .join(subpath)
                .display()
        );
        assert_eq!(r.json()["message"], want.as_str());
        d.req("DELETE", &format!("/containers/{id}"), "");
    }
    // An empty subpath directory gets the image's content (copy-up), the rest stays as it was.
    let (_, code) = run(
        &d,
        "copyup",
        json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Mounts": [at("empty", "/etc")]}}),
    );
    assert_eq!(code, 0);
    let data = d.data_root().join("volumes").join(&vol).join("_data");
    assert!(data.join("empty/passwd").is_file());
    assert!(!data.join("passwd").exists());
    // Anonymous volumes cannot have one; older clients cannot ask for one.
    let anon = json!({"Image": "busybox", "HostConfig": {"Mounts": [{"Type": "volume", "Target": "/d",
        "VolumeOptions": {"Subpath": "a"}}]}});
    let r = d.req("POST", "/containers/create", &anon.to_string());
    assert_eq!(r.status, 400, "{}", r.text());
    let old = json!({"Image": "busybox", "HostConfig": {"Mounts": [at("a", "/d")]}});
    let r = d.req("POST", "/v1.44/containers/create", &old.to_string());
    assert_eq!(r.status, 400, "{}", r.text());
    // No subpath mount is left on the host: the containers hold their own copies.
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!table.contains("/subpaths/"), "{table}");
    d.remove_all();
    assert_eq!(d.req("DELETE", &format!("/volumes/{vol}"), "").status, 204);
}

#[test]
fn inspect_shows_binds_mounts_tmpfs_and_volumes_as_sent() {
    require_root!();
    let d = TestDaemon::with_busybox("mecho");
    let src = d.root.join("echo-src");
    std::fs::create_dir_all(&src).unwrap();
    let binds = vec![format!("{}:/b:ro", src.display())];
    let mounts = json!([{"Type": "bind", "Source": src, "Target": "/e",
                         "BindOptions": {"Propagation": "rslave"}},
                        {"Type": "tmpfs", "Target": "/g", "TmpfsOptions": {"SizeBytes": 1048576}}]);
    let id = d.create(
        &format!("{}-echo", d.prefix),
        json!({"Image": "busybox", "AttachStdout": true, "Volumes": {"/anon": {}},
               "HostConfig": {"Binds": binds, "Mounts": mounts, "Tmpfs": {"/h/": "size=2m"}}}),
    );
    let v = d.inspect(&id);
    assert_eq!(v["HostConfig"]["Binds"], json!(binds));
    assert_eq!(v["HostConfig"]["Mounts"], mounts);
    // As sent, the target's trailing slash too (Docker keeps the request's map).
    assert_eq!(v["HostConfig"]["Tmpfs"], json!({"/h/": "size=2m"}));
    assert_eq!(v["Config"]["Volumes"], json!({"/anon": {}}));
    assert_eq!(
        (&v["Config"]["AttachStdout"], &v["Config"]["AttachStdin"]),
        (&json!(true), &json!(false))
    );
    let points: Vec<&str> = v["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Destination"].as_str().unwrap())
        .collect();
    assert!(
        !points.iter().any(|p| p.starts_with("/h")),
        "HostConfig.Tmpfs is not a mount point: {points:?}"
    );
    let plain = d.create(&format!("{}-plain", d.prefix), json!({"Image": "busybox"}));
    let v = d.inspect(&plain);
    assert!(v["HostConfig"].get("Binds").is_some_and(Value::is_null));
    d.remove_all();
}

#[test]
fn tmpfs_options_docker_or_the_kernel_refuses_fail_the_start_naming_them() {
    require_root!();
    let d = TestDaemon::with_busybox("mtbad");
    // Docker makes such a container and refuses to start it; berth said only "failed to
    // prepare rootfs" (libcontainer's words for any mount that fails).
    for (n, (tmpfs, said)) in [
        (json!({"/x": "foo"}), r#"invalid tmpfs option ["foo"]"#),
        (
            json!({"/t": "size=1m", "/x": "size=1m,foo=1"}),
            r#"invalid tmpfs option ["foo" "1"]"#,
        ),
        (
            json!({"/x": "mode=1777,size=abc"}),
            r#"error mounting "tmpfs" to rootfs at "/x": size=abc: invalid argument"#,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let id = d.create(
            &format!("{}-bad{n}", d.prefix),
            json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Tmpfs": tmpfs}}),
        );
        let r = d.req("POST", &format!("/containers/{id}/start"), "");
        assert_eq!((r.status, r.json()["message"].clone()), (500, json!(said)));
        let c = d.req("GET", &format!("/containers/{id}/json"), "").json();
        assert_eq!(c["State"]["Status"], "created");
        assert!(!host_has_mount(&d.data_root().join("rootfs").join(&id)));
    }
    let (out, code) = run(
        &d,
        "good",
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "grep ' /x ' /proc/mounts | cut -d' ' -f4"],
               "HostConfig": {"Tmpfs": {"/x": "defaults,noatime,size=1m,mode=1777"}}}),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("size=1024k") && out.contains("noatime"),
        "{out}"
    );
    d.remove_all();
}
