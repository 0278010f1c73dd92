//! Registries against a real berthd: Debian's `docker-registry` (distribution 2.8) on a loopback
//! port, once over plain HTTP and once over TLS (a test CA) with htpasswd basic auth; berth and
//! the docker CLI push busybox, remove it, pull it back and run it. A tiny fake registry on
//! loopback serves a zstd + gzip image, an index, and a blob that does not match its digest.
//! Nothing leaves loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

mod registry_kit;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use berth_test_support::registry::Registry;
use berth_test_support::{require_root, wait_until, Response, TestDaemon};
use registry_kit::{messages, sha, stream_error, tar_of};
use serde_json::json;

struct Tls {
    ca_pem: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn auth_header(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE
        .encode(json!({"username": user, "password": password}).to_string())
}

/// A request with extra headers (X-Registry-Auth).
fn req_with(d: &TestDaemon, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    d.req_with(method, path, headers, b"")
}

/// Runs `cmd` in a fresh container of `image` and returns its output (exit code must be 0).
fn run(d: &TestDaemon, image: &str, cmd: &[&str]) -> String {
    let name = format!("{}-run{}", d.prefix, rand_suffix());
    let c = d.create(&name, json!({"Image": image, "Cmd": cmd}));
    let r = d.req("POST", &format!("/containers/{c}/start"), "");
    assert_eq!(r.status, 204, "start: {}", r.text());
    let r = d.req("POST", &format!("/containers/{c}/wait"), "");
    assert_eq!(r.json()["StatusCode"], 0, "{}", d.logs(&c));
    d.logs(&c)
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn image_id(d: &TestDaemon, name: &str) -> String {
    let r = d.req("GET", &format!("/images/{name}/json"), "");
    assert_eq!(r.status, 200, "inspect {name}: {}", r.text());
    r.json()["Id"].as_str().unwrap().to_string()
}

fn push(d: &TestDaemon, repo: &str, tag: &str, auth: &str) -> Response {
    req_with(
        d,
        "POST",
        &format!("/v1.47/images/{repo}/push?tag={tag}"),
        &[("X-Registry-Auth", auth)],
    )
}

fn pull(d: &TestDaemon, image: &str, tag: &str, auth: &str) -> Response {
    req_with(
        d,
        "POST",
        &format!("/v1.47/images/create?fromImage={image}&tag={tag}"),
        &[("X-Registry-Auth", auth)],
    )
}

/// `docker …` against this berthd, with a throwaway client config.
fn docker(d: &TestDaemon, args: &[&str]) -> std::process::Output {
    let cfg = d.root.join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
        .env("DOCKER_CONFIG", &cfg)
        .stdin(Stdio::null())
        .output()
        .expect("run docker")
}

#[test]
fn push_remove_pull_and_run_through_a_plain_http_registry() {
    require_root!();
    let Some(reg) = Registry::start() else {
        return;
    };
    let d = TestDaemon::with_busybox("regplain");
    let repo = format!("{}/it/busybox", reg.host());
    let r = d.req(
        "POST",
        &format!("/images/busybox/tag?repo={repo}&tag=v1"),
        "",
    );
    assert_eq!(r.status, 201, "tag: {}", r.text());
    let id = image_id(&d, &format!("{repo}:v1"));

    let r = push(&d, &repo, "v1", "e30=");
    assert_eq!(r.status, 200, "push: {}", r.text());
    assert_eq!(stream_error(&r.text()), None, "{}", r.text());
    let msgs = messages(&r.text());
    assert!(msgs.iter().any(|m| m["status"] == "Pushed"), "{}", r.text());
    let pushed = msgs
        .iter()
        .find_map(|m| m["aux"]["Digest"].as_str())
        .unwrap()
        .to_string();

    // A second push finds every blob on the registry already.
    let r = push(&d, &repo, "v1", "e30=");
    assert!(r.text().contains("Layer already exists"), "{}", r.text());

    let r = d.req("DELETE", &format!("/images/{repo}:v1"), "");
    assert_eq!(r.status, 200, "rmi: {}", r.text());
    let r = d.req("DELETE", "/images/busybox:latest", "");
    assert_eq!(r.status, 200, "rmi: {}", r.text());
    assert!(
        std::fs::read_dir(d.data_root().join("image/layers"))
            .unwrap()
            .next()
            .is_none(),
        "removing the last image frees its layers"
    );

    let r = pull(&d, &repo, "v1", "");
    assert_eq!(r.status, 200, "pull: {}", r.text());
    assert_eq!(stream_error(&r.text()), None, "{}", r.text());
    let text = r.text();
    assert!(text.contains("Pull complete"), "{text}");
    assert!(text.contains(&format!("Digest: {pushed}")), "{text}");
    assert!(text.contains("Downloaded newer image"), "{text}");
    assert_eq!(
        image_id(&d, &format!("{repo}:v1")),
        id,
        "same config, same id"
    );
    let inspect = d.req("GET", &format!("/images/{repo}:v1/json"), "").json();
    assert_eq!(inspect["RepoDigests"], json!([format!("{repo}@{pushed}")]));
    assert_eq!(
        run(&d, &format!("{repo}:v1"), &["echo", "pulled"]),
        "pulled\n"
    );

    let r = pull(&d, &repo, "v1", "");
    assert!(r.text().contains("Image is up to date"), "{}", r.text());

    // By digest too.
    let r = pull(&d, &repo, &pushed, "");
    assert_eq!(stream_error(&r.text()), None, "{}", r.text());

    // distribution inspect names the pushed manifest.
    let r = d.req("GET", &format!("/distribution/{repo}:v1/json"), "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["Descriptor"]["digest"], pushed.as_str());
    assert_eq!(r.json()["Platforms"][0]["os"], "linux");

    // save → rmi → load keeps the id and the layers' digests.
    let saved = d.req("GET", &format!("/images/{repo}:v1/get"), "").body;
    let layers = |d: &TestDaemon| {
        d.req("GET", &format!("/images/{repo}:v1/json"), "").json()["RootFS"].clone()
    };
    let before = layers(&d);
    d.remove_all();
    assert_eq!(
        d.req("DELETE", &format!("/images/{repo}:v1"), "").status,
        200
    );
    let r = d.try_request("POST", "/images/load", &saved).unwrap();
    assert_eq!(r.status, 200, "load: {}", r.text());
    assert_eq!(image_id(&d, &format!("{repo}:v1")), id);
    assert_eq!(layers(&d), before);

    // Unknown tags and repositories: 404 with the registry's words.
    let r = pull(&d, &repo, "nope", "");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("manifest unknown"), "{}", r.text());
    let r = pull(&d, &format!("{}/it/nothere", reg.host()), "v1", "");
    assert_eq!(r.status, 404, "{}", r.text());
    // Pushing a name with no local image.
    let r = push(&d, &format!("{}/it/nothere", reg.host()), "v1", "e30=");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.text()
            .contains("An image does not exist locally with the tag"),
        "{}",
        r.text()
    );
}

#[test]
fn docker_cli_pushes_pulls_and_runs_through_berthd() {
    require_root!();
    let Some(reg) = Registry::start() else {
        return;
    };
    if Command::new("docker").arg("--version").output().is_err() {
        eprintln!("SKIP: docker CLI not installed");
        return;
    }
    let d = TestDaemon::with_busybox("regdocker");
    let image = format!("{}/cli/busybox:v2", reg.host());
    let out = docker(&d, &["tag", "busybox", &image]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = docker(&d, &["push", &image]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Pushed") && stdout.contains("digest: sha256:"),
        "{stdout}"
    );
    let out = docker(&d, &["rmi", &image, "busybox"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // `docker run` of a missing image: create says 404 "No such image", the CLI pulls, retries.
    let out = docker(&d, &["run", "--rm", &image, "echo", "docker-ran"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("docker-ran"), "{stdout}");
    assert!(stderr.contains("Unable to find image"), "{stderr}");
    assert!(stderr.contains("Pull complete"), "{stderr}");

    let out = docker(&d, &["pull", &image]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("Image is up to date"), "{stdout}");
    let out = docker(&d, &["pull", &format!("{}/cli/busybox:nope", reg.host())]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("manifest unknown"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a server certificate for 127.0.0.1 and localhost, written under `dir`.
fn test_tls(dir: &Path) -> Tls {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "berth test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let server =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = server.signed_by(&key, &issuer).unwrap();
    let tls = Tls {
        ca_pem: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&tls.ca_pem, ca_cert.pem()).unwrap();
    std::fs::write(&tls.cert, cert.pem()).unwrap();
    std::fs::write(&tls.key, key.serialize_pem()).unwrap();
    tls
}

/// A registry over TLS (a test CA under `dir`) with htpasswd basic auth for berth:s3cret;
/// `None` (after a SKIP line) without htpasswd or docker-registry.
fn tls_registry_with_password(dir: &Path) -> Option<(Registry, Tls)> {
    let htpasswd = dir.join("htpasswd");
    let Ok(out) = Command::new("htpasswd")
        .args(["-Bbn", "berth", "s3cret"])
        .output()
    else {
        eprintln!("SKIP: htpasswd is not installed (apt-get install apache2-utils)");
        return None;
    };
    std::fs::write(&htpasswd, &out.stdout).unwrap();
    let tls = test_tls(dir);
    let reg = Registry::start_with(Some((&tls.cert, &tls.key)), Some(&htpasswd))?;
    Some((reg, tls))
}

#[test]
fn a_tls_registry_with_basic_auth_needs_the_ca_and_the_right_password() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let Some((reg, tls)) = tls_registry_with_password(dir.path()) else {
        return;
    };
    let mut d = TestDaemon::with_busybox("regtls");
    let repo = format!("{}/secure/busybox", reg.host());
    assert_eq!(
        d.req(
            "POST",
            &format!("/images/busybox/tag?repo={repo}&tag=v1"),
            ""
        )
        .status,
        201
    );
    let good = auth_header("berth", "s3cret");

    // Without the CA the certificate is refused and the message says why.
    let r = push(&d, &repo, "v1", &good);
    let err = stream_error(&r.text()).unwrap_or_default();
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"),
        "{}",
        r.text()
    );

    // Trust the test CA through the daemon config (added to it: the test's own bridge and
    // nft table names must stay).
    let cfg_path = d.root.join("daemon.toml");
    let mut cfg = std::fs::read_to_string(&cfg_path).unwrap();
    cfg.push_str(&format!(
        "registry-ca-files = [\"{}\"]\n",
        tls.ca_pem.display()
    ));
    std::fs::write(&cfg_path, cfg).unwrap();
    d.kill9();
    d.spawn();

    let r = push(&d, &repo, "v1", &auth_header("berth", "wrong"));
    let err = stream_error(&r.text()).unwrap_or_default();
    assert!(err.contains("401"), "{}", r.text());
    let r = push(&d, &repo, "v1", &good);
    assert_eq!(stream_error(&r.text()), None, "{}", r.text());

    assert_eq!(
        d.req("DELETE", &format!("/images/{repo}:v1"), "").status,
        200
    );
    assert_eq!(d.req("DELETE", "/images/busybox", "").status, 200);
    let r = pull(&d, &repo, "v1", "");
    assert_eq!(r.status, 401, "anonymous pull: {}", r.text());
    assert!(r.text().contains("401"), "{}", r.text());
    let r = pull(&d, &repo, "v1", &auth_header("berth", "wrong"));
    assert_eq!(r.status, 401, "{}", r.text());
    let r = pull(&d, &repo, "v1", &good);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(stream_error(&r.text()), None, "{}", r.text());
    assert_eq!(run(&d, &format!("{repo}:v1"), &["echo", "tls"]), "tls\n");

    // POST /auth checks the password (docker login through berthd).
    let login = |password: &str| {
        let body = json!({"username": "berth", "password": password, "serveraddress": reg.host()})
            .to_string();
        d.try_request("POST", "/auth", body.as_bytes()).unwrap()
    };
    assert_eq!(login("s3cret").status, 200);
    assert_eq!(login("nope").status, 401);
}

/// Serves fixed responses (path → content type, body) over plain HTTP on loopback.
struct FakeRegistry {
    port: u16,
}

impl FakeRegistry {
    fn start(routes: HashMap<String, (String, Vec<u8>)>) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes = Arc::new(routes);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let routes = routes.clone();
                std::thread::spawn(move || serve_one(conn, &routes));
            }
        });
        FakeRegistry { port }
    }
}

fn serve_one(mut conn: TcpStream, routes: &HashMap<String, (String, Vec<u8>)>) {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        // berth tries HTTPS first: a TLS ClientHello is not a request, hang up.
        if head.is_empty() && byte[0] == 0x16 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut first = head.split_whitespace();
    let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, ctype, body) = match routes.get(path) {
        Some((t, b)) => ("200 OK", t.as_str(), b.clone()),
        None => (
            "404 Not Found",
            "application/json",
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#.to_vec(),
        ),
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if path.contains("/manifests/") && status.starts_with("200") {
        resp += &format!("Docker-Content-Digest: {}\r\n", sha(&body));
    }
    resp += "\r\n";
    let _ = conn.write_all(resp.as_bytes());
    if method != "HEAD" {
        let _ = conn.write_all(&body);
    }
}

#[test]
fn zstd_and_gzip_layers_and_indexes_pull_and_corrupt_blobs_are_refused() {
    require_root!();
    let d = TestDaemon::start("regfake");
    let busybox = std::fs::read(berth_test_support::busybox_tar(&d.root)).unwrap();
    let hello = tar_of(&[("hello", b"from a zstd image\n")]);
    let zstd = ruzstd::encoding::compress_to_vec(
        &busybox[..],
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&hello).unwrap();
    let gzip = gz.finish().unwrap();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["cat", "/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(&busybox), sha(&hello)]},
    }))
    .unwrap();
    let layer = |t: &str, b: &[u8]| json!({"mediaType": t, "digest": sha(b), "size": b.len()});
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
        "layers": [layer("application/vnd.oci.image.layer.v1.tar+zstd", &zstd), layer("application/vnd.oci.image.layer.v1.tar+gzip", &gzip)],
    }))
    .unwrap();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", "e".repeat(64)), "size": 9,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(&manifest), "size": manifest.len(),
             "platform": {"os": "linux", "architecture": "amd64"}},
        ],
    }))
    .unwrap();
    // "bad": the same manifest shape, but the gzip blob is served with one byte changed.
    let mut tampered = gzip.clone();
    let last = tampered.len() - 9;
    tampered[last] ^= 0xff;
    let oci_manifest = "application/vnd.oci.image.manifest.v1+json".to_string();
    let mut routes = HashMap::new();
    routes.insert("/v2/".into(), ("application/json".into(), b"{}".to_vec()));
    for repo in ["fake/app", "fake/bad"] {
        routes.insert(
            format!("/v2/{repo}/manifests/v1"),
            (oci_manifest.clone(), manifest.clone()),
        );
        routes.insert(
            format!("/v2/{repo}/blobs/{}", sha(&config)),
            ("application/octet-stream".into(), config.clone()),
        );
        routes.insert(
            format!("/v2/{repo}/blobs/{}", sha(&zstd)),
            ("application/octet-stream".into(), zstd.clone()),
        );
    }
    routes.insert(
        format!("/v2/fake/app/blobs/{}", sha(&gzip)),
        ("application/octet-stream".into(), gzip.clone()),
    );
    routes.insert(
        format!("/v2/fake/bad/blobs/{}", sha(&gzip)),
        ("application/octet-stream".into(), tampered),
    );
    routes.insert(
        "/v2/fake/app/manifests/multi".into(),
        ("application/vnd.oci.image.index.v1+json".into(), index),
    );
    routes.insert(
        format!("/v2/fake/app/manifests/{}", sha(&manifest)),
        (oci_manifest, manifest.clone()),
    );
    let fake = FakeRegistry::start(routes);
    let host = format!("127.0.0.1:{}", fake.port);

    // The tampered blob is refused, and nothing it brought is kept.
    let r = pull(&d, &format!("{host}/fake/bad"), "v1", "");
    let err = stream_error(&r.text()).unwrap_or_default();
    assert!(
        err.contains("verification failed") && err.contains(&sha(&gzip)),
        "{}",
        r.text()
    );
    assert_eq!(
        d.req("GET", &format!("/images/{host}/fake/bad:v1/json"), "")
            .status,
        404
    );
    let blobs: Vec<String> = std::fs::read_dir(d.data_root().join("image/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !blobs
            .iter()
            .any(|b| b.contains(".tmp-") || *b == sha(&gzip)[7..]),
        "{blobs:?}"
    );

    let r = pull(&d, &format!("{host}/fake/app"), "v1", "");
    assert_eq!(stream_error(&r.text()), None, "{}", r.text());
    assert_eq!(
        run(&d, &format!("{host}/fake/app:v1"), &["cat", "/hello"]),
        "from a zstd image\n"
    );
    // The zstd layer came with the bad pull already: only the gzip one was fetched.
    assert!(r.text().contains("Already exists"), "{}", r.text());

    // An index: the amd64 entry is chosen (the arm64 one does not even exist).
    let r = pull(&d, &format!("{host}/fake/app"), "multi", "");
    assert_eq!(stream_error(&r.text()), None, "{}", r.text());
    assert!(
        r.text().contains(&format!("Digest: {}", sha(&manifest))),
        "{}",
        r.text()
    );
    let r = req_with(
        &d,
        "POST",
        &format!("/images/create?fromImage={host}/fake/app&tag=multi&platform=linux/s390x"),
        &[],
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.text().contains("no matching manifest for linux/s390x"),
        "{}",
        r.text()
    );
}

