//! `POST /build`, `/commit`, `/build/prune` against a real berthd: RUN steps as containers,
//! the JSON message stream, the build cache, errors before and after the stream starts,
//! hostile contexts, and what builds leave in `images`, `history`, `rmi` and `system df`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::{require_root, Response as Resp, TestDaemon};
use serde_json::Value;

/// A context tar of `(name, content)` files (names ending in `/` are directories).
fn context(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
        } else {
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
        }
        h.set_path(name).unwrap();
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Builds; the response and its JSON lines.
fn build(d: &TestDaemon, query: &str, tar: &[u8]) -> (Resp, Vec<Value>) {
    let r = d
        .try_request("POST", &format!("/v1.41/build?{query}"), tar)
        .unwrap();
    let lines = r
        .text()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (r, lines)
}

fn stream_text(lines: &[Value]) -> String {
    lines.iter().filter_map(|l| l["stream"].as_str()).collect()
}

fn aux_id(lines: &[Value]) -> String {
    lines
        .iter()
        .rev()
        .find_map(|l| l.pointer("/aux/ID").and_then(Value::as_str))
        .unwrap_or_else(|| panic!("no aux id in {lines:?}"))
        .to_string()
}

fn run_output(d: &TestDaemon, image: &str, cmd: &[&str]) -> String {
    let mut body = serde_json::json!({ "Image": image });
    if !cmd.is_empty() {
        body["Cmd"] = serde_json::json!(cmd);
    }
    let id = d.create(&format!("{}-run{}", d.prefix, rand_suffix()), body);
    let r = d.req("POST", &format!("/containers/{id}/start"), "");
    assert_eq!(r.status, 204, "{}", r.text());
    let w = d.req("POST", &format!("/containers/{id}/wait"), "");
    assert_eq!(w.json()["StatusCode"], 0, "{}", d.logs(&id));
    let out = d.logs(&id);
    d.req("DELETE", &format!("/containers/{id}?force=1"), "");
    out
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0)
}

const APP: &[u8] = b"FROM busybox:latest\nARG V=default\nENV APP_V=$V\nWORKDIR /app\nCOPY sub/file.txt ./\nRUN echo \"built-$V\" > built.txt && echo ran-$V && rm /etc/group\nLABEL role=test\nEXPOSE 8080\nCMD [\"sh\", \"-c\", \"cat built.txt file.txt; echo $APP_V; ls /etc\"]\n";

