//! Request parts berth once accepted and dropped. Refused as Docker refuses them: a start's
//! body and checkpoint, a create for another platform than the local image's, a `dangling`
//! filter where only an image prune has one, a volume's labels or driver options that are not
//! string maps; each gets Docker's status, and nothing is made or changed. Honoured: the
//! image list's `shared-size`, `system df`'s `type`, a network inspect's `scope`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::{require_root, TestDaemon};
use serde_json::json;

#[test]
fn docker_refuses_these_so_berth_does() {
    require_root!();
    let d = TestDaemon::with_busybox("refused");
    let id = d.create(
        &format!("{}-c", d.prefix),
        json!({"Image": "busybox", "Cmd": ["sleep", "300"]}),
    );
    let state = |d: &TestDaemon| d.inspect(&id)["State"]["Status"].clone();

    // A start with a HostConfig body (removed in API 1.24), and with a checkpoint.
    let r = d.req(
        "POST",
        &format!("/containers/{id}/start"),
        r#"{"Privileged":true}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("removed in v1.24"), "{}", r.text());
    let r = d.req(
        "POST",
        &format!("/containers/{id}/start?checkpoint=cp1"),
        "",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("checkpoint"), "{}", r.text());
    assert_eq!(state(&d), json!("created"), "nothing started");
    // What clients send for "no body" still starts it.
    let r = d.req("POST", &format!("/containers/{id}/start"), "{}");
    assert_eq!(r.status, 204, "{}", r.text());

    // `dangling` is an image prune's filter only.
    let dangling = "filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D";
    for path in ["/containers/prune", "/networks/prune"] {
        let r = d.req("POST", &format!("{path}?{dangling}"), "");
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert!(
            r.text().contains("invalid filter 'dangling'"),
            "{}",
            r.text()
        );
    }
    let r = d.req("POST", &format!("/images/prune?{dangling}"), "");
    assert_eq!(r.status, 200, "{}", r.text());

    // `create --platform`: the local image must be of it; Docker's 404 otherwise (the
    // docker CLI then pulls that platform's image).
    let (mine, other) = if std::env::consts::ARCH == "aarch64" {
        ("linux/arm64", "linux/amd64")
    } else {
        ("linux/amd64", "linux/arm64")
    };
    let body = json!({"Image": "busybox"}).to_string();
    let r = d.req(
        "POST",
        &format!("/containers/create?platform={other}"),
        &body,
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.text().contains(&format!(
            "does not match the specified platform: wanted {other}, actual: {mine}"
        )),
        "{}",
        r.text()
    );
    let r = d.req("POST", "/containers/create?platform=a/b/c/d", &body);
    assert_eq!(r.status, 400, "{}", r.text());
    for ok in [mine, "linux"] {
        let r = d.req("POST", &format!("/containers/create?platform={ok}"), &body);
        assert_eq!(r.status, 201, "{ok}: {}", r.text());
    }

    // Query parameters that shape an answer: `shared-size`, `system df`'s `type`, a network
    // inspect's `scope`.
    let r = d.req(
        "POST",
        &format!("/commit?container={id}&repo=derived&tag=1"),
        "",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let busybox_row = |query: &str| {
        let rows = d.req("GET", &format!("/images/json{query}"), "").json();
        rows.as_array()
            .unwrap()
            .iter()
            .find(|i| i["RepoTags"][0] == "busybox:latest")
            .cloned()
            .unwrap()
    };
    assert_eq!(
        busybox_row("")["SharedSize"],
        -1,
        "not computed unless asked"
    );
    let row = busybox_row("?shared-size=1");
    assert!(row["SharedSize"].as_i64().unwrap() > 0, "{row}");
    assert_eq!(
        row["SharedSize"], row["Size"],
        "its one layer is the commit's base"
    );
    let df = d.req("GET", "/system/df?type=image", "").json();
    assert!(
        df["Images"].is_array() && df["Containers"].is_null(),
        "{df}"
    );
    assert!(
        df["Volumes"].is_null() && df["BuildCache"].is_null(),
        "{df}"
    );
    assert_eq!(d.req("GET", "/system/df?type=disks", "").status, 400);
    assert_eq!(d.req("GET", "/networks/bridge?scope=local", "").status, 200);
    assert_eq!(d.req("GET", "/networks/bridge?scope=swarm", "").status, 404);
    assert_eq!(
        d.req("GET", "/networks/bridge?scope=galaxy", "").status,
        400
    );

    // Labels and driver options are maps of strings.
    for body in [
        json!({"Name": "v1", "Labels": ["a=b"]}),
        json!({"Name": "v1", "DriverOpts": {"size": 10}}),
    ] {
        let r = d.req("POST", "/volumes/create", &body.to_string());
        assert_eq!(r.status, 400, "{body}: {}", r.text());
    }
    assert_eq!(d.req("GET", "/volumes/v1", "").status, 404, "nothing made");
    let r = d.req(
        "POST",
        "/volumes/create",
        r#"{"Name":"v1","Labels":null,"DriverOpts":{}}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    d.remove_all();
}

/// A body no handler reads (an unknown path, a method the path lacks, a missing object
/// answered before its body is read) still gets its answer, as dockerd drains up to 256 KiB
/// of an unread body before it answers; past that it closes the connection, and so may berth.
/// (Before, the first of them failed with a broken pipe.)
#[test]
fn an_unread_body_under_256_kib_still_gets_its_answer() {
    require_root!();
    let d = TestDaemon::start("unread");
    let body = format!(r#"{{"pad":"{}"}}"#, "x".repeat(250 << 10));
    for _ in 0..3 {
        let r = d.req("POST", "/no/such/path", &body);
        assert_eq!(r.status, 404, "{}", r.text());
        // dockerd's words, without the path.
        assert_eq!(r.json(), json!({"message": "page not found"}));
        // A method the path lacks: dockerd's answer to an unknown path.
        let r = d.req("PATCH", "/containers/json", &body);
        assert_eq!(r.status, 404, "{}", r.text());
        assert!(r.text().contains("page not found"), "{}", r.text());
        // Refused for having a body at all, before the container is looked up (as dockerd).
        let r = d.req("POST", "/containers/nosuch/start", &body);
        assert_eq!(r.status, 400, "{}", r.text());
        let r = d.req("PUT", "/containers/nosuch/archive?path=/", &body);
        assert_eq!(r.status, 404, "{}", r.text());
    }
}

/// Managed plugins: berth has none, so the list is empty (`docker plugin ls` works, as against
/// a dockerd without plugins), a plugin named is not found in Docker's words, and installing or
/// making one is refused by name. Every route answered "page not found".
#[test]
fn plugins_list_empty_are_not_found_by_name_and_cannot_be_installed() {
    require_root!();
    let d = TestDaemon::start("plugins");
    let r = d.req("GET", "/plugins", "");
    assert_eq!((r.status, r.json()), (200, json!([])));
    let r = d.req(
        "GET",
        "/plugins?filters=%7B%22enabled%22%3A%5B%22true%22%5D%7D",
        "",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = d.req(
        "GET",
        "/plugins?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
        "",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = d.req(
        "GET",
        "/plugins?filters=%7B%22enabled%22%3A%5B%22x%22%5D%7D",
        "",
    );
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (400, Some("Invalid filter 'enabled=[x]'"))
    );
    for (method, path) in [
        ("GET", "/plugins/vieux/sshfs:latest/json"),
        ("POST", "/plugins/vieux/sshfs:latest/enable"),
        ("DELETE", "/plugins/vieux/sshfs:latest"),
    ] {
        let r = d.req(method, path, "");
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text());
        assert_eq!(
            r.json()["message"],
            "plugin \"vieux/sshfs:latest\" not found",
            "{method} {path}"
        );
    }
    for (method, path) in [
        ("GET", "/plugins/privileges?remote=vieux%2Fsshfs"),
        ("POST", "/plugins/pull?remote=vieux%2Fsshfs"),
        ("POST", "/plugins/create?name=x"),
    ] {
        let r = d.req(method, path, "");
        assert_eq!(r.status, 501, "{method} {path}: {}", r.text());
        assert!(r.text().contains("managed plugins"), "{}", r.text());
    }
    // The docker CLI's `plugin ls`, as its users run it.
    let out = std::process::Command::new("docker")
        .args(["plugin", "ls", "--format", "{{.Name}}"])
        .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
