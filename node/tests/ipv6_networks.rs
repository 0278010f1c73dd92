//! IPv6 on user-defined bridge networks, through the docker CLI and berth's against a real
//! berthd: `network create --ipv6 --subnet <v6>` gives each container an address of the subnet
//! after the gateway (`::1`), or the one asked with `--ip6`; containers reach each other and the
//! gateway over IPv6, by name through the embedded DNS's AAAA answers; inspect, `/etc/hosts` and
//! the network's container list show the addresses as Docker 20.10 shows them; an IPv6 address
//! on a network without IPv6 is refused, not dropped; and all of it comes back after a restart.
//! The default bridge gets IPv6 from berthd's `--ipv6 --fixed-cidr-v6`, as dockerd's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::{require_root, TestDaemon};

/// `{{index .NetworkSettings.Networks NET}}`'s field `field` of container `c`.
fn endpoint_field(d: &TestDaemon, c: &str, net: &str, field: &str) -> String {
    d.cli_ok(&[
        "inspect",
        "--format",
        &format!("{{{{json (index .NetworkSettings.Networks \"{net}\").{field}}}}}"),
        c,
    ])
}

/// `ping -6` once from container `from` to `to` (a name or an address): exit code and output.
fn ping6(d: &TestDaemon, from: &str, to: &str) -> (i32, String) {
    d.cli(&["exec", from, "ping", "-6", "-c", "1", "-W", "5", to])
}

/// `ping6` that must get its answer; the output.
fn ping6_ok(d: &TestDaemon, from: &str, to: &str) -> String {
    let (code, out) = ping6(d, from, to);
    assert_eq!(code, 0, "ping -6 from {from} to {to}: {out}");
    assert!(out.contains("1 packets received"), "{out}");
    out
}