#[test]
fn a_build_runs_steps_streams_their_output_and_caches_them() {
    require_root!();
    let d = TestDaemon::with_busybox("build");
    let tar = context(&[
        ("Dockerfile", APP),
        ("sub/", b""),
        ("sub/file.txt", b"from-context\n"),
    ]);
    let (r, lines) = build(&d, "t=bt-app%3A1&buildargs=%7B%22V%22%3A%22x%22%7D", &tar);
    assert_eq!(r.status, 200, "{}", r.text());
    let text = stream_text(&lines);
    assert!(
        text.starts_with("Step 1/9 : FROM busybox:latest\n ---> "),
        "{text}"
    );
    assert!(text.contains("Step 6/9 : RUN echo"), "{text}");
    assert!(text.contains(" ---> Running in "), "{text}");
    assert!(
        text.contains("ran-x\n"),
        "the RUN's output is streamed: {text}"
    );
    assert!(text.contains("Removing intermediate container "), "{text}");
    assert!(text.ends_with("Successfully tagged bt-app:1\n"), "{text}");
    let id = aux_id(&lines);
    let out = run_output(&d, "bt-app:1", &[]);
    assert!(out.starts_with("built-x\nfrom-context\nx\n"), "{out}");
    assert!(
        !out.contains("group"),
        "the RUN's deletion is in the image: {out}"
    );
    let img = d.req("GET", "/images/bt-app:1/json", "").json();
    assert_eq!(img["Id"], id.as_str());
    assert_eq!(img["Config"]["WorkingDir"], "/app");
    assert_eq!(img["Config"]["Labels"]["role"], "test");
    assert_eq!(
        img["Config"]["ExposedPorts"]["8080/tcp"],
        serde_json::json!({})
    );
    // Unchanged: every step comes from the cache and the image is the same.
    let (_, again) = build(&d, "t=bt-app%3A1&buildargs=%7B%22V%22%3A%22x%22%7D", &tar);
    assert_eq!(
        stream_text(&again).matches(" ---> Using cache\n").count(),
        8
    );
    assert_eq!(aux_id(&again), id);
    // A changed file misses from its COPY on.
    let changed = context(&[
        ("Dockerfile", APP),
        ("sub/", b""),
        ("sub/file.txt", b"changed\n"),
    ]);
    let (_, third) = build(
        &d,
        "t=bt-app%3A2&buildargs=%7B%22V%22%3A%22x%22%7D",
        &changed,
    );
    let text = stream_text(&third);
    assert_eq!(text.matches(" ---> Using cache\n").count(), 3, "{text}");
    assert!(run_output(&d, "bt-app:2", &[]).contains("changed"));
    // History: every step has its image, the RUN shows the argument it saw.
    let h = d.req("GET", "/images/bt-app:1/history", "").json();
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 9);
    assert!(h
        .iter()
        .take(8)
        .all(|e| e["Id"].as_str().unwrap().starts_with("sha256:")));
    assert_eq!(
        h[3]["CreatedBy"],
        "|1 V=x /bin/sh -c echo \"built-$V\" > built.txt && echo ran-$V && rm /etc/group"
    );
    // Intermediate images are listed only with all=1.
    let n = |q: &str| {
        d.req("GET", &format!("/images/json{q}"), "")
            .json()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(n(""), 3);
    assert!(n("?all=1") > 10);
    let df = d.req("GET", "/system/df", "").json();
    assert!(!df["BuildCache"].as_array().unwrap().is_empty());
    // Removing the built image takes the steps only it needed.
    let removed = d.req("DELETE", "/images/bt-app:2", "").json();
    let deleted = removed
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i.get("Deleted").is_some())
        .count();
    assert!(deleted >= 4, "{removed}");
    assert_eq!(n(""), 2);
    let p = d.req("POST", "/build/prune?all=1", "").json();
    assert!(
        p["CachesDeleted"].as_array().is_some_and(|a| !a.is_empty()),
        "{p}"
    );
    assert!(
        run_output(&d, "bt-app:1", &[]).contains("built-x"),
        "prune keeps named images"
    );
}

#[test]
fn failures_before_and_after_the_stream_starts_read_as_dockerds() {
    require_root!();
    let d = TestDaemon::with_busybox("buildfail");
    let (r, lines) = build(
        &d,
        "",
        &context(&[("Dockerfile", b"FROM busybox\nRUN echo before && exit 7\n")]),
    );
    assert_eq!(r.status, 200);
    let last = lines.last().unwrap();
    assert_eq!(last["errorDetail"]["code"], 7, "{lines:?}");
    assert_eq!(
        last["error"],
        "The command '/bin/sh -c echo before && exit 7' returned a non-zero code: 7"
    );
    assert!(stream_text(&lines).contains("before\n"));
    let r = d
        .try_request(
            "POST",
            "/build",
            &context(&[("Dockerfile", b"FROM busybox\nBOGUS x\n")]),
        )
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "dockerfile parse error line 2: unknown instruction: BOGUS"
    );
    let r = d
        .try_request(
            "POST",
            "/build?dockerfile=nope",
            &context(&[("Dockerfile", b"FROM busybox\n")]),
        )
        .unwrap();
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (400, "Cannot locate specified Dockerfile: nope")
    );
    let r = d
        .try_request(
            "POST",
            "/build?version=2",
            &context(&[("Dockerfile", b"FROM busybox\n")]),
        )
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("BuildKit (version=2) is not supported"));
    let r = d.req("POST", "/session", "");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("/session"));
    let r = d
        .try_request(
            "POST",
            "/build",
            &context(&[("Dockerfile", b"FROM nosuch:image\n")]),
        )
        .unwrap();
    assert!(r.text().contains("nosuch"), "{}", r.text());
    // -q: only the image id, or what was held back and the error.
    let (_, lines) = build(
        &d,
        "q=1",
        &context(&[("Dockerfile", b"FROM busybox\nENV A=1\n")]),
    );
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0]["stream"].as_str().unwrap().starts_with("sha256:"));
    let (_, lines) = build(
        &d,
        "q=1",
        &context(&[("Dockerfile", b"FROM busybox\nRUN exit 3\n")]),
    );
    assert_eq!(lines.last().unwrap()["errorDetail"]["code"], 3);
}

