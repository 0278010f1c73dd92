//! The container lifecycle against a real berthd: create, start, logs, wait, stop, kill, rm,
//! limits, OOM, restart policies, auto-remove, bad input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::{require_root, wait_until, TestDaemon};
use serde_json::json;
use std::time::Duration;

fn run_to_exit(d: &TestDaemon, name: &str, cmd: &[&str], host: serde_json::Value) -> (String, i64) {
    let id = d.create(
        name,
        json!({"Image": "busybox", "Cmd": cmd, "HostConfig": host}),
    );
    let r = d.req("POST", &format!("/containers/{id}/start"), "");
    assert_eq!(r.status, 204, "start: {}", r.text());
    let r = d.req("POST", &format!("/containers/{id}/wait"), "");
    assert_eq!(r.status, 200, "wait: {}", r.text());
    (id, r.json()["StatusCode"].as_i64().unwrap())
}

#[test]
fn lifecycle_runs_logs_stops_and_removes() {
    require_root!();
    let d = TestDaemon::with_busybox("life");
    let p = &d.prefix;
    let (id, code) = run_to_exit(
        &d,
        &format!("{p}-echo"),
        &["sh", "-c", "echo out; echo err >&2; exit 3"],
        json!({}),
    );
    assert_eq!(code, 3);
    let mut lines: Vec<String> = d.logs(&id).lines().map(String::from).collect();
    lines.sort(); // two pipes: no order between stdout and stderr
    assert_eq!(lines, vec!["err", "out"]);
    let r = d.req("GET", &format!("/containers/{id}/logs?stdout=1"), "");
    assert_eq!(
        String::from_utf8_lossy(&berth_test_support::demux(&r.body)),
        "out\n"
    );
    // `--details`: the log attributes (none) and a space, after the time when asked.
    let r = d.req(
        "GET",
        &format!("/containers/{id}/logs?stdout=1&details=1"),
        "",
    );
    assert_eq!(
        String::from_utf8_lossy(&berth_test_support::demux(&r.body)),
        " out\n"
    );
    let r = d.req(
        "GET",
        &format!("/containers/{id}/logs?stdout=1&details=1&timestamps=1"),
        "",
    );
    let line = String::from_utf8_lossy(&berth_test_support::demux(&r.body)).into_owned();
    assert!(line.ends_with("Z  out\n"), "{line:?}");
    let st = d.inspect(&id);
    assert_eq!(st["State"]["Status"], "exited");
    assert_eq!(st["State"]["ExitCode"], 3);
    assert_eq!(st["Config"]["Hostname"], id[..12]);

    let sleeper = d.create(
        &format!("{p}-sleep"),
        json!({"Image": "busybox", "Cmd": ["sleep", "300"]}),
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{sleeper}/start"), "")
            .status,
        204
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{sleeper}/start"), "")
            .status,
        304
    );
    assert_eq!(d.inspect(&sleeper)["State"]["Running"], true);
    let ps = d.req("GET", "/v1.47/containers/json", "").json();
    assert!(ps
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["Id"] == sleeper.as_str()));
    assert_eq!(
        d.req("DELETE", &format!("/containers/{sleeper}"), "")
            .status,
        409
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{sleeper}/stop?t=1"), "")
            .status,
        204
    );
    let st = d.inspect(&sleeper);
    assert_eq!(st["State"]["Status"], "exited");
    assert_eq!(
        st["State"]["ExitCode"], 137,
        "sh ignores SIGTERM as pid 1, so stop ends in SIGKILL"
    );
    assert_eq!(
        d.req("DELETE", &format!("/containers/{sleeper}"), "")
            .status,
        204
    );
    assert_eq!(
        d.req("GET", &format!("/containers/{sleeper}/json"), "")
            .status,
        404
    );
}

