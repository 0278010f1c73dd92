//! What `network create` may ask, through the docker CLI against a real berthd: an address
//! range, auxiliary addresses, attachable, the bridge driver's masquerade and default host
//! address options, applied as Docker applies them; and everything berth cannot do refused by
//! name instead of accepted and dropped; the host's network and none as Docker sets them up.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

use std::process::Command;

use berth_test_support::{require_root, TestDaemon};

#[test]
fn ranges_aux_addresses_and_bridge_options_apply() {
    require_root!();
    let d = TestDaemon::with_busybox("netopts");
    let table = d.net_names().table;
    let net = format!("{}-n", d.prefix);
    d.cli_ok(&[
        "network",
        "create",
        "--subnet",
        "10.251.3.0/24",
        "--ip-range",
        "10.251.3.64/30",
        "--aux-address",
        "printer=10.251.3.65",
        "--attachable",
        "-o",
        "com.docker.network.bridge.enable_ip_masquerade=false",
        "-o",
        "com.docker.network.bridge.host_binding_ipv4=127.0.0.1",
        &net,
    ]);
    let inspect = d.cli_ok(&[
        "network",
        "inspect",
        "--format",
        "{{json .IPAM.Config}} {{.Attachable}}",
        &net,
    ]);
    assert!(
        inspect.contains(r#""IPRange":"10.251.3.64/30""#),
        "{inspect}"
    );
    assert!(
        inspect.contains(r#""AuxiliaryAddresses":{"printer":"10.251.3.65"}"#),
        "{inspect}"
    );
    assert!(inspect.ends_with(" true"), "{inspect}");
    // A subnet given without a gateway: Docker shows none (its gateway is still the first host).
    assert!(!inspect.contains("Gateway"), "{inspect}");

    // Dynamic addresses come from the range, never the aux address; a static one may sit
    // anywhere in the subnet.
    let mut ips = Vec::new();
    for i in 0..3 {
        let name = format!("{}-c{i}", d.prefix);
        d.cli_ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &net,
            "-p",
            "80",
            "busybox",
            "sleep",
            "300",
        ]);
        ips.push(d.cli_ok(&[
            "inspect",
            "--format",
            &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
            &name,
        ]));
    }
    ips.sort();
    assert_eq!(ips, ["10.251.3.64", "10.251.3.66", "10.251.3.67"]);
    let (code, out) = d.cli(&["run", "--rm", "--network", &net, "busybox", "true"]);
    assert_ne!(code, 0, "the range is full: {out}");
    assert!(out.contains("no available IPv4 addresses"), "{out}");
    let refused_ip = |ip: &str| {
        let (code, out) = d.cli(&[
            "run",
            "--rm",
            "--network",
            &net,
            "--ip",
            ip,
            "busybox",
            "true",
        ]);
        assert_ne!(code, 0, "--ip {ip}: {out}");
        out
    };
    // An aux address is never given, in Docker's words for an address in use; one outside the
    // subnet has words of its own.
    let out = refused_ip("10.251.3.65");
    assert!(out.contains("Address already in use"), "{out}");
    let out = refused_ip("10.250.3.9");
    assert!(
        out.contains(
            "Invalid address 10.250.3.9: It does not belong to any of this network's subnets"
        ),
        "{out}"
    );
    let lone = format!("{}-none", d.prefix);
    d.cli_ok(&[
        "create",
        "--name",
        &lone,
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    let (code, out) = d.cli(&["network", "connect", &net, &lone]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("container cannot be connected to multiple networks with one of the networks in private (none) mode"),
        "{out}"
    );
    let fixed = d.cli_ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--ip",
        "10.251.3.200",
        "busybox",
        "ip",
        "-4",
        "-o",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(fixed.contains("10.251.3.200/24"), "{fixed}");

    // host_binding_ipv4: a port published without an address binds there.
    let port = d.cli_ok(&["port", &format!("{}-c0", d.prefix), "80"]);
    assert!(port.starts_with("127.0.0.1:"), "{port}");
    // enable_ip_masquerade=false: no masquerade rule for the subnet.
    let rules = Command::new("nft")
        .args(["list", "table", "ip", &table])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        rules.contains("masquerade"),
        "the default bridge still masquerades: {rules}"
    );
    assert!(!rules.contains("10.251.3.0/24"), "{rules}");
    d.remove_all();
}

#[test]
fn network_settings_berth_cannot_honour_are_refused_by_name() {
    require_root!();
    let d = TestDaemon::start("netrefuse");
    let cases: [(&[&str], &str); 9] = [
        (&["--ipv6"], "non-overlapping IPv6 address pool"),
        (
            &[
                "--ipv6",
                "--subnet",
                "fd00:1::/64",
                "--subnet",
                "fd00:2::/64",
            ],
            "bridge driver doesn't support multiple subnets",
        ),
        (&["--ingress"], "Ingress"),
        (&["--ipam-opt", "a=b"], "IPAM.Options"),
        (&["--ipam-driver", "nope"], "plugin \"nope\" not found"),
        (
            &["-o", "com.docker.network.bridge.host_binding_ipv4=x"],
            "host_binding_ipv4",
        ),
        (&["--scope", "swarm"], "Scope swarm"),
        (
            &["--subnet", "10.251.4.0/24", "--subnet", "10.251.5.0/24"],
            "bridge driver doesn't support multiple subnets",
        ),
        (
            &["--subnet", "10.251.4.0/24", "--ip-range", "10.251.9.0/28"],
            "no matching subnet for range",
        ),
    ];
    for (i, (flags, needle)) in cases.iter().enumerate() {
        let name = format!("{}-r{i}", d.prefix);
        let mut args = vec!["network", "create"];
        args.extend_from_slice(flags);
        args.push(&name);
        let (code, out) = d.cli(&args);
        assert_ne!(code, 0, "{flags:?} was accepted: {out}");
        assert!(out.contains(needle), "{flags:?}: {out}");
        let (code, _) = d.cli(&["network", "inspect", &name]);
        assert_ne!(code, 0, "{flags:?} left a network behind");
    }
}

#[test]
fn a_range_outside_the_subnet_is_refused_by_the_daemon_too() {
    require_root!();
    let d = TestDaemon::start("netrange");
    let body = r#"{"Name":"netrange-x","IPAM":{"Config":[{"Subnet":"10.251.6.0/24","IPRange":"10.251.9.0/28"}]}}"#;
    let r = d.req("POST", "/networks/create", body);
    assert_eq!(r.status, 400, "{}", r.text());
    // moby's ValidateIPAM (Docker 25 on).
    assert_eq!(
        r.json()["message"],
        "invalid network config:\ninvalid ip-range 10.251.9.0/28: parent subnet 10.251.6.0/24 doesn't contain ip-range"
    );
    let body = r#"{"Name":"netrange-y","IPAM":{"Config":[{"Subnet":"10.251.6.0/24","AuxiliaryAddresses":{"a":"10.9.9.9"}}]}}"#;
    let r = d.req("POST", "/networks/create", body);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        "invalid network config:\ninvalid auxiliary address a: parent subnet 10.251.6.0/24 doesn't contain this address"
    );
    // Host bits in the range are refused as in the subnet (20.10 cleared them), and a
    // gateway outside is refused with the same words (20.10: 403 "no matching subnet").
    let body = r#"{"Name":"netrange-z","IPAM":{"Config":[{"Subnet":"10.251.6.0/24","IPRange":"10.251.6.17/28","Gateway":"10.251.7.1"}]}}"#;
    let r = d.req("POST", "/networks/create", body);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        "invalid network config:\n* invalid ip-range 10.251.6.17/28: it should be 10.251.6.16/28\n* invalid gateway 10.251.7.1: parent subnet 10.251.6.0/24 doesn't contain this address"
    );
    assert_eq!(d.req("GET", "/networks/netrange-z", "").status, 404);
    assert_eq!(d.req("GET", "/networks/netrange-x", "").status, 404);
    assert_eq!(d.req("GET", "/networks/netrange-y", "").status, 404);
}