#[test]
fn a_hostile_context_cannot_reach_the_host() {
    require_root!();
    let d = TestDaemon::with_busybox("buildhost");
    let secret = d.root.join("host-secret");
    std::fs::write(&secret, "host data").unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(0);
    h.set_path("link").unwrap();
    h.set_link_name(&secret).unwrap();
    h.set_cksum();
    b.append(&h, &b""[..]).unwrap();
    let df = b"FROM busybox\nCOPY link /copied\n";
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(df.len() as u64);
    h.set_path("Dockerfile").unwrap();
    h.set_cksum();
    b.append(&h, &df[..]).unwrap();
    let (_, lines) = build(&d, "", &b.into_inner().unwrap());
    let last = lines.last().unwrap();
    assert!(
        last["error"]
            .as_str()
            .is_some_and(|e| e.contains("file not found in build context")),
        "{lines:?}"
    );
    assert_eq!(d.req("GET", "/_ping", "").status, 200);
}

#[test]
fn commit_makes_an_image_of_a_containers_changes() {
    require_root!();
    let d = TestDaemon::with_busybox("commit");
    let id = d.create(&format!("{}-c", d.prefix), serde_json::json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo committed > /c.txt; rm /etc/group"]}));
    d.req("POST", &format!("/containers/{id}/start"), "");
    d.req("POST", &format!("/containers/{id}/wait"), "");
    let r = d.req("POST", &format!("/commit?container={id}&repo=bt-commit&tag=1&comment=msg&author=me&changes=CMD%20%5B%22cat%22%2C%20%22%2Fc.txt%22%5D&changes=ENV%20A%3D1"), "");
    assert_eq!(r.status, 201, "{}", r.text());
    let image = r.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(run_output(&d, "bt-commit:1", &[]), "committed\n");
    assert!(!run_output(&d, "bt-commit:1", &["ls", "/etc"]).contains("group"));
    let img = d.req("GET", "/images/bt-commit:1/json", "").json();
    assert_eq!(img["Id"], image.as_str());
    assert_eq!(
        (img["Comment"].as_str(), img["Author"].as_str()),
        (Some("msg"), Some("me"))
    );
    assert!(img["Config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("A=1")));
    let r = d.req(
        "POST",
        &format!("/commit?container={id}&changes=RUN%20x"),
        "",
    );
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (400, "run is not a valid change command")
    );
    let r = d.req("POST", "/commit?container=nosuch", "");
    assert_eq!(r.status, 404);
    // A config body (docker-py's `commit(conf=...)`, its keys in any case): what it sets wins,
    // the container's config fills the rest, as moby merges them (docker 20.10 gives the same).
    let id = d.create(
        &format!("{}-c2", d.prefix),
        serde_json::json!({"Image": "busybox", "Env": ["A=1", "B=9"],
            "Cmd": ["sh", "-c", "echo committed > /c.txt"]}),
    );
    let r = d.req(
        "POST",
        &format!("/commit?container={id}&repo=bt-commit&tag=2&changes=ENV%20C%3D3"),
        r#"{"env": ["B=2"], "Labels": {"from": "body"}, "WorkingDir": "/tmp"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let cfg = d.req("GET", "/images/bt-commit:2/json", "").json()["Config"].clone();
    assert_eq!(cfg["WorkingDir"], "/tmp");
    assert_eq!(cfg["Labels"], serde_json::json!({"from": "body"}));
    let env: Vec<&str> = cfg["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .filter(|e| !e.starts_with("PATH="))
        .collect();
    assert_eq!(env, ["B=2", "C=3", "A=1"]);
    assert_eq!(
        cfg["Cmd"],
        serde_json::json!(["sh", "-c", "echo committed > /c.txt"])
    );
}

/// Docker's commit takes the container's whole config (moby's `container.Config`): its
/// anonymous volumes and health check go on to the image's containers, and the image records
/// that config as `ContainerConfig` (docker-compose 1.x reads its volumes there). berth kept
/// neither and showed an empty `ContainerConfig`.
#[test]
fn a_commit_keeps_the_containers_volumes_and_health_check_and_records_its_config() {
    require_root!();
    let d = TestDaemon::with_busybox("commitcfg");
    let id = d.create(
        &format!("{}-c", d.prefix),
        serde_json::json!({"Image": "busybox", "Cmd": ["true"], "Hostname": "box",
            "Volumes": {"/data": {}}, "Healthcheck": {"Test": ["CMD-SHELL", "true"],
            "Interval": 5_000_000_000_i64}, "AttachStdout": true}),
    );
    let r = d.req(
        "POST",
        &format!("/commit?container={id}&repo=bt-commitcfg&tag=1&changes=ENV%20B%3D2"),
        "",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let img = d.req("GET", "/v1.41/images/bt-commitcfg:1/json", "").json();
    let health = serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000_i64});
    for key in ["Config", "ContainerConfig"] {
        let c = &img[key];
        assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}), "{key}: {c}");
        assert_eq!(c["Healthcheck"], health, "{key}: {c}");
        assert_eq!(
            (&c["Hostname"], &c["Image"], &c["AttachStdout"]),
            (
                &serde_json::json!("box"),
                &serde_json::json!("busybox"),
                &serde_json::json!(true)
            ),
            "{key}: {c}"
        );
        assert_eq!(c["Entrypoint"], serde_json::Value::Null, "{key}: {c}");
    }
    // The change applies to the image's config, not to the record of the container's.
    assert_eq!(img["Config"]["Env"], serde_json::json!(["B=2"]));
    assert_eq!(img["ContainerConfig"]["Env"], serde_json::Value::Null);
    assert_eq!(img["Container"], id.as_str());
    let from_image = d.create(
        &format!("{}-d", d.prefix),
        serde_json::json!({"Image": "bt-commitcfg:1"}),
    );
    let c = d
        .req("GET", &format!("/containers/{from_image}/json"), "")
        .json();
    assert_eq!(c["Config"]["Healthcheck"], health, "{c}");
    assert_eq!(
        c["Config"]["Volumes"],
        serde_json::json!({"/data": {}}),
        "{c}"
    );
    assert_ne!(
        c["Config"]["Hostname"], "box",
        "a new container gets its own name"
    );
    assert_eq!(c["Config"]["AttachStdout"], false, "{c}");
    d.remove_all();
}

