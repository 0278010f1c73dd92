//! Benchmark (a program, not a test): placements per second of `schedule` on generated
//! clusters, from 100 tasks on 10 nodes to 100,000 tasks on 10,000 nodes with constraints and
//! a two-level spread. One line per case with n, p50 and p90 of the wall time of one batch.
//! Target (issue #7): the largest case under 1 s on the 2-core dev machine.
#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::time::{Duration, Instant};

use berth_scheduler::{
    schedule, Availability, HostPort, Node, NodeState, Platform, Preference, Resources, Role,
    Snapshot, TaskRequest,
};

const GIB: u64 = 1 << 30;
const CPU: u64 = 1_000_000_000;

/// xorshift64*: a seeded generator, so every run benchmarks the same cluster.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        items[i]
    }
}

/// Nodes with zones, racks and tiers, 1% managers, 1% drained, 0.5% down, up to a quarter of
/// their resources reserved and three existing services of the batch's each.
fn cluster(nodes: usize, services: u64, rng: &mut Rng) -> Snapshot {
    let nodes = (0..nodes)
        .map(|i| {
            let zone = format!("zone-{}", rng.below(5));
            let mut n = Node {
                id: format!("node-{i:05}-{:x}", rng.below(1 << 32)),
                hostname: format!("host-{i:05}"),
                role: if i % 100 == 0 {
                    Role::Manager
                } else {
                    Role::Worker
                },
                availability: if i % 100 == 7 {
                    Availability::Drain
                } else {
                    Availability::Active
                },
                state: if i % 200 == 13 {
                    NodeState::Down
                } else {
                    NodeState::Ready
                },
                platform: Platform::new("linux", "x86_64"),
                resources: Resources {
                    nano_cpus: 16 * CPU,
                    memory_bytes: 64 * GIB,
                    ..Resources::default()
                },
                reserved: Resources {
                    nano_cpus: rng.below(4) * CPU,
                    memory_bytes: rng.below(16) * GIB,
                    ..Resources::default()
                },
                ..Node::default()
            };
            n.labels
                .insert("rack".into(), format!("{zone}-rack-{:02}", rng.below(20)));
            n.labels.insert("zone".into(), zone);
            n.labels
                .insert("tier".into(), rng.pick(&["frontend", "backend"]).into());
            n.host_ports.insert(HostPort::tcp(9100));
            for _ in 0..3 {
                let count = u32::try_from(1 + rng.below(3)).unwrap_or(1);
                n.tasks_by_service
                    .insert(format!("svc-{}", rng.below(services)), count);
            }
            n
        })
        .collect();
    Snapshot { nodes }
}

/// `services` services of `replicas` tasks each, 0.1 CPU and 128 MiB per task. With
/// `constrained`, services cycle through four constraint sets and spread over zone then rack;
/// every tenth publishes a host port and every seventh caps replicas per node at 2.
fn batch(services: u64, replicas: u64, constrained: bool) -> Vec<TaskRequest> {
    let constraint_sets: [&[&str]; 4] = [
        &[],
        &["node.role!=manager"],
        &["node.labels.tier==backend", "node.role!=manager"],
        &["node.labels.tier==frontend", "node.platform.os==linux"],
    ];
    let mut tasks = Vec::new();
    for s in 0..services {
        let mut template = TaskRequest {
            service_id: format!("svc-{s}"),
            spec_version: 2,
            reservations: Resources {
                nano_cpus: CPU / 10,
                memory_bytes: 128 << 20,
                ..Resources::default()
            },
            ..TaskRequest::default()
        };
        if constrained {
            let set = constraint_sets[usize::try_from(s % 4).unwrap_or(0)];
            template.constraints = set.iter().map(|c| c.to_string()).collect();
            template.preferences = vec![
                Preference::spread("node.labels.zone"),
                Preference::spread("node.labels.rack"),
            ];
            if s % 10 == 3 {
                template.host_ports =
                    vec![HostPort::tcp(8000 + u16::try_from(s % 1000).unwrap_or(0))];
            }
            if s % 7 == 5 {
                template.max_replicas = 2;
            }
        }
        for r in 0..replicas {
            tasks.push(TaskRequest {
                id: format!("svc-{s}.{r}"),
                ..template.clone()
            });
        }
    }
    tasks
}

/// The nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn show(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else if d >= Duration::from_millis(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    }
}

fn run(label: &str, nodes: usize, services: u64, replicas: u64, constrained: bool, n: usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let snapshot = cluster(nodes, services, &mut rng);
    let tasks = batch(services, replicas, constrained);
    let mut samples = Vec::with_capacity(n);
    let mut placed = 0;
    for _ in 0..n {
        let start = Instant::now();
        let decisions = schedule(&snapshot, &tasks);
        samples.push(start.elapsed());
        placed = decisions.iter().filter(|d| d.node_id().is_some()).count();
    }
    samples.sort();
    let (p50, p90) = (percentile(&samples, 50), percentile(&samples, 90));
    let rate = placed as f64 / p50.as_secs_f64();
    println!(
        "{:<60} p50 {:>8}  p90 {:>8}  {:>9.0} placements/s  placed {}/{}  n={}",
        format!("{} tasks on {} nodes {label}", tasks.len(), nodes),
        show(p50),
        show(p90),
        rate,
        placed,
        tasks.len(),
        n
    );
}

fn main() {
    run("(spread)", 10, 10, 10, false, 200);
    run("(spread)", 1_000, 100, 100, false, 20);
    run("(constraints, 2-level spread)", 10_000, 1_000, 100, true, 5);
}
