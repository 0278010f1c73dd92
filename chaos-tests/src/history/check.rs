//! The checks of a history against the final state: no acknowledged write lost (and nothing
//! there that no write explains), no version read going backwards, no service running more
//! than replicas + update parallelism for longer than a bound. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{FinalState, History, Op, Outcome, Want};

/// How long a service may run more tasks than replicas + parallelism (a scale-down's or a
/// replaced task's containers take a while to stop).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub over_replication: Duration,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Service `service` ended as `found` (`None`: absent) where the history allows only
    /// `allowed`: an acknowledged write was lost, or a refused one applied.
    Mismatch {
        service: String,
        found: Option<Want>,
        allowed: Vec<Option<Want>>,
        /// The last acknowledged operation on it, as (start, answer).
        last_acked: Option<(Duration, String)>,
    },
    /// The client read version `then` of service `id` after it had read `seen`.
    VersionBack {
        id: String,
        seen: u64,
        then: u64,
        at: Duration,
        node: usize,
    },
    /// Service `service` ran up to `running` tasks (more than `limit`) from `from` to `to`.
    OverReplicated {
        service: String,
        running: usize,
        limit: u64,
        from: Duration,
        to: Duration,
    },
}

/// Every violation of `history` against the services at the end (`final_state`).
pub fn check(history: &History, final_state: &FinalState, bounds: Bounds) -> Vec<Violation> {
    let mut found = lost_writes(&history.ops, final_state);
    found.extend(versions_back(history));
    found.extend(over_replicated(history, bounds));
    found
}

/// The states service `ops` (in order) allow at the end: the last acknowledged one's result
/// (absent before any), or that of any operation of unknown outcome after it.
fn allowed(ops: &[&Op]) -> (BTreeSet<Option<Want>>, Option<(Duration, String)>) {
    let last = ops.iter().rposition(|o| o.outcome == Outcome::Acked);
    let mut set = BTreeSet::new();
    let (base, after) = match last {
        Some(k) => (ops[k].kind.after(), k + 1),
        None => (None, 0),
    };
    set.insert(base);
    for op in &ops[after..] {
        if op.outcome == Outcome::Unknown {
            set.insert(op.kind.after());
        }
    }
    let last_acked = last.map(|k| (ops[k].start, ops[k].answer.clone()));
    (set, last_acked)
}

fn lost_writes(ops: &[Op], final_state: &FinalState) -> Vec<Violation> {
    let mut by_service: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        by_service.entry(&op.service).or_default().push(op);
    }
    let mut out = Vec::new();
    for (service, mut ops) in by_service {
        ops.sort_by_key(|o| o.start);
        let (set, last_acked) = allowed(&ops);
        let found = final_state.get(service).cloned();
        if !set.contains(&found) {
            out.push(Violation::Mismatch {
                service: service.to_string(),
                found,
                allowed: set.into_iter().collect(),
                last_acked,
            });
        }
    }
    out
}

fn versions_back(history: &History) -> Vec<Violation> {
    let mut reads: Vec<_> = history.reads.iter().collect();
    reads.sort_by_key(|r| r.at);
    let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for r in reads {
        let max = seen.entry(&r.id).or_insert(r.version);
        if r.version < *max {
            out.push(Violation::VersionBack {
                id: r.id.clone(),
                seen: *max,
                then: r.version,
                at: r.at,
                node: r.node,
            });
        }
        *max = (*max).max(r.version);
    }
    out
}

