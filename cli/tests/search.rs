//! Root-gated: `GET /images/search` and `berth search` against a real berthd. Only loopback is
//! reachable here, and registry:2 has no search API (it answers 404 to `/v1/search`), so the
//! index is a small HTTP server in this test that answers `/v1/_ping` and `/v1/search` as
//! Docker Hub's index does; a second one answers 404 to everything, as registry:2 does, for
//! dockerd's "Unexpected status code 404". Both CLIs print the same table.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use berth_test_support::{require_root, urlencode};
use common::{has_docker, Cli};
use serde_json::{json, Value};

/// A loopback v1 index: records each request line (with its Authorization header) and answers
/// `/v1/_ping` and `/v1/search` with canned results, or 404 to all when it has no search.
struct Index {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

fn results() -> Value {
    json!({"num_results": 3, "query": "busybox", "results": [
        {"name": "busybox", "description": "Busybox base image.", "star_count": 3037,
         "is_official": true, "is_automated": true},
        {"name": "someone/busybox-extra",
         "description": "A longer description that goes on well past forty-five characters\nand a second line",
         "star_count": 2, "is_official": false, "is_automated": false},
        {"name": "other/bb", "description": "", "star_count": 12, "is_official": false,
         "is_automated": false}]})
}

impl Index {
    fn start(search: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        // The thread ends with the test process; each connection is answered and closed.
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                answer(conn, search, &log);
            }
        });
        Index { port, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn answer(mut conn: TcpStream, search: bool, log: &Mutex<Vec<String>>) {
    let mut first = [0u8; 1];
    // berthd tries HTTPS first: a TLS hello is not a request line; closing it fails the try.
    if conn.peek(&mut first).is_err() || !first[0].is_ascii_uppercase() {
        return;
    }
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        if conn.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let line = head.lines().next().unwrap_or_default().to_string();
    let auth = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(": ")?;
            name.eq_ignore_ascii_case("authorization").then_some(value)
        })
        .map(|a| format!(" auth={a}"))
        .unwrap_or_default();
    let token = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("X-Docker-Token: true"));
    log.lock()
        .unwrap()
        .push(format!("{line}{auth}{}", if token { " token" } else { "" }));
    let path = line.split(' ').nth(1).unwrap_or_default();
    let (status, body) = match (search, path.split('?').next()) {
        (true, Some("/v1/_ping")) => ("200 OK", "true".to_string()),
        (true, Some("/v1/search")) => ("200 OK", results().to_string()),
        _ => ("404 Not Found", "404 page not found\n".to_string()),
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}

const TABLE: &str = "\
NAME                    DESCRIPTION                                     STARS     OFFICIAL
busybox                 Busybox base image.                             3037      [OK]
someone/busybox-extra   A longer description that goes on well past …   2         
other/bb                                                                12        
";