#[test]
fn mac_addresses_apply_on_the_default_and_user_networks() {
    require_root!();
    let d = TestDaemon::with_busybox("netmac");
    let net = format!("{}-n", d.prefix);
    d.cli_ok(&["network", "create", &net]);
    // docker 20.10 sends the container-wide MacAddress; berth moves it to the endpoint.
    let mac = d.cli_ok(&[
        "run",
        "--rm",
        "--mac-address",
        "02:42:0a:00:00:99",
        "busybox",
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(mac, "02:42:0a:00:00:99");
    let mac = d.cli_ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--mac-address",
        "92:d0:c6:0a:29:33",
        "busybox",
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(mac, "92:d0:c6:0a:29:33");
    let name = format!("{}-c", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        &net,
        "--mac-address",
        "92:d0:c6:0a:29:34",
        "busybox",
        "sleep",
        "60",
    ]);
    let shown = d.cli_ok(&[
        "inspect",
        "--format",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").MacAddress}}}}"),
        &name,
    ]);
    assert_eq!(shown, "92:d0:c6:0a:29:34");
    let (code, out) = d.cli(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--mac-address",
        "92:d0:c6:0a:29:35",
        "busybox",
        "true",
    ]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("conflicting options"), "{out}");
    let r = d.req(
        "POST",
        "/containers/create",
        r#"{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"bridge":{"MacAddress":"01:00:5e:00:00:01"}}}}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("invalid MAC address"), "{}", r.text());
    // A fixed address and aliases are for user networks only, as Docker says.
    for (flags, needle) in [
        (
            ["--ip", "10.1.2.3"],
            "user specified IP address is supported on user defined networks only",
        ),
        (["--network-alias", "web"], "network-scoped alias"),
    ] {
        let mut args = vec!["create"];
        args.extend(flags);
        args.extend(["busybox", "true"]);
        let (code, out) = d.cli(&args);
        assert_ne!(code, 0, "{out}");
        assert!(out.contains(needle), "{out}");
    }
    // The berth CLI sets it too.
    let berth = Command::new(berth_test_support::bin_dir().join("berth"))
        .args(["-H", &format!("unix://{}", d.socket.display())])
        .args([
            "run",
            "--rm",
            "--network",
            &net,
            "--mac-address",
            "92:d0:c6:0a:29:36",
            "busybox",
            "cat",
            "/sys/class/net/eth0/address",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&berth.stdout).trim(),
        "92:d0:c6:0a:29:36"
    );
    d.remove_all();
}