#[test]
fn containers_on_an_ipv6_network_get_addresses_and_reach_each_other_by_name() {
    require_root!();
    let mut d = TestDaemon::with_busybox("ipv6net");
    let net = format!("{}-n", d.prefix);
    d.cli_ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd42:be27:6::/64",
        &net,
    ]);
    let ipam = d.network_inspect(&net, "{{.EnableIPv6}} {{json .IPAM.Config}}");
    assert!(ipam.starts_with("true "), "{ipam}");
    // An IPv4 subnet from the pools beside it, and the IPv6 one without a gateway, which
    // Docker shows only when asked for.
    assert!(ipam.contains(r#"{"Subnet":"fd42:be27:6::/64"}"#), "{ipam}");
    assert!(ipam.contains(r#""Gateway":"10."#), "{ipam}");

    let (c1, c2) = (format!("{}-c1", d.prefix), format!("{}-c2", d.prefix));
    for (name, extra) in [(&c1, None), (&c2, Some("fd42:be27:6::f00d"))] {
        let mut args = vec!["run", "-d", "--name", name, "--network", &net];
        if let Some(ip6) = extra {
            args.extend(["--ip6", ip6]);
        }
        args.extend(["busybox", "sleep", "600"]);
        d.cli_ok(&args);
    }
    assert_eq!(
        endpoint_field(&d, &c1, &net, "GlobalIPv6Address"),
        r#""fd42:be27:6::2""#
    );
    assert_eq!(endpoint_field(&d, &c1, &net, "GlobalIPv6PrefixLen"), "64");
    assert_eq!(
        endpoint_field(&d, &c1, &net, "IPv6Gateway"),
        r#""fd42:be27:6::1""#
    );
    assert_eq!(endpoint_field(&d, &c1, &net, "IPAMConfig"), "null");
    assert_eq!(
        endpoint_field(&d, &c2, &net, "IPAMConfig"),
        r#"{"IPv6Address":"fd42:be27:6::f00d"}"#
    );
    let listed = d.network_inspect(&net, "{{json .Containers}}");
    assert!(
        listed.contains(r#""IPv6Address":"fd42:be27:6::f00d/64""#),
        "{listed}"
    );

    // Over IPv6, by name (the embedded DNS's AAAA answer), and to the gateway on the bridge.
    let ping = ping6_ok(&d, &c1, &c2);
    assert!(ping.contains("fd42:be27:6::f00d"), "{ping}");
    ping6_ok(&d, &c1, "fd42:be27:6::1");
    let hosts = d.cli_ok(&["exec", &c2, "cat", "/etc/hosts"]);
    let hostname = d.cli_ok(&["exec", &c2, "hostname"]);
    assert!(
        hosts.contains(&format!("fd42:be27:6::f00d\t{hostname}")),
        "{hosts}"
    );
    let route = d.cli_ok(&["exec", &c1, "ip", "-6", "route"]);
    assert!(route.contains("default via fd42:be27:6::1"), "{route}");

    // Docker's refusals: an address in use, one outside the subnet (moby's words); and on a
    // network without IPv6 an address is refused instead of dropped (as Docker 20.10 did).
    let v4only = format!("{}-v4", d.prefix);
    d.cli_ok(&["network", "create", "--subnet", "10.251.40.0/24", &v4only]);
    for (network, ip6, needle) in [
        (&net, "fd42:be27:6::f00d", "Address already in use"),
        (
            &net,
            "fd42:9::5",
            "no configured subnet contains IP address fd42:9::5",
        ),
        (
            &v4only,
            "fd42:be27:6::9",
            "no configured subnet contains IP address",
        ),
    ] {
        let (code, out) = d.cli(&[
            "run",
            "--rm",
            "--network",
            network,
            "--ip6",
            ip6,
            "busybox",
            "true",
        ]);
        assert_ne!(code, 0, "--ip6 {ip6} on {network} was accepted: {out}");
        assert!(out.contains(needle), "{ip6}: {out}");
    }

    // Connect with an address, through berth's CLI too.
    d.cli_ok(&["network", "disconnect", &net, &c2]);
    let (code, out) = d.berth(&[
        "network",
        "connect",
        "--ip6",
        "fd42:be27:6::beef",
        &net,
        &c2,
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        endpoint_field(&d, &c2, &net, "GlobalIPv6Address"),
        r#""fd42:be27:6::beef""#
    );
    let c3 = format!("{}-c3", d.prefix);
    let (code, out) = d.berth(&[
        "run",
        "-d",
        "--name",
        &c3,
        "--network",
        &net,
        "--ip6",
        "fd42:be27:6::c3",
        "busybox",
        "sleep",
        "600",
    ]);
    assert_eq!(code, 0, "{out}");
    let ping = ping6_ok(&d, &c3, &c2);
    assert!(ping.contains("fd42:be27:6::beef"), "{ping}");

    // Another IPv6 network is kept apart over IPv6 as over IPv4: the host routes between the
    // bridges, and berth's IPv6 table drops it.
    let other = format!("{}-o", d.prefix);
    let (code, out) = d.berth(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd42:be27:7::/64",
        "--gateway",
        "fd42:be27:7::1",
        &other,
    ]);
    assert_eq!(code, 0, "{out}");
    let ipam = d.network_inspect(&other, "{{json .IPAM.Config}}");
    assert!(
        ipam.contains(r#"{"Subnet":"fd42:be27:7::/64","Gateway":"fd42:be27:7::1"}"#),
        "{ipam}"
    );
    let outsider = format!("{}-x", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &outsider,
        "--network",
        &other,
        "busybox",
        "sleep",
        "600",
    ]);
    ping6_ok(&d, &outsider, "fd42:be27:7::1");
    let (code, ping) = ping6(&d, &outsider, "fd42:be27:6::2");
    assert_ne!(code, 0, "reached another network over IPv6: {ping}");

    // After a restart the bridge has its IPv6 gateway again and new containers their addresses.
    d.stop();
    d.spawn();
    let c4 = format!("{}-c4", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &c4,
        "--network",
        &net,
        "busybox",
        "sleep",
        "600",
    ]);
    let ip = endpoint_field(&d, &c4, &net, "GlobalIPv6Address");
    assert!(ip.starts_with(r#""fd42:be27:6::"#), "{ip}");
    ping6_ok(&d, &c4, &c1);
    ping6_ok(&d, &c4, "fd42:be27:6::1");
}

#[test]
fn the_default_bridge_gets_ipv6_from_the_daemons_fixed_cidr_v6() {
    require_root!();
    let flags = ["--ipv6", "--fixed-cidr-v6", "fd42:be27:8::/64"].map(String::from);
    let mut d = TestDaemon::start_with("ipv6def", &flags);
    d.import_busybox();
    let ipam = d.network_inspect("bridge", "{{.EnableIPv6}} {{json .IPAM.Config}}");
    assert!(ipam.starts_with("true "), "{ipam}");
    assert!(ipam.contains(r#"{"Subnet":"fd42:be27:8::/64"}"#), "{ipam}");

    let c = format!("{}-c", d.prefix);
    d.cli_ok(&["run", "-d", "--name", &c, "busybox", "sleep", "600"]);
    assert_eq!(
        endpoint_field(&d, &c, "bridge", "GlobalIPv6Address"),
        r#""fd42:be27:8::2""#
    );
    assert_eq!(
        endpoint_field(&d, &c, "bridge", "IPv6Gateway"),
        r#""fd42:be27:8::1""#
    );
    assert_eq!(
        d.cli_ok(&[
            "inspect",
            "--format",
            "{{.NetworkSettings.GlobalIPv6Address}}",
            &c
        ]),
        "fd42:be27:8::2"
    );
    ping6_ok(&d, &c, "fd42:be27:8::1");
    let (code, out) = d.cli(&["run", "--rm", "--ip6", "fd42:be27:8::99", "busybox", "true"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("user specified IP address is supported on user defined networks only"),
        "{out}"
    );

    // Started without IPv6 while the container runs: the bridge keeps it, and says so.
    d.stop();
    d.args.clear();
    d.spawn();
    let warnings = d.req("GET", "/info", "").json()["Warnings"].to_string();
    assert!(
        warnings.contains("the default bridge keeps fd42:be27:8::/64"),
        "{warnings}"
    );
    ping6_ok(&d, &c, "fd42:be27:8::1");

    // Without containers the next start applies it: no IPv6 on the bridge or in containers.
    d.cli_ok(&["rm", "-f", &c]);
    d.stop();
    d.spawn();
    assert_eq!(d.network_inspect("bridge", "{{.EnableIPv6}}"), "false");
    d.cli_ok(&["run", "-d", "--name", &c, "busybox", "sleep", "600"]);
    assert_eq!(
        endpoint_field(&d, &c, "bridge", "GlobalIPv6Address"),
        r#""""#
    );
    let bridge = d.net_names().bridge;
    let addrs = std::process::Command::new("ip")
        .args(["-6", "addr", "show", "dev", &bridge])
        .output()
        .unwrap();
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    assert!(!addrs.contains("fd42:be27:8::1"), "{addrs}");
}