#[test]
fn search_asks_the_index_the_term_names_and_filters_its_answer() {
    require_root!();
    let cli = Cli::start("search");
    let index = Index::start(true);
    let term = format!("127.0.0.1:{}/busybox", index.port);
    let get = |query: &str| {
        cli.daemon
            .req("GET", &format!("/v1.47/images/search?{query}"), "")
    };
    let q = format!("term={}", urlencode(&term));

    let r = get(&q);
    assert_eq!(r.status, 200, "{}", r.text());
    let found = r.json();
    let names: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["busybox", "someone/busybox-extra", "other/bb"]);
    assert_eq!(
        found[0],
        json!({"description": "Busybox base image.", "is_official": true,
               "is_automated": false, "name": "busybox", "star_count": 3037})
    );
    assert_eq!(
        index.seen(),
        [
            "GET /v1/_ping HTTP/1.1",
            "GET /v1/search?q=busybox&n=25 HTTP/1.1 token"
        ]
    );

    let filtered = |filters: &str| {
        let r = get(&format!("{q}&limit=7&filters={}", urlencode(filters)));
        assert_eq!(r.status, 200, "{filters}: {}", r.text());
        r.json().as_array().unwrap().len()
    };
    assert_eq!(filtered(r#"{"is-official":["true"]}"#), 1);
    assert_eq!(filtered(r#"{"is-official":["false"],"stars":["10"]}"#), 1);
    assert_eq!(filtered(r#"{"stars":["3","10"]}"#), 2);
    assert!(index.seen().last().unwrap().contains("n=7"));
    let asked = index.seen().len();
    assert_eq!(filtered(r#"{"is-automated":["true"]}"#), 0);
    assert_eq!(
        index.seen().len(),
        asked,
        "is-automated=true answers without asking"
    );

    let creds = base64::engine::general_purpose::URL_SAFE
        .encode(json!({"username": "me", "password": "pw"}).to_string());
    let r = cli.daemon.req_with(
        "GET",
        &format!("/images/search?{q}"),
        &[("X-Registry-Auth", &creds)],
        b"",
    );
    assert_eq!(r.status, 200);
    let basic = base64::engine::general_purpose::STANDARD.encode("me:pw");
    assert!(
        index
            .seen()
            .last()
            .unwrap()
            .ends_with(&format!(" auth=Basic {basic} token")),
        "{:?}",
        index.seen()
    );

    for (query, status, message) in [
        (format!(r#"{q}&filters={}"#, urlencode(r#"{"foo":["1"]}"#)), 400, "invalid filter 'foo'".to_string()),
        (format!(r#"{q}&filters={}"#, urlencode(r#"{"is-official":["maybe"]}"#)), 400, "invalid filter 'is-official=[maybe]'".into()),
        (format!("{q}&limit=101"), 400, "limit 101 is outside the range of [1, 100]".into()),
        (format!("term={}", urlencode("http://127.0.0.1/x")), 400,
         "invalid repository name: repository name (http://127.0.0.1/x) should not have a scheme".into()),
    ] {
        let r = get(&query);
        assert_eq!((r.status, r.json()["message"].as_str().unwrap()), (status, message.as_str()));
    }
    // The test daemon reaches loopback registries only.
    let r = get("term=busybox");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("allowed-registries"), "{}", r.text());

    // A registry without the v1 search API, as registry:2: dockerd's words and status.
    let plain = Index::start(false);
    let r = get(&format!("term=127.0.0.1:{}/busybox", plain.port));
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (500, "Unexpected status code 404")
    );
    // Nobody there at all.
    let gone = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = get(&format!("term=127.0.0.1:{gone}/busybox"));
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"].as_str().unwrap().starts_with(&format!(
            "invalid registry endpoint \"http://127.0.0.1:{gone}/v1/\". HTTPS attempt: "
        )),
        "{}",
        r.text()
    );

    // An image named `search` is still removed by name.
    cli.import_busybox();
    cli.ok(&["tag", "busybox", "search"]);
    let r = cli.daemon.req("DELETE", "/images/search", "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("search:latest"), "{}", r.text());
}

#[test]
fn berth_search_prints_dockers_table() {
    require_root!();
    let cli = Cli::start("searchcli");
    let index = Index::start(true);
    let term = format!("127.0.0.1:{}/busybox", index.port);
    assert_eq!(cli.ok(&["search", &term]), TABLE);
    let out = cli.ok(&["search", "--format", "json", "--limit", "2", &term]);
    assert_eq!(
        out.lines().next().unwrap(),
        r#"{"Description":"Busybox base image.","IsOfficial":"true","Name":"busybox","StarCount":"3037"}"#
    );
    assert!(index.seen().last().unwrap().contains("n=2"));
    let out = cli.ok(&[
        "search",
        "--no-trunc",
        "-f",
        "is-official=false",
        "--format",
        "{{.Name}}|{{.Description}}|{{.IsOfficial}}",
        &term,
    ]);
    assert_eq!(
        out,
        "someone/busybox-extra|A longer description that goes on well past forty-five characters and a second line|\nother/bb||\n"
    );
    // Saved credentials of that registry go along, as the docker CLI sends them.
    let saved = json!({"auths": {format!("127.0.0.1:{}", index.port): {
        "auth": base64::engine::general_purpose::STANDARD.encode("me:pw")}}});
    std::fs::create_dir_all(cli.config.join("berth")).unwrap();
    std::fs::write(cli.config.join("berth/config.json"), saved.to_string()).unwrap();
    cli.ok(&["search", &term]);
    assert!(
        index.seen().last().unwrap().contains(" auth=Basic "),
        "{:?}",
        index.seen()
    );

    let plain = Index::start(false);
    let r = cli.berth(&["search", &format!("127.0.0.1:{}/x", plain.port)]);
    assert_eq!(
        (r.code, r.out.as_str(), r.err.as_str()),
        (
            Some(1),
            "",
            "Error response from daemon: Unexpected status code 404\n"
        )
    );
    if has_docker() {
        for args in [
            vec!["search", term.as_str()],
            vec!["search", "--format", "json", &term],
        ] {
            let theirs = cli.docker(&args);
            let ours = cli.berth(&args);
            assert_eq!((ours.code, ours.out), (theirs.code, theirs.out), "{args:?}");
        }
    } else {
        eprintln!("docker CLI: not installed; table not compared");
    }
}
