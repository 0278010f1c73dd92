//! Property tests over random clusters and batches: no overcommit, constraints hold, pending
//! only when no node fits, even spread without constraints, and the indexed scheduler agrees
//! exactly with a brute-force reference that scans every node for every task.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::sample::subsequence;

use super::*;

const GIB: u64 = 1 << 30;
const HALF_CPU: u64 = 500_000_000;

const CONSTRAINTS: &[&str] = &[
    "node.labels.zone==a",
    "node.labels.zone!=b",
    "node.role!=manager",
    "node.role==manager",
    "node.platform.arch==x86_64",
    "node.labels.rack==r1",
    "node.hostname!=host-n3",
    "node.id==n2",
    "engine.labels.ssd!=no",
];

prop_compose! {
    fn arb_node()(
        zone in 0..4usize, rack in 0..3usize, manager in any::<bool>(), availability in 0..8u8,
        down in 0..8u8, arch in 0..3usize, cpus in 1..5u64, mem in 1..9u64, reserved in 0..3u64,
        gpus in 0..3u64, port in any::<bool>(), ssd in any::<bool>(), existing in prop::collection::vec(prop_oneof![3 => Just(0u32), 1 => 1..3u32], 3),
    ) -> Node {
        let mut n = Node {
            role: if manager { Role::Manager } else { Role::Worker },
            availability: match availability { 0 => Availability::Drain, 1 => Availability::Pause, _ => Availability::Active },
            state: if down == 0 { NodeState::Down } else { NodeState::Ready },
            platform: Platform::new("linux", ["x86_64", "amd64", "aarch64"][arch]),
            resources: Resources { nano_cpus: cpus * 2 * HALF_CPU, memory_bytes: mem * GIB, generic: [("gpu".to_string(), gpus)].into() },
            reserved: Resources { memory_bytes: reserved * GIB / 2, ..Resources::default() },
            ..Node::default()
        };
        if zone < 3 { n.labels.insert("zone".into(), ["a", "b", "c"][zone].into()); }
        if rack < 2 { n.labels.insert("rack".into(), ["r1", "r2"][rack].into()); }
        n.engine_labels.insert("ssd".into(), if ssd { "yes" } else { "no" }.into());
        if port { n.host_ports.insert(HostPort::tcp(80)); }
        for (s, &count) in existing.iter().enumerate() {
            if count > 0 { n.tasks_by_service.insert(format!("s{s}"), count); }
        }
        n
    }
}

fn arb_snapshot() -> impl Strategy<Value = Snapshot> {
    prop::collection::vec(arb_node(), 0..12)
        .prop_map(|nodes| {
            nodes
                .into_iter()
                .enumerate()
                .map(|(i, n)| Node {
                    id: format!("n{i}"),
                    hostname: format!("host-n{i}"),
                    ..n
                })
                .collect::<Vec<_>>()
        })
        .prop_shuffle()
        .prop_map(|nodes| Snapshot { nodes })
}

prop_compose! {
    /// One service's tasks; `free` leaves out constraints, preferences and platforms.
    fn arb_service(free: bool)(
        cpu in 0..4u64, mem in 0..4u64, gpu in 0..2u64, constraints in subsequence(CONSTRAINTS, 0..3),
        prefs in 0..3usize, max in 0..3u64, port in prop::option::of(prop_oneof![Just(80u16), Just(8080)]),
        platform in 0..3usize, count in 1..8usize,
    ) -> (TaskRequest, usize) {
        let mut t = TaskRequest {
            spec_version: 1,
            reservations: Resources { nano_cpus: cpu * HALF_CPU, memory_bytes: mem * GIB / 2, generic: BTreeMap::new() },
            max_replicas: max,
            host_ports: port.map(HostPort::tcp).into_iter().collect(),
            ..TaskRequest::default()
        };
        if gpu > 0 { t.reservations.generic.insert("gpu".into(), gpu); }
        if !free {
            t.constraints = constraints.iter().map(|c| c.to_string()).collect();
            t.preferences = ["node.labels.zone", "node.labels.rack"][..prefs].iter().map(|d| Preference::spread(d)).collect();
            t.platforms = [vec![], vec![Platform::new("linux", "amd64")], vec![Platform::new("", "arm64")]][platform].clone();
        }
        (t, count)
    }
}

/// How a batch's services place: `Free` without constraints, preferences or platforms,
/// `Random` each its own, `Shared` all as the first (so they share the index's pools).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    Free,
    Random,
    Shared,
}

/// A batch of services named `{prefix}{i}`, their tasks shuffled together.
fn arb_batch(
    placement: Placement,
    prefix: &'static str,
) -> impl Strategy<Value = Vec<TaskRequest>> {
    prop::collection::vec(arb_service(placement == Placement::Free), 1..6)
        .prop_map(move |services| {
            let first = services[0].0.clone();
            let mut tasks = Vec::new();
            for (s, (mut template, count)) in services.into_iter().enumerate() {
                if placement == Placement::Shared {
                    template.constraints = first.constraints.clone();
                    template.preferences = first.preferences.clone();
                    template.platforms = first.platforms.clone();
                }
                for i in 0..count {
                    tasks.push(TaskRequest {
                        id: format!("{prefix}{s}.{i}"),
                        service_id: format!("{prefix}{s}"),
                        ..template.clone()
                    });
                }
            }
            tasks
        })
        .prop_shuffle()
}

