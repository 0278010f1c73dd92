//! Root-gated networking tests against a real berthd driven by the docker CLI: name resolution
//! over TCP and UDP on a user network, isolation between networks, published ports from the
//! host and from another namespace, restarts, cleanup of links, rules and addresses, bad input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

use std::process::Command;
use std::time::Duration;

use berth_test_support::{require_root, wait_until, TestDaemon};

/// A network namespace wired to the host by a veth pair on a /30 of its own: a stand-in for
/// another machine. Removed on drop, even when the test fails.
struct RemoteHost {
    ns: String,
    link: String,
    host_addr: String,
}

impl RemoteHost {
    fn new(d: &TestDaemon) -> Self {
        let bridge = d.net_names().bridge;
        let third = std::process::id() % 250;
        let r = RemoteHost {
            ns: format!("{}r", d.prefix),
            link: format!("{bridge}h"),
            host_addr: format!("10.251.{third}.1"),
        };
        let peer = format!("{bridge}p");
        let ns_addr = format!("10.251.{third}.2/30");
        let steps: [&[&str]; 7] = [
            &["netns", "add", &r.ns],
            &[
                "link", "add", &r.link, "type", "veth", "peer", "name", &peer,
            ],
            &["link", "set", &peer, "netns", &r.ns],
            &[
                "addr",
                "add",
                &format!("{}/30", r.host_addr),
                "dev",
                &r.link,
            ],
            &["link", "set", &r.link, "up"],
            &["-n", &r.ns, "addr", "add", &ns_addr, "dev", &peer],
            &["-n", &r.ns, "link", "set", &peer, "up"],
        ];
        for step in steps {
            let out = Command::new("ip").args(step).output().expect("run ip");
            assert!(out.status.success(), "ip {step:?}: {out:?}");
        }
        let out = Command::new("ip")
            .args(["-n", &r.ns, "link", "set", "lo", "up"])
            .output()
            .expect("run ip");
        assert!(out.status.success(), "lo up: {out:?}");
        r
    }

    /// Runs a shell command inside the namespace; its stdout and stderr.
    fn run(&self, script: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "sh", "-c", script])
            .output()
            .expect("run ip netns exec");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for RemoteHost {
    fn drop(&mut self) {
        // Deleting the namespace removes the peer, and with it the host end.
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.link])
            .output();
    }
}