#[test]
fn run_steps_get_the_builds_cgroup_parent_cpusets_and_ulimits() {
    require_root!();
    let d = TestDaemon::with_busybox("buildlim");
    // Refused before (by name); Docker's classic builder makes the steps' containers with them.
    let parent = berth_test_support::cleanup::CgroupParent::new(&format!("{}-ci", d.prefix));
    let parent = parent.name();
    let ulimits = "%5B%7B%22Name%22%3A%22nofile%22%2C%22Soft%22%3A512%2C%22Hard%22%3A1024%7D%5D";
    let query = format!("t=limits:1&cgroupparent={parent}&cpusetcpus=0&ulimits={ulimits}");
    let dockerfile = b"FROM busybox\nRUN ulimit -Sn > /soft; ulimit -Hn > /hard; \
        grep -E ':(cpu|cpuset|pids)[:,]' /proc/self/cgroup > /cgroup; \
        cat /sys/fs/cgroup/cpuset/cpuset.cpus /sys/fs/cgroup/cpuset.cpus > /cpus 2>/dev/null; true\n";
    let (r, lines) = build(&d, &query, &context(&[("Dockerfile", dockerfile)]));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(lines.iter().all(|l| l.get("error").is_none()), "{lines:?}");
    let seen = run_output(
        &d,
        "limits:1",
        &["sh", "-c", "cat /soft /hard /cgroup /cpus"],
    );
    let mut it = seen.lines();
    assert_eq!(
        (it.next(), it.next()),
        (Some("512"), Some("1024")),
        "{seen}"
    );
    assert!(
        seen.contains(&format!("/{parent}/")),
        "the step ran under the parent: {seen}"
    );
    assert_eq!(seen.lines().last(), Some("0"), "{seen}");
    let (r, lines) = build(
        &d,
        "ulimits=%5B%7B%22Name%22%3A%22nope%22%7D%5D",
        &context(&[("Dockerfile", b"FROM busybox\n")]),
    );
    assert_eq!(r.status, 400, "{lines:?}");
    d.remove_all();
}

