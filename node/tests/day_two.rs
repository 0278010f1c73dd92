//! Day-two operations against a real berthd: pause/unpause, stats that follow the container's
//! memory, events in order with filters and across a restart, cp both ways keeping modes, top.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::{require_root, urlencode, wait_until, TestDaemon};
use serde_json::{json, Value};
use std::time::Duration;

fn run(d: &TestDaemon, name: &str, cmd: &[&str]) -> String {
    let id = d.create(
        &format!("{}-{name}", d.prefix),
        json!({"Image": "busybox", "Cmd": cmd}),
    );
    let r = d.req("POST", &format!("/containers/{id}/start"), "");
    assert_eq!(r.status, 204, "start: {}", r.text());
    id
}

fn lines(d: &TestDaemon, id: &str) -> usize {
    d.logs(id).lines().count()
}

#[test]
fn a_paused_container_makes_no_progress_until_unpaused() {
    require_root!();
    let d = TestDaemon::with_busybox("pause");
    let id = run(
        &d,
        "tick",
        &["sh", "-c", "while true; do echo t; sleep 0.1; done"],
    );
    assert!(wait_until(Duration::from_secs(10), || lines(&d, &id) >= 2));
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/pause"), "").status,
        204
    );
    assert_eq!(d.inspect(&id)["State"]["Status"], "paused");
    assert_eq!(d.inspect(&id)["State"]["Paused"], true);
    let frozen = lines(&d, &id);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(lines(&d, &id), frozen, "no output while paused");
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/pause"), "").status,
        409
    );
    let r = d.req(
        "POST",
        &format!("/containers/{id}/exec"),
        r#"{"Cmd":["true"]}"#,
    );
    assert_eq!(r.status, 409, "exec in a paused container: {}", r.text());
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/unpause"), "")
            .status,
        204
    );
    assert!(wait_until(Duration::from_secs(10), || lines(&d, &id) > frozen + 2));
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/unpause"), "")
            .status,
        409
    );
    // Stopping a paused container works (it is killed and thawed).
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/pause"), "").status,
        204
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/stop?t=1"), "")
            .status,
        204
    );
    assert_eq!(d.inspect(&id)["State"]["Status"], "exited");
    d.remove_all();
}