/// The running tasks of `service` and the errors of the others.
fn task_states(d: &TestDaemon, service: &str) -> (usize, Vec<String>) {
    let filters = format!("{{\"service\":[\"{service}\"]}}");
    let r = d.req(
        "GET",
        &format!(
            "/tasks?filters={}",
            berth_test_support::client::urlencode(&filters)
        ),
        "",
    );
    let tasks = r.json();
    let tasks = tasks.as_array().cloned().unwrap_or_default();
    let running = tasks
        .iter()
        .filter(|t| t["Status"]["State"] == "running" && t["DesiredState"] == "running")
        .count();
    let errors = tasks
        .iter()
        .filter_map(|t| t["Status"]["Err"].as_str().map(String::from))
        .collect();
    (running, errors)
}

#[test]
fn swarm_nodes_pull_from_a_private_registry_with_the_credentials_the_client_sent() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let Some((reg, tls)) = tls_registry_with_password(dir.path()) else {
        return;
    };
    let mut d = TestDaemon::start("regswarm");
    let cfg_path = d.root.join("daemon.toml");
    let mut cfg = std::fs::read_to_string(&cfg_path).unwrap();
    cfg.push_str(&format!(
        "registry-ca-files = [\"{}\"]\n",
        tls.ca_pem.display()
    ));
    std::fs::write(&cfg_path, cfg).unwrap();
    d.kill9();
    d.spawn();
    d.import_busybox();
    let good = auth_header("berth", "s3cret");
    let repo = format!("{}/private/busybox", reg.host());
    for tag in ["v1", "v2"] {
        let tagged = d.req(
            "POST",
            &format!("/images/busybox/tag?repo={repo}&tag={tag}"),
            "",
        );
        assert_eq!(tagged.status, 201);
        let r = push(&d, &repo, tag, &good);
        assert_eq!(stream_error(&r.text()), None, "{}", r.text());
        assert_eq!(
            d.req("DELETE", &format!("/images/{repo}:{tag}"), "").status,
            200
        );
    }
    d.swarm_init_local(&[]);
    let spec = |name: &str, tag: &str| {
        json!({ "Name": name, "TaskTemplate": { "ContainerSpec": {
            "Image": format!("{repo}:{tag}"), "Args": ["sleep", "600"] } } })
        .to_string()
    };

    // Without credentials the node cannot pull: the task is rejected and says why.
    let anon = format!("{}-anon", d.prefix);
    let r = d.req("POST", "/services/create", &spec(&anon, "v1"));
    assert_eq!(r.status, 201, "{}", r.text());
    let refused = wait_until(Duration::from_secs(60), || {
        task_states(&d, &anon).1.iter().any(|e| e.contains("401"))
    });
    assert!(refused, "{:?}", task_states(&d, &anon));
    assert_eq!(
        d.req("DELETE", &format!("/services/{anon}"), "").status,
        200
    );

    // With X-Registry-Auth (docker's --with-registry-auth) the task runs.
    let private = format!("{}-priv", d.prefix);
    let r = d.req_with(
        "POST",
        "/services/create",
        &[
            ("X-Registry-Auth", &good),
            ("Content-Type", "application/json"),
        ],
        spec(&private, "v1").as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let runs = wait_until(Duration::from_secs(60), || task_states(&d, &private).0 == 1);
    assert!(runs, "{:?}", task_states(&d, &private));

    // The credentials are never shown.
    for path in [format!("/services/{private}"), "/tasks".to_string()] {
        let text = d.req("GET", &path, "").text();
        assert!(
            !text.contains("RegistryAuth") && !text.contains(&good),
            "{path}: {text}"
        );
    }

    // An update without the header keeps them: the new image is pulled with them.
    let svc = d.req("GET", &format!("/services/{private}"), "").json();
    let version = svc["Version"]["Index"].as_u64().unwrap();
    let r = d.req(
        "POST",
        &format!("/services/{private}/update?version={version}"),
        &spec(&private, "v2"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let updated = wait_until(Duration::from_secs(60), || {
        let images = d.req("GET", "/containers/json", "").text();
        task_states(&d, &private).0 == 1 && images.contains(&format!("{repo}:v2"))
    });
    assert!(updated, "{:?}", task_states(&d, &private));
    assert_eq!(
        d.req("DELETE", &format!("/services/{private}"), "").status,
        200
    );
}

#[test]
fn a_pull_without_a_tag_pulls_every_tag_of_the_repository() {
    require_root!();
    let Some(reg) = Registry::start() else {
        return;
    };
    let d = TestDaemon::with_busybox("regalltags");
    let repo = format!("{}/it/every", reg.host());
    for tag in ["v1", "v2"] {
        let r = d.req(
            "POST",
            &format!("/images/busybox/tag?repo={repo}&tag={tag}"),
            "",
        );
        assert_eq!(r.status, 201, "tag: {}", r.text());
        let r = push(&d, &repo, tag, "e30=");
        assert_eq!(stream_error(&r.text()), None, "{}", r.text());
        let r = d.req("DELETE", &format!("/images/{repo}:{tag}"), "");
        assert_eq!(r.status, 200, "rmi: {}", r.text());
    }
    // `docker pull --all-tags`: fromImage without a tag.
    let r = req_with(
        &d,
        "POST",
        &format!("/v1.47/images/create?fromImage={repo}"),
        &[("X-Registry-Auth", "e30=")],
    );
    assert_eq!(r.status, 200, "pull: {}", r.text());
    assert_eq!(stream_error(&r.text()), None, "{}", r.text());
    for tag in ["v1", "v2"] {
        assert_eq!(
            d.req("GET", &format!("/images/{repo}:{tag}/json"), "")
                .status,
            200,
            "{tag} pulled: {}",
            r.text()
        );
    }
}