#[test]
fn the_hosts_network_and_none_get_dockers_resolv_conf_hosts_and_port_warning() {
    require_root!();
    let d = TestDaemon::with_busybox("netnone");
    // The host's network and none get a resolv.conf as Docker writes it: the host's resolvers
    // (on none, without loopback ones), and the container's own when it names them.
    let resolv = |mode: &str, dns: &[&str]| {
        let mut args = vec!["run", "--rm", "--network", mode];
        args.extend(dns);
        args.extend(["busybox", "cat", "/etc/resolv.conf"]);
        d.cli_ok(&args)
    };
    let dns = ["--dns", "192.0.2.53", "--dns-search", "example.com"];
    for mode in ["host", "none"] {
        let own = resolv(mode, &dns);
        assert!(
            own.contains("nameserver 192.0.2.53") && own.contains("search example.com"),
            "{mode}: {own}"
        );
    }
    let host_file = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    assert_eq!(resolv("host", &[]), host_file.trim());
    let none = resolv("none", &[]);
    for ns in host_file.lines().filter(|l| l.starts_with("nameserver")) {
        let loopback = ns.contains(" 127.") || ns.ends_with(" ::1");
        assert_eq!(none.contains(ns), !loopback, "{ns} in {none}");
    }
    // And their /etc/hosts has the `--add-host`s; host-gateway is the default bridge's gateway.
    let gateway = d.cli_ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        "bridge",
    ]);
    for mode in ["host", "none"] {
        let hosts = d.cli_ok(&[
            "run",
            "--rm",
            "--network",
            mode,
            "--add-host",
            "a.example:192.0.2.7",
            "--add-host",
            "gw:host-gateway",
            "busybox",
            "cat",
            "/etc/hosts",
        ]) + "\n"; // the output comes trimmed
        assert!(hosts.contains("192.0.2.7\ta.example\n"), "{mode}: {hosts}");
        assert!(
            hosts.contains(&format!("{gateway}\tgw\n")),
            "{mode}: {hosts}"
        );
    }
    // Without `--add-host` the host's network gets the host's own file and name, and none
    // gets no name line (Docker writes no 127.0.1.1 line).
    let host_hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    let host_name = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(
        d.cli_ok(&[
            "run",
            "--rm",
            "--network",
            "host",
            "busybox",
            "sh",
            "-c",
            "cat /etc/hosts; hostname"
        ]),
        format!("{}\n{host_name}", host_hosts.trim_end())
    );
    let none = d.cli_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-h",
        "alone",
        "busybox",
        "cat",
        "/etc/hosts",
    ]);
    assert!(!none.contains("alone"), "{none}");
    // Ports on the host's network: nothing to publish, so nothing is, with Docker's warning.
    let r = d.req(
        "POST",
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"NetworkMode":"host","PortBindings":{"80/tcp":[{"HostPort":"18082"}]}}}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.json()["Warnings"][0],
        "Published ports are discarded when using host network mode"
    );
    d.remove_all();
}