#[test]
fn cache_from_takes_the_steps_of_a_loaded_image_built_elsewhere() {
    require_root!();
    let d = TestDaemon::with_busybox("buildcf");
    let dockerfile: &[u8] =
        b"FROM busybox\nENV A=1\nRUN echo ran > /ran\nCOPY f.txt /f.txt\nCMD [\"cat\", \"/f.txt\"]\n";
    let ctx = |f: &[u8]| context(&[("Dockerfile", dockerfile), ("f.txt", f)]);
    let (r, lines) = build(&d, "t=cf-app%3A1", &ctx(b"one\n"));
    assert_eq!(r.status, 200, "{}", r.text());
    let built = aux_id(&lines);
    // As if pulled: saved, removed with the whole build cache, and loaded back (no parent
    // links, no cache records).
    let archive = d
        .try_request("GET", "/images/cf-app:1/get", b"")
        .unwrap()
        .body;
    assert_eq!(d.req("DELETE", "/images/cf-app:1", "").status, 200);
    assert_eq!(d.req("POST", "/build/prune?all=1", "").status, 200);
    let r = d
        .try_request("POST", "/images/load?quiet=1", &archive)
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let from = "cachefrom=%5B%22cf-app%3A1%22%5D";

    // Every step from the loaded image; the last one is the image itself. Refused before.
    let (r, lines) = build(&d, &format!("t=cf-new%3A1&{from}"), &ctx(b"one\n"));
    assert_eq!(r.status, 200, "{}", r.text());
    let text = stream_text(&lines);
    assert_eq!(text.matches(" ---> Using cache\n").count(), 4, "{text}");
    assert!(!text.contains("Running in"), "{text}");
    assert_eq!(aux_id(&lines), built, "{text}");

    // A changed file: the steps before it still come from the source, the rest run.
    let (r, lines) = build(&d, &format!("t=cf-new%3A2&{from}"), &ctx(b"two\n"));
    assert_eq!(r.status, 200, "{}", r.text());
    let text = stream_text(&lines);
    assert_eq!(
        text.matches(" ---> Using cache\n").count(),
        2,
        "ENV and RUN: {text}"
    );
    assert_eq!(run_output(&d, "cf-new:2", &[]), "two\n");
    assert_eq!(run_output(&d, "cf-new:2", &["cat", "/ran"]), "ran\n");

    // Without it the daemon's own cache is used, as before: none for this Dockerfile now
    // but what the two builds above recorded.
    let (_, lines) = build(&d, "t=cf-own%3A1&nocache=1", &ctx(b"one\n"));
    assert!(stream_text(&lines).contains("Running in"));
    d.remove_all();
}

/// A context whose Dockerfile adds `copies` layers to busybox's, one file each
/// (`/layers/f0.txt`, …, each holding `layer`).
fn layered_context(copies: usize) -> Vec<u8> {
    let mut df = String::from("FROM busybox:latest\n");
    for i in 0..copies {
        df.push_str(&format!("COPY f.txt /layers/f{i}.txt\n"));
    }
    context(&[("Dockerfile", df.as_bytes()), ("f.txt", b"layer\n")])
}

