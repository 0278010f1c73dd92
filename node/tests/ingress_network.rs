//! The swarm's ingress network, the routing mesh's, through the docker CLI and berth's against
//! a real one-node swarm: made at init as Docker's, hidden from service specs, removed only
//! while no service publishes (berth's CLI asks first, as docker's), replaced by a user's own,
//! which the published port then answers through.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::time::Duration;

use berth_test_support::swarm::settled;
use berth_test_support::{require_root, TestDaemon};

/// The routing mesh's network as Docker keeps it: `swarm init` makes `ingress` (the first
/// subnet), services are attached to it unseen and cannot name it; it cannot be removed while
/// a service publishes; without one a publishing service is refused; a user's own
/// (`--ingress`, Docker's documented way to change its subnet) replaces it, one at a time, and
/// the published port answers through it.
#[test]
fn the_swarms_ingress_network_is_made_at_init_and_a_user_may_replace_it() {
    require_root!();
    let d = TestDaemon::with_busybox("ingress");
    d.swarm_init_local(&["--data-path-port", "4793"]);
    assert_eq!(
        d.network_inspect("ingress", "{{.Ingress}} {{.Driver}} {{.Scope}}"),
        "true overlay swarm"
    );
    let ipam = settled(|| {
        let s = d.network_inspect(
            "ingress",
            "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
        );
        (!s.is_empty()).then_some(s)
    });
    assert_eq!(ipam.as_deref(), Some("10.0.0.0/24 10.0.0.1"));
    let mine = format!("{}-ing", d.prefix);
    let (code, out) = d.cli(&["network", "create", "-d", "overlay", "--ingress", &mine]);
    assert_ne!(code, 0);
    assert!(out.contains("is already present"), "{out}");

    let web = format!("{}-web", d.prefix);
    let httpd = [
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www",
    ];
    let create = |name: &str, extra: &[&str]| {
        let mut args = vec!["service", "create", "-d", "--name", name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&httpd);
        d.cli(&args)
    };
    let (code, out) = create(&web, &["-p", "18461:80"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        d.cli_ok(&[
            "service",
            "inspect",
            "-f",
            "{{json .Spec.TaskTemplate.Networks}}",
            &web
        ]),
        "null",
        "the ingress is not in the spec, as in Docker's"
    );
    let r = d.req("DELETE", "/networks/ingress", "");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text()
            .contains("ingress network cannot be removed because service"),
        "{}",
        r.text()
    );
    let (code, out) = create(&format!("{web}2"), &["--network", "ingress"]);
    assert_ne!(code, 0);
    assert!(
        out.contains("Service cannot be explicitly attached to the ingress network \"ingress\""),
        "{out}"
    );
    d.cli_ok(&["service", "rm", &web]);

    // berth's CLI asks first, as docker's: no answer keeps it, `y` removes it.
    let (code, out) = d.berth_answering("", &["network", "rm", "ingress"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("WARNING! Before removing the routing-mesh network"),
        "{out}"
    );
    assert_eq!(d.network_inspect("ingress", "{{.Ingress}}"), "true", "kept");
    let (code, out) = d.berth_answering("y\n", &["network", "rm", "ingress"]);
    assert_eq!(code, 0, "nothing publishes now: {out}");
    assert!(out.trim_end().ends_with("ingress"), "{out}");
    let (code, out) = create(&web, &["-p", "18461:80"]);
    assert_ne!(code, 0);
    assert!(
        out.contains("service needs ingress network, but no ingress network is present"),
        "{out}"
    );
    let (code, out) = d.cli(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--ingress",
        "--attachable",
        &mine,
    ]);
    assert_ne!(code, 0);
    assert!(
        out.contains("ingress network cannot be attachable"),
        "{out}"
    );
    d.cli_ok(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--ingress",
        "--subnet",
        "10.11.0.0/16",
        "--gateway",
        "10.11.0.2",
        &mine,
    ]);
    assert_eq!(d.network_inspect(&mine, "{{.Ingress}}"), "true");
    let (code, out) = create(&web, &["-p", "18461:80"]);
    assert_eq!(code, 0, "{out}");
    let vip = settled(|| {
        let s = d.cli_ok(&[
            "service",
            "inspect",
            "-f",
            "{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}",
            &web,
        ]);
        (!s.is_empty()).then_some(s)
    });
    assert!(
        vip.as_deref().is_some_and(|v| v.starts_with("10.11.")),
        "the service's VIP is on the user's ingress: {vip:?}"
    );
    let answered = settled(|| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", 18461)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        body.contains("hello").then_some(body)
    });
    assert!(
        answered.is_some(),
        "the published port answers through the user's ingress network: {}",
        d.cli(&["service", "ps", "--no-trunc", &web]).1
    );
    d.cli_ok(&["service", "rm", &web]);
}
