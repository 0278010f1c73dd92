//! Legacy links through the docker CLI: `--link name:alias` on the default bridge gives the
//! linking container a hosts line and Docker's variables; a missing or stopped target is
//! refused with Docker's words; on a user-defined network the alias is a name only the
//! linking container resolves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::{require_root, TestDaemon};

#[test]
fn default_bridge_links_give_hosts_lines_and_variables() {
    require_root!();
    let d = TestDaemon::with_busybox("links");
    let db = format!("{}-db", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &db,
        "-e",
        "PASSWORD=s3",
        "--expose",
        "6379",
        "busybox",
        "sleep",
        "600",
    ]);
    let ip = d.cli_ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &db]);
    let id = d.cli_ok(&["inspect", "-f", "{{.Id}}", &db]);
    let web = format!("{}-web", d.prefix);
    d.cli_ok(&[
        "create",
        "--name",
        &web,
        "--link",
        &format!("{db}:cache"),
        "busybox",
        "sh",
        "-c",
        "cat /etc/hosts; env",
    ]);
    assert_eq!(
        d.cli_ok(&["inspect", "-f", "{{json .HostConfig.Links}}", &web]),
        format!("[\"/{db}:/{web}/cache\"]")
    );
    d.cli_ok(&["start", &web]);
    d.cli_ok(&["wait", &web]);
    let out = d.cli_ok(&["logs", &web]);
    assert!(
        out.contains(&format!("{ip}\tcache {} {db}", &id[..12])),
        "hosts line: {out}"
    );
    for want in [
        format!("CACHE_PORT=tcp://{ip}:6379"),
        format!("CACHE_PORT_6379_TCP_ADDR={ip}"),
        "CACHE_PORT_6379_TCP_PORT=6379".to_string(),
        format!("CACHE_NAME=/{web}/cache"),
        "CACHE_ENV_PASSWORD=s3".to_string(),
    ] {
        assert!(out.lines().any(|l| l == want), "{want} in {out}");
    }

    // No such container: refused at create, nothing made.
    let (code, out) = d.cli(&["create", "--link", "nope-x:x", "busybox", "true"]);
    assert_ne!(code, 0);
    assert!(out.contains("could not get container for nope-x"), "{out}");

    // A stopped target: the start is refused and says which link.
    d.cli_ok(&["stop", "-t", "0", &db]);
    let late = format!("{}-late", d.prefix);
    d.cli_ok(&[
        "create",
        "--name",
        &late,
        "--link",
        &format!("{db}:cache"),
        "busybox",
        "true",
    ]);
    let (code, out) = d.cli(&["start", &late]);
    assert_ne!(code, 0);
    assert!(
        out.contains(&format!(
            "Cannot link to a non running container: /{db} AS /{late}/cache"
        )),
        "{out}"
    );
}

#[test]
fn a_link_on_a_user_network_is_a_name_only_the_linking_container_resolves() {
    require_root!();
    let d = TestDaemon::with_busybox("linknet");
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
        "busybox",
        "sleep",
        "600",
    ]);
    let ip = d.cli_ok(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
        &srv,
    ]);
    let (_, linked) = d.cli(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--link",
        &format!("{srv}:backend"),
        "busybox",
        "nslookup",
        "backend",
    ]);
    assert!(
        linked.contains(&ip),
        "backend for the linking container: {linked}"
    );
    let (_, other) = d.cli(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "nslookup",
        "backend",
    ]);
    assert!(
        !other.contains(&ip),
        "backend for another container: {other}"
    );
}

#[test]
fn rm_link_makes_the_parent_forget_it() {
    require_root!();
    let d = TestDaemon::with_busybox("linkrm");
    let db = format!("{}-db", d.prefix);
    d.cli_ok(&["run", "-d", "--name", &db, "busybox", "sleep", "600"]);
    let web = format!("{}-web", d.prefix);
    d.cli_ok(&[
        "create",
        "--name",
        &web,
        "--link",
        &format!("{db}:cache"),
        "busybox",
        "env",
    ]);
    d.cli_ok(&["rm", "--link", &format!("/{web}/cache")]);
    assert_eq!(
        d.cli_ok(&["inspect", "-f", "{{json .HostConfig.Links}}", &web]),
        "null"
    );
    d.cli_ok(&["start", "-a", &web]);
    assert!(
        !d.cli_ok(&["logs", &web]).contains("CACHE_"),
        "the link is gone"
    );
    assert_eq!(
        d.cli_ok(&["inspect", "-f", "{{.State.Running}}", &db]),
        "true"
    );
}
