//! `docker swarm init/update` options through the docker CLI: `--availability` and the Raft
//! snapshot interval are applied, and what berth does not act on (`--data-path-addr`, kept old
//! snapshots, `swarm ca --rotate`) is refused by name, leaving the swarm as it was.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::{require_root, TestDaemon};

#[test]
fn swarm_options_are_applied_or_refused_by_name() {
    require_root!();
    let d = TestDaemon::start("swopts");
    // Docker makes the swarm and then fails to set a validity under an hour; berth makes none.
    for (extra, words) in [
        (["--data-path-addr", "127.0.0.1"], "DataPathAddr"),
        (
            ["--cert-expiry", "30m"],
            "minimum certificate expiry time is: 1h0m0s",
        ),
    ] {
        let (code, out) = d.try_swarm_init_local(&extra);
        assert!(code != 0 && out.contains(words), "{extra:?}: {out}");
    }
    let (code, out) = d.cli(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    assert_eq!((code, out.trim()), (0, "inactive"), "nothing was made");

    d.swarm_init_local(&["--availability", "drain"]);
    assert_eq!(
        d.cli_ok(&[
            "node",
            "inspect",
            "self",
            "--format",
            "{{.Spec.Availability}}"
        ]),
        "drain"
    );
    for (args, field) in [
        (
            &["swarm", "update", "--max-snapshots", "3"][..],
            "Raft.KeepOldSnapshots",
        ),
        (
            &["swarm", "ca", "--rotate", "--detach"][..],
            "CAConfig.ForceRotate",
        ),
    ] {
        let (code, out) = d.cli(args);
        assert_ne!(code, 0, "{args:?}: {out}");
        assert!(out.contains(field), "{args:?}: {out}");
    }
    let spec = || d.req("GET", "/swarm", "").json()["Spec"].clone();
    assert_eq!(
        spec()["CAConfig"]["NodeCertExpiry"],
        7_776_000_000_000_000u64
    );
    // Certificates issued from now on last as long as `--cert-expiry` says, an hour at least.
    let (code, out) = d.cli(&["swarm", "update", "--cert-expiry", "30m"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("minimum certificate expiry time is: 1h0m0s"),
        "{out}"
    );
    d.cli_ok(&["swarm", "update", "--cert-expiry", "2h"]);
    assert_eq!(spec()["CAConfig"]["NodeCertExpiry"], 7_200_000_000_000u64);
    // What berth applies still changes, and the unchanged fields the CLI sends back pass.
    d.cli_ok(&["swarm", "update", "--task-history-limit", "3"]);
    assert_eq!(spec()["Orchestration"]["TaskHistoryRetentionLimit"], 3);
    // The managers' Raft stores follow the snapshot interval and the log kept behind a
    // snapshot (docker-py sends `LogEntriesForSlowFollowers`; the docker CLI has no flag).
    d.cli_ok(&["swarm", "update", "--snapshot-interval", "500"]);
    let version = d.req("GET", "/swarm", "").json()["Version"]["Index"].clone();
    let mut raft = spec();
    raft["Raft"]["LogEntriesForSlowFollowers"] = serde_json::json!(1200);
    let r = d.req(
        "POST",
        &format!("/swarm/update?version={version}"),
        &raft.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(spec()["Raft"]["SnapshotInterval"], 500);
    assert_eq!(spec()["Raft"]["LogEntriesForSlowFollowers"], 1200);

    // A node that joins paused is paused; a data path address at join is refused too.
    let b = TestDaemon::start("swoptsb");
    let token = d.req("GET", "/swarm", "").json()["JoinTokens"]["Worker"]
        .as_str()
        .unwrap()
        .to_string();
    let addr = manager_addr(&d);
    let join = |extra: &[&str]| {
        let mut args = vec![
            "swarm",
            "join",
            "--token",
            &token,
            "--advertise-addr",
            "127.0.0.1",
            "--listen-addr",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        args.push(&addr);
        b.cli(&args)
    };
    let (code, out) = join(&["--data-path-addr", "127.0.0.1"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("DataPathAddr"), "{out}");
    let (code, out) = join(&["--availability", "pause"]);
    assert_eq!(code, 0, "{out}");
    let left = |t: &TestDaemon| {
        let pem = std::fs::read(t.data_root().join("swarm/certificates/node.crt")).unwrap();
        let end = berth_swarm::ca::cert_not_after(&pem).unwrap();
        end.duration_since(std::time::SystemTime::now())
            .unwrap()
            .as_secs()
    };
    let joined = left(&b);
    assert!(
        (7000..=7200).contains(&joined),
        "the joined node's certificate: {joined} s left"
    );
    assert!(
        left(&d) > 80 * 24 * 3600,
        "the manager's keeps its 90 days until renewed"
    );
    let id = b.cli_ok(&["info", "--format", "{{.Swarm.NodeID}}"]);
    assert_eq!(
        d.cli_ok(&["node", "inspect", &id, "--format", "{{.Spec.Availability}}"]),
        "pause"
    );

    // `init --force-new-cluster` re-initialises at the addresses it is given, as Docker's.
    let before = manager_addr(&d);
    d.cli_ok(&[
        "swarm",
        "init",
        "--force-new-cluster",
        "--listen-addr",
        "127.0.0.1:0",
        "--advertise-addr",
        "127.0.0.1",
    ]);
    let after = manager_addr(&d);
    assert_ne!(after, before, "a new port");
    assert!(after.starts_with("127.0.0.1:"), "{after}");
    let me = d.cli_ok(&["info", "--format", "{{.Swarm.NodeID}}"]);
    assert_eq!(
        d.cli_ok(&[
            "node",
            "inspect",
            &me,
            "--format",
            "{{.ManagerStatus.Addr}}"
        ]),
        after
    );
}

/// The manager address this daemon's node gives (`docker info`'s remote managers).
fn manager_addr(d: &TestDaemon) -> String {
    d.req("GET", "/info", "").json()["Swarm"]["RemoteManagers"][0]["Addr"]
        .as_str()
        .unwrap()
        .to_string()
}

/// docker-py's `init` with a Raft spec and a CA rotation counter: the Raft settings are
/// applied, and the counter of a CA made at that moment is kept to show.
#[test]
fn init_takes_the_raft_settings_and_a_ca_rotation_counter() {
    require_root!();
    let d = TestDaemon::start("swinitspec");
    let r = d.req(
        "POST",
        "/swarm/init",
        &serde_json::json!({
            "ListenAddr": "127.0.0.1:0",
            "AdvertiseAddr": "127.0.0.1",
            "DataPathPort": d.net_names().vxlan_port,
            "Spec": {"Raft": {"SnapshotInterval": 5000, "LogEntriesForSlowFollowers": 1200},
                     "CAConfig": {"NodeCertExpiry": 7_776_000_000_000_000u64, "ForceRotate": 6}},
        })
        .to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let spec = d.req("GET", "/swarm", "").json()["Spec"].clone();
    assert_eq!(spec["Raft"]["SnapshotInterval"], 5000);
    assert_eq!(spec["Raft"]["LogEntriesForSlowFollowers"], 1200);
    assert_eq!(spec["CAConfig"]["ForceRotate"], 6);
    // The node as init made it is as its first session reports it: nothing is written after
    // init returns, so a client that reads it at once (docker-py's `update_node`) holds the
    // version an update needs.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let node = d.req("GET", "/nodes", "").json()[0].clone();
    assert_eq!(node["UpdatedAt"], node["CreatedAt"], "{node}");
    assert_eq!(node["Status"]["State"], "ready");
}

/// A link this test makes, deleted when it ends.
struct DummyLink(String);

impl Drop for DummyLink {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .status();
    }
}

/// `--advertise-addr` takes an interface's name, as Docker's: the swarm advertises its address
/// (a link of this test's, on whose address it also listens); a name that is not an interface
/// is refused with Docker's words.
#[test]
fn an_interface_name_is_advertised_as_its_address() {
    require_root!();
    let pid = std::process::id();
    let name = format!("bsa{}", pid % 100_000);
    let ip = format!("198.18.{}.7", pid % 250);
    let link = DummyLink(name.clone());
    // A veth pair (the kernel here has no dummy links); deleting one end deletes both.
    let peer = format!("bsb{}", pid % 100_000);
    for args in [
        vec![
            "link", "add", "name", &name, "type", "veth", "peer", "name", &peer,
        ],
        vec!["addr", "add", &format!("{ip}/32"), "dev", &name],
        vec!["link", "set", &peer, "up"],
        vec!["link", "set", &name, "up"],
    ] {
        let st = std::process::Command::new("ip")
            .args(&args)
            .status()
            .unwrap();
        assert!(st.success(), "ip {args:?}");
    }
    let d = TestDaemon::start("swadvif");
    let init = |listen: &str, advertise: &str| {
        d.req(
            "POST",
            "/swarm/init",
            &serde_json::json!({"ListenAddr": listen, "AdvertiseAddr": advertise,
                "DataPathPort": d.net_names().vxlan_port})
            .to_string(),
        )
    };
    let r = init("127.0.0.1:0", "nosuch0");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text()
            .contains("advertise address must be a non-zero IP address or network interface"),
        "{}",
        r.text()
    );
    let r = init(&format!("{ip}:0"), &name);
    assert_eq!(r.status, 200, "{}", r.text());
    let swarm = d.req("GET", "/info", "").json()["Swarm"].clone();
    assert_eq!(swarm["NodeAddr"], ip.as_str(), "{swarm}");
    d.remove_all();
    drop(link);
}