fn host(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .expect("run host command");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name_over_tcp_and_udp() {
    require_root!();
    let d = TestDaemon::with_busybox("netdns");
    let net = format!("{}-n", d.prefix);
    d.cli_ok(&["network", "create", &net]);
    let srv = format!("{}-srv", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &srv,
        "--network",
        &net,
        "--network-alias",
        "svc",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tcp-ok | nc -l -p 7000; done",
    ]);
    let got = wait_until(Duration::from_secs(10), || {
        d.cli(&[
            "run",
            "--rm",
            "--network",
            &net,
            "busybox",
            "sh",
            "-c",
            &format!("nc -w 2 {srv} 7000 </dev/null"),
        ])
        .1
        .contains("tcp-ok")
    });
    assert!(got, "tcp by name");
    let (_, alias) = d.cli(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "sh",
        "-c",
        "nc -w 2 svc 7000 </dev/null",
    ]);
    assert!(alias.contains("tcp-ok"), "tcp by alias: {alias}");
    // UDP: the name goes through the embedded DNS over UDP (Debian's busybox nc has no -u).
    let (_, udp) = d.cli(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "nslookup",
        &format!("{srv}.{net}"),
    ]);
    let ip = d.cli_ok(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
        &srv,
    ]);
    assert!(
        udp.contains(&ip),
        "udp lookup of {srv}.{net} gave {udp}, want {ip}"
    );
    // Since API 1.45 `Aliases` is the user's and `DNSNames` the rest (moby's inspect);
    // an older client still finds the short id and the hostname among the aliases.
    let names = |version: &str, key: &str| {
        let v = d
            .req("GET", &format!("/v{version}/containers/{srv}/json"), "")
            .json();
        v["NetworkSettings"]["Networks"][&net][key].clone()
    };
    let id = d.inspect(&srv)["Id"].as_str().unwrap().to_string();
    let short = &id[..12];
    assert_eq!(names("1.47", "Aliases"), serde_json::json!(["svc"]));
    assert_eq!(
        names("1.47", "DNSNames"),
        serde_json::json!([srv, "svc", short])
    );
    assert_eq!(names("1.44", "Aliases"), serde_json::json!(["svc", short]));
    // UDP data by name. Debian's busybox nc has no UDP, so the host's python3 (its /usr
    // mounted read-only) echoes and sends the datagrams.
    let python = [
        "-v",
        "/usr:/usr:ro",
        "-v",
        "/usr/lib:/lib:ro",
        "-v",
        "/usr/lib64:/lib64:ro",
    ];
    let echo = format!("{}-echo", d.prefix);
    let mut args = vec!["run", "-d", "--name", &echo, "--network", &net];
    args.extend(python);
    args.extend(["busybox", "/usr/bin/python3", "-c", UDP_ECHO]);
    d.cli_ok(&args);
    let mut args = vec!["run", "--rm", "--network", &net];
    args.extend(python);
    args.extend(["busybox", "/usr/bin/python3", "-c", UDP_PING, &echo]);
    let (_, answer) = d.cli(&args);
    assert!(
        answer.lines().any(|l| l == "udp-ping"),
        "udp echo from {echo}: {answer}"
    );
}

/// A UDP echo server on port 9000 that prefixes what it sends back.
const UDP_ECHO: &str = "import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 9000))
while True:
    data, peer = s.recvfrom(64)
    s.sendto(b'udp-' + data, peer)
";

/// Sends `ping` to port 9000 of the host named in argv[1] until an answer comes (the server
/// may still be starting); prints the answer.
const UDP_PING: &str = "import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for _ in range(15):
    try:
        s.sendto(b'ping', (sys.argv[1], 9000))
        print(s.recvfrom(64)[0].decode())
        break
    except Exception as e:
        print(e, file=sys.stderr)
";

#[test]
fn disconnecting_the_network_of_the_default_route_moves_it_to_another() {
    require_root!();
    let d = TestDaemon::with_busybox("netroute");
    let (a, b) = (format!("{}-a", d.prefix), format!("{}-b", d.prefix));
    d.cli_ok(&["network", "create", &a]);
    d.cli_ok(&["network", "create", &b]);
    let c = format!("{}-c", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &c,
        "--network",
        &a,
        "busybox",
        "sleep",
        "60",
    ]);
    d.cli_ok(&["network", "connect", &b, &c]);
    let gateway = |net: &str| {
        d.cli_ok(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
            net,
        ])
    };
    let route = || d.cli_ok(&["exec", &c, "ip", "route", "show", "default"]);
    assert!(route().contains(&gateway(&a)), "before: {}", route());
    d.cli_ok(&["network", "disconnect", &a, &c]);
    let now = route();
    assert!(
        now.contains(&format!("default via {}", gateway(&b))),
        "after disconnecting {a}: {now:?}"
    );
}