/// An endpoint's request is shown back as Docker shows it, before and after the start: the
/// fixed address and link-local addresses (`IPAMConfig`, the latter on the interface in a /16),
/// driver options (kept, as Docker's bridge driver keeps them) and a MAC address given at
/// connect; no aliases asked is null, and the default IPAM driver's options are null.
#[test]
fn endpoint_requests_are_shown_back_and_link_local_addresses_apply() {
    require_root!();
    let d = TestDaemon::with_busybox("netecho");
    let net = format!("{}-n", d.prefix);
    d.cli_ok(&["network", "create", "--subnet", "10.251.12.0/24", &net]);
    let shown = d.req("GET", &format!("/networks/{net}"), "").json();
    assert!(
        shown["IPAM"]
            .get("Options")
            .is_some_and(serde_json::Value::is_null),
        "{shown}"
    );
    let endpoint = serde_json::json!({"IPAMConfig": {"IPv4Address": "10.251.12.23",
        "LinkLocalIPs": ["169.254.8.8"]}, "DriverOpts": {"com.example.setting": "on"}});
    let body = serde_json::json!({"Image": "busybox", "Cmd": ["sleep", "60"],
        "HostConfig": {"NetworkMode": net},
        "NetworkingConfig": {"EndpointsConfig": {net.clone(): endpoint}}});
    let id = d.create(&format!("{}-a", d.prefix), body);
    let ep = |id: &str| {
        d.req("GET", &format!("/containers/{id}/json"), "").json()["NetworkSettings"]["Networks"]
            [net.as_str()]
        .clone()
    };
    for when in ["created", "running"] {
        let e = ep(&id);
        assert_eq!(
            e["IPAMConfig"],
            serde_json::json!({"IPv4Address": "10.251.12.23", "LinkLocalIPs": ["169.254.8.8"]}),
            "{when}: {e}"
        );
        assert_eq!(
            e["DriverOpts"],
            serde_json::json!({"com.example.setting": "on"})
        );
        assert!(e["Aliases"].is_null(), "{when}: {e}");
        if when == "created" {
            let r = d.req("POST", &format!("/containers/{id}/start"), "");
            assert_eq!(r.status, 204, "{}", r.text());
        }
    }
    let addrs = d.cli_ok(&["exec", &id, "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(addrs.contains("10.251.12.23/24"), "{addrs}");
    assert!(addrs.contains("169.254.8.8/16"), "{addrs}");
    // A MAC address given at connect, shown before the container ever ran.
    let other = d.create(
        &format!("{}-b", d.prefix),
        serde_json::json!({"Image": "busybox", "Cmd": ["true"]}),
    );
    let r = d.req(
        "POST",
        &format!("/networks/{net}/connect"),
        &serde_json::json!({"Container": other,
            "EndpointConfig": {"MacAddress": "02:42:ac:11:00:02"}})
        .to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(ep(&other)["MacAddress"], "02:42:ac:11:00:02");
    // The options newer drivers act on are refused by name; an IPv6 link-local address too
    // (IPv6 networks give containers global addresses only).
    for (endpoint, needle) in [
        (
            serde_json::json!({"DriverOpts": {"com.docker.network.endpoint.sysctls": "x=1"}}),
            "com.docker.network.endpoint.sysctls",
        ),
        (
            serde_json::json!({"IPAMConfig": {"LinkLocalIPs": ["fe80::8"]}}),
            "LinkLocalIPs",
        ),
        (
            serde_json::json!({"IPAMConfig": {"LinkLocalIPs": ["nope"]}}),
            "invalid link-local IP address: nope",
        ),
    ] {
        let body = serde_json::json!({"Image": "busybox", "HostConfig": {"NetworkMode": net},
            "NetworkingConfig": {"EndpointsConfig": {net.clone(): endpoint}}});
        let r = d.req("POST", "/containers/create", &body.to_string());
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains(needle), "{}", r.text());
    }
}

/// A DNS server on `addr` answering every A question with 10.1.2.3 for as long as the
/// returned flag stays false; returns the names it was asked.
fn fake_resolver(
    addr: &str,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use std::sync::atomic::Ordering;
    let sock = std::net::UdpSocket::bind(addr).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (stop2, asked2) = (stop.clone(), asked.clone());
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while !stop2.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let q = &buf[..n];
            // The question's name, label by label.
            let (mut i, mut labels) = (12, Vec::new());
            while i < n && q[i] != 0 {
                let len = usize::from(q[i]);
                labels.push(String::from_utf8_lossy(&q[i + 1..i + 1 + len]).into_owned());
                i += 1 + len;
            }
            asked2.lock().unwrap().push(labels.join("."));
            let question_end = i + 5;
            let mut reply = q[..question_end].to_vec();
            reply[2] = 0x81;
            reply[3] = 0x80;
            reply[7] = 1; // one answer
            let qtype_a = q[i + 1..i + 3] == [0, 1];
            if !qtype_a {
                reply[7] = 0;
            } else {
                reply.extend([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]);
            }
            let _ = sock.send_to(&reply, from);
        }
    });
    (stop, asked)
}