#[test]
fn isolation_matches_docker_defaults() {
    require_root!();
    let d = TestDaemon::with_busybox("iso");
    let p = &d.prefix;
    let script = "grep CapEff /proc/self/status | cut -f2; echo $$; hostname; ls /sys/class/net | wc -l; cat /proc/kcore 2>/dev/null | wc -c; id -u";
    let (id, code) = run_to_exit(
        &d,
        &format!("{p}-iso"),
        &["sh", "-c", script],
        json!({"NetworkMode": "none"}),
    );
    assert_eq!(code, 0, "logs: {}", d.logs(&id));
    let out = d.logs(&id);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        vec!["00000000a80425fb", "1", &id[..12], "1", "0", "0"]
    );
    let (_, code) = run_to_exit(
        &d,
        &format!("{p}-ro"),
        &["touch", "/x"],
        json!({"ReadonlyRootfs": true}),
    );
    assert_eq!(code, 1);
    let user = d.create(
        &format!("{p}-user"),
        json!({"Image": "busybox", "Cmd": ["id"], "User": "nobody"}),
    );
    d.req("POST", &format!("/containers/{user}/start"), "");
    d.req("POST", &format!("/containers/{user}/wait"), "");
    assert!(d.logs(&user).starts_with("uid=65534"), "{}", d.logs(&user));
}

#[test]
fn oom_kill_is_recorded() {
    require_root!();
    let d = TestDaemon::with_busybox("oom");
    let (id, code) = run_to_exit(
        &d,
        &format!("{}-oom", d.prefix),
        &["sh", "-c", "head -c 200m /dev/zero | tail"],
        json!({"Memory": 33554432}),
    );
    assert_eq!(code, 137);
    let st = d.inspect(&id);
    assert_eq!(st["State"]["OOMKilled"], true);
    assert_eq!(st["HostConfig"]["Memory"], 33554432);
}

#[test]
fn restart_policy_on_failure_stops_after_the_maximum() {
    require_root!();
    let d = TestDaemon::with_busybox("restart");
    let id = d.create(
        &format!("{}-rp", d.prefix),
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo try; exit 1"], "HostConfig": {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}}),
    );
    d.req("POST", &format!("/containers/{id}/start"), "");
    let done = wait_until(Duration::from_secs(30), || {
        let st = d.inspect(&id);
        st["RestartCount"] == 2 && st["State"]["Status"] == "exited"
    });
    assert!(done, "state: {}", d.inspect(&id));
    assert_eq!(d.logs(&id), "try\ntry\ntry\n");
    // Waiting out its restart delay (doubled from 100 ms at each restart), a container is not
    // removed without force, as Docker's.
    let again = d.create(
        &format!("{}-ra", d.prefix),
        json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"RestartPolicy": {"Name": "always"}}}),
    );
    d.req("POST", &format!("/containers/{again}/start"), "");
    let restarting = wait_until(Duration::from_secs(30), || {
        let st = d.inspect(&again);
        st["RestartCount"].as_u64() >= Some(3) && st["State"]["Status"] == "restarting"
    });
    assert!(restarting, "state: {}", d.inspect(&again));
    let r = d.req("DELETE", &format!("/containers/{again}"), "");
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.text()
            .contains("You cannot remove a restarting container"),
        "{}",
        r.text()
    );
    let r = d.req("DELETE", &format!("/containers/{again}?force=1"), "");
    assert_eq!(r.status, 204, "{}", r.text());
}

#[test]
fn auto_remove_removes_after_exit_and_wait_removed_returns_the_code() {
    require_root!();
    let d = TestDaemon::with_busybox("autorm");
    let id = d.create(&format!("{}-rm", d.prefix), json!({"Image": "busybox", "Cmd": ["sh", "-c", "exit 7"], "HostConfig": {"AutoRemove": true}}));
    // docker run's order: wait (removed) first, then start.
    let sock = d.socket.clone();
    let waiter_id = id.clone();
    let waiter = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
        write!(s, "POST /containers/{waiter_id}/wait?condition=removed HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/start"), "").status,
        204
    );
    let out = waiter.join().unwrap();
    assert!(out.contains("\"StatusCode\":7"), "{out}");
    assert_eq!(
        d.req("GET", &format!("/containers/{id}/json"), "").status,
        404
    );
}

