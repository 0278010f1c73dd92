//! The spread strategy: placement preferences and the walk that places one group of identical
//! tasks. At every level of a pool's tree it takes the child with the fewest tasks of the
//! service, then the fewest tasks overall, then the smallest label value (at the leaves: node
//! id). Nodes where the spec keeps failing are passed over, and taken only when no other node
//! of the pool fits. Filters and charging live in `filter` and `state`; the ordered sets in
//! `index`.

use std::collections::BTreeSet;
use std::ops::Bound;

use crate::constraint::ConstraintKey;
use crate::filter::Requirements;
use crate::hash::FastMap;
use crate::index::{Key, Pool, Pools, ROOT};
use crate::model::Preference;
use crate::state::Cluster;

/// Where a spread level reads its value: a node attribute or label, as a constraint names it.
/// A node without the label reads as "" and so forms its own group (with nodes whose value is
/// empty, as in swarmkit).
pub(crate) type LabelSource = ConstraintKey;

/// Parses spread preferences: `node.labels.<name>` and `engine.labels.<name>` as swarmkit, and
/// the node attributes its constraints know (`node.id`, `node.hostname`, `node.role`,
/// `node.platform.os`, `node.platform.arch`), which swarmkit accepts and skips (berth spreads
/// over them). Anything else (`node.ip`, a typo) is skipped, as swarmkit skips it: the service
/// runs as Docker's would; `ignored_preferences` names them so the API can warn.
pub(crate) fn parse_preferences(prefs: &[Preference]) -> Vec<LabelSource> {
    prefs.iter().filter_map(spread_source).collect()
}

/// The spread descriptors of `prefs` that name nothing a node has: they have no effect.
pub fn ignored_preferences(prefs: &[Preference]) -> Vec<String> {
    prefs
        .iter()
        .filter(|p| spread_source(p).is_none())
        .map(|Preference::Spread { descriptor }| descriptor.clone())
        .collect()
}

fn spread_source(Preference::Spread { descriptor }: &Preference) -> Option<LabelSource> {
    ConstraintKey::parse(descriptor).filter(|k| *k != ConstraintKey::NodeIp)
}

/// A vertex's state while one group is placed.
#[derive(Debug, Default)]
struct Visit {
    /// Tasks of the service under this vertex, on any node with these label values.
    count: u32,
    /// The last untouched member examined; members up to it are placed on or full.
    cursor: Option<Key>,
    /// Every untouched member has been examined.
    exhausted: bool,
    /// Members holding tasks of the service, by (their count, their key); full ones dropped.
    touched: BTreeSet<(u32, Key)>,
}

/// One group of identical tasks: where they go and what they need.
pub(crate) struct Group<'g> {
    /// The pool of nodes passing the group's static filters.
    pub pool: u32,
    /// The batch service.
    pub service: u32,
    /// The requirements shared by the group's tasks.
    pub req: &'g Requirements,
    /// Nodes where the group's spec failed `MAX_FAILURES` times or more recently, with the
    /// count; usually empty.
    pub failing: &'g FastMap<u32, u32>,
}

/// One group's walk: the pool, the service and the requirements shared by its tasks.
struct Walk<'a, 's> {
    cluster: &'a Cluster<'s>,
    pools: &'a Pools,
    pool_id: u32,
    pool: &'a Pool,
    service: u32,
    req: &'a Requirements,
    failing: &'a FastMap<u32, u32>,
}

impl Walk<'_, '_> {
    /// Whether node `m` is left for last: the group's spec keeps failing there.
    fn shunned(&self, m: u32) -> bool {
        !self.failing.is_empty() && self.failing.contains_key(&m)
    }

    /// When no other node fits: the pool's failing node that fits with the fewest failures
    /// (swarmkit orders such nodes by count), then as everywhere else. Costs the failing
    /// nodes, not the pool.
    fn last_resort(&self) -> Option<(u32, u32)> {
        self.failing
            .iter()
            .filter_map(|(&n, &failures)| {
                let leaf = self.pools.leaf_of(self.pool_id, n)?;
                let tasks = self.cluster.service_tasks(self.service, n);
                let order = (failures, tasks, self.cluster.total(n), n);
                self.cluster
                    .fits(self.service, n, self.req)
                    .then_some((order, leaf))
            })
            .min_by_key(|&(order, _)| order)
            .map(|((.., n), leaf)| (n, leaf))
    }