#[test]
fn different_user_networks_cannot_reach_each_other() {
    require_root!();
    let d = TestDaemon::with_busybox("netiso");
    let (a, b) = (format!("{}-a", d.prefix), format!("{}-b", d.prefix));
    d.cli_ok(&["network", "create", &a]);
    d.cli_ok(&["network", "create", &b]);
    let srv = format!("{}-srv", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &srv,
        "--network",
        &a,
        "busybox",
        "sh",
        "-c",
        "while true; do echo hello | nc -l -p 7000; done",
    ]);
    let ip = d.cli_ok(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{a}\").IPAddress}}}}"),
        &srv,
    ]);
    let same = wait_until(Duration::from_secs(10), || {
        d.cli(&[
            "run",
            "--rm",
            "--network",
            &a,
            "busybox",
            "sh",
            "-c",
            &format!("nc -w 2 {ip} 7000 </dev/null"),
        ])
        .1
        .contains("hello")
    });
    assert!(same, "same network reaches {ip}");
    let (_, other) = d.cli(&[
        "run",
        "--rm",
        "--network",
        &b,
        "busybox",
        "sh",
        "-c",
        &format!("nc -w 2 {ip} 7000 </dev/null"),
    ]);
    assert!(!other.contains("hello"), "another network reached {ip}");
}

#[test]
fn a_published_port_answers_on_loopback_and_from_another_namespace_and_survives_a_restart() {
    require_root!();
    let mut d = TestDaemon::with_busybox("netport");
    let name = format!("{}-web", d.prefix);
    let port = 20000 + (std::process::id() % 10000) as u16;
    let publish = format!("{port}:7000");
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        "while true; do echo published | nc -l -p 7000; done",
    ]);
    let fetch = |addr: &str| {
        host(
            "sh",
            &["-c", &format!("busybox nc -w 2 {addr} {port} </dev/null")],
        )
    };
    assert!(wait_until(Duration::from_secs(10), || fetch("127.0.0.1")
        .contains("published")));
    assert!(d.cli_ok(&["port", &name]).contains(&port.to_string()));
    // `docker ps` and `inspect` show the binding as Docker does.
    let listed = d.cli_ok(&[
        "ps",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Ports}}",
    ]);
    assert!(
        listed.contains(&format!("0.0.0.0:{port}->7000/tcp")),
        "ps ports: {listed}"
    );
    // And on the host's IPv6 addresses, the same port, as Docker's proxy binds it.
    assert!(
        listed.contains(&format!("[::]:{port}->7000/tcp")),
        "ps ports: {listed}"
    );
    assert!(wait_until(Duration::from_secs(10), || fetch("::1")
        .contains("published")));
    let bound = d.cli_ok(&["inspect", "-f", "{{json .HostConfig.PortBindings}}", &name]);
    assert!(
        bound.contains(&format!("\"HostPort\":\"{port}\"")),
        "{bound}"
    );
    // A network namespace acting as a remote host, wired to the host by a veth pair of its
    // own, reaches the port through the host's address on that link.
    let remote = RemoteHost::new(&d);
    let via = remote.run(&format!(
        "busybox nc -w 2 {} {port} </dev/null",
        remote.host_addr
    ));
    assert!(
        via.contains("published"),
        "from {} to {}:{port}: {via}",
        remote.ns,
        remote.host_addr
    );
    let ip_before = d.cli_ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &name]);
    d.kill9();
    d.spawn();
    assert!(
        wait_until(Duration::from_secs(10), || fetch("127.0.0.1")
            .contains("published")
            && fetch("::1").contains("published")),
        "port kept across a restart, for both families"
    );
    assert_eq!(
        d.cli_ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &name]),
        ip_before
    );
    // The port is taken now: a second container fails clearly and leaves nothing behind.
    let (code, text) = d.cli(&[
        "run",
        "-d",
        "--name",
        &format!("{}-dup", d.prefix),
        "-p",
        &publish,
        "busybox",
        "sleep",
        "9",
    ]);
    assert_ne!(code, 0);
    assert!(text.contains("port is already allocated"), "{text}");
}

