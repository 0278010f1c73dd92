//! berth-scheduler: pure task placement for swarm mode. `schedule` takes a snapshot of the
//! nodes and a batch of pending tasks and returns one decision per task: a node, or why none.
//! No I/O, no async, no clock, no randomness: the same input always gives the same output.
//!
//! Filters follow swarmkit's (`manager/scheduler/filter.go`): ready and active, constraints,
//! platform, resources, host ports, max replicas per node. The strategy is spread: fewest tasks
//! of the same service, then fewest tasks overall, then node id, below any spread preferences.
//! A node where the spec's tasks failed [`MAX_FAILURES`] times recently comes after every
//! other node that fits, fewest failures first; it still takes the task if no other node can.
//! Tasks of one service and spec version are placed together, in order of first appearance.

mod constraint;
mod error;
mod explain;
mod filter;
mod hash;
mod index;
mod model;
mod state;
mod strategy;

#[cfg(test)]
mod failing_tests;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

pub use constraint::{parse_constraints, Constraint, ConstraintKey, Operator};
pub use error::ScheduleError;
pub use explain::{Explanation, Rejection};
pub use model::{
    Availability, Decision, HostPort, Node, NodeState, Outcome, Platform, Preference, Protocol,
    Resources, Role, Snapshot, TaskRequest, MAX_FAILURES,
};
pub use strategy::ignored_preferences;

use filter::Requirements;
use hash::FastMap;
use index::Pools;
use state::Cluster;

/// Places a batch of tasks on the snapshot's nodes. Returns one decision per task, in the
/// order of `tasks`. Reservations and host ports are charged as tasks are placed, so the batch
/// never overcommits a node. A task with an invalid constraint or preference is `Invalid`; a
/// task no node can take is `Pending` with the count of nodes each filter rejected.
pub fn schedule(snapshot: &Snapshot, tasks: &[TaskRequest]) -> Vec<Decision> {
    let mut cluster = Cluster::new(snapshot, tasks.iter().map(|t| t.service_id.as_str()));
    let mut pools = Pools::new(cluster.len());
    let mut failures = Failures::default();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; tasks.len()];
    for members in group(tasks) {
        let first = &tasks[members[0]];
        let req = match Requirements::compile(first) {
            Ok(req) => req,
            Err(e) => {
                for &i in &members {
                    outcomes[i] = Some(Outcome::Invalid(e.clone()));
                }
                continue;
            }
        };
        let Some(service) = cluster.service(&first.service_id) else {
            continue;
        };
        let pool = pools.get_or_build(&mut cluster, &req);
        let key = failures.key(pool, &req);
        let placed = if key.as_ref().is_some_and(|k| failures.known.contains_key(k)) {
            Vec::new()
        } else {
            let failing = cluster.failing(service, first.spec_version);
            let group = strategy::Group {
                pool,
                service,
                req: &req,
                failing: &failing,
            };
            strategy::place_group(&mut cluster, &mut pools, &group, members.len())
        };
        failures.placements += placed.len();
        for (&i, &n) in members.iter().zip(&placed) {
            outcomes[i] = Some(Outcome::Assigned {
                node_id: cluster.node(n).id.clone(),
            });
        }
        if placed.len() < members.len() {
            let why = failures.explain(key, || cluster.explain(service, &req));
            for &i in &members[placed.len()..] {
                outcomes[i] = Some(Outcome::Pending(why.clone()));
            }
        }
    }
    tasks
        .iter()
        .zip(outcomes)
        .map(|(task, outcome)| Decision {
            task_id: task.id.clone(),
            // Every task is in exactly one group, so every outcome is set.
            outcome: outcome.unwrap_or_else(|| Outcome::Pending(Explanation::default())),
        })
        .collect()
}

/// A pool and a demand without a per-service limit: (pool, CPU, memory, generic, ports).
type FailureKey = (u32, u64, u64, Vec<(String, u64)>, Vec<HostPort>);

/// Demands that found no node in a pool. Filters only get stricter during a batch, so such a
/// demand fails there again without a walk, and its explanation holds until the next
/// placement. This keeps a backlog of pending services on a full cluster from costing a pass
/// over the nodes each. Max replicas depends on the service, so limited demands are not kept.
#[derive(Default)]
struct Failures {
    /// Failed demand → (placements when explained, explanation).
    known: FastMap<FailureKey, (usize, Explanation)>,
    /// Tasks placed so far in the batch.
    placements: usize,
}

impl Failures {
    /// The key for `req`'s demand on `pool`; `None` when the demand has a per-service limit.
    fn key(&self, pool: u32, req: &Requirements) -> Option<FailureKey> {
        let (cpu, memory) = (req.nano_cpus, req.memory_bytes);
        (req.max_replicas == 0).then(|| {
            (
                pool,
                cpu,
                memory,
                req.generic.clone(),
                req.host_ports.clone(),
            )
        })
    }

    /// The explanation for a failed demand: the kept one if nothing was placed since.
    fn explain(
        &mut self,
        key: Option<FailureKey>,
        fresh: impl FnOnce() -> Explanation,
    ) -> Explanation {
        let Some(key) = key else {
            return fresh();
        };
        if let Some((at, why)) = self.known.get(&key) {
            if *at == self.placements {
                return why.clone();
            }
        }
        let why = fresh();
        self.known.insert(key, (self.placements, why.clone()));
        why
    }
}

/// Splits the batch into groups of tasks with the same spec, in order of first appearance;
/// each group lists its tasks' positions in order.
fn group(tasks: &[TaskRequest]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_version: FastMap<(&str, u64), Vec<usize>> = FastMap::default();
    for (i, task) in tasks.iter().enumerate() {
        let candidates = by_version
            .entry((task.service_id.as_str(), task.spec_version))
            .or_default();
        match candidates
            .iter()
            .find(|&&g| tasks[groups[g][0]].has_same_spec(task))
        {
            Some(&g) => groups[g].push(i),
            None => {
                candidates.push(groups.len());
                groups.push(vec![i]);
            }
        }
    }
    groups
}
