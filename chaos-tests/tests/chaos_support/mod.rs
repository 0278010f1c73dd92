//! What the chaos scenarios share: the seed (printed; `CHAOS_SEED` replays it), short or
//! soak mode in epochs (`epochs.rs`), a random workload of service writes through the recording
//! client, a sampler of running tasks, convergence after the last fault (timed: a figure,
//! never an assertion), the history check and the figures each scenario prints.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers panic on failure by design"
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_chaos_tests::history::{self, Bounds, FinalState, Outcome, Recorder, Sample, Want};
use berth_chaos_tests::swarm::{self, urlencode};
use berth_chaos_tests::{client, Cluster, NodeOptions, PREFIX_HEAD};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::swarm_support::{self, HEARTBEAT};

mod epochs;
pub use epochs::*;

/// How long a client request may take before its outcome counts as unknown.
pub const OP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long convergence after the last fault may take before the scenario fails
/// (`CHAOS_CONVERGE_SECS` changes it, e.g. to see a stuck run's state sooner).
pub fn converge_limit() -> Duration {
    env_secs("CHAOS_CONVERGE_SECS").unwrap_or(Duration::from_secs(240))
}

/// A duration in whole seconds from the environment variable `name`, when set and a number.
pub fn env_secs(name: &str) -> Option<Duration> {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
}
/// How long a service may run more than replicas + parallelism tasks (stopping a container
/// and reporting it takes a few heartbeats; a busy 2-core machine more).
pub const BOUNDS: Bounds = Bounds {
    over_replication: Duration::from_secs(45),
};

/// The run's seed: `CHAOS_SEED` or a fresh one, printed either way.
pub fn seeded(scenario: &str) -> StdRng {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("{scenario}: seed {seed} (CHAOS_SEED={seed} replays it)");
    StdRng::seed_from_u64(seed)
}

/// A swarm of `n` nodes, managers 0..`managers` (at most 3), the busybox image on every
/// node, every node ready. `options` for every node.
pub fn swarm_with(n: usize, managers: usize, options: NodeOptions) -> Cluster {
    if let Err(e) = Cluster::sweep_leftovers(PREFIX_HEAD) {
        eprintln!("sweep: {e}");
    }
    let c = Cluster::builder(n)
        .default_options(options)
        .start()
        .unwrap();
    join_swarm(c, n, managers)
}

/// Makes `c` (`n` started nodes) a swarm as `swarm_with` does.
pub fn join_swarm(c: Cluster, n: usize, managers: usize) -> Cluster {
    swarm::import_busybox(&c).unwrap();
    c.node(0).swarm_init(Some(HEARTBEAT)).unwrap();
    let tokens = c.node(0).join_tokens().unwrap();
    for i in 1..n {
        let token = if i < managers {
            &tokens.manager
        } else {
            &tokens.worker
        };
        let r = c.node(i).swarm_join(c.node(0), token).unwrap();
        assert_eq!(r.status, 200, "node {i} join: {}", r.text());
    }
    let ready = swarm_support::wait(|| {
        let ns = c.node(0).swarm_nodes().unwrap_or_default();
        ns.len() == n && ns.iter().all(|n| n["Status"]["State"] == "ready")
    });
    assert!(ready, "nodes: {:#?}", c.node(0).swarm_nodes());
    c
}

/// Every node's API socket, by index.
pub fn sockets(c: &Cluster) -> Vec<PathBuf> {
    c.nodes().iter().map(|n| n.socket_path()).collect()
}

/// A random mix of creates, scales, tag updates and removes over a few service names.
pub struct Workload {
    rng: StdRng,
    names: Vec<String>,
    next_tag: u64,
}

impl Workload {
    /// Services `<prefix>0` .. `<prefix><services - 1>`; at most 2 replicas each (2 shared
    /// cores).
    pub fn new(rng: StdRng, prefix: &str, services: usize) -> Self {
        Workload {
            rng,
            names: (0..services).map(|i| format!("{prefix}{i}")).collect(),
            next_tag: 0,
        }
    }

    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// One operation through node `node` (picked by the caller among the live ones).
    pub fn step(&mut self, rec: &mut Recorder, node: usize) -> Option<Outcome> {
        let name = self.names[self.rng.random_range(0..self.names.len())].clone();
        self.next_tag += 1;
        let want = Want {
            replicas: self.rng.random_range(0..=2),
            tag: format!("t{}", self.next_tag),
        };
        match self.rng.random_range(0..10) {
            0..=2 => Some(rec.create(node, &name, &want)),
            3..=7 => rec.update(node, &name, &want),
            _ => Some(rec.remove(node, &name)),
        }
    }
}