#[test]
fn removing_containers_and_networks_leaves_no_link_rule_or_address() {
    require_root!();
    let d = TestDaemon::with_busybox("netclean");
    let table = d.net_names().table;
    let net = format!("{}-n", d.prefix);
    let net_id = d.cli_ok(&["network", "create", "--subnet", "10.250.7.0/24", &net]);
    let c = format!("{}-c", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &c,
        "--network",
        &net,
        "-p",
        "7999",
        "busybox",
        "sleep",
        "60",
    ]);
    assert!(host("ip", &["-o", "addr"]).contains("10.250.7.1/24"));
    assert!(host("nft", &["list", "table", "ip", &table]).contains("dnat"));
    // A container that ends by itself also gives its veth back.
    d.cli_ok(&["run", "--rm", "--network", &net, "busybox", "true"]);
    let bridge = format!("br-{}", &net_id[..12]);
    let ports = || -> Vec<String> {
        host("ip", &["-o", "link", "show", "master", &bridge])
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(|n| {
                n.split('@')
                    .next()
                    .unwrap_or(n)
                    .trim_end_matches(':')
                    .to_string()
            })
            .collect()
    };
    // The kernel deletes a veth with its namespace, in the background.
    assert!(
        wait_until(Duration::from_secs(20), || ports().len() == 1),
        "only the running container's veth stays: {:?}",
        ports()
    );
    let veths = ports();
    let (code, text) = d.cli(&["network", "rm", &net]);
    assert_ne!(code, 0, "remove refused while attached");
    assert!(text.contains("active endpoints"), "{text}");
    d.cli_ok(&["rm", "-f", &c]);
    assert!(
        wait_until(Duration::from_secs(20), || {
            let links = host("ip", &["-o", "link"]);
            !veths.iter().any(|v| links.contains(&format!(" {v}@")))
        }),
        "veths {veths:?} left: {}",
        host("ip", &["-o", "link"])
    );
    d.cli_ok(&["network", "rm", &net]);
    assert!(!host("ip", &["-o", "addr"]).contains("10.250.7."));
    assert!(!host("nft", &["list", "table", "ip", &table]).contains("dnat"));
    assert!(!host("nft", &["list", "table", "ip", &table]).contains("10.250.7."));
    // Links of parallel tests come and go: look only at what this test made.
    let links = host("ip", &["-o", "link"]);
    assert!(!links.contains(&format!("br-{}", &net_id[..12])), "{links}");
    let netns_dir = d.root.join("exec/netns");
    let left: Vec<_> = std::fs::read_dir(&netns_dir)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "namespaces left: {left:?}");
}

#[test]
fn bad_network_input_gives_clear_errors() {
    require_root!();
    let d = TestDaemon::with_busybox("netbad");
    let net = format!("{}-n", d.prefix);
    d.cli_ok(&["network", "create", "--subnet", "10.250.8.0/24", &net]);
    let (code, text) = d.cli(&[
        "network",
        "create",
        "--subnet",
        "10.250.8.128/25",
        &format!("{net}2"),
    ]);
    assert_ne!(code, 0);
    assert!(text.contains("overlaps"), "{text}");
    let (code, text) = d.cli(&["run", "--rm", "--network", "nope-net", "busybox", "true"]);
    assert_ne!(code, 0);
    assert!(text.contains("network nope-net not found"), "{text}");
}

#[test]
fn network_ls_dangling_lists_networks_no_running_container_uses() {
    require_root!();
    let d = TestDaemon::with_busybox("netdang");
    let (used, idle, stopped) = (
        format!("{}-used", d.prefix),
        format!("{}-idle", d.prefix),
        format!("{}-stop", d.prefix),
    );
    for (n, subnet) in [
        (&used, "10.250.9.0/24"),
        (&idle, "10.250.10.0/24"),
        (&stopped, "10.250.11.0/24"),
    ] {
        d.cli_ok(&["network", "create", "--subnet", subnet, n]);
    }
    d.cli_ok(&["run", "-d", "--network", &used, "busybox", "sleep", "1000"]);
    // A stopped container leaves no endpoint, as in moby.
    d.cli_ok(&["run", "--network", &stopped, "busybox", "true"]);
    let ls = |filter: &str| {
        let out = d.cli_ok(&["network", "ls", "--filter", filter, "--format", "{{.Name}}"]);
        let mut names: Vec<String> = out.lines().map(String::from).collect();
        names.sort();
        names
    };
    let mut dangling = vec![idle.clone(), stopped.clone()];
    dangling.sort();
    assert_eq!(ls("dangling=true"), dangling);
    let mut in_use = vec!["bridge".to_string(), "host".into(), "none".into(), used];
    in_use.sort();
    assert_eq!(ls("dangling=0"), in_use);
    let (code, text) = d.cli(&["network", "ls", "--filter", "dangling=maybe"]);
    assert_ne!(code, 0);
    assert!(
        text.contains("invalid value for filter 'dangling'"),
        "{text}"
    );
    d.remove_all();
}

