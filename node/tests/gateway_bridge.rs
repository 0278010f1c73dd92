//! The way out of swarm tasks and bridges without inter-container traffic, against a real
//! one-node swarm: a task on an overlay network also joins the node's `docker_gwbridge`, which
//! carries its default route (it reaches the host past its own subnets) while its main network
//! stays the overlay; a task on an `--internal` overlay gets no way out; two tasks on the
//! gateway bridge cannot reach each other through it (Docker's `enable_icc=false`), and a user
//! bridge made with that option isolates its containers the same way; a container whose first
//! network is internal gets out, and publishes its ports, through the next.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::io::Write as _;
use std::net::TcpListener;
use std::time::Duration;

use berth_test_support::{loopback_get, require_root, wait_until, TestDaemon};

/// Running containers of service `svc`, once there are `n`.
fn tasks(d: &TestDaemon, svc: &str, n: usize) -> Vec<String> {
    let label = format!("label=com.docker.swarm.service.name={svc}");
    let mut got = Vec::new();
    let ok = wait_until(Duration::from_secs(60), || {
        let out = d.cli_ok(&["ps", "-q", "--filter", &label]);
        got = out.lines().map(str::to_string).collect();
        got.len() == n
    });
    assert!(
        ok,
        "{n} tasks of {svc}: {}",
        d.cli(&["service", "ps", "--no-trunc", svc]).1
    );
    got
}

/// The container's address on network `net`.
fn address(d: &TestDaemon, c: &str, net: &str) -> String {
    let f = format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}");
    d.cli_ok(&["inspect", "-f", &f, c])
}

/// Whether `c` gets "hi" from `addr:port` (a plain TCP answer).
fn reaches(d: &TestDaemon, c: &str, addr: &str, port: u16) -> bool {
    let cmd = format!("nc -w 3 {addr} {port} </dev/null");
    let (code, out) = d.cli(&["exec", c, "sh", "-c", &cmd]);
    code == 0 && out.contains("hi")
}

/// `GET /` of `addr:8080` from container `c`, by hand over nc (the test image's static wget
/// cannot connect to anything but loopback: its address lookup needs NSS modules).
fn http_get(d: &TestDaemon, c: &str, addr: &str) -> (i32, String) {
    let cmd = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {addr} 8080");
    d.cli(&["exec", c, "sh", "-c", &cmd])
}

/// A TCP server on every host address that answers "hi" to each connection, until dropped.
fn host_server() -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    let h = std::thread::spawn(move || {
        let until = std::time::Instant::now() + Duration::from_secs(300);
        while std::time::Instant::now() < until {
            match l.accept() {
                Ok((mut s, _)) => {
                    let _ = s.write_all(b"hi\n");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    (port, h)
}

#[test]
fn overlay_tasks_get_out_through_the_gateway_bridge_and_not_to_each_other() {
    require_root!();
    let d = TestDaemon::with_busybox("gwbr");
    d.swarm_init_local(&["--data-path-port", "4792"]);
    let open = format!("{}-open", d.prefix);
    let closed = format!("{}-closed", d.prefix);
    d.cli_ok(&["network", "create", "-d", "overlay", &open]);
    d.cli_ok(&["network", "create", "-d", "overlay", "--internal", &closed]);
    let web = format!("{}-web", d.prefix);
    let jail = format!("{}-jail", d.prefix);
    let httpd = "mkdir -p /w && echo hi > /w/index.html && exec httpd -f -p 8080 -h /w";
    for (name, net, replicas) in [(&web, &open, "2"), (&jail, &closed, "1")] {
        d.cli_ok(&[
            "service",
            "create",
            "-d",
            "--no-resolve-image",
            "--name",
            name,
            "--network",
            net,
            "--replicas",
            replicas,
            "busybox",
            "sh",
            "-c",
            httpd,
        ]);
    }
    let webs = tasks(&d, &web, 2);
    let jailed = tasks(&d, &jail, 1);

    // The overlay stays the main network; the gateway bridge is one more, isolated.
    let nets = d.cli_ok(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        &webs[0],
    ]);
    assert_eq!(
        nets.split_whitespace()
            .collect::<std::collections::BTreeSet<_>>(),
        [open.as_str(), "docker_gwbridge"].into_iter().collect()
    );
    assert_eq!(
        d.cli_ok(&[
            "network",
            "inspect",
            "-f",
            "{{index .Options \"com.docker.network.bridge.enable_icc\"}}",
            "docker_gwbridge"
        ]),
        "false"
    );
    let resolv = d.cli_ok(&["exec", &webs[0], "cat", "/etc/resolv.conf"]);
    let overlay_gw = d.cli_ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        &open,
    ]);
    assert!(
        resolv.contains(&format!("nameserver {overlay_gw}")),
        "{resolv}"
    );

    // Out: to a host address that is on none of the task's subnets (the default bridge's
    // gateway), through the default route.
    let (port, _server) = host_server();
    let host_addr = d.cli_ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        "bridge",
    ]);
    assert!(
        reaches(&d, &webs[0], &host_addr, port),
        "an overlay task reaches the host past its subnets"
    );
    assert!(
        !reaches(&d, &jailed[0], &host_addr, port),
        "a task on an internal overlay has no way out"
    );
    let jailed_nets = d.cli_ok(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        &jailed[0],
    ]);
    assert_eq!(jailed_nets.trim(), closed);

    // The two web tasks meet on their overlay, not on the gateway bridge.
    let peer_overlay = address(&d, &webs[1], &open);
    let peer_gw = address(&d, &webs[1], "docker_gwbridge");
    let get = |addr: &str| http_get(&d, &webs[0], addr);
    let (code, out) = get(&peer_overlay);
    assert!(code == 0 && out.contains("hi"), "over the overlay: {out}");
    let (_, out) = get(&peer_gw);
    assert!(
        !out.contains("hi"),
        "reached a task through the gateway bridge: {out}"
    );
}