#[test]
fn bad_input_gets_dockers_codes_and_the_daemon_keeps_serving() {
    require_root!();
    let d = TestDaemon::with_busybox("bad");
    let p = &d.prefix;
    let r = d.req("POST", "/containers/create", "{not json");
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("invalid JSON"));
    assert_eq!(d.req("GET", "/containers/nope-nope/json", "").status, 404);
    assert_eq!(d.req("POST", "/containers/nope-nope/start", "").status, 404);
    let r = d.req(
        "POST",
        "/containers/create",
        &json!({"Image": "no-such-image:1"}).to_string(),
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "No such image: no-such-image:1");
    let r = d.req(
        "POST",
        "/containers/create",
        &json!({"Image": "busybox", "HostConfig": {"Memory": 100}}).to_string(),
    );
    assert_eq!(r.status, 400);
    d.create(
        &format!("{p}-dup"),
        json!({"Image": "busybox", "Cmd": ["true"]}),
    );
    let r = d.req(
        "POST",
        &format!("/containers/create?name={p}-dup"),
        &json!({"Image": "busybox", "Cmd": ["true"]}).to_string(),
    );
    assert_eq!(r.status, 409);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("is already in use"));
    // A rename onto a taken name: moby's words wrap the same conflict.
    d.create(
        &format!("{p}-other"),
        json!({"Image": "busybox", "Cmd": ["true"]}),
    );
    let r = d.req(
        "POST",
        &format!("/containers/{p}-other/rename?name={p}-dup"),
        "",
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.json()["message"].as_str().unwrap().starts_with(&format!(
            "Error when allocating new name: Conflict. The container name \"/{p}-dup\""
        )),
        "{}",
        r.text()
    );
    let r = d.req(
        "POST",
        "/containers/create",
        // `[""]` is no entrypoint, and one given (even empty) keeps the image's command out:
        // nothing to run. (`"Cmd": [], "Entrypoint": []` runs the image's, as Docker's.)
        &json!({"Image": "busybox", "Entrypoint": [""]}).to_string(),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("no command specified"), "{}", r.text());
    // A version berthd does not serve is Docker's 400 before anything is done (berthd served
    // it as its own, dropping what a newer client sent), and a body sent with it is read.
    let r = d.req(
        "POST",
        &format!("/v1.53/containers/create?name={p}-new"),
        &json!({"Image": "busybox", "Cmd": ["true"]}).to_string(),
    );
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (
            400,
            json!("client version 1.53 is too new. Maximum supported API version is 1.47")
        )
    );
    assert_eq!(
        d.req("GET", &format!("/containers/{p}-new/json"), "")
            .status,
        404
    );
    let r = d.req("GET", "/v1.23/_ping", "");
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("client version 1.23 is too old"),
        "{}",
        r.text()
    );
    assert_eq!(d.req("GET", "/v1.24/_ping", "").status, 200);
    assert_eq!(d.req("GET", "/_ping", "").status, 200);
}

