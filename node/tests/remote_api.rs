//! Root-gated: berthd's remote API. TLS with the certificates of `berth tls init` for the docker
//! CLI, docker-py and berth (and nothing without a client certificate), handshakes that fail or
//! stall without holding up others, the refusal of unauthenticated tcp beyond loopback, moby's
//! JSON Content-Type rule and the unix socket's mode. Needs the workspace's binaries built
//! (`cargo build --workspace --bins`: `berth` comes from the cli crate).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use berth_test_support::registry::free_port;
use berth_test_support::{bin_dir, parse_response, require_root, wait_until, Response, TestDaemon};

fn berth_bin() -> PathBuf {
    let berth = bin_dir().join("berth");
    assert!(
        berth.exists(),
        "{} is missing: cargo build --workspace --bins",
        berth.display()
    );
    berth
}

/// Runs `program` with a clean client environment: no inherited host, TLS or config settings.
fn client(program: &Path, home: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("HOME", home)
        .env("DOCKER_CONFIG", home.join("docker-config"))
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("BERTH_HOST")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A berthd serving TLS with client verification on a free loopback port, with certificates
/// from `berth tls init` in a temporary directory.
struct TlsDaemon {
    daemon: TestDaemon,
    port: u16,
    home: tempfile::TempDir,
}

impl TlsDaemon {
    fn start(name: &str) -> Self {
        let home = tempfile::tempdir().unwrap();
        let certs = home.path().join("certs");
        let out = client(
            &berth_bin(),
            home.path(),
            &[
                "tls",
                "init",
                "--host",
                "localhost",
                "--days",
                "2",
                "--out",
                certs.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "berth tls init: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("--tlsverify"));
        let port = free_port();
        let c = |f: &str| certs.join(f).display().to_string();
        let daemon = TestDaemon::start_with(
            name,
            &[
                "-H".into(),
                format!("tcp://127.0.0.1:{port}"),
                "--tlsverify".into(),
                "--tlscacert".into(),
                c("ca.pem"),
                "--tlscert".into(),
                c("server-cert.pem"),
                "--tlskey".into(),
                c("server-key.pem"),
            ],
        );
        TlsDaemon { daemon, port, home }
    }

    fn certs(&self) -> PathBuf {
        self.home.path().join("certs")
    }

    fn cert(&self, f: &str) -> String {
        self.certs().join(f).display().to_string()
    }

    fn host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// `docker --tlsverify … -H tcp://127.0.0.1:PORT args…` with the client certificate.
    fn docker(&self, args: &[&str]) -> Output {
        let mut all = vec![
            "--tlsverify".to_string(),
            "--tlscacert".into(),
            self.cert("ca.pem"),
            "--tlscert".into(),
            self.cert("cert.pem"),
            "--tlskey".into(),
            self.cert("key.pem"),
            "-H".into(),
            self.host(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        client(Path::new("docker"), self.home.path(), &all)
    }
}

#[test]
fn docker_cli_and_berth_connect_with_tls_init_certificates_and_not_without_a_client_certificate() {
    require_root!();
    let t = TlsDaemon::start("tlsclients");
    let out = t.docker(&["ps"]);
    assert!(out.status.success(), "docker ps over TLS: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("CONTAINER ID"));

    // The CA alone: the daemon asks for a client certificate and gets none.
    let (ca, host) = (t.cert("ca.pem"), t.host());
    let out = client(
        Path::new("docker"),
        t.home.path(),
        &["--tlsverify", "--tlscacert", &ca, "-H", &host, "ps"],
    );
    assert!(
        !out.status.success(),
        "docker without a client cert: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("certificate required"),
        "{}",
        text(&out)
    );
    let out = client(
        &berth_bin(),
        t.home.path(),
        &["-H", &host, "--tlsverify", "--tlscacert", &ca, "ps"],
    );
    assert!(
        !out.status.success(),
        "berth without a client cert: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error during connect: tls"),
        "{}",
        text(&out)
    );

    // Plain HTTP to the TLS port: both clients show why.
    for program in [Path::new("docker"), &berth_bin()] {
        let out = client(program, t.home.path(), &["-H", &host, "ps"]);
        assert!(!out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("HTTP request to an HTTPS server"),
            "{}",
            text(&out)
        );
    }

    // berth with flags, then with docker's environment variables.
    let (cert, key) = (t.cert("cert.pem"), t.cert("key.pem"));
    let out = client(
        &berth_bin(),
        t.home.path(),
        &[
            "-H",
            &host,
            "--tlsverify",
            "--tlscacert",
            &ca,
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
            "ps",
        ],
    );
    assert!(out.status.success(), "berth --tlsverify ps: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("CONTAINER ID"));
    let out = Command::new(berth_bin())
        .args(["ps", "-a"])
        .env("HOME", t.home.path())
        .env("DOCKER_HOST", &host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", t.certs())
        .env_remove("BERTH_HOST")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "berth with DOCKER_TLS_VERIFY: {}",
        text(&out)
    );

    // The raw paths (the wait registered before start, the attach upgrade) over TLS too.
    t.daemon.import_busybox();
    let out = Command::new(berth_bin())
        .args(["run", "--rm", "busybox", "echo", "hello over tls"])
        .env("HOME", t.home.path())
        .env("DOCKER_HOST", &host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", t.certs())
        .env_remove("BERTH_HOST")
        .output()
        .unwrap();
    assert!(out.status.success(), "berth run over TLS: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello over tls\n");
    let out = t.docker(&["run", "--rm", "busybox", "echo", "docker over tls"]);
    assert!(out.status.success(), "docker run over TLS: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "docker over tls\n");

    // TLS without client certificates authenticates no one: refused beyond loopback too.
    let err = refused_start(
        "tls without client checks",
        &[
            "-H",
            "tcp://10.255.255.1:2376",
            "--tlsverify=false",
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
        ],
    );
    assert!(
        err.contains("refusing to serve tcp://10.255.255.1:2376"),
        "{err}"
    );
}

#[test]
fn docker_py_tls_config_connects() {
    require_root!();
    let t = TlsDaemon::start("tlspy");
    let script = format!(
        "import docker\n\
         tls = docker.tls.TLSConfig(client_cert=({cert:?}, {key:?}), ca_cert={ca:?}, verify=True)\n\
         c = docker.DockerClient(base_url={host:?}, tls=tls)\n\
         print(c.version()['ApiVersion'], len(c.containers.list(all=True)))\n",
        cert = t.cert("cert.pem"),
        key = t.cert("key.pem"),
        ca = t.cert("ca.pem"),
        host = t.host(),
    );
    // Debian's python3-docker (scripts/deps.sh) lives beside the system python.
    let out = Command::new("/usr/bin/python3")
        .args(["-c", &script])
        // requests lets these variables override the CA that docker-py passes per session.
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    assert!(out.status.success(), "docker-py over TLS: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1.47 0\n");
}

#[test]
fn failed_and_stalled_handshakes_do_not_hold_up_other_clients() {
    require_root!();
    let t = TlsDaemon::start("tlsstall");
    // A client that connects and never says anything holds its own handshake task only.
    let silent = std::net::TcpStream::connect(("127.0.0.1", t.port)).unwrap();
    // One that speaks plain HTTP to the TLS port is told so, as dockerd tells it.
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", t.port)).unwrap();
    plain
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = plain.read_to_string(&mut answer);
    assert_eq!(
        answer,
        "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    );
    // One that sends a broken handshake record fails its handshake.
    let mut broken = std::net::TcpStream::connect(("127.0.0.1", t.port)).unwrap();
    broken.write_all(b"\x16\x03\x01\x00\x05hello").unwrap();
    let mut rest = Vec::new();
    let _ = broken.read_to_end(&mut rest);
    for _ in 0..3 {
        let out = t.docker(&["version", "--format", "{{.Server.APIVersion}}"]);
        assert!(out.status.success(), "docker version: {}", text(&out));
    }
    drop(silent);
    // The refused connection is closed before its task logs why.
    let logged = wait_until(Duration::from_secs(30), || {
        t.daemon.log().contains("TLS handshake failed")
    });
    assert!(logged, "{}", t.daemon.log());
}

/// A request over the unix socket with the given Content-Type (none when `None`).
fn request_typed(d: &TestDaemon, path: &str, content_type: Option<&str>, body: &str) -> Response {
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let ct = content_type
        .map(|c| format!("Content-Type: {c}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&raw).unwrap()
}

#[test]
fn the_socket_is_0660_and_json_endpoints_refuse_other_content_types() {
    require_root!();
    // A gid works as the group (no such group needs to exist; names are looked up).
    let d = TestDaemon::start_with("ctype", &["-G".into(), "4242".into()]);
    let meta = std::fs::metadata(&d.socket).unwrap();
    let mode = meta.permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "socket mode {mode:o}");
    assert_eq!((meta.uid(), meta.gid()), (0, 4242));

    let body = r#"{"Image":"busybox","HostConfig":{"Privileged":true}}"#;
    let r = request_typed(&d, "/containers/create?name=csrf", Some("text/plain"), body);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        "unsupported Content-Type header (text/plain): must be 'application/json'"
    );
    let r = request_typed(&d, "/v1.47/containers/create", None, body);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("malformed Content-Type header ()"),
        "{}",
        r.text()
    );
    let r = request_typed(
        &d,
        "/networks/create",
        Some("text/plain;charset=UTF-8"),
        r#"{"Name":"n"}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let list = d.req("GET", "/containers/json?all=1", "").json();
    assert_eq!(list, serde_json::json!([]), "nothing was created");

    // JSON with parameters is fine, and an empty body needs no type.
    d.import_busybox();
    let r = request_typed(
        &d,
        "/containers/create?name=ok",
        Some("application/json; charset=utf-8"),
        r#"{"Image":"busybox"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = request_typed(&d, "/containers/ok/start", None, "");
    assert_eq!(r.status, 204, "{}", r.text());
}

/// Runs berthd until it exits (it must refuse to start); its stderr.
fn refused_start(name: &str, args: &[&str]) -> String {
    let root = tempfile::tempdir().unwrap();
    let out = Command::new(bin_dir().join("berthd"))
        .arg("--data-root")
        .arg(root.path().join("data"))
        .arg("--exec-root")
        .arg(root.path().join("exec"))
        .arg("--config-file")
        .arg("/dev/null")
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{name}: berthd started: {err}");
    assert!(
        !root.path().join("data").exists(),
        "{name}: berthd opened its data root before refusing"
    );
    err
}

#[test]
fn unauthenticated_tcp_beyond_loopback_stops_berthd_and_loopback_only_warns() {
    require_root!();
    // Refused before anything is bound, so these addresses need not exist here.
    for host in [
        "tcp://10.255.255.1:2375",
        "tcp://0.0.0.0:2375",
        "tcp://[::]:2375",
    ] {
        let err = refused_start(host, &["-H", host]);
        assert!(
            err.contains(&format!("refusing to serve {host} without --tlsverify"))
                && err.contains("--insecure-tcp"),
            "{host}: {err}"
        );
    }
    // A TLS file that cannot be read stops start-up too, naming the flag and the file.
    let err = refused_start(
        "unreadable certificate",
        &[
            "-H",
            "tcp://127.0.0.1:1",
            "--tlsverify=false",
            "--tlscert",
            "/nonexistent/cert.pem",
        ],
    );
    assert!(
        err.contains("--tlscert /nonexistent/cert.pem: cannot read it"),
        "{err}"
    );

    let port = free_port();
    let d = TestDaemon::start_with(
        "plaintcp",
        &["-H".into(), format!("tcp://127.0.0.1:{port}")],
    );
    assert!(d.log().contains("without --tlsverify"), "{}", d.log());
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    assert_eq!(parse_response(&raw).unwrap().status, 200);
}