fn arb_any_batch() -> impl Strategy<Value = Vec<TaskRequest>> {
    prop_oneof![
        arb_batch(Placement::Random, "s"),
        arb_batch(Placement::Shared, "s")
    ]
}

/// The cluster as a brute-force model: every question answered by looking at one node.
struct World<'a> {
    nodes: Vec<&'a Node>,
    cpu: Vec<u64>,
    mem: Vec<u64>,
    generic_used: Vec<BTreeMap<String, u64>>,
    ports: Vec<BTreeSet<HostPort>>,
    counts: Vec<BTreeMap<String, u32>>,
    totals: Vec<u32>,
}

impl<'a> World<'a> {
    fn new(snapshot: &'a Snapshot) -> Self {
        let mut nodes: Vec<&Node> = snapshot.nodes.iter().collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        World {
            cpu: nodes
                .iter()
                .map(|n| n.resources.nano_cpus.saturating_sub(n.reserved.nano_cpus))
                .collect(),
            mem: nodes
                .iter()
                .map(|n| {
                    n.resources
                        .memory_bytes
                        .saturating_sub(n.reserved.memory_bytes)
                })
                .collect(),
            generic_used: vec![BTreeMap::new(); nodes.len()],
            ports: nodes.iter().map(|n| n.host_ports.clone()).collect(),
            counts: nodes.iter().map(|n| n.tasks_by_service.clone()).collect(),
            totals: nodes
                .iter()
                .map(|n| n.tasks_by_service.values().sum())
                .collect(),
            nodes,
        }
    }

    fn index(&self, id: &str) -> usize {
        self.nodes.iter().position(|n| n.id == id).unwrap()
    }

    fn count(&self, i: usize, service: &str) -> u32 {
        self.counts[i].get(service).copied().unwrap_or(0)
    }

    fn static_ok(&self, i: usize, t: &TaskRequest) -> bool {
        let n = self.nodes[i];
        let arch = |a: &str| match a {
            "x86_64" => "amd64".to_string(),
            "aarch64" => "arm64".into(),
            o => o.into(),
        };
        n.state == NodeState::Ready
            && n.availability == Availability::Active
            && t.constraints
                .iter()
                .all(|c| Constraint::parse(c).unwrap().matches(n))
            && (t.platforms.is_empty()
                || t.platforms.iter().any(|p| {
                    (p.os.is_empty() || p.os == n.platform.os)
                        && (p.arch.is_empty() || arch(&p.arch) == arch(&n.platform.arch))
                }))
    }

    fn fits(&self, i: usize, t: &TaskRequest) -> bool {
        let n = self.nodes[i];
        let free_generic = |k: &str| {
            n.resources
                .generic
                .get(k)
                .copied()
                .unwrap_or(0)
                .saturating_sub(n.reserved.generic.get(k).copied().unwrap_or(0))
                .saturating_sub(self.generic_used[i].get(k).copied().unwrap_or(0))
        };
        t.reservations.nano_cpus <= self.cpu[i]
            && t.reservations.memory_bytes <= self.mem[i]
            && t.reservations
                .generic
                .iter()
                .all(|(k, &v)| v <= free_generic(k))
            && t.host_ports.iter().all(|p| !self.ports[i].contains(p))
            && (t.max_replicas == 0 || u64::from(self.count(i, &t.service_id)) < t.max_replicas)
    }

    fn can_take(&self, i: usize, t: &TaskRequest) -> bool {
        self.static_ok(i, t) && self.fits(i, t)
    }

    fn charge(&mut self, i: usize, t: &TaskRequest) {
        self.cpu[i] -= t.reservations.nano_cpus;
        self.mem[i] -= t.reservations.memory_bytes;
        for (k, v) in &t.reservations.generic {
            *self.generic_used[i].entry(k.clone()).or_default() += v;
        }
        for p in &t.host_ports {
            assert!(
                self.ports[i].insert(*p),
                "host port {p} published twice on {}",
                self.nodes[i].id
            );
        }
        *self.counts[i].entry(t.service_id.clone()).or_default() += 1;
        self.totals[i] += 1;
    }

