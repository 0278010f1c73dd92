//! The harness on the real thing (root): nodes answer, reach each other over the switch, lose
//! each other when cut, survive kill + restart with their data, and leave nothing behind —
//! neither when dropped nor, after a sweep, when their owner was SIGKILLed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_chaos_tests::{cleanup, client, require_root, Cluster, PREFIX_HEAD};
use berth_test_support::wait_until;

/// The prefix head of the sweep test's orphaned cluster: no other test sweeps it.
const ORPHAN_HEAD: &str = "bz";
/// Set in the child process that owns the orphaned cluster.
const ORPHAN_ENV: &str = "BERTH_CHAOS_ORPHAN_OWNER";

fn sweep_before() {
    if let Err(e) = Cluster::sweep_leftovers(PREFIX_HEAD) {
        eprintln!("sweep: {e}");
    }
}

fn assert_nothing_left(prefix: &str) {
    // The kernel destroys a namespace's links asynchronously; the rest is gone at once.
    let mut left = Vec::new();
    let clean = wait_until(Duration::from_secs(30), || {
        left = Cluster::leftovers(prefix);
        left.is_empty()
    });
    assert!(clean, "left behind by {prefix}: {left:#?}");
}

fn ping(c: &Cluster, from: usize, to: usize) -> bool {
    let ip = c.node(to).ip().to_string();
    c.node(from)
        .exec_in_netns(&["busybox", "ping", "-c1", "-W1", &ip])
        .unwrap()
        .status
        .success()
}

#[test]
fn three_nodes_answer_reach_each_other_and_lose_a_cut_one() {
    require_root!();
    sweep_before();
    let c = Cluster::start(3).unwrap();
    let prefix = c.prefix().to_string();
    for node in c.nodes() {
        let r = node.request("GET", "/_ping", b"").unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "OK"));
        let info = node.request("GET", "/info", b"").unwrap();
        assert_eq!(info.status, 200, "{}", info.text());
        assert!(info.json().is_object());
        assert!(node.netns_name().starts_with(&prefix));
        assert!(Path::new("/run/netns").join(node.netns_name()).exists());
        // berthd really runs inside the node's namespace.
        let ns = std::fs::metadata(format!("/proc/{}/ns/net", node.pid().unwrap())).unwrap();
        let named = std::fs::metadata(node.netns_path()).unwrap();
        assert_eq!((ns.dev(), ns.ino()), (named.dev(), named.ino()));
    }
    let long = Duration::from_secs(20);
    let probe = Duration::from_secs(1);
    assert!(wait_until(long, || c.reachable(0, 1, probe).unwrap()));
    assert!(ping(&c, 0, 1), "busybox ping from node 0 to node 1");
    assert!(c.reachable(2, 0, probe).unwrap());

    c.cut(1).unwrap();
    assert!(wait_until(long, || !c.reachable(0, 1, probe).unwrap()));
    assert!(!ping(&c, 0, 1));
    let veth = c.names().node_veth(1);
    let link = c
        .node(1)
        .exec_in_netns(&["ip", "-o", "link", "show", &veth])
        .unwrap();
    let link = String::from_utf8_lossy(&link.stdout);
    assert!(
        link.contains("NO-CARRIER"),
        "node 1 sees its carrier: {link}"
    );
    assert!(c.reachable(0, 2, probe).unwrap(), "only node 1 is cut");

    c.heal(1).unwrap();
    assert!(wait_until(long, || c.reachable(0, 1, probe).unwrap()));
    assert!(wait_until(long, || c.reachable(1, 2, probe).unwrap()));

    c.shutdown().unwrap();
    assert_nothing_left(&prefix);
}

