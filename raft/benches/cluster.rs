//! Raft store benchmark: 3 members on 127.0.0.1 with mutual TLS and fsync on. Prints committed
//! writes per second and commit latency with 1, 16 and 256 concurrent clients, the time to
//! elect a new leader after the leader is killed, and the time to install a snapshot of
//! 100,000 objects on a new member. Run: `cargo bench -p berth-raft --profile dev-release`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark program prints its figures and fails loudly"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use berth_raft::{Attrs, ClusterCommand, Op, RaftNode};
use common::{write, Cluster};
use futures_util::future::join_all;
use serde_json::json;

const RUN: Duration = Duration::from_secs(4);
/// Objects in the snapshot section (`BERTH_BENCH_OBJECTS` overrides, for quick runs).
const SNAPSHOT_OBJECTS: usize = 100_000;

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// One client's latencies and the log indexes its writes landed in.
async fn client(node: &RaftNode, client: usize, until: Instant) -> (Vec<Duration>, Vec<u64>) {
    let mut latencies = Vec::new();
    let mut entries = Vec::new();
    let mut n = 0;
    while Instant::now() < until {
        let start = Instant::now();
        let applied = write(node, &format!("c{client}-{n}")).await.expect("write");
        latencies.push(start.elapsed());
        entries.push(applied.log_index);
        n += 1;
    }
    (latencies, entries)
}

/// CPU time this process (all three members) has used, from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which ends with the last ')'; utime and stime are the
    // 14th and 15th fields, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

async fn throughput(cluster: &Cluster, clients: usize) {
    let leader = cluster.node(cluster.wait_leader().await);
    let cpu = cpu_time();
    let start = Instant::now();
    let until = start + RUN;
    let runs = join_all((0..clients).map(|c| client(leader, clients * 1_000_000 + c, until))).await;
    let elapsed = start.elapsed();
    let mut all: Vec<Duration> = Vec::new();
    let mut entries = std::collections::BTreeSet::new();
    for (latencies, indexes) in runs {
        all.extend(latencies);
        entries.extend(indexes);
    }
    all.sort();
    // Writes per log entry: how well the proposer's group commit packs them.
    let per_entry = all.len() as f64 / entries.len().max(1) as f64;
    let rate = all.len() as f64 / elapsed.as_secs_f64();
    // CPU per write is steadier than the rate on a shared machine: it tells a cheaper write
    // from a quieter neighbour.
    let cpu_per_write = (cpu_time() - cpu).as_secs_f64() * 1e6 / all.len().max(1) as f64;
    println!(
        "writes, {clients:>3} clients   {rate:>8.0} writes/s   p50 {}  p90 {}  p99 {}   \
         cpu {cpu_per_write:.0} us/write   {per_entry:.1} writes/entry   n={}",
        ms(percentile(&all, 50)),
        ms(percentile(&all, 90)),
        ms(percentile(&all, 99)),
        all.len()
    );
}

async fn failover(cluster: &mut Cluster, rounds: usize) {
    let mut elect = Vec::new();
    let mut accept = Vec::new();
    for round in 0..rounds {
        let old = cluster.wait_leader().await;
        // Cutting the leader off first makes its death instant for the others, like SIGKILL.
        cluster.faults.isolate(old);
        let killed = Instant::now();
        // Stopped beside the election, not before it: a graceful stop waits up to 2 s for
        // peers' HTTP/2 connections, which a SIGKILL would not.
        let stopping = tokio::spawn(cluster.take(old).shutdown());
        let new = cluster.wait_leader().await;
        elect.push(killed.elapsed());
        let written = write(cluster.node(new), &format!("failover-{round}"))
            .await
            .expect("write after failover");
        accept.push(killed.elapsed());
        stopping.await.unwrap().unwrap();
        cluster.faults.heal();
        cluster.start(old).await;
        // One failure at a time: the restarted member catches up before the next leader dies,
        // or it may stand for election with a stale log and cost the others a round.
        cluster.wait_applied(written.log_index).await;
    }
    elect.sort();
    accept.sort();
    println!(
        "failover: new leader    p50 {}  max {}   writes accepted again p50 {}  max {}   n={rounds}",
        ms(percentile(&elect, 50)),
        ms(*elect.last().unwrap()),
        ms(percentile(&accept, 50)),
        ms(*accept.last().unwrap())
    );
}

async fn snapshot_install(cluster: &mut Cluster) {
    let leader_id = cluster.wait_leader().await;
    let leader = cluster.node(leader_id);
    let batch = 500;
    let objects = std::env::var("BERTH_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok());
    for b in 0..objects.unwrap_or(SNAPSHOT_OBJECTS) / batch {
        let ops = (0..batch)
            .map(|i| Op::Create {
                id: format!("snap-{b}-{i}"),
                attrs: Attrs::Secret {
                    name: format!("snap-{b}-{i}"),
                },
                spec: json!({"Name": format!("snap-{b}-{i}"), "Labels": {"bench": "snapshot"}}),
                status: json!(null),
            })
            .collect();
        leader
            .write(ClusterCommand::new(ops))
            .await
            .expect("batch write");
    }
    let objects = leader.read_stale(|s| s.len());
    let last = leader.raft().metrics().borrow().last_applied.unwrap().index;
    leader.raft().trigger().snapshot().await.unwrap();
    // openraft 0.9 queues the build behind the next log event: give it one.
    write(leader, "snapshot-nudge").await.unwrap();
    leader
        .raft()
        .wait(Some(Duration::from_secs(120)))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= last),
            "snapshot built",
        )
        .await
        .unwrap();
    leader.raft().trigger().purge_log(last).await.unwrap();
    let id = leader.next_member_id().await.unwrap();
    cluster.start(id).await;
    let addr = cluster.addrs[&id].clone();
    let start = Instant::now();
    cluster.node(leader_id).add_learner(id, addr).await.unwrap();
    cluster
        .node(id)
        .raft()
        .wait(Some(Duration::from_secs(300)))
        .applied_index_at_least(Some(last), "snapshot installed")
        .await
        .unwrap();
    let took = start.elapsed();
    let held = cluster.node(id).read_stale(|s| s.len());
    assert!(
        held >= objects,
        "new member holds {held} of {objects} objects"
    );
    println!(
        "snapshot: install on a new member   {}   objects={held}",
        ms(took)
    );
}

fn main() {
    // Off unless RUST_LOG asks (e.g. RUST_LOG=openraft=warn).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = berth_raft::RaftConfig {
            // The bench measures steady state; snapshots are measured on their own below.
            snapshot_after_entries: 1_000_000,
            ..berth_raft::RaftConfig::default()
        };
        let mut cluster = Cluster::with_config(3, config).await;
        // `cargo bench … -- failover` runs only the sections whose name contains the word.
        let only: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with("--"))
            .collect();
        let run =
            |section: &str| only.is_empty() || only.iter().any(|o| section.contains(o.as_str()));
        println!("berth-raft: 3 members on 127.0.0.1, mutual TLS, sled with fsync per append");
        if run("throughput") {
            // `BERTH_BENCH_CLIENTS=256` runs one phase, e.g. to count instructions per write
            // under `perf stat`, which a shared machine disturbs less than the rate.
            let phases: Vec<usize> = std::env::var("BERTH_BENCH_CLIENTS")
                .ok()
                .map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect())
                .unwrap_or_else(|| vec![1, 16, 256]);
            for clients in phases {
                throughput(&cluster, clients).await;
            }
        }
        if run("failover") {
            failover(&mut cluster, 5).await;
        }
        if run("snapshot") {
            snapshot_install(&mut cluster).await;
        }
        cluster.shutdown().await;
    });
}
