//! Root-gated tests of the start path's network ordering against a real berthd: the monitor
//! creates the container while berthd sets up its network, and starts it only once berthd
//! says so (`runtime::launch`'s start gate).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::time::Duration;

use berth_test_support::{require_root, wait_until, TestDaemon};

#[test]
fn a_failed_network_set_up_cancels_the_created_container_and_leaves_nothing() {
    require_root!();
    let d = TestDaemon::with_busybox("netcancel");
    // The port is taken on the host: publishing it fails during the set-up, after the
    // monitor began creating the container.
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let name = format!("{}-c", d.prefix);
    let publish = format!("{port}:80");
    let (code, text) = d.cli(&[
        "run", "-d", "--name", &name, "-p", &publish, "busybox", "sleep", "60",
    ]);
    assert_ne!(code, 0);
    assert!(text.contains("port is already allocated"), "{text}");
    // Nothing of it is left: no monitor, no rootfs mount, no namespace.
    let id = d.cli_ok(&["inspect", "-f", "{{.Id}}", &name]);
    assert!(
        wait_until(Duration::from_secs(10), || monitors_of(&id).is_empty()),
        "monitor left: {:?}",
        monitors_of(&id)
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&id), "mounts left: {mounts}");
    assert!(!d.root.join("exec/netns").join(&id[..12]).exists());
    assert_eq!(
        d.cli_ok(&["inspect", "-f", "{{.State.Status}}", &name]),
        "created"
    );
    // Once the port is free the same container starts.
    drop(taken);
    d.cli_ok(&["start", &name]);
    assert_eq!(
        d.cli_ok(&["inspect", "-f", "{{.State.Status}}", &name]),
        "running"
    );
    d.cli_ok(&["rm", "-f", &name]);
}

#[test]
fn a_port_taken_for_ipv6_only_is_refused_in_dockers_words() {
    require_root!();
    let d = TestDaemon::with_busybox("netport6");
    // Held on IPv6 loopback alone (`[::1]`): free for IPv4, not for IPv6 wildcard.
    let taken = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let name = format!("{}-c", d.prefix);
    let publish = format!("{port}:80");
    let (code, text) = d.cli(&[
        "run", "-d", "--name", &name, "-p", &publish, "busybox", "sleep", "60",
    ]);
    // [::1] is inside [::]: the wildcard cannot be bound while it is held.
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains(&format!(
            "Bind for [::]:{port} failed: port is already allocated"
        )),
        "{text}"
    );
    // Published on IPv4's loopback only, the same port is free.
    let named = format!("{}-v4", d.prefix);
    let publish = format!("127.0.0.1:{port}:80");
    d.cli_ok(&[
        "run", "-d", "--name", &named, "-p", &publish, "busybox", "sleep", "60",
    ]);
    d.cli_ok(&["rm", "-f", &name, &named]);
}

/// Pids of the monitors of container `id` (their config path names it).
fn monitors_of(id: &str) -> Vec<i32> {
    berth_test_support::cleanup::processes()
        .into_iter()
        .filter(|p| p.program() == "berth-monitor" && p.mentions(id))
        .map(|p| p.pid)
        .collect()
}

#[test]
fn a_containers_first_process_finds_its_network_set_up() {
    // The runtime creates the container while berthd sets up its network; the process must
    // still start with all of it in place, as under Docker.
    require_root!();
    let d = TestDaemon::with_busybox("netready");
    let net = format!("{}-n", d.prefix);
    d.cli_ok(&["network", "create", "--subnet", "10.250.9.0/24", &net]);
    let script = "cat /sys/class/net/eth0/operstate; ip -4 route; \
                  grep -c \"$(hostname)\" /etc/hosts; grep -c nameserver /etc/resolv.conf";
    for _ in 0..5 {
        let out = d.cli_ok(&[
            "run",
            "--rm",
            "--network",
            &net,
            "--hostname",
            "ready",
            "busybox",
            "sh",
            "-c",
            script,
        ]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.first(), Some(&"up"), "{out}");
        assert!(out.contains("default via 10.250.9.1 dev eth0"), "{out}");
        assert!(out.contains("10.250.9.0/24 dev eth0"), "{out}");
        assert_eq!(lines.get(lines.len() - 2), Some(&"1"), "hosts: {out}");
        assert_ne!(lines.last(), Some(&"0"), "resolv.conf: {out}");
    }
}

#[test]
fn a_start_on_a_full_bridge_says_why_and_leaves_nothing_behind() {
    require_root!();
    let d = TestDaemon::with_busybox("brfull");
    let bridge = d.net_names().bridge;
    // The kernel's most: 1,023 ports on one bridge, here veths named after this daemon's.
    let mut ports = BridgePorts::on(&bridge, 1023);
    let name = format!("{}-c", d.prefix);
    let (code, text) = d.cli(&["run", "-d", "--name", &name, "busybox", "sleep", "60"]);
    assert_ne!(code, 0);
    assert!(
        text.contains("exchange full: a bridge takes at most 1023 interfaces"),
        "{text}"
    );
    assert!(
        text.contains(&format!("to bridge {bridge} failed")),
        "{text}"
    );
    let id = d.cli_ok(&["inspect", "-f", "{{.Id}}", &name]);
    assert!(
        wait_until(Duration::from_secs(10), || monitors_of(&id).is_empty()),
        "monitor left: {:?}",
        monitors_of(&id)
    );
    assert_eq!(
        d.cli_ok(&["inspect", "-f", "{{.State.Status}}", &name]),
        "created"
    );
    assert_eq!(ports_of(&bridge), 1023, "the failed start's veth is gone");
    // With one port free the same container starts.
    ports.remove_one();
    d.cli_ok(&["start", &name]);
    assert_eq!(ports_of(&bridge), 1023);
    d.cli_ok(&["rm", "-f", &name]);
}

/// Interfaces enslaved to `bridge`.
fn ports_of(bridge: &str) -> usize {
    let out = std::process::Command::new("ip")
        .args(["-o", "link", "show", "master", bridge])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Veth pairs with one end on a bridge, removed on drop (also when the test fails).
struct BridgePorts {
    names: Vec<String>,
}

impl BridgePorts {
    fn on(bridge: &str, count: usize) -> Self {
        // Names of at most 15 bytes, unique to the bridge (and so to the test daemon).
        let names: Vec<String> = (0..count).map(|i| format!("{bridge}d{i}")).collect();
        let made = BridgePorts { names };
        let batch: String = made
            .names
            .iter()
            .map(|n| {
                let peer = n.replacen(&format!("{bridge}d"), &format!("{bridge}e"), 1);
                format!("link add {n} type veth peer name {peer}\nlink set {n} master {bridge}\n")
            })
            .collect();
        run_batch(&batch);
        made
    }

    fn remove_one(&mut self) {
        if let Some(n) = self.names.pop() {
            run_batch(&format!("link del {n}\n"));
        }
    }
}

impl Drop for BridgePorts {
    fn drop(&mut self) {
        let batch: String = self
            .names
            .iter()
            .map(|n| format!("link del {n}\n"))
            .collect();
        run_batch(&batch);
    }
}

/// `ip -batch`, going on past errors.
fn run_batch(batch: &str) {
    use std::io::Write;
    let mut ip = std::process::Command::new("ip")
        .args(["-force", "-batch", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    if let Some(mut stdin) = ip.stdin.take() {
        stdin.write_all(batch.as_bytes()).unwrap();
    }
    ip.wait().unwrap();
}