fn stats(d: &TestDaemon, id: &str) -> Value {
    let r = d.req(
        "GET",
        &format!("/containers/{id}/stats?stream=0&one-shot=1"),
        "",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[test]
fn stats_follow_memory_the_container_allocates() {
    require_root!();
    let d = TestDaemon::with_busybox("stats");
    let id = run(&d, "mem", &["sh", "-c", "sleep 1; dd if=/dev/zero of=/dev/shm/fill bs=1M count=55 2>/dev/null; echo grown; sleep 300"]);
    let before = stats(&d, &id);
    assert_eq!(before["name"], format!("/{}-mem", d.prefix));
    let base = before["memory_stats"]["usage"].as_u64().unwrap();
    assert!(before["memory_stats"]["limit"].as_u64().unwrap() > 0);
    assert!(before["pids_stats"]["current"].as_u64().unwrap() >= 1);
    assert!(wait_until(Duration::from_secs(30), || d
        .logs(&id)
        .contains("grown")));
    let after = stats(&d, &id);
    let grown = after["memory_stats"]["usage"].as_u64().unwrap();
    assert!(
        grown > base + 50_000_000,
        "memory usage went from {base} to {grown}"
    );
    assert!(
        after["cpu_stats"]["cpu_usage"]["total_usage"]
            .as_u64()
            .unwrap()
            > 0
    );
    // Tmpfs pages are charged to the container's memory cgroup, as Docker counts them.
    // Without one-shot, Docker's two readings: precpu is the first.
    let two = d
        .req("GET", &format!("/containers/{id}/stats?stream=0"), "")
        .json();
    assert!(two["precpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0);
    d.remove_all();
}

fn events(d: &TestDaemon, query: &str) -> Vec<Value> {
    let r = d.req("GET", &format!("/events?{query}"), "");
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `"<Type> <Action>"` of each of `all` that `keep` keeps, in order.
fn event_order(all: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<String> {
    all.iter()
        .filter(|e| keep(e))
        .map(|e| {
            format!(
                "{} {}",
                e["Type"].as_str().unwrap(),
                e["Action"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn events_come_in_order_filtered_and_survive_a_restart() {
    require_root!();
    let mut d = TestDaemon::with_busybox("events");
    let since = chrono::Utc::now().timestamp() - 1;
    let id = run(&d, "ev", &["true"]);
    let r = d.req("POST", &format!("/containers/{id}/wait"), "");
    assert_eq!(r.json()["StatusCode"], 0);
    let other = run(&d, "other", &["true"]);
    // Its die event must be in before `until` is read (the full suite once caught it later).
    let r = d.req("POST", &format!("/containers/{other}/wait"), "");
    assert_eq!(r.json()["StatusCode"], 0);
    let until = chrono::Utc::now().timestamp() + 1;
    let name = format!("{}-ev", d.prefix);
    let filters = format!("{{\"container\":[\"{name}\"]}}");
    let q = format!(
        "since={since}&until={until}&filters={}",
        urlencode(&filters)
    );
    let got = events(&d, &q);
    let actions: Vec<&str> = got.iter().map(|e| e["Action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["create", "start", "die"], "{got:?}");
    assert_eq!(got[2]["Actor"]["Attributes"]["exitCode"], "0");
    assert_eq!(got[0]["Actor"]["ID"], id.as_str());
    assert!(got
        .windows(2)
        .all(|w| w[0]["timeNano"].as_i64() <= w[1]["timeNano"].as_i64()));
    let only_die = r#"{"event":["die"],"type":["container"]}"#;
    let dies = events(
        &d,
        &format!(
            "since={since}&until={until}&filters={}",
            urlencode(only_die)
        ),
    );
    let ids: Vec<&str> = dies.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![id.as_str(), other.as_str()]);
    assert_eq!(
        d.req("POST", "/images/busybox/tag?repo=bt-events&tag=v1", "")
            .status,
        201
    );
    assert_eq!(d.req("DELETE", "/images/bt-events:v1", "").status, 200);
    let img_filter = urlencode(r#"{"type":["image"]}"#);
    let until = chrono::Utc::now().timestamp() + 1;
    let img = events(
        &d,
        &format!("since={since}&until={until}&filters={img_filter}"),
    );
    let img_actions: Vec<&str> = img.iter().map(|e| e["Action"].as_str().unwrap()).collect();
    assert!(img_actions.ends_with(&["tag", "untag"]), "{img_actions:?}");
    // As moby names them: the tag in its familiar form, the untagged image by its id.
    let busybox = d.req("GET", "/images/busybox/json", "").json()["Id"].clone();
    let tail = &img[img.len() - 2..];
    assert_eq!(tail[0]["Actor"]["Attributes"]["name"], "bt-events:v1");
    assert_eq!(tail[1]["Actor"]["Attributes"]["name"], busybox);
    assert_eq!(tail[1]["Actor"]["ID"], busybox);
    // The container's network around its start and exit (berth logged none): connect before
    // start, disconnect after die.
    let mine = |e: &serde_json::Value| {
        e["Type"] == "container" && e["Actor"]["ID"] == id.as_str()
            || e["Type"] == "network" && e["Actor"]["Attributes"]["container"] == id.as_str()
    };
    let all = events(&d, &format!("since={since}&until={until}"));
    let order = event_order(&all, mine);
    assert_eq!(
        order,
        [
            "container create",
            "network connect",
            "container start",
            "container die",
            "network disconnect"
        ],
        "{all:?}"
    );
    // scope=local keeps this daemon's events; scope=swarm has none outside a swarm.
    let scoped = |scope: &str| {
        let f = urlencode(&format!(r#"{{"scope":["{scope}"],"type":["image"]}}"#));
        events(&d, &format!("since={since}&until={until}&filters={f}")).len()
    };
    assert_eq!(scoped("local"), img.len());
    assert_eq!(scoped("swarm"), 0);
    d.kill9();
    d.spawn();
    assert_eq!(
        events(&d, &q).len(),
        3,
        "events are kept across a daemon restart"
    );
    let bad = d.req(
        "GET",
        "/events?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D&until=1",
        "",
    );
    assert_eq!(bad.status, 400);
    assert_eq!(
        d.req("GET", "/events?since=yesterday&until=1", "").status,
        400
    );
    // An `until` before `since`: moby's 400 with the times as sent (berth answered nothing).
    let r = d.req("GET", "/events?since=1796711185&until=1796711184", "");
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (
            400,
            json!("`since` time (1796711185) cannot be after `until` time (1796711184)")
        )
    );
    d.remove_all();
}

/// `docker run --rm --network none` logs what Docker's does, in its order: the attach before
/// the start, and the sandbox's join of `none` (berth logged neither).
#[test]
fn a_run_logs_its_attach_and_its_none_network_as_dockers() {
    require_root!();
    let d = TestDaemon::with_busybox("evnone");
    let since = chrono::Utc::now().timestamp() - 1;
    let name = format!("{}-n", d.prefix);
    d.cli_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--name",
        &name,
        "busybox",
        "true",
    ]);
    let until = chrono::Utc::now().timestamp() + 1;
    let all = events(&d, &format!("since={since}&until={until}"));
    let order = event_order(&all, |e| {
        e["Actor"]["Attributes"]["name"] == name.as_str()
            || e["Actor"]["Attributes"]["name"] == "none"
    });
    assert_eq!(
        order,
        [
            "container create",
            "container attach",
            "network connect",
            "container start",
            "container die",
            "network disconnect",
            "container destroy"
        ],
        "{all:?}"
    );
    d.remove_all();
}

/// The container events of restart, cp both ways, export, exec and commit that Docker logs
/// (berth logged none of `restart`, `archive-path`, `extract-to-dir`, `export` and the commit's
/// `tag`), with moby's exec action text.
#[test]
fn day_two_operations_log_dockers_events() {
    require_root!();
    let d = TestDaemon::with_busybox("evops");
    let since = chrono::Utc::now().timestamp() - 1;
    let name = format!("{}-c", d.prefix);
    let image = format!("{}-img:1", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &name,
        "busybox",
        "sleep",
        "300",
    ]);
    d.cli_ok(&["restart", "-t", "0", &name]);
    d.cli_ok(&["exec", &name, "true"]);
    let file = d.root.join("evops-file");
    std::fs::write(&file, "x").unwrap();
    d.cli_ok(&["cp", file.to_str().unwrap(), &format!("{name}:/tmp/")]);
    d.cli_ok(&[
        "cp",
        &format!("{name}:/tmp/evops-file"),
        d.root.join("back").to_str().unwrap(),
    ]);
    d.cli_ok(&[
        "export",
        "-o",
        d.root.join("export.tar").to_str().unwrap(),
        &name,
    ]);
    d.cli_ok(&["commit", "--pause=false", &name, &image]);
    let until = chrono::Utc::now().timestamp() + 1;
    let all = events(&d, &format!("since={since}&until={until}"));
    let order: Vec<String> = event_order(&all, |e| {
        e["Actor"]["Attributes"]["name"] == name.as_str()
            || e["Actor"]["Attributes"]["name"] == image.as_str()
    })
    .into_iter()
    .filter(|a| !a.ends_with(" kill") && !a.starts_with("network "))
    .collect();
    assert_eq!(
        order,
        [
            "container create",
            "container start",
            "container die",
            "container stop",
            "container start",
            "container restart",
            "container exec_create: true ",
            "container exec_start: true ",
            "container exec_die",
            "container extract-to-dir",
            "container archive-path",
            "container export",
            "image tag",
            "container commit"
        ],
        "{all:?}"
    );
    d.remove_all();
}

#[test]
fn cp_copies_both_ways_keeping_modes_and_refuses_missing_paths() {
    require_root!();
    let d = TestDaemon::with_busybox("cp");
    let id = run(&d, "cp", &["sleep", "300"]);
    // Into the container: a tar with an executable file.
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o750);
    h.set_uid(1234);
    h.set_cksum();
    tar.append_data(&mut h, "tool", &b"hello"[..]).unwrap();
    let bytes = tar.into_inner().unwrap();
    let r = d
        .try_request(
            "PUT",
            &format!("/containers/{id}/archive?path=/tmp"),
            &bytes,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    // The docker CLI's `cp` asks that a directory never replace a file (nor the reverse).
    let mut dir = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_size(0);
    h.set_mode(0o755);
    h.set_cksum();
    dir.append_data(&mut h, "tool/", std::io::empty()).unwrap();
    let r = d
        .try_request(
            "PUT",
            &format!("/containers/{id}/archive?path=/tmp&noOverwriteDirNonDir=true"),
            &dir.into_inner().unwrap(),
        )
        .unwrap();
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.text()
            .contains(r#"cannot overwrite non-directory \"/tmp/tool\" with directory"#),
        "{}",
        r.text()
    );
    let exec = d.req(
        "POST",
        &format!("/containers/{id}/exec"),
        r#"{"Cmd":["stat","-c","%a %u %s","/tmp/tool"],"AttachStdout":true}"#,
    );
    let eid = exec.json()["Id"].as_str().unwrap().to_string();
    let out = d.req("POST", &format!("/exec/{eid}/start"), "{}");
    assert_eq!(
        String::from_utf8_lossy(&berth_test_support::demux(&out.body)).trim(),
        "750 0 5",
        "mode kept, owned by root without copyUIDGID"
    );
    // Out of the container, from a stopped one too.
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/stop?t=1"), "")
            .status,
        204
    );
    let r = d.req(
        "HEAD",
        &format!("/containers/{id}/archive?path=/tmp/tool"),
        "",
    );
    assert_eq!(r.status, 200);
    assert!(
        r.headers
            .to_ascii_lowercase()
            .contains("x-docker-container-path-stat"),
        "{}",
        r.headers
    );
    let r = d.req(
        "GET",
        &format!("/containers/{id}/archive?path=/tmp/tool"),
        "",
    );
    assert_eq!(r.status, 200);
    let mut archive = tar::Archive::new(&r.body[..]);
    let mut entries = archive.entries().unwrap();
    let mut e = entries.next().unwrap().unwrap();
    assert_eq!(e.path().unwrap().to_str(), Some("tool"));
    assert_eq!(e.header().mode().unwrap() & 0o777, 0o750);
    let mut content = String::new();
    std::io::Read::read_to_string(&mut e, &mut content).unwrap();
    assert_eq!(content, "hello");
    let r = d.req(
        "GET",
        &format!("/containers/{id}/archive?path=/no/such/file"),
        "",
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = d
        .try_request(
            "PUT",
            &format!("/containers/{id}/archive?path=/tmp/tool"),
            &bytes,
        )
        .unwrap();
    assert_eq!(r.status, 400, "extracting onto a file: {}", r.text());
    assert_eq!(r.json()["message"], "extraction point is not a directory");
    let r = d.req("GET", "/containers/nope/archive?path=/", "");
    assert_eq!(r.status, 404);
    // A read-only rootfs: Docker's words, not the kernel's, decided by where the copy goes
    // (up front, as Docker: even an empty archive), and a missing destination is still a 404.
    let ro = d.create(
        &format!("{}-ro", d.prefix),
        json!({"Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": {
            "ReadonlyRootfs": true,
            "Mounts": [
                {"Type": "volume", "Source": format!("{}-rw", d.prefix), "Target": "/rw"},
                {"Type": "volume", "Source": format!("{}-rov", d.prefix), "Target": "/rw/ro", "ReadOnly": true},
            ],
        }}),
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{ro}/start"), "").status,
        204
    );
    let empty = tar::Builder::new(Vec::new()).into_inner().unwrap();
    let put = |path: &str, tar: &[u8]| {
        let r = d
            .try_request("PUT", &format!("/containers/{ro}/archive?path={path}"), tar)
            .unwrap();
        let message = r
            .try_json()
            .ok()
            .and_then(|v| v["message"].as_str().map(String::from));
        (r.status, message.unwrap_or_default())
    };
    let rootfs_ro = (500, "container rootfs is marked read-only".to_string());
    let volume_ro = (500, "mounted volume is marked read-only".to_string());
    assert_eq!(put("/tmp", &bytes), rootfs_ro);
    assert_eq!(put("/tmp", &empty), rootfs_ro);
    assert_eq!(put("/rw/ro", &empty), volume_ro);
    assert_eq!(put("/rw/ro/../", &bytes), (200, String::new()));
    assert_eq!(put("/no/such/dir", &empty).0, 404);
    let r = d.req(
        "GET",
        &format!("/containers/{ro}/archive?path=/rw/tool"),
        "",
    );
    assert_eq!(
        r.status,
        200,
        "the copy into the writable volume: {}",
        r.text()
    );
    assert!(
        wait_until(Duration::from_secs(5), || !std::fs::read_to_string(
            "/proc/self/mounts"
        )
        .unwrap()
        .contains(&id)),
        "the stopped container's rootfs was unmounted"
    );
    d.remove_all();
}

#[test]
fn top_lists_the_containers_processes_only() {
    require_root!();
    let d = TestDaemon::with_busybox("top");
    let id = run(&d, "top", &["sleep", "300"]);
    let r = d.req("GET", &format!("/containers/{id}/top"), "");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let titles: Vec<&str> = v["Titles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"PID") && titles.contains(&"CMD"),
        "{titles:?}"
    );
    let procs = v["Processes"].as_array().unwrap();
    assert_eq!(procs.len(), 1, "{procs:?}");
    assert!(procs[0]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .contains("sleep 300"));
    // Options ps refuses: the first line of its complaint, as moby's (not its usage text).
    let r = d.req("GET", &format!("/containers/{id}/top?ps_args=--bogus"), "");
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        "ps: error: unknown gnu long option",
        "{}",
        r.text()
    );
    d.remove_all();
}

#[test]
fn a_failing_healthcheck_turns_unhealthy_and_a_passing_one_healthy() {
    require_root!();
    let d = TestDaemon::with_busybox("health");
    let check = |test: Value| json!({"Test": test, "Interval": 200_000_000, "Retries": 2});
    let sick = d.create(
        &format!("{}-sick", d.prefix),
        json!({"Image": "busybox", "Cmd": ["sleep", "300"], "Healthcheck": check(json!(["CMD-SHELL", "echo failing; exit 1"]))}),
    );
    let well = d.create(
        &format!("{}-well", d.prefix),
        json!({"Image": "busybox", "Cmd": ["sleep", "300"], "Healthcheck": check(json!(["CMD", "true"]))}),
    );
    let since = chrono::Utc::now().timestamp() - 1;
    for id in [&sick, &well] {
        assert_eq!(
            d.req("POST", &format!("/containers/{id}/start"), "").status,
            204
        );
    }
    let status = |id: &str| {
        d.inspect(id)["State"]["Health"]["Status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        wait_until(Duration::from_secs(20), || status(&sick) == "unhealthy"),
        "{}",
        d.inspect(&sick)["State"]
    );
    assert!(
        wait_until(Duration::from_secs(20), || status(&well) == "healthy"),
        "{}",
        d.inspect(&well)["State"]
    );
    let health = &d.inspect(&sick)["State"]["Health"];
    assert!(health["FailingStreak"].as_i64().unwrap() >= 2);
    assert_eq!(health["Log"][0]["ExitCode"], 1);
    assert_eq!(health["Log"][0]["Output"], "failing\n");
    let list = d.req("GET", "/containers/json", "").json();
    let sick_row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Id"] == sick.as_str())
        .unwrap();
    assert!(
        sick_row["Status"]
            .as_str()
            .unwrap()
            .ends_with("(unhealthy)"),
        "{sick_row}"
    );
    let until = chrono::Utc::now().timestamp() + 1;
    let evs = events(
        &d,
        &format!(
            "since={since}&until={until}&filters={}",
            urlencode("{\"event\":[\"health_status\"]}")
        ),
    );
    assert!(
        evs.iter()
            .any(|e| e["Action"] == "health_status: unhealthy" && e["id"] == sick.as_str()),
        "{evs:?}"
    );
    d.remove_all();
}

#[test]
fn update_export_diff_prune_and_df_do_what_docker_does() {
    require_root!();
    let d = TestDaemon::with_busybox("maint");
    let id = run(
        &d,
        "maint",
        &["sh", "-c", "echo x > /new; rm /bin/ls; sleep 300"],
    );
    assert!(wait_until(Duration::from_secs(10), || {
        let c = d
            .req("GET", &format!("/containers/{id}/changes"), "")
            .json();
        c.as_array().is_some_and(|a| a.len() == 3)
    }));
    let changes = d
        .req("GET", &format!("/containers/{id}/changes"), "")
        .json();
    assert_eq!(
        changes,
        json!([{"Path": "/bin", "Kind": 0}, {"Path": "/bin/ls", "Kind": 2}, {"Path": "/new", "Kind": 1}])
    );
    let r = d.req("POST", &format!("/containers/{id}/update"), r#"{"Memory":67108864,"PidsLimit":50,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let host = &d.inspect(&id)["HostConfig"];
    assert_eq!(
        (
            host["Memory"].as_i64(),
            host["RestartPolicy"]["Name"].as_str()
        ),
        (Some(67_108_864), Some("on-failure"))
    );
    let limit = ["/sys/fs/cgroup/memory", "/sys/fs/cgroup"]
        .iter()
        .find_map(|root| {
            std::fs::read_to_string(format!("{root}/berth/{id}/memory.limit_in_bytes"))
                .or_else(|_| std::fs::read_to_string(format!("{root}/berth/{id}/memory.max")))
                .ok()
        })
        .unwrap();
    assert_eq!(
        limit.trim(),
        "67108864",
        "the running container's cgroup changed"
    );
    let bad = d.req(
        "POST",
        &format!("/containers/{id}/update"),
        r#"{"RestartPolicy":{"Name":"sometimes"}}"#,
    );
    assert_eq!(bad.status, 400);
    let r = d.req("GET", &format!("/containers/{id}/export"), "");
    assert_eq!(r.status, 200);
    let names: Vec<String> = tar::Archive::new(&r.body[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names.iter().any(|n| n.trim_start_matches("./") == "new"),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.trim_start_matches("./") == "bin/ls"));
    // Directories are named with a trailing slash, as in Docker's archives.
    let raw: Vec<String> = tar::Archive::new(&r.body[..])
        .entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect();
    assert!(raw.iter().any(|n| n == "etc/"), "{raw:?}");
    let done = run(&d, "done", &["true"]);
    assert_eq!(
        d.req("POST", &format!("/containers/{done}/wait"), "")
            .status,
        200
    );
    // `until` as Docker's client sends it, typed by the user: a duration back from now, a
    // date, Unix seconds (berth read only the last and RFC 3339). Nothing is older than these.
    let prune_until = |until: &str| {
        let filters = format!(r#"{{"until":["{until}"]}}"#).replace('"', "%22");
        let filters = filters.replace('{', "%7B").replace('}', "%7D");
        let filters = filters
            .replace('[', "%5B")
            .replace(']', "%5D")
            .replace(':', "%3A");
        d.req("POST", &format!("/containers/prune?filters={filters}"), "")
    };
    for until in [
        "24h",
        "1h30m",
        "2006-01-02",
        "2006-01-02T15:04",
        "1136214245",
        "2006-01-02T15:04:05Z",
    ] {
        let r = prune_until(until);
        assert_eq!(
            (r.status, r.json()["ContainersDeleted"].clone()),
            (200, Value::Null),
            "{until}"
        );
    }
    let r = prune_until("yesterday");
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (
            400,
            json!("failed to parse value as time or duration: \"yesterday\"")
        )
    );
    // An hour from now: everything stopped is older.
    let pruned = prune_until("-1h").json();
    assert_eq!(pruned["ContainersDeleted"], json!([done]));
    assert_eq!(
        d.req("GET", &format!("/containers/{id}/json"), "").status,
        200,
        "running containers stay"
    );
    let history = d.req("GET", "/images/busybox/history", "").json();
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");
    assert_eq!(history[0]["Comment"], "Imported from -");
    assert!(history[0]["Size"].as_i64().unwrap() > 0);
    let vol = format!("{}-dfvol", d.prefix);
    let r = d.req("POST", "/volumes/create", &json!({"Name": vol}).to_string());
    assert_eq!(r.status, 201, "{}", r.text());
    let df = d.req("GET", "/system/df", "").json();
    assert_eq!(df["Images"][0]["Containers"], 1);
    // A volume's row is the list's, with its usage (it lacked Options and showed `{}` labels).
    let row = &df["Volumes"][0];
    assert_eq!(
        (&row["Name"], &row["Options"], &row["Labels"]),
        (&json!(vol), &Value::Null, &Value::Null),
        "{row}"
    );
    assert_eq!(row["UsageData"]["RefCount"], 0, "{row}");
    assert!(df["LayersSize"].as_i64().unwrap() > 0);
    assert_eq!(df["Containers"].as_array().unwrap().len(), 1);
    let images = d.req("POST", "/images/prune", "").json();
    assert_eq!(
        images["ImagesDeleted"],
        Value::Null,
        "the used busybox image is not dangling: {images}"
    );
    assert_eq!(
        d.req(
            "POST",
            "/containers/prune?filters=%7B%22colour%22%3A%5B%22x%22%5D%7D",
            ""
        )
        .status,
        400
    );
    d.remove_all();
}