/// An image of 70 layers builds and runs: its overlay's layers are given one at a time
/// (`lowerdir+`), where one option string of every layer's path no longer fits the page the
/// kernel copies (~38 layers here; Docker allows 125). Before, the build failed at its ~38th
/// step and such an image (pulled or loaded) could not start.
#[test]
fn an_image_of_many_layers_builds_and_runs() {
    require_root!();
    let d = TestDaemon::with_busybox("layers");
    let tar = layered_context(69);
    let tag = format!("{}-many:latest", d.prefix);
    let (r, lines) = build(&d, &format!("t={tag}"), &tar);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        lines.iter().all(|l| l.get("error").is_none()),
        "{}\n{lines:?}",
        stream_text(&lines)
    );
    let image = d.req("GET", &format!("/images/{tag}/json"), "").json();
    let layers = image["RootFS"]["Layers"].as_array().map_or(0, Vec::len);
    assert!(layers >= 70, "{layers} layers");
    let out = run_output(
        &d,
        &tag,
        &["sh", "-c", "ls /layers | wc -l; cat /layers/f68.txt"],
    );
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["69", "layer"]);
    d.remove_all();
}

#[test]
fn an_image_deeper_than_dockers_125_layers_is_refused_at_the_step_that_would_make_it() {
    require_root!();
    let d = TestDaemon::with_busybox("deep");
    // busybox's one layer and 125 more: the last step would make the 126th.
    let tar = layered_context(125);
    let tag = format!("{}-deep:latest", d.prefix);
    let (r, lines) = build(&d, &format!("t={tag}"), &tar);
    assert_eq!(r.status, 200, "{}", r.text());
    let text = stream_text(&lines);
    let error = lines
        .iter()
        .find_map(|l| l.get("error").and_then(|e| e.as_str()))
        .unwrap_or_else(|| panic!("no error: {text}"));
    assert!(error.contains("max depth exceeded"), "{error}");
    assert!(text.contains("Step 126/126"), "{text}");
    assert_eq!(d.req("GET", &format!("/images/{tag}/json"), "").status, 404);
    d.remove_all();
}

/// What the loopback file server answers for a path: status line, headers, body.
type Answer = (&'static str, Vec<String>, Vec<u8>);

/// An HTTP server on loopback answering from `routes` (404 for other paths), one request per
/// connection, until the test ends; its port.
fn file_server(
    routes: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Answer>>>,
) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&req);
            let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
            if path == "/endless" {
                // An error page that never ends, until the client goes.
                let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
                while conn.write_all(&[b'x'; 4096]).is_ok() {}
                continue;
            }
            let (status, headers, body) = routes.lock().unwrap().get(&path).cloned().unwrap_or((
                "404 Not Found",
                Vec::new(),
                b"no such file".to_vec(),
            ));
            let mut head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for h in headers {
                head.push_str(&h);
                head.push_str("\r\n");
            }
            head.push_str("\r\n");
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body);
        }
    });
    port
}