#[test]
fn ps_and_inspect_report_a_containers_sizes() {
    require_root!();
    let d = TestDaemon::with_busybox("ctsize");
    // 100000 bytes written, hard-linked once more: counted once, as Docker counts.
    let (_, code) = run_to_exit(
        &d,
        "ctsize-w",
        &[
            "sh",
            "-c",
            "head -c 100000 /dev/zero > /blob && ln /blob /blob2",
        ],
        json!({}),
    );
    assert_eq!(code, 0);
    let image_size = d.req("GET", "/images/busybox/json", "").json()["Size"]
        .as_i64()
        .unwrap();
    let inspect = d.req("GET", "/containers/ctsize-w/json?size=1", "").json();
    let rw = inspect["SizeRw"].as_i64().unwrap();
    assert!((100_000..110_000).contains(&rw), "SizeRw {rw}");
    assert_eq!(inspect["SizeRootFs"].as_i64().unwrap(), rw + image_size);
    // Without ?size the fields are absent, as in Docker.
    let plain = d.req("GET", "/containers/ctsize-w/json", "").json();
    assert!(plain.get("SizeRw").is_none(), "{plain}");
    let list = d.req("GET", "/containers/json?all=1&size=1", "").json();
    assert_eq!(list[0]["SizeRw"].as_i64(), Some(rw));
    assert_eq!(list[0]["SizeRootFs"].as_i64(), Some(rw + image_size));

    let docker = d.cli_ok(&["ps", "-as", "--format", "{{.Names}} {{.Size}}"]);
    assert!(docker.starts_with("ctsize-w 10"), "{docker}");
    assert!(docker.contains("(virtual "), "{docker}");
    let berth = std::process::Command::new(berth_test_support::bin_dir().join("berth"))
        .args(["-H", &format!("unix://{}", d.socket.display())])
        .args(["ps", "-as", "--format", "{{.Names}} {{.Size}}"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&berth.stdout).trim(), docker);
    let docker_table = d.cli_ok(&["ps", "-as"]);
    let header = docker_table.lines().next().unwrap();
    assert!(header.ends_with("SIZE"), "{header}");
    d.remove_all();
}

#[test]
fn ps_filters_on_order_networks_volumes_ports_and_health() {
    require_root!();
    let d = TestDaemon::with_busybox("ctfilt");
    d.cli_ok(&["network", "create", "ctfilt-net"]);
    d.cli_ok(&[
        "create", "--name", "ctfilt-a", "--expose", "8080", "busybox", "true",
    ]);
    d.cli_ok(&[
        "create",
        "--name",
        "ctfilt-b",
        "--network",
        "ctfilt-net",
        "-v",
        "ctfilt-vol:/data",
        "-p",
        "127.0.0.1::80/udp",
        "busybox",
        "true",
    ]);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        "ctfilt-c",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "busybox",
        "sleep",
        "300",
    ]);
    let ps = |filter: &str| d.cli_ok(&["ps", "-a", "--format", "{{.Names}}", "-f", filter]);
    assert_eq!(ps("before=ctfilt-c"), "ctfilt-b\nctfilt-a");
    assert_eq!(ps("since=ctfilt-a"), "ctfilt-c\nctfilt-b");
    assert_eq!(ps("network=ctfilt-net"), "ctfilt-b");
    assert_eq!(ps("volume=ctfilt-vol"), "ctfilt-b");
    assert_eq!(ps("volume=/data"), "ctfilt-b");
    assert_eq!(ps("publish=80/udp"), "ctfilt-b");
    assert_eq!(ps("publish=80"), "");
    assert_eq!(ps("expose=8000-8090/tcp"), "ctfilt-a");
    assert_eq!(ps("health=none"), "ctfilt-b\nctfilt-a");
    assert!(wait_until(Duration::from_secs(30), || ps("health=healthy")
        == "ctfilt-c"));
    assert_eq!(ps("is-task=true"), "");
    assert_eq!(ps("is-task=false"), "ctfilt-c\nctfilt-b\nctfilt-a");
    // Values Docker refuses are refused, not matched against nothing.
    for (filter, needle) in [
        ("health=sick", "Unrecognised filter value for health: sick"),
        ("status=up", "invalid filter 'status=up'"),
        ("publish=http", "invalid port specification"),
        ("before=ctfilt-none", "No such container"),
        ("colour=red", "invalid filter 'colour'"),
    ] {
        let (code, out) = d.cli(&["ps", "-a", "-f", filter]);
        assert_ne!(code, 0, "{filter}: {out}");
        assert!(out.contains(needle), "{filter}: {out}");
    }
    d.remove_all();
}