    /// The reference choice for one task: at each spread level the value with the fewest
    /// service tasks (on any node), then fewest tasks (on candidate nodes), then the value;
    /// at the bottom the node with the fewest service tasks, then tasks, then id.
    fn choose(
        &self,
        t: &TaskRequest,
        levels: &[String],
        candidates: &[usize],
        relatives: &[usize],
    ) -> Option<usize> {
        let Some((label, rest)) = levels.split_first() else {
            return candidates
                .iter()
                .copied()
                .filter(|&i| self.fits(i, t))
                .min_by_key(|&i| (self.count(i, &t.service_id), self.totals[i], i));
        };
        let value = |i: usize| self.nodes[i].labels.get(label).cloned().unwrap_or_default();
        let values: BTreeSet<String> = candidates.iter().map(|&i| value(i)).collect();
        let mut branches: Vec<(u32, u32, String)> = values
            .into_iter()
            .map(|v| {
                let count = relatives
                    .iter()
                    .filter(|&&i| value(i) == v)
                    .map(|&i| self.count(i, &t.service_id))
                    .sum();
                let total = candidates
                    .iter()
                    .filter(|&&i| value(i) == v)
                    .map(|&i| self.totals[i])
                    .sum();
                (count, total, v)
            })
            .collect();
        branches.sort();
        branches.into_iter().find_map(|(_, _, v)| {
            let c: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|&i| value(i) == v)
                .collect();
            let r: Vec<usize> = relatives
                .iter()
                .copied()
                .filter(|&i| value(i) == v)
                .collect();
            self.choose(t, rest, &c, &r)
        })
    }
}

/// The brute-force scheduler: same grouping and order, every node examined for every task.
fn reference(snapshot: &Snapshot, tasks: &[TaskRequest]) -> Vec<Option<String>> {
    let mut world = World::new(snapshot);
    let mut out = vec![None; tasks.len()];
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, t) in tasks.iter().enumerate() {
        match groups.iter_mut().find(|(s, _)| *s == t.service_id) {
            Some((_, g)) => g.push(i),
            None => groups.push((&t.service_id, vec![i])),
        }
    }
    for (_, group) in groups {
        let t = &tasks[group[0]];
        let levels: Vec<String> = t
            .preferences
            .iter()
            .map(|Preference::Spread { descriptor }| {
                descriptor.trim_start_matches("node.labels.").to_string()
            })
            .collect();
        let candidates: Vec<usize> = (0..world.nodes.len())
            .filter(|&i| world.static_ok(i, t))
            .collect();
        let everyone: Vec<usize> = (0..world.nodes.len()).collect();
        for &k in &group {
            let Some(i) = world.choose(t, &levels, &candidates, &everyone) else {
                break;
            };
            world.charge(i, t);
            out[k] = Some(world.nodes[i].id.clone());
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn placements_never_overcommit_and_satisfy_every_filter(snapshot in arb_snapshot(), tasks in arb_any_batch()) {
        let decisions = schedule(&snapshot, &tasks);
        prop_assert_eq!(decisions.len(), tasks.len());
        let mut world = World::new(&snapshot);
        for (d, t) in decisions.iter().zip(&tasks) {
            prop_assert_eq!(&d.task_id, &t.id);
            if let Some(id) = d.node_id() {
                let i = world.index(id);
                prop_assert!(world.can_take(i, t), "{} placed on {} which cannot take it", t.id, id);
                world.charge(i, t);
            }
        }
        for (d, t) in decisions.iter().zip(&tasks) {
            if let Outcome::Pending(why) = &d.outcome {
                for i in 0..world.nodes.len() {
                    prop_assert!(!world.can_take(i, t), "{} pending though {} could take it", t.id, world.nodes[i].id);
                }
                prop_assert_eq!(why.total(), world.nodes.len());
            }
        }
    }

    #[test]
    fn the_indexed_scheduler_agrees_with_the_brute_force_reference(snapshot in arb_snapshot(), tasks in arb_any_batch()) {
        let got: Vec<Option<String>> = schedule(&snapshot, &tasks).iter().map(|d| d.node_id().map(str::to_owned)).collect();
        prop_assert_eq!(got, reference(&snapshot, &tasks));
    }

    #[test]
    fn without_constraints_service_counts_on_eligible_nodes_differ_by_at_most_one(
        snapshot in arb_snapshot(), tasks in arb_batch(Placement::Free, "new"),
    ) {
        let decisions = schedule(&snapshot, &tasks);
        let mut world = World::new(&snapshot);
        for (d, t) in decisions.iter().zip(&tasks) {
            if let Some(id) = d.node_id() {
                let i = world.index(id);
                world.charge(i, t);
            }
        }
        let services: BTreeSet<&str> = tasks.iter().map(|t| t.service_id.as_str()).collect();
        for s in services {
            let t = tasks.iter().find(|t| t.service_id == s).unwrap();
            let counts: Vec<u32> = (0..world.nodes.len()).filter(|&i| world.can_take(i, t)).map(|i| world.count(i, s)).collect();
            if let (Some(lo), Some(hi)) = (counts.iter().min(), counts.iter().max()) {
                prop_assert!(hi - lo <= 1, "{s}: counts {counts:?} on eligible nodes");
            }
        }
    }

    #[test]
    fn the_same_input_gives_the_same_output_whatever_the_node_order(snapshot in arb_snapshot(), tasks in arb_any_batch()) {
        let first = schedule(&snapshot, &tasks);
        let mut reversed = snapshot.clone();
        reversed.nodes.reverse();
        prop_assert_eq!(schedule(&reversed, &tasks), first);
    }
}