/// Samples running tasks through the managers in `managers` (the first that answers)
/// every 500 ms until `stop`.
pub fn sample_until(
    sockets: &[PathBuf],
    managers: &[usize],
    t0: Instant,
    stop: &AtomicBool,
) -> Vec<Sample> {
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let at = t0.elapsed();
        let got = managers
            .iter()
            .find_map(|m| history::sample(&sockets[*m], at, Duration::from_secs(5)));
        out.extend(got.unwrap_or_default());
        std::thread::sleep(Duration::from_millis(500));
    }
    out
}

/// The running containers of each swarm service on node `i` (by service name).
pub fn containers_on(c: &Cluster, i: usize) -> Option<BTreeMap<String, usize>> {
    let filters = urlencode(&json!({ "label": ["com.docker.swarm.service.name"] }).to_string());
    let path = format!("/containers/json?filters={filters}");
    let r = client::request(
        &c.node(i).socket_path(),
        "GET",
        &path,
        b"",
        Duration::from_secs(10),
    )
    .ok()?;
    let mut out = BTreeMap::new();
    if let Value::Array(list) = r.try_json().ok()? {
        for ctr in list {
            if let Some(name) = ctr["Labels"]["com.docker.swarm.service.name"].as_str() {
                *out.entry(name.to_string()).or_insert(0) += 1;
            }
        }
    }
    Some(out)
}

/// The state every manager in `managers` agrees on, once exactly one of them leads and
/// every service runs exactly its replicas, as tasks and as containers on `nodes`.
pub fn converged(c: &Cluster, managers: &[usize], nodes: &[usize]) -> Option<FinalState> {
    let leaders = managers
        .iter()
        .filter(|i| c.node(**i).reports_leader())
        .count();
    if leaders != 1 {
        return None;
    }
    let mut states = managers
        .iter()
        .map(|m| history::final_state(&c.node(*m).socket_path(), Duration::from_secs(10)));
    let first = states.next()??;
    if !states.all(|s| s.as_ref() == Some(&first)) {
        return None;
    }
    let samples = history::sample(
        &c.node(managers[0]).socket_path(),
        Duration::ZERO,
        OP_TIMEOUT,
    )?;
    if samples
        .iter()
        .any(|s| u64::try_from(s.running).ok() != Some(s.replicas))
    {
        return None;
    }
    let mut containers: BTreeMap<String, usize> = BTreeMap::new();
    for i in nodes {
        for (name, n) in containers_on(c, *i)? {
            *containers.entry(name).or_insert(0) += n;
        }
    }
    let want: BTreeMap<String, usize> = first
        .iter()
        .filter(|(_, w)| w.replicas > 0)
        .map(|(n, w)| (n.clone(), usize::try_from(w.replicas).unwrap_or(0)))
        .collect();
    (containers == want).then_some(first)
}

/// Waits for `converged`; returns the final state and how long it took, or panics saying
/// what the managers and nodes showed.
pub fn converge(c: &Cluster, managers: &[usize], nodes: &[usize]) -> (FinalState, Duration) {
    let t = Instant::now();
    let mut state = None;
    let ok = swarm::poll(converge_limit(), Duration::from_millis(500), || {
        state = converged(c, managers, nodes);
        state.is_some()
    });
    if !ok {
        let states: Vec<_> = managers
            .iter()
            .map(|m| history::final_state(&c.node(*m).socket_path(), OP_TIMEOUT))
            .collect();
        let samples = history::sample(
            &c.node(managers[0]).socket_path(),
            Duration::ZERO,
            OP_TIMEOUT,
        );
        let containers: Vec<_> = nodes.iter().map(|i| containers_on(c, *i)).collect();
        let leader = swarm::leader(c, managers).unwrap_or(managers[0]);
        let tasks: Vec<String> = match c.node(leader).list("/tasks") {
            Ok(all) => all.iter().rev().take(30).map(swarm::task_line).collect(),
            Err(e) => vec![format!("GET /tasks on node {leader}: {e}")],
        };
        panic!(
            "no convergence within {:?}: leaders {:?}\nstates {states:#?}\n\
             samples {samples:#?}\ncontainers {containers:?}\ntasks {tasks:#?}",
            converge_limit(),
            managers
                .iter()
                .map(|i| c.node(*i).reports_leader())
                .collect::<Vec<_>>()
        );
    }
    (state.unwrap_or_default(), t.elapsed())
}