#[test]
fn ps_shows_each_containers_networks_network_mode_and_mounts_as_inspect_does() {
    require_root!();
    let d = TestDaemon::with_busybox("ctsumm");
    d.cli_ok(&["network", "create", "ctsumm-net"]);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        "ctsumm-a",
        "--network",
        "ctsumm-net",
        "-v",
        "ctsumm-vol:/data",
        "--expose",
        "8080/udp",
        "-p",
        "127.0.0.1::9090",
        "busybox",
        "sleep",
        "300",
    ]);
    d.cli_ok(&[
        "create", "--name", "ctsumm-b", "--expose", "8080", "busybox", "true",
    ]);
    let list = d.req("GET", "/containers/json?all=1", "").json();
    let row = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["Names"][0] == format!("/{name}"))
            .unwrap()
            .clone()
    };
    let a = row("ctsumm-a");
    let inspect = d.req("GET", "/containers/ctsumm-a/json", "").json();
    assert_eq!(
        a["HostConfig"]["NetworkMode"],
        inspect["HostConfig"]["NetworkMode"]
    );
    let listed = &a["NetworkSettings"]["Networks"]["ctsumm-net"];
    let inspected = &inspect["NetworkSettings"]["Networks"]["ctsumm-net"];
    for key in [
        "IPAddress",
        "NetworkID",
        "EndpointID",
        "Gateway",
        "MacAddress",
        // Go encodes them even when unset, in the list's rows as in inspect (null here).
        "IPAMConfig",
        "Links",
        "DriverOpts",
    ] {
        assert_eq!(listed[key], inspected[key], "{key}: {a}");
        assert!(listed.get(key).is_some(), "{key}: {a}");
    }
    assert!(!listed["IPAddress"].as_str().unwrap().is_empty(), "{a}");
    assert_eq!(a["Mounts"], inspect["Mounts"]);
    assert_eq!(a["Mounts"][0]["Name"], "ctsumm-vol", "{a}");
    // A running container's exposed ports: bare when unpublished (`8080/udp`), else bound.
    let ports = a["Ports"].as_array().unwrap();
    assert_eq!(ports.len(), 2, "{a}");
    let bare = ports.iter().find(|p| p["PrivatePort"] == 8080).unwrap();
    assert_eq!(bare["Type"], "udp");
    assert!(
        bare.get("PublicPort").is_none() && bare.get("IP").is_none(),
        "{a}"
    );
    let bound = ports.iter().find(|p| p["PrivatePort"] == 9090).unwrap();
    assert_eq!(bound["IP"], "127.0.0.1");
    assert!(bound["PublicPort"].as_u64().unwrap() > 0, "{a}");
    let inspected_ports = &inspect["NetworkSettings"]["Ports"];
    assert_eq!(
        inspected_ports["8080/udp"],
        serde_json::Value::Null,
        "{inspect}"
    );
    assert!(inspected_ports.get("8080/udp").is_some(), "{inspect}");
    assert_eq!(inspected_ports["9090/tcp"][0]["HostIp"], "127.0.0.1");
    // `system df` lists the container as the list does, with its ports.
    let df = d.req("GET", "/system/df", "").json();
    let in_df = df["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Names"][0] == "/ctsumm-a")
        .unwrap()
        .clone();
    assert_eq!(in_df["Ports"], a["Ports"], "{in_df}");
    // And its sizes as the list's `size=1` rows: its own files, and with its image's.
    let sized = d.req("GET", "/containers/json?size=1", "").json();
    let sized = sized
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Names"][0] == "/ctsumm-a")
        .unwrap();
    assert!(in_df["SizeRootFs"].as_i64().unwrap() > 0, "{in_df}");
    assert_eq!(in_df["SizeRootFs"], sized["SizeRootFs"], "{in_df}");
    assert!(
        in_df["NetworkSettings"]["Networks"]["ctsumm-net"]
            .get("IPAMConfig")
            .is_some(),
        "{in_df}"
    );
    // A created container is on its network without an address yet, as in Docker.
    let b = row("ctsumm-b");
    assert_eq!(
        b["NetworkSettings"]["Networks"]["bridge"]["IPAddress"], "",
        "{b}"
    );
    assert_eq!(b["Mounts"], serde_json::json!([]));
    // Stopped: no ports, as in Docker.
    assert_eq!(b["Ports"], serde_json::json!([]));
    let b_inspect = d.req("GET", "/containers/ctsumm-b/json", "").json();
    assert_eq!(b_inspect["NetworkSettings"]["Ports"], serde_json::json!({}));
    d.remove_all();
}

