//! The batch's working state over a snapshot: nodes ordered by id, what the batch has charged
//! to each, per-service task counts and a value index for `==` constraints. It answers
//! whether a node can take a task and records placements; choosing a node is `strategy`'s job.

use std::collections::BTreeMap;

use crate::constraint::{Constraint, ConstraintKey, Operator};
use crate::explain::{Explanation, Rejection};
use crate::filter::{dynamic_rejection, passes_static, static_rejection, NodeLoad, Requirements};
use crate::hash::FastMap;
use crate::model::{HostPort, Node, Snapshot, MAX_FAILURES};

/// Converts an index or count to `u32`; a cluster never holds 4 billion nodes or tasks.
pub(crate) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The nodes of a snapshot and what a batch has done to them so far. Nodes are numbered by
/// the order of their ids, so comparing numbers breaks ties by node id.
pub(crate) struct Cluster<'s> {
    nodes: Vec<&'s Node>,
    free_cpu: Vec<u64>,
    free_memory: Vec<u64>,
    totals: Vec<u32>,
    charged_generic: FastMap<u32, BTreeMap<String, u64>>,
    added_ports: FastMap<u32, Vec<HostPort>>,
    services: FastMap<String, u32>,
    /// Per batch service: node → tasks of that service on it (absent means 0).
    service_tasks: Vec<FastMap<u32, u32>>,
    /// Per key: ASCII-lowercased value → nodes with that value, built on first use.
    values: FastMap<ConstraintKey, FastMap<String, Vec<u32>>>,
    /// Per (batch service, spec version): node → its recent failures, from `MAX_FAILURES` on.
    failing: FastMap<(u32, u64), FastMap<u32, u32>>,
}

