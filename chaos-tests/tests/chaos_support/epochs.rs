//! Soak epochs and the figures summed over them: a soak repeats epochs (fault rounds for
//! `CHAOS_EPOCH_SECS`, the family's closing faults, a timed convergence, the history check,
//! the epoch's services removed) until `CHAOS_SOAK_SECS` is used up, so each family gets one
//! convergence figure per epoch; CI's short mode runs exactly one epoch of a few rounds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use berth_chaos_tests::history::{self, FinalState};
use berth_chaos_tests::swarm;
use berth_chaos_tests::Cluster;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::{containers_on, converge, env_secs, sockets, violations, with_client, Live, Workload};
use crate::swarm_support::{LONG, MANAGERS};

/// `CHAOS_SOAK_SECS`: run epochs this long instead of CI's single short one.
pub fn soak() -> Option<Duration> {
    env_secs("CHAOS_SOAK_SECS")
}

/// `CHAOS_EPOCH_SECS`: how long an epoch's fault rounds run in soak mode (150 s unless set).
pub fn epoch_len() -> Duration {
    env_secs("CHAOS_EPOCH_SECS").unwrap_or(Duration::from_secs(150))
}

/// One epoch of a scenario.
#[derive(Debug)]
pub struct Epoch {
    /// 0, 1, ...
    pub n: usize,
    /// When its fault rounds stop (`None`: short mode, a fixed number of rounds).
    deadline: Option<Instant>,
}

impl Epoch {
    /// The name prefix of this epoch's services, `<family>-e<n>-`: the history checker takes
    /// a service no acknowledged write touched as absent, so each epoch's workload needs names
    /// no earlier epoch used.
    pub fn prefix(&self, family: &str) -> String {
        format!("{family}-e{}-", self.n)
    }

    /// Whether fault round `round` (0-based) runs: `round < short` in short mode; in soak mode
    /// the first always, the others until the epoch's time is up.
    pub fn another_round(&self, round: usize, short: usize) -> bool {
        match self.deadline {
            None => round < short,
            Some(d) => round == 0 || Instant::now() < d,
        }
    }
}

/// Runs `epoch` once in short mode; in soak mode again and again while `CHAOS_SOAK_SECS`
/// lasts, each epoch's rounds cut to what is left of it.
pub fn epochs(mut epoch: impl FnMut(&Epoch)) {
    let Some(limit) = soak() else {
        epoch(&Epoch {
            n: 0,
            deadline: None,
        });
        return;
    };
    let end = Instant::now() + limit;
    let mut n = 0;
    while n == 0 || Instant::now() < end {
        let deadline = (Instant::now() + epoch_len()).min(end);
        eprintln!(
            "epoch {n}: fault rounds for {:?}",
            deadline - Instant::now()
        );
        epoch(&Epoch {
            n,
            deadline: Some(deadline),
        });
        n += 1;
    }
}

/// p50 and p99 of `times` by nearest rank (the smallest value with at least p% of them at or
/// below it: p99 of fewer than 100 is the largest), as "p50 1.2s p99 3.4s (n=5)".
pub fn percentiles(times: &[Duration]) -> String {
    let mut c = times.to_vec();
    c.sort();
    let pct = |p: usize| {
        c.get((c.len() * p).div_ceil(100).saturating_sub(1))
            .map_or("-".to_string(), |d| match d.as_secs_f64() {
                // Engine restarts settle in milliseconds: one decimal would show 0.0s.
                s if s < 1.0 => format!("{s:.3}s"),
                s => format!("{s:.1}s"),
            })
    };
    format!("p50 {} p99 {} (n={})", pct(50), pct(99), c.len())
}

/// What a scenario prints at its end, summed over its epochs.
#[derive(Debug, Default)]
pub struct Figures {
    pub faults: usize,
    /// Operations acknowledged, failed, of unknown outcome.
    pub ops: (usize, usize, usize),
    /// History violations.
    pub lost: usize,
    /// Time to converge after each epoch's last fault.
    pub converge: Vec<Duration>,
    /// A family's own per-fault convergence figure: what it measures, and the times.
    pub per_fault: Option<(&'static str, Vec<Duration>)>,
}

impl Figures {
    /// Adds an epoch's history counts, its violations and its convergence time.
    pub fn add_epoch(&mut self, e: &EpochEnd) {
        let (acked, failed, unknown) = e.history.counts();
        self.ops.0 += acked;
        self.ops.1 += failed;
        self.ops.2 += unknown;
        self.lost += e.lost;
        self.converge.push(e.converge);
    }