/// berthd's children whose command line has `needle`.
fn children_with(parent: u32, needle: &str) -> Vec<u32> {
    berth_test_support::cleanup::processes()
        .into_iter()
        .filter(|p| u32::try_from(p.ppid) == Ok(parent) && p.mentions(needle))
        .filter_map(|p| u32::try_from(p.pid).ok())
        .collect()
}

/// `pid`'s descriptors above 2 that an exec keeps.
fn inheritable_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|fd| *fd > 2)
        .filter(|fd| {
            let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"));
            let flags = info.ok().and_then(|i| {
                i.lines()
                    .find_map(|l| l.strip_prefix("flags:"))
                    .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            });
            flags.is_some_and(|f| f & 0o2_000_000 == 0)
        })
        .count()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

#[test]
fn monitors_are_spawned_from_a_small_process_and_a_lost_spawner_is_replaced() {
    // berthd holds a descriptor per running container; a monitor it forked itself copied and
    // closed all of them, on every start. The spawner's table stays small.
    require_root!();
    let d = TestDaemon::with_busybox("ctspawn");
    let berthd = d.child.as_ref().map(std::process::Child::id).unwrap();
    let spawners = children_with(berthd, "--spawner");
    assert_eq!(spawners.len(), 1, "one spawner: {spawners:?}");
    let names: Vec<String> = (0..6).map(|i| format!("{}-{i}", d.prefix)).collect();
    for n in &names {
        d.cli_ok(&["run", "-d", "--name", n, "busybox", "sleep", "60"]);
    }
    let (held, spawner_holds) = (open_fds(berthd), open_fds(spawners[0]));
    // Its socket and stdio, and what berthd hands every monitor: its descriptors without
    // close-on-exec (the template mount namespace; under a test runner, the runner's too).
    let passed_on = inheritable_fds(berthd);
    assert!(
        spawner_holds <= 4 + passed_on,
        "the spawner holds {spawner_holds} descriptors, berthd passes on {passed_on}"
    );
    assert!(held > spawner_holds + 6, "berthd holds {held}");
    // A spawner that dies is replaced: the next start works, through a new one.
    assert!(std::process::Command::new("kill")
        .args(["-9", &spawners[0].to_string()])
        .status()
        .unwrap()
        .success());
    d.cli_ok(&["run", "--rm", "busybox", "true"]);
    d.cli_ok(&["run", "--rm", "busybox", "true"]);
    let now = children_with(berthd, "--spawner");
    assert!(
        now.len() == 1 && now[0] != spawners[0],
        "spawners now {now:?}, before {spawners:?}"
    );
    for n in &names {
        d.cli_ok(&["rm", "-f", n]);
    }
}

/// Mount points in the host's table of this process's namespace.
fn host_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