/// `--dns` on a user network names where the embedded DNS relays what it does not know, as
/// Docker's: the container's resolv.conf keeps the embedded server, so other containers' names
/// still resolve (berth wrote the `--dns` servers there and they stopped resolving), and its
/// other names go to its own servers, not the host's.
#[test]
fn dns_servers_on_a_user_network_are_where_the_embedded_dns_relays() {
    require_root!();
    let d = TestDaemon::with_busybox("netdnsfw");
    let (net, gateway) = d.user_network("n");
    // A resolver of the test's own on a loopback address of the host, where berthd relays.
    let resolver = format!(
        "127.{}.{}.53",
        100 + std::process::id() % 100,
        std::process::id() % 250
    );
    let (stop, asked) = fake_resolver(&format!("{resolver}:53"));
    let target = format!("{}-target", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &target,
        "--network",
        &net,
        "busybox",
        "sleep",
        "600",
    ]);
    let run = |script: &str| {
        d.cli_ok(&[
            "run",
            "--rm",
            "--network",
            &net,
            "--dns",
            &resolver,
            "--dns-search",
            "a.example",
            "busybox",
            "sh",
            "-c",
            script,
        ])
        // The docker CLI's own warning about a loopback `--dns`.
        .lines()
        .filter(|l| !l.starts_with("WARNING: Localhost DNS"))
        .collect::<Vec<_>>()
        .join("\n")
    };
    let resolv = run("cat /etc/resolv.conf");
    assert_eq!(
        resolv,
        format!("search a.example\nnameserver {gateway}\noptions ndots:0")
    );
    let found = run(&format!("nslookup {target} >/dev/null && echo found"));
    assert_eq!(found, "found");
    let external = run("nslookup outside.example");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(external.contains("10.1.2.3"), "{external}");
    assert!(
        asked.lock().unwrap().iter().any(|n| n == "outside.example"),
        "{:?}",
        asked.lock().unwrap()
    );
    // A domain name makes the hosts line `ip host.domain host`, as libnetwork's.
    let fqdn = d.cli_ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--hostname",
        "h1",
        "--domainname",
        "d.example",
        "busybox",
        "hostname",
        "-f",
    ]);
    assert_eq!(fqdn, "h1.d.example");
    d.remove_all();
}

/// What moby checks first decides the answer: a predefined name before anything else at
/// create (for every driver, `default` included), a predefined network before its endpoints
/// at remove, and the container before the network at connect (berth answered each with the
/// other check's words).
#[test]
fn predefined_networks_and_missing_containers_are_refused_in_mobys_order() {
    require_root!();
    let d = TestDaemon::with_busybox("netorder");
    let err = |r: berth_test_support::Response| (r.status, r.json()["message"].clone());
    for (name, driver) in [
        ("bridge", "bridge"),
        ("default", "bridge"),
        ("none", "overlay"),
    ] {
        let body = serde_json::json!({"Name": name, "Driver": driver}).to_string();
        assert_eq!(
            err(d.req("POST", "/networks/create", &body)),
            (
                403,
                serde_json::json!(format!(
                    "operation is not permitted on predefined {name} network "
                ))
            ),
            "{name} ({driver})"
        );
    }
    // A running container on the default bridge: still the predefined refusal.
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &format!("{}-on", d.prefix),
        "busybox",
        "sleep",
        "600",
    ]);
    assert_eq!(
        err(d.req("DELETE", "/networks/bridge", "")),
        (
            403,
            serde_json::json!("bridge is a pre-defined network and cannot be removed")
        )
    );
    let body = r#"{"Container": "nosuchcontainer"}"#;
    assert_eq!(
        err(d.req("POST", "/networks/nosuchnet/connect", body)),
        (404, serde_json::json!("No such container: nosuchcontainer"))
    );
    d.remove_all();
}
