//! When a member snapshots its state and how much log it keeps behind the snapshot. openraft
//! fixes both at start; swarmkit changes them while it runs (`Raft.SnapshotInterval` and
//! `Raft.LogEntriesForSlowFollowers` of the swarm spec), so berth leaves openraft's own policy
//! off and a task of each member asks for snapshots and purges, reading the current policy
//! from the replicated state every second.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::state::ClusterState;
use crate::store::StateMachineStore;
use crate::types::Raft;

/// A compaction policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Snapshot once this many entries were applied since the last snapshot.
    pub snapshot_after_entries: u64,
    /// Entries kept in the log behind a snapshot, so a briefly lagging follower needs none.
    pub keep_entries_after_snapshot: u64,
}

/// Reads the policy from the applied state; `None` keeps the member's configured one.
pub type PolicyReader = Arc<dyn Fn(&ClusterState) -> Option<Compaction> + Send + Sync>;

/// The reader a member follows, settable while it runs.
#[derive(Clone, Default)]
pub(crate) struct PolicySlot(Arc<RwLock<Option<PolicyReader>>>);

impl PolicySlot {
    pub(crate) fn set(&self, reader: PolicyReader) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some(reader);
    }

    fn current(&self, sm: &StateMachineStore, configured: Compaction) -> Compaction {
        let reader = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        reader
            .and_then(|read| read(&sm.read()))
            .unwrap_or(configured)
    }
}

/// What to do at one look: the snapshot to ask for, the index to purge up to.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) snapshot: bool,
    pub(crate) purge_upto: Option<u64>,
}

/// The decision at one look, from the applied and snapshot indexes, what was asked before
/// (the applied index at the last snapshot request, the last purge) and the policy.
pub(crate) fn decide(
    applied: u64,
    snapshot: Option<u64>,
    requested_at: Option<u64>,
    purged_upto: u64,
    policy: Compaction,
) -> Step {
    let every = policy.snapshot_after_entries.max(1);
    let since = applied.saturating_sub(snapshot.unwrap_or(0));
    // Asked again only after another interval's entries: a build in progress or one that
    // failed is not asked for at every look.
    let asked_recently = requested_at.is_some_and(|at| applied.saturating_sub(at) < every);
    let purge_upto = snapshot
        .map(|s| s.saturating_sub(policy.keep_entries_after_snapshot))
        .filter(|&upto| upto > purged_upto);
    Step {
        snapshot: since >= every && !asked_recently,
        purge_upto,
    }
}

/// Follows the policy until openraft stops.
pub(crate) async fn run(
    raft: Raft,
    sm: StateMachineStore,
    slot: PolicySlot,
    configured: Compaction,
) {
    let mut requested_at = None;
    let mut purged_upto = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (applied, snapshot) = {
            let m = raft.metrics();
            let m = m.borrow();
            (
                m.last_applied.map_or(0, |l| l.index),
                m.snapshot.map(|l| l.index),
            )
        };
        let policy = slot.current(&sm, configured);
        let step = decide(applied, snapshot, requested_at, purged_upto, policy);
        if step.snapshot {
            if raft.trigger().snapshot().await.is_err() {
                return;
            }
            requested_at = Some(applied);
        }
        if let Some(upto) = step.purge_upto {
            if raft.trigger().purge_log(upto).await.is_err() {
                return;
            }
            purged_upto = upto;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Compaction = Compaction {
        snapshot_after_entries: 100,
        keep_entries_after_snapshot: 10,
    };

    #[test]
    fn a_snapshot_is_asked_for_each_interval_and_the_log_purged_behind_it() {
        assert_eq!(decide(99, None, None, 0, P), Step::default());
        assert!(decide(100, None, None, 0, P).snapshot);
        // Asked at 100 and not built yet: not asked again before another interval.
        assert!(!decide(150, None, Some(100), 0, P).snapshot);
        assert!(decide(200, None, Some(100), 0, P).snapshot);
        // Built at 100: purged up to 90, once.
        let s = decide(120, Some(100), Some(100), 0, P);
        assert_eq!(
            s,
            Step {
                snapshot: false,
                purge_upto: Some(90)
            }
        );
        assert_eq!(decide(120, Some(100), Some(100), 90, P).purge_upto, None);
        assert!(decide(200, Some(100), Some(100), 90, P).snapshot);
    }

    #[test]
    fn a_changed_policy_applies_at_the_next_look() {
        let small = Compaction {
            snapshot_after_entries: 20,
            keep_entries_after_snapshot: 0,
        };
        assert!(!decide(50, Some(40), None, 0, P).snapshot);
        assert!(!decide(50, Some(40), None, 40, small).snapshot);
        assert!(decide(60, Some(40), None, 40, small).snapshot);
        assert_eq!(decide(60, Some(60), None, 40, small).purge_upto, Some(60));
    }
}