#[test]
fn killed_node_restarts_with_its_data_and_a_paused_one_resumes() {
    require_root!();
    sweep_before();
    let mut c = Cluster::start(3).unwrap();
    let prefix = c.prefix().to_string();
    let r = c
        .node(2)
        .request("POST", "/volumes/create", br#"{"Name":"keep"}"#)
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());

    let old = c.node(2).pid().unwrap();
    c.kill(2).unwrap();
    assert_eq!(c.node(2).pid(), None);
    assert!(c.node(2).request("GET", "/_ping", b"").is_err());
    c.restart(2).unwrap();
    assert_ne!(c.node(2).pid(), Some(old));
    let vols = c.node(2).request("GET", "/volumes", b"").unwrap().json();
    let names: Vec<&str> = vols["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["Name"].as_str())
        .collect();
    assert_eq!(names, ["keep"]);

    // A stopped process never answers; the kernel still queues the connection.
    c.pause(1).unwrap();
    let sock = c.node(1).socket_path();
    let short = Duration::from_millis(500);
    assert!(client::request(&sock, "GET", "/_ping", b"", short).is_err());
    c.resume(1).unwrap();
    assert_eq!(c.node(1).request("GET", "/_ping", b"").unwrap().status, 200);

    // A paused node is torn down too (SIGKILL reaches stopped processes).
    c.pause(0).unwrap();
    drop(c);
    assert_nothing_left(&prefix);
}

#[test]
fn a_panicking_test_leaves_nothing_behind() {
    require_root!();
    sweep_before();
    let prefix = std::sync::Mutex::new(String::new());
    let unwound = std::panic::catch_unwind(|| {
        let c = Cluster::start(1).unwrap();
        *prefix.lock().unwrap() = c.prefix().to_string();
        panic!("the test fails with the cluster up");
    });
    assert!(unwound.is_err());
    let prefix = prefix.into_inner().unwrap();
    assert!(!prefix.is_empty());
    assert_nothing_left(&prefix);
}

/// The busybox test image's tarball, made by the repository's script.
fn busybox_tar(dir: &Path) -> PathBuf {
    let out = dir.join("busybox.tar");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/busybox-rootfs.sh");
    let ok = Command::new("bash")
        .arg(script)
        .arg(&out)
        .status()
        .unwrap()
        .success();
    assert!(
        ok,
        "busybox-rootfs.sh failed (is busybox-static installed?)"
    );
    out
}

#[test]
fn drop_removes_an_orphaned_containers_monitor_mounts_and_cgroups() {
    require_root!();
    sweep_before();
    let mut c = Cluster::start(1).unwrap();
    let prefix = c.prefix().to_string();
    let node = c.node(0);
    let tar = std::fs::read(busybox_tar(c.root())).unwrap();
    let path = "/images/create?fromSrc=-&repo=busybox&tag=latest";
    let r = node.request("POST", path, &tar).unwrap();
    assert_eq!(r.status, 200, "import: {}", r.text());
    let body = br#"{"Image":"busybox","Cmd":["sleep","1000"]}"#;
    let r = node.request("POST", "/containers/create", body).unwrap();
    assert_eq!(r.status, 201, "create: {}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    let r = node
        .request("POST", &format!("/containers/{id}/start"), b"")
        .unwrap();
    assert_eq!(r.status, 204, "start: {}", r.text());
    let data_root = node.data_root();

    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    // Under the node's own cgroup parent, which the teardown removes as a whole.
    let parent = c.names().cgroup_parent(0);
    let cgroups: Vec<PathBuf> = cleanup::cgroup_mounts(&table)
        .iter()
        .flat_map(|h| [h.join(&parent).join(&id), h.join(&parent)])
        .collect();
    assert!(cgroups.iter().any(|d| d.exists()), "no cgroup for {id}");
    assert!(!cleanup::mounts_under(&table, &data_root).is_empty());
    // berthd gone, container and monitor left running: what a crashed test leaves.
    c.kill(0).unwrap();
    let monitors = || {
        cleanup::processes()
            .into_iter()
            .filter(|p| p.program() == "berth-monitor" && p.mentions(&prefix))
            .count()
    };
    assert_eq!(monitors(), 1);

    c.shutdown().unwrap();
    assert_eq!(monitors(), 0);
    let left: Vec<&PathBuf> = cgroups.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
    assert_nothing_left(&prefix);
}

/// Not a test on its own: the child process of the sweep test, which owns a cluster until
/// its parent SIGKILLs it.
#[test]
fn orphan_owner() {
    if std::env::var_os(ORPHAN_ENV).is_none() {
        return;
    }
    let c = Cluster::builder(2)
        .prefix_head(ORPHAN_HEAD)
        .start()
        .unwrap();
    println!("prefix={}", c.prefix());
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

#[test]
fn sweep_removes_the_cluster_of_a_killed_owner() {
    require_root!();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "orphan_owner",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(ORPHAN_ENV, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // libtest prints `test orphan_owner ... ` on the same line before the test's output.
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let prefix = lines
            .map_while(Result::ok)
            .find_map(|l| l.split_once("prefix=").map(|(_, p)| p.trim().to_string()));
        let _ = tx.send(prefix);
    });
    let prefix = rx.recv_timeout(Duration::from_secs(120));
    child.kill().unwrap();
    child.wait().unwrap();
    let prefix = prefix.ok().flatten().expect("the child printed no prefix");

    let left = Cluster::leftovers(&prefix);
    assert!(left.iter().any(|l| l.starts_with("netns")), "{left:#?}");
    assert!(left.iter().any(|l| l.contains("berthd")), "{left:#?}");
    let swept = Cluster::sweep_leftovers(ORPHAN_HEAD).unwrap();
    assert!(swept.contains(&prefix), "{swept:?}");
    assert_nothing_left(&prefix);
}
