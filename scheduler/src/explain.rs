//! Why nodes were rejected for a task: one reason per node (the first filter it failed), tallied
//! into the text `docker service ps` shows for a pending task. Deciding the reasons is
//! `filter`'s job; this file only names and counts them.

use std::collections::BTreeMap;
use std::fmt;

use crate::model::HostPort;

/// The reason one node could not take a task.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rejection {
    /// The node is down.
    Down,
    /// The node's availability is pause.
    Paused,
    /// The node's availability is drain.
    Drained,
    /// The node fails this constraint (as written, e.g. `node.labels.zone==b`).
    Constraint(String),
    /// The image supports none of the node's platform.
    UnsupportedPlatform,
    /// Too little unreserved CPU.
    InsufficientCpu,
    /// Too little unreserved memory.
    InsufficientMemory,
    /// Too little of this generic resource kind.
    InsufficientGeneric(String),
    /// The task reserves this generic resource kind by name, which no node gives.
    NamedGeneric(String),
    /// This host-mode port is already published on the node.
    HostPortInUse(HostPort),
    /// The node already runs this many tasks of the service (the service's limit).
    MaxReplicas(u64),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Down => f.write_str("down"),
            Rejection::Paused => f.write_str("paused"),
            Rejection::Drained => f.write_str("drained"),
            Rejection::Constraint(c) => write!(f, "constraint {c}"),
            Rejection::UnsupportedPlatform => f.write_str("unsupported platform"),
            Rejection::InsufficientCpu => f.write_str("insufficient CPU"),
            Rejection::InsufficientMemory => f.write_str("insufficient memory"),
            Rejection::InsufficientGeneric(kind) => {
                write!(f, "insufficient generic resource {kind}")
            }
            Rejection::NamedGeneric(kind) => write!(
                f,
                "generic resource {kind} reserved by name (a task reserves a count: {kind}=N)"
            ),
            Rejection::HostPortInUse(port) => write!(f, "host port {port} in use"),
            Rejection::MaxReplicas(max) => write!(f, "max replicas per node ({max}) reached"),
        }
    }
}

/// Why a task stays pending: how many nodes each reason rejected, most frequent first, ties
/// in the order of their text. Displays as `no suitable node (2 nodes: insufficient memory;
/// 1 node: drained)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explanation {
    entries: Vec<(usize, Rejection)>,
}

impl Explanation {
    /// Tallies one rejection per node.
    pub fn from_rejections(rejections: impl IntoIterator<Item = Rejection>) -> Self {
        let mut tally: BTreeMap<Rejection, usize> = BTreeMap::new();
        for r in rejections {
            *tally.entry(r).or_default() += 1;
        }
        let mut entries: Vec<(usize, Rejection)> = tally.into_iter().map(|(r, n)| (n, r)).collect();
        entries.sort_by_cached_key(|(n, r)| (std::cmp::Reverse(*n), r.to_string()));
        Explanation { entries }
    }

    /// The (node count, reason) pairs in display order.
    pub fn entries(&self) -> &[(usize, Rejection)] {
        &self.entries
    }

    /// How many nodes were rejected for `reason`.
    pub fn count(&self, reason: &Rejection) -> usize {
        self.entries
            .iter()
            .find(|(_, r)| r == reason)
            .map_or(0, |(n, _)| *n)
    }

    /// How many nodes were rejected in all.
    pub fn total(&self) -> usize {
        self.entries.iter().map(|(n, _)| n).sum()
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no suitable node")?;
        for (i, (n, reason)) in self.entries.iter().enumerate() {
            let open = if i == 0 { " (" } else { "; " };
            let plural = if *n == 1 { "" } else { "s" };
            write!(f, "{open}{n} node{plural}: {reason}")?;
        }
        if !self.entries.is_empty() {
            f.write_str(")")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explanation_orders_by_count_then_text() {
        let e = Explanation::from_rejections([
            Rejection::Drained,
            Rejection::InsufficientMemory,
            Rejection::Constraint("node.labels.zone==b".into()),
            Rejection::InsufficientMemory,
        ]);
        assert_eq!(
            e.to_string(),
            "no suitable node (2 nodes: insufficient memory; 1 node: constraint node.labels.zone==b; 1 node: drained)"
        );
        assert_eq!(e.count(&Rejection::InsufficientMemory), 2);
        assert_eq!(e.count(&Rejection::Paused), 0);
        assert_eq!(e.total(), 4);
    }

    #[test]
    fn every_rejection_reads_as_a_short_reason() {
        let cases = [
            (Rejection::Down, "down"),
            (Rejection::Paused, "paused"),
            (Rejection::Drained, "drained"),
            (
                Rejection::Constraint("node.role!=manager".into()),
                "constraint node.role!=manager",
            ),
            (Rejection::UnsupportedPlatform, "unsupported platform"),
            (Rejection::InsufficientCpu, "insufficient CPU"),
            (Rejection::InsufficientMemory, "insufficient memory"),
            (
                Rejection::InsufficientGeneric("gpu".into()),
                "insufficient generic resource gpu",
            ),
            (
                Rejection::NamedGeneric("gpu".into()),
                "generic resource gpu reserved by name (a task reserves a count: gpu=N)",
            ),
            (
                Rejection::HostPortInUse(HostPort::tcp(80)),
                "host port 80/tcp in use",
            ),
            (
                Rejection::MaxReplicas(2),
                "max replicas per node (2) reached",
            ),
        ];
        for (r, want) in cases {
            assert_eq!(r.to_string(), want);
        }
    }

    #[test]
    fn an_empty_cluster_explains_with_the_bare_phrase() {
        assert_eq!(
            Explanation::from_rejections([]).to_string(),
            "no suitable node"
        );
    }
}