    /// Records one per-fault convergence time, measured as `what` says.
    pub fn add_fault_convergence(&mut self, what: &'static str, t: Duration) {
        self.per_fault.get_or_insert((what, Vec::new())).1.push(t);
    }

    /// Prints the `FIGURES` line of `scenario`.
    pub fn print(&self, scenario: &str) {
        let (acked, failed, unknown) = self.ops;
        let per_fault = self.per_fault.as_ref().map_or(String::new(), |(what, t)| {
            format!(" | {what} {}", percentiles(t))
        });
        eprintln!(
            "FIGURES {scenario}: faults {} | ops acked {acked}, failed {failed}, unknown {unknown} | \
             lost {} | converge after last fault {}{per_fault}",
            self.faults,
            self.lost,
            percentiles(&self.converge),
        );
    }
}

/// Removes every service named `prefix*` through the leader among `managers` and waits until
/// they are gone and no container of theirs runs on `nodes` (not timed: clean-up between
/// epochs, so containers do not pile up).
pub fn remove_services(c: &Cluster, managers: &[usize], nodes: &[usize], prefix: &str) {
    let mut left = Vec::new();
    let gone = swarm::poll(LONG, Duration::from_millis(500), || {
        let Some(l) = swarm::leader(c, managers) else {
            return false;
        };
        let Ok(services) = c.node(l).list("/services") else {
            return false;
        };
        left = services
            .iter()
            .filter_map(|s| s["Spec"]["Name"].as_str())
            .filter(|n| n.starts_with(prefix))
            .map(str::to_string)
            .collect();
        for name in &left {
            let _ = c
                .node(l)
                .request("DELETE", &format!("/services/{name}"), b"");
        }
        left.is_empty()
    });
    assert!(gone, "services {left:?} not removed");
    let mut running = Vec::new();
    let stopped = swarm::poll(LONG, Duration::from_millis(500), || {
        let Some(on) = nodes
            .iter()
            .map(|i| containers_on(c, *i))
            .collect::<Option<Vec<_>>>()
        else {
            return false;
        };
        running = on
            .into_iter()
            .flat_map(BTreeMap::into_keys)
            .filter(|n| n.starts_with(prefix))
            .collect();
        running.is_empty()
    });
    assert!(stopped, "containers of {running:?} still run");
}

/// What an epoch of a swarm family ended with.
#[derive(Debug)]
pub struct EpochEnd {
    /// The services once converged.
    pub end: FinalState,
    pub history: history::History,
    /// Violations the history check found (each printed).
    pub lost: usize,
    /// When the epoch's last fault ended.
    pub last_fault: Instant,
    /// From then to convergence.
    pub converge: Duration,
}

/// One epoch of a swarm family on managers `MANAGERS`: a client writes services
/// `<family>-e<n>-0..services` (its choices seeded by `seed`) while `faults` runs (it returns when its
/// last fault ended); then convergence on `nodes`, timed from that moment, the history
/// check, and the epoch's services removed.
pub fn swarm_epoch(
    c: &mut Cluster,
    epoch: &Epoch,
    family: &str,
    services: usize,
    nodes: &[usize],
    seed: u64,
    faults: impl FnOnce(&mut Cluster, &Live) -> Instant,
) -> EpochEnd {
    let prefix = epoch.prefix(family);
    let sockets = sockets(c);
    let workload = Workload::new(StdRng::seed_from_u64(seed), &prefix, services);
    let (last_fault, history) =
        with_client(&sockets, &MANAGERS, workload, Instant::now(), |live| {
            faults(c, live)
        });
    let (end, _) = converge(c, &MANAGERS, nodes);
    let took = last_fault.elapsed();
    let lost = violations(&history, &end);
    eprintln!(
        "{family} epoch {}: converged {took:?} after the last fault, {lost} violations",
        epoch.n
    );
    remove_services(c, &MANAGERS, nodes, &prefix);
    EpochEnd {
        end,
        history,
        lost,
        last_fault,
        converge: took,
    }
}
