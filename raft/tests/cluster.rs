//! In-process cluster tests: 3 and 5 members on 127.0.0.1 with mutual TLS, through elections,
//! kills, restarts, snapshots, membership changes and partitions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use berth_raft::{
    ApplyError, Attrs, ClusterCommand, NodeAddr, ObjectKind, Op, RaftConfig, RaftError,
    WatchMessage,
};
use common::{committed_configs, guarded, wait_for, write, Cluster};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_cluster_applies_writes_through_any_node_everywhere_in_one_order() {
    let cluster = Cluster::new(3).await;
    let mut last = 0;
    for round in 0..4 {
        for id in 1..=3 {
            let applied = write(cluster.node(id), &format!("w-{round}-{id}"))
                .await
                .unwrap();
            assert!(applied.log_index > last);
            last = applied.log_index;
        }
    }
    cluster.wait_applied(last).await;
    let expected = committed_configs(cluster.node(1));
    assert_eq!(expected.len(), 12);
    for id in 2..=3 {
        assert_eq!(committed_configs(cluster.node(id)), expected);
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_node_cluster_elects_one_leader_and_commits() {
    let cluster = Cluster::new(5).await;
    let leader = cluster.wait_leader().await;
    let applied = write(cluster.node(leader % 5 + 1), "five").await.unwrap();
    cluster.wait_applied(applied.log_index).await;
    for node in cluster.nodes.values() {
        assert_eq!(node.leader(), Some(leader));
        assert_eq!(committed_configs(node), ["five"]);
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_and_no_acknowledged_write_is_lost() {
    let mut cluster = Cluster::new(3).await;
    let old = cluster.wait_leader().await;
    let mut acked = Vec::new();
    for i in 0..20 {
        write(cluster.node(old), &format!("before-{i}"))
            .await
            .unwrap();
        acked.push(format!("before-{i}"));
    }
    cluster.stop(old).await;
    let new = cluster.wait_leader().await;
    assert_ne!(new, old);
    for i in 0..20 {
        write(cluster.node(new), &format!("after-{i}"))
            .await
            .unwrap();
        acked.push(format!("after-{i}"));
    }
    cluster.start(old).await;
    let last = write(cluster.node(new), "last").await.unwrap();
    acked.push("last".into());
    cluster.wait_applied(last.log_index).await;
    for node in cluster.nodes.values() {
        assert_eq!(committed_configs(node), acked, "member {}", node.id());
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_follower_catches_up_from_its_own_data() {
    let mut cluster = Cluster::new(3).await;
    let leader = cluster.wait_leader().await;
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    let a = write(cluster.node(leader), "a").await.unwrap();
    cluster.wait_applied(a.log_index).await;
    cluster.stop(follower).await;
    for i in 0..30 {
        write(cluster.node(leader), &format!("b-{i}"))
            .await
            .unwrap();
    }
    cluster.start(follower).await;
    assert_eq!(
        committed_configs(cluster.node(follower)),
        ["a"],
        "kept its data"
    );
    let last = write(cluster.node(leader), "c").await.unwrap();
    cluster.wait_applied(last.log_index).await;
    assert_eq!(committed_configs(cluster.node(follower)).len(), 32);
    cluster.shutdown().await;
}

fn snapshot_config() -> RaftConfig {
    RaftConfig {
        snapshot_after_entries: 50,
        keep_entries_after_snapshot: 5,
        ..common::test_config()
    }
}

/// A running member follows the compaction policy it reads from the state (the swarm spec's
/// snapshot interval and log kept for slow followers), not only the one it started with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_follow_a_compaction_policy_read_while_they_run() {
    let cluster = Cluster::with_config(1, common::test_config()).await;
    let leader = cluster.wait_leader().await;
    let policy = berth_raft::Compaction {
        snapshot_after_entries: 20,
        keep_entries_after_snapshot: 3,
    };
    cluster
        .node(leader)
        .follow_compaction(std::sync::Arc::new(move |_| Some(policy)));
    for i in 0..30 {
        write(cluster.node(leader), &format!("p-{i}"))
            .await
            .unwrap();
    }
    let metrics = || cluster.node(leader).raft().metrics().borrow().clone();
    wait_for("a snapshot after 20 entries, not 10,000", || {
        let m = metrics();
        let snapshot = m.snapshot?.index;
        let purged = m.purged?.index;
        (snapshot >= 20 && purged == snapshot - 3).then_some(())
    })
    .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_fell_far_behind_gets_a_snapshot() {
    let mut cluster = Cluster::with_config(3, snapshot_config()).await;
    let leader = cluster.wait_leader().await;
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    cluster.stop(follower).await;
    let mut last = 0;
    for i in 0..150 {
        last = write(cluster.node(leader), &format!("s-{i}"))
            .await
            .unwrap()
            .log_index;
    }
    let purged = |id| {
        cluster
            .node(id)
            .raft()
            .metrics()
            .borrow()
            .purged
            .map(|l| l.index)
    };
    wait_for("the leader to compact its log", || {
        (purged(leader)? > 50).then_some(())
    })
    .await;
    cluster.start(follower).await;
    cluster.wait_applied(last).await;
    let node = cluster.node(follower);
    let snapshot = node.raft().metrics().borrow().snapshot.map(|l| l.index);
    assert!(
        snapshot.is_some_and(|i| i >= 50),
        "installed a snapshot: {snapshot:?}"
    );
    assert_eq!(
        committed_configs(node),
        committed_configs(cluster.node(leader))
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_member_rejoins_under_a_new_id_and_catches_up() {
    let mut cluster = Cluster::with_config(3, snapshot_config()).await;
    let leader = cluster.wait_leader().await;
    let victim = (1..=3).find(|&id| id != leader).unwrap();
    for i in 0..80 {
        write(cluster.node(leader), &format!("x-{i}"))
            .await
            .unwrap();
    }
    cluster.stop(victim).await;
    cluster.node(leader).remove_member(victim).await.unwrap();
    std::fs::remove_dir_all(cluster.data_dir(victim)).unwrap();
    let old_addr = cluster.addrs.remove(&victim).unwrap();

    let refused = cluster
        .node(leader)
        .add_learner(victim, old_addr)
        .await
        .unwrap_err();
    assert!(matches!(refused, RaftError::Membership(_)), "{refused}");
    let id = cluster.node(leader).next_member_id().await.unwrap();
    assert_eq!(id, 4);
    cluster.start(id).await;
    let addr = cluster.addrs[&id].clone();
    guarded("add learner", cluster.node(leader).add_learner(id, addr))
        .await
        .unwrap();
    cluster.node(leader).promote(id).await.unwrap();
    let last = write(cluster.node(id), "after-rejoin").await.unwrap();
    cluster.wait_applied(last.log_index).await;
    assert_eq!(committed_configs(cluster.node(id)).len(), 81);
    let voters: BTreeSet<_> = cluster
        .node(leader)
        .raft()
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .collect();
    assert_eq!(voters.len(), 3);
    assert!(voters.contains(&id) && !voters.contains(&victim));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_under_write_load_lose_no_acknowledged_write() {
    let mut cluster = Cluster::new(3).await;
    let leader = cluster.wait_leader().await;
    cluster.start(4).await;
    cluster.start(5).await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let nodes: Vec<_> = (1..=3).collect();
        let acked = acked.clone();
        let cluster = &cluster;
        async move {
            for i in 0..200 {
                let via = nodes[i % nodes.len()];
                let id = format!("load-{i}");
                if write(cluster.node(via), &id).await.is_ok() {
                    acked.lock().unwrap().push(id);
                }
            }
        }
    };
    let changes = async {
        let l = cluster.node(leader);
        for id in [4, 5] {
            l.add_learner(id, cluster.addrs[&id].clone()).await.unwrap();
            l.promote(id).await.unwrap();
        }
        let other = (1..=3).find(|&id| id != leader).unwrap();
        l.demote(other).await.unwrap();
        l.promote(other).await.unwrap();
        l.demote(4).await.unwrap();
        l.remove_member(4).await.unwrap();
    };
    guarded(
        "writes and membership changes",
        Box::pin(async { tokio::join!(writer, changes) }),
    )
    .await;
    let last = write(cluster.node(leader), "final").await.unwrap();
    cluster.stop(4).await;
    cluster.wait_applied(last.log_index).await;
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 150, "most writes succeed: {}", acked.len());
    for node in cluster.nodes.values() {
        let held = committed_configs(node);
        let position: Vec<_> = acked
            .iter()
            .map(|id| held.iter().position(|h| h == id))
            .collect();
        assert!(
            position.iter().all(Option::is_some),
            "member {} lost a write",
            node.id()
        );
        assert!(
            position.windows(2).all(|w| w[0] < w[1]),
            "member {} reordered",
            node.id()
        );
    }
    let voters: BTreeSet<_> = cluster
        .node(leader)
        .raft()
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .collect();
    assert_eq!(voters, BTreeSet::from([1, 2, 3, 5]));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_partition_cannot_commit_and_says_so() {
    let cluster = Cluster::new(3).await;
    let old = cluster.wait_leader().await;
    write(cluster.node(old), "before").await.unwrap();
    cluster.faults.isolate(old);
    let err = guarded("write in the minority", write(cluster.node(old), "lost"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RaftError::Timeout { .. } | RaftError::Unavailable { .. }
        ),
        "{err}"
    );
    let majority: Vec<_> = (1..=3).filter(|&id| id != old).collect();
    let new = cluster.wait_leader_among(&majority).await;
    assert_ne!(new, old);
    let err = guarded(
        "read in the minority",
        cluster.node(old).read_linearizable(|s| s.version()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), berth_raft::RaftErrorKind::Unavailable, "{err}");
    write(cluster.node(majority[1]), "majority").await.unwrap();
    cluster.faults.heal();
    let leader = cluster.wait_leader().await;
    let last = write(cluster.node(leader), "healed").await.unwrap();
    cluster.wait_applied(last.log_index).await;
    for node in cluster.nodes.values() {
        assert_eq!(
            committed_configs(node),
            ["before", "majority", "healed"],
            "member {}",
            node.id()
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_naming_an_old_version_is_refused_with_a_conflict() {
    let cluster = Cluster::new(3).await;
    let leader = cluster.wait_leader().await;
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    let created = write(cluster.node(follower), "cfg").await.unwrap();
    let update = |version| {
        ClusterCommand::single(Op::Update {
            id: "cfg".into(),
            expected_version: Some(version),
            attrs: Attrs::Config { name: "cfg".into() },
            spec: json!({"Data": version}),
            status: json!(null),
        })
    };
    let updated = cluster
        .node(follower)
        .write(update(created.version))
        .await
        .unwrap();
    let err = cluster
        .node(leader)
        .write(update(created.version))
        .await
        .unwrap_err();
    match err {
        RaftError::Apply(ApplyError::Conflict {
            expected, current, ..
        }) => {
            assert_eq!((expected, current), (created.version, updated.version));
        }
        other => panic!("expected a conflict, got {other}"),
    }
    let version = cluster
        .node(follower)
        .read_linearizable(|s| s.get(ObjectKind::Config, "cfg").map(|o| o.meta.version))
        .await
        .unwrap();
    assert_eq!(
        version,
        Some(updated.version),
        "a linearizable read on a follower sees the write"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_deliver_every_change_once_in_order_across_a_leader_change() {
    let mut cluster = Cluster::new(3).await;
    let old = cluster.wait_leader().await;
    let watcher_node = (1..=3).find(|&id| id != old).unwrap();
    let (from, mut watcher) = cluster.node(watcher_node).read_and_watch(|s| s.version());
    for i in 0..10 {
        write(cluster.node(old), &format!("a-{i}")).await.unwrap();
    }
    cluster.stop(old).await;
    let new = cluster.wait_leader().await;
    for i in 0..10 {
        write(cluster.node(new), &format!("b-{i}")).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut version = from;
    while seen.len() < 20 {
        match guarded("next watch event", watcher.next()).await {
            WatchMessage::Event(event) => {
                assert_eq!(event.version, version + 1, "consecutive versions");
                version = event.version;
                seen.extend(event.changes.iter().map(|c| c.object.id.clone()));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let expected: Vec<_> = (0..10)
        .map(|i| format!("a-{i}"))
        .chain((0..10).map(|i| format!("b-{i}")))
        .collect();
    assert_eq!(seen, expected);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_a_certificate_from_the_cluster_ca_is_refused() {
    let cluster = Cluster::new(3).await;
    let leader = cluster.wait_leader().await;
    let addr = &cluster.addrs[&leader].addr;
    let timeout = std::time::Duration::from_secs(5);
    let status = berth_raft::probe(&cluster.pki.member(7), addr, timeout)
        .await
        .unwrap();
    assert_eq!(status.leader, Some(leader));

    // A client whose certificate comes from another CA is refused by the server...
    let rogue = common::Pki::new("rogue ca").member(8);
    let err = berth_raft::probe(&rogue, addr, timeout).await.unwrap_err();
    assert_eq!(err.kind(), berth_raft::RaftErrorKind::Unavailable, "{err}");
    // ...and a client that trusts only its own CA refuses the cluster's servers.
    let mut half = cluster.pki.member(8);
    half.ca_pem = common::Pki::new("other ca").ca_pem;
    let err = berth_raft::probe(&half, addr, timeout).await.unwrap_err();
    assert_eq!(err.kind(), berth_raft::RaftErrorKind::Unavailable, "{err}");

    // A member started with a foreign certificate cannot join the cluster's elections.
    let listener = common::bind(None).await;
    let rogue_addr = NodeAddr::new(listener.local_addr().unwrap().to_string());
    let node = berth_raft::RaftNode::start(berth_raft::NodeOptions {
        id: 9,
        data_dir: cluster.dir.path().join("rogue"),
        listener,
        advertise: rogue_addr.clone(),
        tls: rogue,
        config: common::test_config(),
        faults: None,
        shared: None,
        sealer: berth_raft::Sealer::none(),
    })
    .await
    .unwrap();
    let mut members = cluster.addrs.clone();
    members.insert(9, rogue_addr);
    node.initialize(members).await.unwrap();
    let err = guarded("rogue write", write(&node, "rogue"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), berth_raft::RaftErrorKind::Unavailable, "{err}");
    node.shutdown().await.unwrap();
    write(cluster.node(leader), "still-fine").await.unwrap();
    assert!(cluster.nodes.values().all(|n| n.leader() == Some(leader)));
    cluster.shutdown().await;
}