#[test]
fn add_downloads_a_url_as_the_classic_builder_and_builds_again_when_it_changes() {
    require_root!();
    let d = TestDaemon::with_busybox("buildurl");
    let routes = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let port = file_server(routes.clone());
    let archive = context(&[("inside.txt", b"packed\n")]);
    let archive_len = archive.len();
    {
        let mut r = routes.lock().unwrap();
        let modified = vec!["Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT".to_string()];
        r.insert(
            "/files/hello.txt".into(),
            ("200 OK", modified, b"hello\n".to_vec()),
        );
        r.insert("/nameless/".into(), ("200 OK", Vec::new(), b"x".to_vec()));
        r.insert("/files/archive.tar".into(), ("200 OK", Vec::new(), archive));
        let disposition = vec!["Content-Disposition: attachment; filename=\"report.csv\"".into()];
        r.insert("/get/".into(), ("200 OK", disposition, b"a,b\n".to_vec()));
    }
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let dockerfile = format!(
        "FROM busybox\n\
         ADD {} /data/\n\
         ADD {} /data/unnamed.txt\n\
         ADD {} /data/\n\
         ADD {} /data/\n\
         RUN stat -c '%a %Y %s %n' /data/hello.txt /data/unnamed.txt /data/archive.tar /data/report.csv\n",
        url("/files/hello.txt"),
        url("/nameless/"),
        url("/files/archive.tar"),
        url("/get/"),
    );
    let tar = context(&[("Dockerfile", dockerfile.as_bytes())]);
    let (r, lines) = build(&d, "t=bt-url", &tar);
    assert_eq!(r.status, 200, "{}", r.text());
    let text = stream_text(&lines);
    // Mode 0600, the Last-Modified time (else the epoch), never unpacked, named by the path
    // or else the Content-Disposition.
    for want in [
        "600 784111777 6 /data/hello.txt".to_string(),
        "600 0 1 /data/unnamed.txt".to_string(),
        format!("600 0 {archive_len} /data/archive.tar"),
        "600 0 4 /data/report.csv".to_string(),
    ] {
        assert!(text.contains(&want), "{want}: {text}");
    }
    // Unchanged downloads come from the cache; a changed one builds again from its step.
    let (_, again) = build(&d, "t=bt-url", &tar);
    assert_eq!(
        stream_text(&again).matches(" ---> Using cache\n").count(),
        5,
        "{}",
        stream_text(&again)
    );
    routes.lock().unwrap().insert(
        "/files/hello.txt".into(),
        ("200 OK", Vec::new(), b"changed\n".to_vec()),
    );
    let (_, changed) = build(&d, "t=bt-url", &tar);
    let text = stream_text(&changed);
    assert_eq!(text.matches(" ---> Using cache\n").count(), 0, "{text}");
    assert!(text.contains("600 0 8 /data/hello.txt"), "{text}");

    // Docker's words for what cannot be added.
    for (line, words) in [
        (
            format!("ADD {} /data/", url("/missing")),
            format!(
                "failed to GET {} with status 404 Not Found: no such file",
                url("/missing")
            ),
        ),
        (
            format!("ADD {} /data/", url("/nameless/")),
            format!("cannot determine filename for source {}", url("/nameless/")),
        ),
        (
            format!("COPY {} /data/", url("/get/")),
            "source can't be a URL for COPY".to_string(),
        ),
        // A hostile server's endless error page ends the step with its start, not never.
        (
            format!("ADD {} /data/", url("/endless")),
            format!(
                "failed to GET {} with status 404 Not Found: xxx",
                url("/endless")
            ),
        ),
    ] {
        let tar = context(&[("Dockerfile", format!("FROM busybox\n{line}\n").as_bytes())]);
        let (_, lines) = build(&d, "", &tar);
        let error = lines.last().unwrap()["error"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(error.contains(&words), "{line}: {error}");
    }
    d.remove_all();
}

/// docker-py's shapes: a Dockerfile from outside the context goes in as `.dockerfile.<hash>`
/// with `dockerfile` sent twice (the name first, as Go's `FormValue` reads it), and a step's
/// stderr comes back in the classic builder's red.
#[test]
fn a_repeated_dockerfile_parameter_takes_the_first_and_stderr_comes_red() {
    require_root!();
    let d = TestDaemon::with_busybox("buildpy");
    let df = b"FROM busybox\nRUN echo to-err >&2\n";
    let tar = context(&[(".dockerfile.0123abcd", df)]);
    let (r, lines) = build(
        &d,
        "t=bt-py%3A1&dockerfile=.dockerfile.0123abcd&dockerfile=FROM+busybox",
        &tar,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = stream_text(&lines);
    assert!(text.contains("Step 2/2 : RUN echo to-err >&2"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l["stream"] == "\u{1b}[91mto-err\n\u{1b}[0m"),
        "{lines:?}"
    );
    assert!(text.ends_with("Successfully tagged bt-py:1\n"), "{text}");
}
