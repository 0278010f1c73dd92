//! `berth context` against the docker CLI's own context store, in a throwaway `DOCKER_CONFIG`:
//! the same commands run through `berth` and `docker` (when installed) print the same and exit
//! the same; and (root-gated, a berthd serving TLS on a loopback port) a context the docker CLI
//! made carries berth to the daemon with its certificates, one berth made carries docker, and
//! `-H`/`BERTH_HOST`/`DOCKER_HOST` beat the current context as they do in docker.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_test_support::{require_root, TestDaemon};
use common::{berth, has_docker, Run};

/// `program args…` with `config` as `DOCKER_CONFIG` and `env` set, nothing inherited that
/// picks a host, a context or TLS.
fn run(program: &Path, config: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::new(program);
    for var in [
        "BERTH_HOST",
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "BERTH_TLS_VERIFY",
        "BERTH_CERT_PATH",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("DOCKER_CONFIG", config)
        .envs(env.iter().copied())
        .args(args);
    cmd.output().unwrap().into()
}

/// A run with the config directory and either CLI's default host written the same way.
fn normalised(r: &Run, config: &Path) -> String {
    let text = format!("{:?}\n{}\n--\n{}", r.code, r.out, r.err);
    let text = text
        .replace(&config.display().to_string(), "$CONFIG")
        .replace("unix:///run/berth/berth.sock", "$DEFAULT_HOST")
        .replace("unix:///var/run/docker.sock", "$DEFAULT_HOST");
    // The default endpoint's width moves the table's columns: compare cells, not spaces.
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn context_commands_print_and_store_what_docker_does() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("pem");
    std::fs::create_dir_all(&pem).unwrap();
    let certs = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(pem.join("ca.pem"), certs.cert.pem()).unwrap();
    std::fs::write(pem.join("cert.pem"), certs.cert.pem()).unwrap();
    std::fs::write(pem.join("key.pem"), certs.signing_key.serialize_pem()).unwrap();
    let p = |f: &str| pem.join(f).display().to_string();
    let tls = format!(
        "host=tcp://127.0.0.1:2376,ca={},cert={},key={},skip-tls-verify=true",
        p("ca.pem"),
        p("cert.pem"),
        p("key.pem")
    );
    let steps: Vec<Vec<String>> = [
        "context ls",
        "context create foo --description my-desc --docker TLS",
        "context ls",
        "context ls --format json",
        "context ls -q",
        "context inspect foo",
        "context inspect foo nope",
        "context inspect -f {{.Name}}={{.Endpoints.docker.Host}} foo",
        "context use foo",
        "context show",
        "context ls",
        "context create foo --docker host=unix:///a",
        "context create default",
        "context create q",
        "context create bar --docker host=unix:///a,bogus=1",
        "context create bar --docker host=unix:///a,skip-tls-verify=maybe",
        "context create bar --docker host=unix:///a,ca=/nonexistent",
        "context create bar --docker host=ssh://me@h",
        "context create c7 --docker host=tcp://h:1,from=bar",
        "context create c8 --docker from=nope",
        "context create baz --from bar --description bd",
        "context create cur --description copied",
        "context inspect cur",
        "context update foo --description new",
        "context update nope --description x",
        "context update foo --docker host=unix:///updated",
        "context inspect foo",
        "context rm foo",
        "context rm -f foo default",
        "context rm c7 nope",
        "context show",
        "--context bar context show",
        "context use default",
        "context ls",
        "--context gone ps",
    ]
    .iter()
    .map(|s| {
        s.split(' ')
            .map(|w| {
                if w == "TLS" {
                    tls.clone()
                } else {
                    w.to_string()
                }
            })
            .collect()
    })
    .collect();
    let (b_cfg, d_cfg) = (dir.path().join("berth"), dir.path().join("docker"));
    let docker = has_docker();
    if !docker {
        eprintln!("docker CLI: not installed; berth's output checked alone");
    }
    for args in &steps {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ours = run(&berth(), &b_cfg, &[], &args);
        if docker {
            let theirs = run(Path::new("docker"), &d_cfg, &[], &args);
            assert_eq!(
                normalised(&ours, &b_cfg),
                normalised(&theirs, &d_cfg),
                "berth {args:?} differs from docker"
            );
        }
    }
    // What both left on disk reads the same (docker's files are the reference).
    let meta = |cfg: &Path| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = std::fs::read_dir(cfg.join("contexts/meta"))
            .unwrap()
            .map(|e| {
                let dir = e.unwrap().path();
                let text = std::fs::read_to_string(dir.join("meta.json")).unwrap();
                (
                    dir.file_name().unwrap().to_string_lossy().into_owned(),
                    text,
                )
            })
            .collect();
        out.sort();
        out
    };
    let ours = meta(&b_cfg);
    let names: Vec<&str> = ours.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(ours.len(), 3, "{names:?}");
    assert!(names
        .iter()
        .any(|t| t.starts_with(r#"{"Name":"bar","Metadata":{}"#)));
    if docker {
        let theirs = meta(&d_cfg);
        let ours: Vec<(String, String)> = ours
            .into_iter()
            .map(|(d, t)| (d, t.replace("unix:///run/berth/berth.sock", "DEFAULT")))
            .collect();
        let theirs: Vec<(String, String)> = theirs
            .into_iter()
            .map(|(d, t)| (d, t.replace("unix:///var/run/docker.sock", "DEFAULT")))
            .collect();
        assert_eq!(ours, theirs);
    }
}

/// A berthd serving TLS (client certificates required) on a free loopback port, with the
/// certificates of `berth tls init`.
struct TlsDaemon {
    daemon: TestDaemon,
    host: String,
    certs: PathBuf,
}

fn tls_daemon(name: &str, dir: &Path) -> TlsDaemon {
    let certs = dir.join("certs");
    let r = run(
        &berth(),
        &dir.join("unused"),
        &[],
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
    assert_eq!(r.code, Some(0), "tls init: {}", r.err);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
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
    TlsDaemon {
        daemon,
        host: format!("tcp://127.0.0.1:{port}"),
        certs,
    }
}

#[test]
fn contexts_made_by_either_cli_reach_the_daemon_through_tls() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let d = tls_daemon("ctxtls", dir.path());
    let cfg = dir.path().join("config");
    let socket = format!("unix://{}", d.daemon.socket.display());
    let name = format!("{}-marker", d.daemon.prefix);
    d.daemon.import_busybox();
    let r = run(
        &berth(),
        &cfg,
        &[("BERTH_HOST", &socket)],
        &["create", "--name", &name, "busybox"],
    );
    assert_eq!(r.code, Some(0), "{}", r.err);
    let c = |f: &str| d.certs.join(f).display().to_string();
    let endpoint = format!(
        "host={},ca={},cert={},key={}",
        d.host,
        c("ca.pem"),
        c("cert.pem"),
        c("key.pem")
    );
    let names = ["ps", "-a", "--format", "{{.Names}}"];
    let with = |ctx: &'static str| -> [&str; 6] {
        ["--context", ctx, names[0], names[1], names[2], names[3]]
    };
    let expect_names = |r: Run, who: &str| {
        assert_eq!(
            (r.code, r.out.trim()),
            (Some(0), name.as_str()),
            "{who}: {}",
            r.err
        );
    };

    if has_docker() {
        // docker's context, berth's connection.
        let r = run(
            "docker".as_ref(),
            &cfg,
            &[],
            &["context", "create", "dctx", "--docker", &endpoint],
        );
        assert_eq!(r.code, Some(0), "docker context create: {}", r.err);
        expect_names(
            run(&berth(), &cfg, &[], &with("dctx")),
            "berth --context dctx",
        );
        expect_names(
            run(&berth(), &cfg, &[("DOCKER_CONTEXT", "dctx")], &names),
            "DOCKER_CONTEXT",
        );
        let r = run("docker".as_ref(), &cfg, &[], &["context", "use", "dctx"]);
        assert_eq!(r.code, Some(0), "{}", r.err);
        expect_names(run(&berth(), &cfg, &[], &names), "docker context use");
        let ctx = run(
            &berth(),
            &cfg,
            &[],
            &["version", "--format", "{{.Client.Context}}"],
        );
        assert_eq!(ctx.out, "dctx\n");
        // A host given otherwise beats the current context, as in docker.
        for env in [
            ("DOCKER_HOST", socket.as_str()),
            ("BERTH_HOST", socket.as_str()),
        ] {
            let r = run(
                &berth(),
                &cfg,
                &[env],
                &["version", "--format", "{{.Client.Context}}"],
            );
            assert_eq!(r.out, "default\n", "{env:?}: {}", r.err);
            expect_names(run(&berth(), &cfg, &[env], &names), env.0);
        }
        let mut flagged = vec!["-H", socket.as_str()];
        flagged.extend(names);
        expect_names(run(&berth(), &cfg, &[], &flagged), "-H");
        let r = run(&berth(), &cfg, &[], &["context", "use", "default"]);
        assert_eq!(r.code, Some(0), "{}", r.err);
    } else {
        eprintln!("docker CLI: not installed; only berth's own contexts tried");
    }

    // berth's context, both CLIs' connections.
    let r = run(
        &berth(),
        &cfg,
        &[],
        &["context", "create", "bctx", "--docker", &endpoint],
    );
    assert_eq!((r.code, r.out.as_str()), (Some(0), "bctx\n"), "{}", r.err);
    expect_names(
        run(&berth(), &cfg, &[], &with("bctx")),
        "berth --context bctx",
    );
    if has_docker() {
        expect_names(
            run("docker".as_ref(), &cfg, &[], &with("bctx")),
            "docker --context bctx",
        );
    }
    // skip-tls-verify: the daemon's certificate is not checked, the client's still sent.
    let skip = format!(
        "host={},cert={},key={},skip-tls-verify=true",
        d.host,
        c("cert.pem"),
        c("key.pem")
    );
    let r = run(
        &berth(),
        &cfg,
        &[],
        &["context", "create", "skip", "--docker", &skip],
    );
    assert_eq!(r.code, Some(0), "{}", r.err);
    expect_names(
        run(&berth(), &cfg, &[], &with("skip")),
        "berth --context skip",
    );
    // Without a client certificate the daemon refuses the handshake.
    let bare = format!("host={},ca={}", d.host, c("ca.pem"));
    let r = run(
        &berth(),
        &cfg,
        &[],
        &["context", "create", "bare", "--docker", &bare],
    );
    assert_eq!(r.code, Some(0), "{}", r.err);
    let r = run(&berth(), &cfg, &[], &with("bare"));
    assert_eq!(r.code, Some(1));
    assert!(r.err.starts_with("error during connect: "), "{}", r.err);
}