#[test]
fn a_containers_rootfs_is_mounted_apart_from_the_containers_files_and_goes_with_it() {
    // Cloning a container's files (its hosts file, its overlay's upper directory) walks every
    // mount directly below the mount they are on: no rootfs may be among them.
    require_root!();
    let d = TestDaemon::with_busybox("rootfsdir");
    let p = &d.prefix;
    let id = d.create(
        &format!("{p}-top"),
        json!({"Image": "busybox", "Cmd": ["sleep", "300"]}),
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/start"), "").status,
        204
    );
    let data = d.data_root();
    let rootfs = data.join("rootfs").join(&id).display().to_string();
    let containers = data.join("containers").display().to_string();
    let mounts = host_mounts();
    assert!(mounts.contains(&rootfs), "{rootfs} not in {mounts:?}");
    let below: Vec<&String> = mounts
        .iter()
        .filter(|m| m.starts_with(&format!("{containers}/")))
        .collect();
    assert!(
        below.is_empty(),
        "mounted among the containers' files: {below:?}"
    );
    // The root the container sees is that mount, and cp reads it.
    let out = d.cli_ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo hi > /made-inside && cat /made-inside",
    ]);
    assert_eq!(out.trim(), "hi");
    let host_copy = d.root.join("copied");
    d.cli_ok(&[
        "cp",
        &format!("{id}:/made-inside"),
        &host_copy.display().to_string(),
    ]);
    assert_eq!(std::fs::read_to_string(&host_copy).unwrap(), "hi\n");
    assert_eq!(
        d.req("DELETE", &format!("/containers/{id}?force=1"), "")
            .status,
        204
    );
    assert!(!host_mounts().contains(&rootfs), "still mounted after rm");
    assert!(
        !data.join("rootfs").join(&id).exists(),
        "rootfs directory left after rm"
    );
}

