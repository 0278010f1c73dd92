//! `Faults`: a test hook that drops RPCs between chosen nodes, so partitions are simulated on
//! real sockets. Every node of an in-process cluster shares one `Faults`; the calling side
//! checks it, so both directions of a cut link fail. Production nodes have none.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

use crate::types::NodeId;

/// Which links are cut.
#[derive(Debug, Default)]
pub struct Faults {
    isolated: Mutex<BTreeSet<NodeId>>,
    cut: Mutex<BTreeSet<(NodeId, NodeId)>>,
}

fn pair(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    (a.min(b), a.max(b))
}

impl Faults {
    /// Cuts `id` off from every other node.
    pub fn isolate(&self, id: NodeId) {
        self.isolated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id);
    }

    /// Cuts every link between a node of `a` and a node of `b`.
    pub fn partition(&self, a: &[NodeId], b: &[NodeId]) {
        let mut cut = self.cut.lock().unwrap_or_else(PoisonError::into_inner);
        for &x in a {
            for &y in b {
                cut.insert(pair(x, y));
            }
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.isolated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.cut
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Whether an RPC from `from` to `to` is dropped.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        let isolated = self.isolated.lock().unwrap_or_else(PoisonError::into_inner);
        if isolated.contains(&from) || isolated.contains(&to) {
            return true;
        }
        drop(isolated);
        self.cut
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&pair(from, to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_cuts_both_directions_and_heal_restores_them() {
        let f = Faults::default();
        f.partition(&[1], &[2, 3]);
        assert!(f.is_cut(1, 2) && f.is_cut(3, 1));
        assert!(!f.is_cut(2, 3));
        f.isolate(2);
        assert!(f.is_cut(3, 2));
        f.heal();
        assert!(!f.is_cut(1, 2) && !f.is_cut(2, 3));
    }
}
