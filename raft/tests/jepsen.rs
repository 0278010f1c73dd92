//! A small Jepsen-style check: a seeded random schedule of write bursts, kills, restarts and
//! partitions against a 3-member cluster (at most one member faulty at a time), then every
//! acknowledged write must be on every member exactly once, in acknowledgement order, and all
//! members must hold the same sequence. The seed is printed; rerun a failure with
//! `BERTH_RAFT_SEED=<seed>`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use berth_raft::{NodeId, RaftConfig};
use common::{committed_configs, guarded, write, Cluster};
use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const STEPS: usize = 300;
const MEMBERS: u64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Killed(NodeId),
    Isolated(NodeId),
}

#[test]
fn random_writes_kills_restarts_and_partitions_lose_or_reorder_no_acknowledged_write() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
    // A sled database dropped on a worker at the very end (a snapshot builder's last handle)
    // was seen to block in its final flush forever, under the full suite's load, after every
    // check had passed: the verdict is in, so the runtime is not waited for beyond this.
    rt.shutdown_timeout(Duration::from_secs(10));
}

async fn run() {
    let seed = std::env::var("BERTH_RAFT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00be_7406_u64);
    eprintln!("jepsen seed: {seed} (rerun with BERTH_RAFT_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let config = RaftConfig {
        request_timeout: Duration::from_millis(1500),
        snapshot_after_entries: 60,
        keep_entries_after_snapshot: 10,
        ..common::test_config()
    };
    let mut cluster = Cluster::with_config(MEMBERS, config).await;
    let mut fault: Option<Fault> = None;
    // Batches of writes acknowledged together; batches are ordered, writes within one are not.
    let mut acked: Vec<Vec<String>> = Vec::new();
    let mut failed = 0;
    let mut next = 0;
    for step in 0..STEPS {
        let roll = rng.random_range(0..100);
        match (roll, fault) {
            (0..=7, None) => {
                let id = rng.random_range(1..=MEMBERS);
                cluster.stop(id).await;
                fault = Some(Fault::Killed(id));
            }
            (0..=7, Some(Fault::Killed(id))) => {
                cluster.start(id).await;
                fault = None;
            }
            (8..=15, None) => {
                let id = rng.random_range(1..=MEMBERS);
                cluster.faults.isolate(id);
                fault = Some(Fault::Isolated(id));
            }
            (8..=15, Some(Fault::Isolated(_))) => {
                cluster.faults.heal();
                fault = None;
            }
            _ => {
                let burst = rng.random_range(1..=6);
                let running: Vec<NodeId> = cluster
                    .nodes
                    .keys()
                    .copied()
                    .filter(|id| fault != Some(Fault::Isolated(*id)) || rng.random_range(0..4) == 0)
                    .collect();
                let writes: Vec<_> = (0..burst)
                    .map(|_| {
                        next += 1;
                        (
                            running[rng.random_range(0..running.len())],
                            format!("j-{next}"),
                        )
                    })
                    .collect();
                let results = guarded(
                    "a write burst",
                    join_all(writes.iter().map(|(via, id)| write(cluster.node(*via), id))),
                )
                .await;
                let mut batch = Vec::new();
                for ((_, id), result) in writes.into_iter().zip(results) {
                    match result {
                        Ok(_) => batch.push(id),
                        Err(_) => failed += 1,
                    }
                }
                if !batch.is_empty() {
                    acked.push(batch);
                }
            }
        }
        if step % 50 == 0 {
            eprintln!(
                "step {step}: {} batches acked, {failed} writes failed",
                acked.len()
            );
        }
    }

    cluster.faults.heal();
    if let Some(Fault::Killed(id)) = fault {
        cluster.start(id).await;
    }
    let leader = cluster.wait_leader().await;
    let last = write(cluster.node(leader), "final").await.unwrap();
    cluster.wait_applied(last.log_index).await;

    let total: usize = acked.iter().map(Vec::len).sum();
    eprintln!("seed {seed}: {total} writes acknowledged, {failed} failed or indeterminate");
    assert!(
        total > STEPS / 2,
        "seed {seed}: too few writes succeeded ({total})"
    );
    let reference = committed_configs(cluster.node(leader));
    for node in cluster.nodes.values() {
        let held = committed_configs(node);
        assert_eq!(
            held,
            reference,
            "seed {seed}: member {} diverges",
            node.id()
        );
        let position: BTreeMap<&str, usize> = held
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        assert_eq!(
            position.len(),
            held.len(),
            "seed {seed}: a write is held twice"
        );
        let mut previous_batch_max: Option<usize> = None;
        for batch in &acked {
            let at: BTreeSet<usize> = batch
                .iter()
                .map(|id| {
                    *position.get(id.as_str()).unwrap_or_else(|| {
                        panic!("seed {seed}: member {} lost acknowledged {id}", node.id())
                    })
                })
                .collect();
            let first = at.first().copied().unwrap();
            assert!(
                previous_batch_max.is_none_or(|p| p < first),
                "seed {seed}: member {} holds a batch before an earlier acknowledged one",
                node.id()
            );
            previous_batch_max = at.last().copied();
        }
    }
    let dir = cluster.dir.path().to_path_buf();
    if tokio::time::timeout(Duration::from_secs(30), cluster.shutdown())
        .await
        .is_err()
    {
        eprintln!(
            "seed {seed}: the cluster's shutdown did not finish in 30 s (sled's final flush)"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