#[test]
fn log_options_put_labels_variables_and_a_tag_on_every_line_as_dockers_json_file() {
    require_root!();
    let d = TestDaemon::with_busybox("logattrs");
    let name = format!("{}-attrs", d.prefix);
    let log_config = json!({ "Type": "json-file", "Config": {
        "labels": "a,app,nolabel", "env": "B,NOENV", "env-regex": "^C",
        "tag": "{{.ImageName}}|{{.Name}}|{{.ID}}|{{.DaemonName}}|{{.Command}}" } });
    let id = d.create(
        &name,
        json!({ "Image": "busybox", "Cmd": ["sh", "-c", "echo one; echo two"],
                "Labels": { "a": "1", "app": "web", "zz": "9" },
                "Env": ["B=2", "CEE=3", "D=4"],
                "HostConfig": { "LogConfig": log_config } }),
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/start"), "").status,
        204
    );
    let r = d.req("POST", &format!("/containers/{id}/wait"), "");
    assert_eq!(r.json()["StatusCode"], 0, "{}", r.text());
    // Docker 20.10 gave these for the same options (its `logs --details` and its json line).
    let want = format!(
        "B=2,CEE=3,a=1,app=web,tag=busybox%7C{name}%7C{}%7Cdocker%7Csh+-c+echo+one%3B+echo+two",
        &id[..12]
    );
    let r = d.req(
        "GET",
        &format!("/containers/{id}/logs?stdout=1&details=1"),
        "",
    );
    let text = String::from_utf8_lossy(&berth_test_support::demux(&r.body)).into_owned();
    assert_eq!(text, format!("{want} one\n{want} two\n"));
    let path = d.inspect(&id)["LogPath"].as_str().unwrap().to_string();
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["attrs"]["a"], "1");
    assert_eq!(first["attrs"]["CEE"], "3");
    assert_eq!(
        first["attrs"]["tag"],
        format!(
            "busybox|{name}|{}|docker|sh -c echo one; echo two",
            &id[..12]
        )
    );
    assert!(first["attrs"].get("zz").is_none() && first["attrs"].get("D").is_none());

    // A bad pattern or template is refused at create (Docker fails the start).
    for (key, value, words) in [
        ("labels-regex", "(", "error parsing regexp"),
        ("tag", "{{.Foo}}", "can't evaluate field Foo"),
    ] {
        let body = json!({ "Image": "busybox", "Cmd": ["true"],
            "HostConfig": { "LogConfig": { "Type": "json-file", "Config": { key: value } } } });
        let r = d.req("POST", "/containers/create", &body.to_string());
        assert_eq!(r.status, 400, "{key}: {}", r.text());
        assert!(r.text().contains(words), "{key}: {}", r.text());
    }
    // berth's CLI passes them through and prints the details.
    let (code, out) = d.berth(&[
        "run",
        "--name",
        &format!("{}-cli", d.prefix),
        "-e",
        "B=2",
        "--log-opt",
        "env=B",
        "busybox",
        "echo",
        "hi",
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = d.berth(&["logs", "--details", &format!("{}-cli", d.prefix)]);
    assert_eq!((code, out.as_str()), (0, "B=2 hi\n"));
}

/// `docker inspect` prints the daemon's JSON as it comes: Docker's starts `{"Id":…`, with its
/// fields in Go's order and null where the docker CLI sent nothing (berth's came sorted, from
/// `AppArmorProfile`, with `[]` for unset lists).
#[test]
fn inspect_answers_in_dockers_order_with_dockers_nulls() {
    require_root!();
    let d = TestDaemon::with_busybox("ctorder");
    d.cli_ok(&[
        "create",
        "--name",
        "ctorder-a",
        "--health-cmd",
        "true",
        "busybox",
        "sleep",
        "1",
    ]);
    let r = d.req("GET", "/containers/ctorder-a/json", "");
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(
        text.starts_with(r#"{"Id":""#) && text.contains(r#""State":{"Status":"created","Running""#),
        "{text}"
    );
    assert!(
        text.contains(
            r#""HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"json-file""#
        ),
        "{text}"
    );
    let v = r.json();
    let (config, host) = (&v["Config"], &v["HostConfig"]);
    assert_eq!(config["Entrypoint"], serde_json::Value::Null, "{config}");
    // Neither the imported image nor the run set a variable: Go's nil slice.
    assert_eq!(config["Env"], serde_json::Value::Null, "{config}");
    assert!(config.get("ExposedPorts").is_none(), "{config}");
    assert_eq!(
        config["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "true"]})
    );
    assert_eq!(host["CapAdd"], serde_json::Value::Null, "{host}");
    assert_eq!(host["PortBindings"], json!({}), "{host}");
    assert!(host.get("Init").is_none(), "{host}");
    // The CLI's own reading of it.
    assert_eq!(
        d.cli_ok(&[
            "inspect",
            "-f",
            "{{json .Config.Entrypoint}} {{.HostConfig.LogConfig.Type}}",
            "ctorder-a"
        ])
        .trim(),
        "null json-file"
    );
    // A running container names its sandbox, and the key is the file named by the ID's first
    // 12 characters, as Docker's; a stopped one has neither (moby's releaseNetwork).
    let id = d
        .cli_ok(&[
            "run",
            "-d",
            "--name",
            "ctorder-b",
            "busybox",
            "sleep",
            "600",
        ])
        .trim()
        .to_string();
    let sandbox = |name: &str| {
        let v = d.req("GET", &format!("/containers/{name}/json"), "").json();
        let s = &v["NetworkSettings"];
        (
            s["SandboxID"].as_str().unwrap_or("?").to_string(),
            s["SandboxKey"].as_str().unwrap_or("?").to_string(),
        )
    };
    let (sid, key) = sandbox("ctorder-b");
    assert_eq!(sid, id);
    assert!(key.ends_with(&format!("/netns/{}", &id[..12])), "{key}");
    assert!(std::path::Path::new(&key).exists(), "{key}");
    d.cli_ok(&["stop", "-t", "0", "ctorder-b"]);
    assert_eq!(sandbox("ctorder-b"), (String::new(), String::new()));
    d.remove_all();
}