#[test]
fn container_interfaces_on_ipv4_only_networks_have_ipv6_off() {
    // Docker since 26.0.2 (CVE-2024-32473); and each interface's IPv6 chatter was flooded to
    // every container on the bridge, so starts slowed down as containers accumulated.
    require_root!();
    let d = TestDaemon::with_busybox("netnov6");
    let net = format!("{}-n", d.prefix);
    d.cli_ok(&["network", "create", &net]);
    let c = format!("{}-c", d.prefix);
    d.cli_ok(&["run", "-d", "--name", &c, "busybox", "sleep", "60"]);
    d.cli_ok(&["network", "connect", &net, &c]);
    for eth in ["eth0", "eth1"] {
        let file = format!("/proc/sys/net/ipv6/conf/{eth}/disable_ipv6");
        assert_eq!(d.cli_ok(&["exec", &c, "cat", &file]).trim(), "1", "{eth}");
        // The host end too: a bridge port needs no address, and each one's routes made every
        // later start slower.
        let peer = d.cli_ok(&["exec", &c, "cat", &format!("/sys/class/net/{eth}/iflink")]);
        let end = host_link_named_by_index(peer.trim());
        let file = format!("/proc/sys/net/ipv6/conf/{end}/disable_ipv6");
        let v = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(v.trim(), "1", "host end {end} of {eth}");
        let v6 = host("ip", &["-6", "addr", "show", "dev", &end]);
        assert!(v6.trim().is_empty(), "host end {end} has IPv6: {v6}");
    }
    let v6 = d.cli_ok(&["exec", &c, "ip", "-6", "addr", "show"]);
    assert!(!v6.contains("eth"), "an interface has IPv6 addresses: {v6}");
}

/// The name of the host's link with ifindex `index`.
fn host_link_named_by_index(index: &str) -> String {
    let out = host("ip", &["-o", "link", "show"]);
    out.lines()
        .find_map(|l| {
            let (idx, rest) = l.split_once(": ")?;
            let name = rest.split([':', '@']).next()?;
            (idx == index).then(|| name.to_string())
        })
        .unwrap_or_else(|| panic!("no host link with index {index}: {out}"))
}

/// The MAC address of the host link that holds `ip`.
fn mac_of_link_with(ip: &str) -> String {
    let out = host("ip", &["-o", "-4", "addr", "show"]);
    let link = out
        .lines()
        .find(|l| l.contains(&format!("inet {ip}/")))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no link with {ip}: {out}"))
        .to_string();
    let shown = host("ip", &["-o", "link", "show", &link]);
    shown
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_bridge_keeps_its_mac_address_as_containers_join() {
    require_root!();
    let d = TestDaemon::with_busybox("brmac");
    let (net, gateway) = d.user_network("m");
    let before = mac_of_link_with(&gateway);
    // Without an address of its own a bridge takes its lowest port's: the containers' ARP
    // entries for the gateway would then point nowhere for ~30 s (no DNS, no way out).
    for i in 0..3 {
        let name = format!("{}-c{i}", d.prefix);
        d.cli_ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &net,
            "busybox",
            "sleep",
            "60",
        ]);
        assert_eq!(
            mac_of_link_with(&gateway),
            before,
            "after container {i} joined"
        );
    }
}