#[test]
fn a_bridge_without_icc_lets_its_containers_out_but_not_to_each_other() {
    require_root!();
    let d = TestDaemon::with_busybox("noicc");
    let net = format!("{}-noicc", d.prefix);
    d.cli_ok(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        &net,
    ]);
    let server = format!("{}-srv", d.prefix);
    let client = format!("{}-cli", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &server,
        "--network",
        &net,
        "busybox",
        "sh",
        "-c",
        "mkdir -p /w && echo hi > /w/index.html && exec httpd -f -p 8080 -h /w",
    ]);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &client,
        "--network",
        &net,
        "busybox",
        "sleep",
        "300",
    ]);
    let server_ip = address(&d, &server, &net);
    let (code, out) = http_get(&d, &server, "127.0.0.1");
    assert!(code == 0 && out.contains("hi"), "the server serves: {out}");
    let (_, out) = http_get(&d, &client, &server_ip);
    assert!(
        !out.contains("hi"),
        "containers met on an icc=false bridge: {out}"
    );
    let (port, _server) = host_server();
    let gw = d.cli_ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        &net,
    ]);
    assert!(
        reaches(&d, &client, &gw, port),
        "the gateway (the host) answers"
    );
}

/// A port nothing on the host's loopback listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_container_whose_first_network_is_internal_gets_out_and_publishes_through_the_next() {
    require_root!();
    let d = TestDaemon::with_busybox("gwint");
    let p = &d.prefix;
    let (back, front) = (format!("{p}-back"), format!("{p}-front"));
    d.cli_ok(&["network", "create", "--internal", &back]);
    d.cli_ok(&["network", "create", &front]);
    let front_gw = d.cli_ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        &front,
    ]);
    let serve = "mkdir -p /w && echo hi > /w/index.html && exec httpd -f -p 80 -h /w";
    let route = |c: &str| d.cli_ok(&["exec", c, "ip", "route"]);
    // Its published port answers on the host, and its default route is the front end's.
    let goes_out_through_front = |c: &str, port: u16| {
        assert!(
            wait_until(Duration::from_secs(10), || loopback_get(port)
                .contains("hi")),
            "{c}'s published port: {}",
            loopback_get(port)
        );
        let routes = route(c);
        assert!(
            routes.contains(&format!("default via {front_gw}")),
            "{routes}"
        );
    };

    // As docker-compose makes a service on an `internal: true` back end and a front end: on
    // the first, connected to the second before its start.
    let (made, made_port) = (format!("{p}-made"), free_port());
    let publish = format!("127.0.0.1:{made_port}:80");
    d.cli_ok(&[
        "create",
        "--name",
        &made,
        "--network",
        &back,
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        serve,
    ]);
    d.cli_ok(&["network", "connect", &front, &made]);
    d.cli_ok(&["start", &made]);
    goes_out_through_front(&made, made_port);
    assert_eq!(
        d.cli_ok(&["port", &made, "80/tcp"]),
        format!("127.0.0.1:{made_port}")
    );

    // Running on the internal network alone it has no way out; connected to another, it
    // gets one, and its published port with it, as Docker moves the gateway endpoint.
    let (running, running_port) = (format!("{p}-running"), free_port());
    let publish = format!("127.0.0.1:{running_port}:80");
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &running,
        "--network",
        &back,
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        serve,
    ]);
    assert!(!route(&running).contains("default"), "{}", route(&running));
    assert!(!loopback_get(running_port).contains("hi"));
    d.cli_ok(&["network", "connect", &front, &running]);
    goes_out_through_front(&running, running_port);
}