impl<'s> Cluster<'s> {
    /// Reads the snapshot, counting tasks only for `services` (the batch's).
    pub fn new<'a>(snapshot: &'s Snapshot, services: impl IntoIterator<Item = &'a str>) -> Self {
        let mut nodes: Vec<&Node> = snapshot.nodes.iter().collect();
        // Stable sort: of nodes sharing an id, the first in the snapshot stays.
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        nodes.dedup_by(|a, b| a.id == b.id);
        let mut names: FastMap<String, u32> = FastMap::default();
        for s in services {
            let next = to_u32(names.len());
            names.entry(s.to_owned()).or_insert(next);
        }
        let mut service_tasks = vec![FastMap::default(); names.len()];
        let mut totals = Vec::with_capacity(nodes.len());
        let mut failing: FastMap<(u32, u64), FastMap<u32, u32>> = FastMap::default();
        for (i, node) in nodes.iter().enumerate() {
            for ((service, version), &count) in &node.recent_failures {
                match names.get(service.as_str()) {
                    Some(&s) if count >= MAX_FAILURES => {
                        failing
                            .entry((s, *version))
                            .or_default()
                            .insert(to_u32(i), count);
                    }
                    _ => {}
                }
            }
            let mut total = 0u32;
            for (service, &count) in &node.tasks_by_service {
                total = total.saturating_add(count);
                match names.get(service.as_str()) {
                    Some(&s) if count > 0 => {
                        service_tasks[s as usize].insert(to_u32(i), count);
                    }
                    _ => {}
                }
            }
            totals.push(total);
        }
        let free = |f: fn(&Node) -> u64| nodes.iter().map(|n| f(n)).collect::<Vec<_>>();
        Cluster {
            free_cpu: free(|n| n.resources.nano_cpus.saturating_sub(n.reserved.nano_cpus)),
            free_memory: free(|n| {
                n.resources
                    .memory_bytes
                    .saturating_sub(n.reserved.memory_bytes)
            }),
            nodes,
            totals,
            charged_generic: FastMap::default(),
            added_ports: FastMap::default(),
            services: names,
            service_tasks,
            values: FastMap::default(),
            failing,
        }
    }

    /// The nodes where tasks of service `s` at spec `version` failed `MAX_FAILURES` times or
    /// more recently, with the count; a copy, as the group's walk charges the cluster.
    pub fn failing(&self, s: u32, version: u64) -> FastMap<u32, u32> {
        self.failing.get(&(s, version)).cloned().unwrap_or_default()
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Node number `i`.
    pub fn node(&self, i: u32) -> &'s Node {
        self.nodes[i as usize]
    }

    /// All tasks on node `i`, batch included.
    pub fn total(&self, i: u32) -> u32 {
        self.totals[i as usize]
    }

    /// The number of a batch service; `None` for a service not named at construction.
    pub fn service(&self, id: &str) -> Option<u32> {
        self.services.get(id).copied()
    }

    /// Tasks of service `s` on node `i`, batch included.
    pub fn service_tasks(&self, s: u32, i: u32) -> u32 {
        self.service_tasks[s as usize].get(&i).copied().unwrap_or(0)
    }

    /// Every node running tasks of service `s`, with the count, in no particular order.
    pub fn service_nodes(&self, s: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.service_tasks[s as usize].iter().map(|(&i, &c)| (i, c))
    }

    /// Node `i`'s load as `req` sees it; maps the task does not need are not read.
    fn load(&self, s: u32, i: u32, req: &Requirements) -> NodeLoad<'_> {
        let charged_generic = if req.generic.is_empty() {
            None
        } else {
            self.charged_generic.get(&i)
        };
        let added_ports = if req.host_ports.is_empty() {
            None
        } else {
            self.added_ports.get(&i)
        };
        NodeLoad {
            node: self.nodes[i as usize],
            nano_cpus: self.free_cpu[i as usize],
            memory_bytes: self.free_memory[i as usize],
            charged_generic,
            added_ports: added_ports.map_or(&[], Vec::as_slice),
            service_tasks: if req.max_replicas > 0 {
                self.service_tasks(s, i)
            } else {
                0
            },
        }
    }

    /// Whether node `i`, already known to pass the static filters, can take a task of service `s`.
    pub fn fits(&self, s: u32, i: u32, req: &Requirements) -> bool {
        dynamic_rejection(&self.load(s, i, req), req).is_none()
    }

    /// Charges a task of service `s` to node `i`: reservations, host ports and task counts.
    pub fn charge(&mut self, s: u32, i: u32, req: &Requirements) {
        let ix = i as usize;
        self.free_cpu[ix] = self.free_cpu[ix].saturating_sub(req.nano_cpus);
        self.free_memory[ix] = self.free_memory[ix].saturating_sub(req.memory_bytes);
        if !req.generic.is_empty() {
            let charged = self.charged_generic.entry(i).or_default();
            for (kind, n) in &req.generic {
                *charged.entry(kind.clone()).or_default() += n;
            }
        }
        if !req.host_ports.is_empty() {
            self.added_ports
                .entry(i)
                .or_default()
                .extend(&req.host_ports);
        }
        *self.service_tasks[s as usize].entry(i).or_default() += 1;
        self.totals[ix] = self.totals[ix].saturating_add(1);
    }

    /// Nodes passing the static filters for `req`, ascending. An `==` constraint narrows the
    /// scan to the nodes holding its value, so a pinned service never walks the cluster.
    pub fn candidates(&mut self, req: &Requirements) -> Vec<u32> {
        let indexed =
            |c: &&Constraint| c.operator() == Operator::Eq && *c.key() != ConstraintKey::NodeIp;
        for c in req.constraints.iter().filter(indexed) {
            self.build_index(c.key());
        }
        let narrowest = req
            .constraints
            .iter()
            .filter(indexed)
            .map(|c| {
                self.values
                    .get(c.key())
                    .and_then(|by_value| by_value.get(&c.value().to_ascii_lowercase()))
                    .map_or(&[][..], Vec::as_slice)
            })
            .min_by_key(|list| list.len());
        let passes = |&i: &u32| passes_static(self.nodes[i as usize], req);
        match narrowest {
            Some(list) => list.iter().copied().filter(passes).collect(),
            None => (0..to_u32(self.nodes.len())).filter(passes).collect(),
        }
    }

    fn build_index(&mut self, key: &ConstraintKey) {
        if self.values.contains_key(key) {
            return;
        }
        let mut by_value: FastMap<String, Vec<u32>> = FastMap::default();
        for (i, node) in self.nodes.iter().enumerate() {
            let value = key.value_of(node).to_ascii_lowercase();
            by_value.entry(value).or_default().push(to_u32(i));
        }
        self.values.insert(key.clone(), by_value);
    }

    /// Why every node rejects a task of service `s` now: the first failing filter per node.
    pub fn explain(&self, s: u32, req: &Requirements) -> Explanation {
        Explanation::from_rejections(
            (0..to_u32(self.nodes.len())).filter_map(|i| self.rejection(s, i, req)),
        )
    }

    /// The first filter node `i` fails for a task of service `s`, if any.
    fn rejection(&self, s: u32, i: u32, req: &Requirements) -> Option<Rejection> {
        static_rejection(self.nodes[i as usize], req)
            .or_else(|| dynamic_rejection(&self.load(s, i, req), req))
    }
}