/// Checks `h` against `end`; prints every violation and returns how many there were.
pub fn violations(h: &history::History, end: &FinalState) -> usize {
    let v = history::check(h, end, BOUNDS);
    for x in &v {
        eprintln!("VIOLATION {x:?}");
    }
    v.len()
}

/// Whether the cluster's namespaces hold no fault table and no tbf qdisc.
pub fn no_fault_objects(c: &Cluster) -> bool {
    let head = format!("{}_f", c.prefix());
    c.nodes().iter().all(|n| {
        let tables = n.exec_in_netns(&["nft", "list", "tables"]).unwrap();
        let qdisc = n.exec_in_netns(&["tc", "qdisc", "show"]).unwrap();
        !String::from_utf8_lossy(&tables.stdout).contains(&head)
            && !String::from_utf8_lossy(&qdisc.stdout).contains("tbf")
    })
}

/// What the fault side tells the client side while a scenario runs.
#[derive(Debug)]
pub struct Live {
    /// The nodes the client may send to (the killed ones are left out).
    pub alive: Mutex<Vec<usize>>,
    /// What the history's times count from.
    pub t0: Instant,
    stop: AtomicBool,
}

impl Live {
    pub fn set_alive(&self, nodes: &[usize]) {
        *self.alive.lock().unwrap() = nodes.to_vec();
    }

    pub fn without(&self, node: usize) {
        self.alive.lock().unwrap().retain(|n| *n != node);
    }

    pub fn with(&self, node: usize) {
        let mut a = self.alive.lock().unwrap();
        if !a.contains(&node) {
            a.push(node);
        }
    }
}

/// Runs `faults` while one client thread keeps writing (`workload`, every 100 ms, through a
/// random node of `Live::alive`, initially `managers`) and another samples running tasks;
/// returns what `faults` returned and the history, samples included.
pub fn with_client<R>(
    sockets: &[PathBuf],
    managers: &[usize],
    mut workload: Workload,
    t0: Instant,
    faults: impl FnOnce(&Live) -> R,
) -> (R, history::History) {
    let live = Live {
        alive: Mutex::new(managers.to_vec()),
        t0,
        stop: AtomicBool::new(false),
    };
    std::thread::scope(|s| {
        let client = s.spawn(|| {
            let mut rec = Recorder::new(sockets.to_vec(), t0, OP_TIMEOUT);
            while !live.stop.load(Ordering::Relaxed) {
                let alive = live.alive.lock().unwrap().clone();
                if let Some(&node) = alive.get(workload.rng().random_range(0..alive.len().max(1))) {
                    workload.step(&mut rec, node);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            rec.into_history()
        });
        let sampler = s.spawn(|| sample_until(sockets, managers, t0, &live.stop));
        // Stops both threads also when `faults` panics (the scope would wait forever).
        let stopper = StopOnDrop(&live.stop);
        let r = faults(&live);
        drop(stopper);
        let mut h = client.join().unwrap();
        h.samples = sampler.join().unwrap();
        (r, h)
    })
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The leader among the managers `among`, waiting for one (a test failure if none comes).
pub fn leader_among(c: &Cluster, among: &[usize]) -> usize {
    let mut leader = None;
    let found = swarm::poll(swarm_support::LONG, Duration::from_millis(100), || {
        leader = swarm::leader(c, among);
        leader.is_some()
    });
    assert!(found, "no leader among {among:?}");
    leader.unwrap_or(0)
}