    /// Counts the service's existing tasks per vertex. Costs the service's size, not the pool's.
    fn visits(&self) -> FastMap<u32, Visit> {
        let mut visits: FastMap<u32, Visit> = FastMap::default();
        for (n, count) in self.cluster.service_nodes(self.service) {
            // A node outside the pool still counts for the label values it has (swarmkit
            // builds its tree over all nodes), but is no member of any leaf.
            let leaf = self.pools.leaf_of(self.pool_id, n);
            let path = match leaf {
                Some(leaf) => self.pool.path_to(leaf),
                None => self.pool.walk(self.cluster.node(n)),
            };
            for &v in &path[1..] {
                visits.entry(v).or_default().count += count;
            }
            if let Some(leaf) = leaf {
                let key = (self.cluster.total(n), n);
                visits.entry(leaf).or_default().touched.insert((count, key));
            }
        }
        let counted: Vec<(u32, u32)> = visits
            .iter()
            .filter(|(_, visit)| visit.count > 0)
            .map(|(&v, visit)| (v, visit.count))
            .collect();
        for (v, count) in counted {
            if let Some(parent) = self.pool.parent(v) {
                let key = self.pool.key_in_parent(v);
                visits
                    .entry(parent)
                    .or_default()
                    .touched
                    .insert((count, key));
            }
        }
        visits
    }

    /// The best node under `v` that can take the task, with its leaf. A member without tasks
    /// of the service beats every member with some; members with none are met in key order,
    /// members with some in (count, key) order. Anything found full stays skipped for the
    /// rest of the group: filters only get stricter as the group is placed.
    fn pick(&self, visits: &mut FastMap<u32, Visit>, v: u32) -> Option<(u32, u32)> {
        let vertex = &self.pool.vertices[v as usize];
        let visit = visits.entry(v).or_default();
        if !visit.exhausted {
            let start = visit.cursor.map_or(Bound::Unbounded, Bound::Excluded);
            let mut found = None;
            let mut last = visit.cursor;
            for &key in vertex.members.range((start, Bound::Unbounded)) {
                last = Some(key);
                let m = key.1;
                if vertex.is_leaf() {
                    if self.cluster.service_tasks(self.service, m) == 0
                        && !self.shunned(m)
                        && self.cluster.fits(self.service, m, self.req)
                    {
                        found = Some((m, v));
                        break;
                    }
                    continue;
                }
                let child = vertex.children[m as usize].1;
                if visits.get(&child).is_some_and(|c| c.count > 0) {
                    continue;
                }
                if let Some(hit) = self.pick(visits, child) {
                    found = Some(hit);
                    break;
                }
            }
            let visit = visits.entry(v).or_default();
            visit.cursor = last;
            visit.exhausted = found.is_none();
            if found.is_some() {
                return found;
            }
        }
        loop {
            let first = *visits.get(&v)?.touched.first()?;
            let (_, (_, m)) = first;
            let hit = if vertex.is_leaf() {
                (!self.shunned(m) && self.cluster.fits(self.service, m, self.req)).then_some((m, v))
            } else {
                self.pick(visits, vertex.children[m as usize].1)
            };
            if hit.is_some() {
                return hit;
            }
            if let Some(visit) = visits.get_mut(&v) {
                visit.touched.remove(&first);
            }
        }
    }

    /// Moves node `n` in `leaf` and every ancestor one task up, before the cluster and the
    /// pools record the task.
    fn record(&self, visits: &mut FastMap<u32, Visit>, n: u32, leaf: u32) {
        let count = self.cluster.service_tasks(self.service, n);
        let total = self.cluster.total(n);
        let visit = visits.entry(leaf).or_default();
        visit.touched.remove(&(count, (total, n)));
        visit
            .touched
            .insert((count + 1, (total.saturating_add(1), n)));
        let mut v = leaf;
        while let Some(parent) = self.pool.parent(v) {
            let key = self.pool.key_in_parent(v);
            let visit = visits.entry(v).or_default();
            let count = visit.count;
            visit.count += 1;
            let up = visits.entry(parent).or_default();
            up.touched.remove(&(count, key));
            up.touched
                .insert((count + 1, (key.0.saturating_add(1), key.1)));
            v = parent;
        }
    }
}

/// Places up to `count` tasks of `group`; returns the chosen nodes in order. Fewer than
/// `count` means no node could take the next task.
pub(crate) fn place_group(
    cluster: &mut Cluster<'_>,
    pools: &mut Pools,
    group: &Group<'_>,
    count: usize,
) -> Vec<u32> {
    let mut placed = Vec::with_capacity(count);
    let mut visits = None;
    while placed.len() < count {
        let walk = Walk {
            cluster,
            pools,
            pool_id: group.pool,
            pool: pools.pool(group.pool),
            service: group.service,
            req: group.req,
            failing: group.failing,
        };
        let visits = visits.get_or_insert_with(|| walk.visits());
        // A failing node is passed over in the walk (and dropped from its order for the rest
        // of the group), so the walk finds it only here.
        let Some((n, leaf)) = walk.pick(visits, ROOT).or_else(|| walk.last_resort()) else {
            break;
        };
        walk.record(visits, n, leaf);
        let old_total = cluster.total(n);
        cluster.charge(group.service, n, group.req);
        pools.bump(n, old_total);
        placed.push(n);
    }
    placed
}