fn over_replicated(history: &History, bounds: Bounds) -> Vec<Violation> {
    let mut by_service: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for s in &history.samples {
        by_service.entry(&s.service).or_default().push(s);
    }
    let mut out = Vec::new();
    for (service, mut samples) in by_service {
        samples.sort_by_key(|s| s.at);
        // An episode: consecutive samples over the limit, until the first one within it.
        let mut episode: Option<(Duration, usize, u64)> = None;
        let mut close = |from: Duration, to: Duration, running: usize, limit: u64| {
            if to.saturating_sub(from) > bounds.over_replication {
                out.push(Violation::OverReplicated {
                    service: service.to_string(),
                    running,
                    limit,
                    from,
                    to,
                });
            }
        };
        let mut last = Duration::ZERO;
        for s in samples {
            last = s.at;
            let limit = s.replicas + s.parallelism;
            let over = u64::try_from(s.running).unwrap_or(u64::MAX) > limit;
            episode = match (episode, over) {
                (None, true) => Some((s.at, s.running, limit)),
                (Some((from, most, l)), true) => Some((from, most.max(s.running), l.max(limit))),
                (Some((from, most, l)), false) => {
                    close(from, s.at, most, l);
                    None
                }
                (None, false) => None,
            };
        }
        if let Some((from, most, l)) = episode {
            close(from, last, most, l);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{OpKind, Read, Sample};
    use super::*;

    fn want(replicas: u64, tag: &str) -> Want {
        Want {
            replicas,
            tag: tag.into(),
        }
    }

    fn op(service: &str, at: u64, kind: OpKind, outcome: Outcome) -> Op {
        Op {
            service: service.into(),
            kind,
            start: Duration::from_secs(at),
            end: Duration::from_secs(at) + Duration::from_millis(500),
            outcome,
            answer: String::new(),
        }
    }

    const BOUNDS: Bounds = Bounds {
        over_replication: Duration::from_secs(10),
    };

    fn state(items: &[(&str, Want)]) -> FinalState {
        items
            .iter()
            .map(|(n, w)| (n.to_string(), w.clone()))
            .collect()
    }

    fn history(ops: Vec<Op>) -> History {
        History {
            ops,
            ..History::default()
        }
    }

    #[test]
    fn a_kept_history_passes() {
        let h = history(vec![
            op("a", 1, OpKind::Create(want(1, "x")), Outcome::Acked),
            op("a", 2, OpKind::Update(want(3, "x")), Outcome::Acked),
            op("a", 3, OpKind::Update(want(5, "y")), Outcome::Failed),
            op("b", 4, OpKind::Create(want(2, "z")), Outcome::Acked),
            op("b", 5, OpKind::Remove, Outcome::Acked),
            op("c", 6, OpKind::Create(want(1, "q")), Outcome::Failed),
        ]);
        assert_eq!(check(&h, &state(&[("a", want(3, "x"))]), BOUNDS), vec![]);
    }

    #[test]
    fn a_lost_update_is_caught() {
        let h = history(vec![
            op("a", 1, OpKind::Create(want(1, "x")), Outcome::Acked),
            op("a", 2, OpKind::Update(want(3, "y")), Outcome::Acked),
        ]);
        let v = check(&h, &state(&[("a", want(1, "x"))]), BOUNDS);
        assert!(
            matches!(&v[..], [Violation::Mismatch { service, found: Some(w), .. }]
                if service == "a" && *w == want(1, "x")),
            "{v:?}"
        );
    }

    #[test]
    fn a_lost_create_a_resurrected_remove_and_an_applied_refusal_are_caught() {
        let h = history(vec![
            op("a", 1, OpKind::Create(want(1, "x")), Outcome::Acked),
            op("b", 2, OpKind::Create(want(1, "x")), Outcome::Acked),
            op("b", 3, OpKind::Remove, Outcome::Acked),
            op("c", 4, OpKind::Create(want(1, "x")), Outcome::Failed),
        ]);
        let end = state(&[("b", want(1, "x")), ("c", want(1, "x"))]);
        let v = check(&h, &end, BOUNDS);
        let names: Vec<&str> = v
            .iter()
            .filter_map(|v| match v {
                Violation::Mismatch { service, .. } => Some(service.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["a", "b", "c"], "{v:?}");
    }

    #[test]
    fn an_unknown_write_after_the_last_ack_may_or_may_not_apply() {
        let h = history(vec![
            op("a", 1, OpKind::Create(want(1, "x")), Outcome::Acked),
            op("a", 2, OpKind::Update(want(4, "y")), Outcome::Unknown),
            op("b", 3, OpKind::Create(want(1, "x")), Outcome::Unknown),
            op("c", 4, OpKind::Create(want(1, "x")), Outcome::Unknown),
        ]);
        let applied = state(&[("a", want(4, "y")), ("b", want(1, "x"))]);
        assert_eq!(check(&h, &applied, BOUNDS), vec![]);
        let not_applied = state(&[("a", want(1, "x"))]);
        assert_eq!(check(&h, &not_applied, BOUNDS), vec![]);
        // But never something nobody wrote.
        let v = check(&h, &state(&[("a", want(2, "x"))]), BOUNDS);
        assert_eq!(v.len(), 1, "{v:?}");
    }

    #[test]
    fn an_unknown_write_before_an_ack_no_longer_counts() {
        let h = history(vec![
            op("a", 1, OpKind::Create(want(1, "x")), Outcome::Acked),
            op("a", 2, OpKind::Update(want(4, "y")), Outcome::Unknown),
            op("a", 3, OpKind::Update(want(2, "z")), Outcome::Acked),
        ]);
        let v = check(&h, &state(&[("a", want(4, "y"))]), BOUNDS);
        assert_eq!(v.len(), 1, "{v:?}");
    }

    fn read(id: &str, version: u64, at: u64) -> Read {
        Read {
            id: id.into(),
            version,
            at: Duration::from_secs(at),
            node: 0,
        }
    }

    #[test]
    fn a_version_going_back_is_caught_per_service() {
        let h = History {
            reads: vec![
                read("s1", 10, 1),
                read("s2", 3, 2),
                read("s1", 12, 3),
                read("s1", 12, 4),
                read("s1", 11, 5),
            ],
            ..History::default()
        };
        let v = check(&h, &FinalState::new(), BOUNDS);
        assert_eq!(
            v,
            vec![Violation::VersionBack {
                id: "s1".into(),
                seen: 12,
                then: 11,
                at: Duration::from_secs(5),
                node: 0,
            }]
        );
    }

    fn sample(at: u64, running: usize, replicas: u64) -> Sample {
        Sample {
            service: "a".into(),
            at: Duration::from_secs(at),
            running,
            replicas,
            parallelism: 1,
        }
    }

    #[test]
    fn over_replication_counts_only_beyond_the_bound() {
        // Over the limit (3 + 1) for 8 s, then for 12 s and never back.
        let samples = vec![
            sample(0, 3, 3),
            sample(1, 6, 3),
            sample(5, 5, 3),
            sample(9, 4, 3),
            sample(20, 6, 3),
            sample(32, 6, 3),
        ];
        let h = History {
            samples,
            ..History::default()
        };
        let v = check(&h, &FinalState::new(), BOUNDS);
        assert_eq!(
            v,
            vec![Violation::OverReplicated {
                service: "a".into(),
                running: 6,
                limit: 4,
                from: Duration::from_secs(20),
                to: Duration::from_secs(32),
            }]
        );
    }
}
