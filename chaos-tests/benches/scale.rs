//! Many nodes, simulated (a program, not a test): three berthd managers in their own network
//! namespaces, and N swarm agents in this process, each a whole `berth_swarm::Swarm` that joined
//! as a worker over real mutual TLS, with the fake executor (a task's container runs as soon as
//! it is started). The agents share a fourth namespace on the switch. Prints, per N: the time
//! for all to join and be ready, `service create --replicas 10×N` to
//! all running, each manager's CPU over 10 idle seconds then, a rolling update of those 10×N tasks (parallelism 100), a scale to 20×N, each
//! manager's CPU time, RSS and Raft data size after each, and a leader failover with that
//! state (new leader, first accepted write, tasks started again: goal 0). Needs root.
//! `cargo bench -p berth-chaos-tests --bench scale -- [--agents 100,500,1000] [--quick]`
//! (`--quick`: 50 agents, 5 replicas each). `BENCH_TRACE` prints progress every 5 s,
//! `BENCH_KEEP_LOGS=dir` keeps the managers' logs, `BENCH_LOG_LEVEL` sets theirs (info),
//! `BENCH_LIMIT_SECS` bounds each phase (600).
#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use berth_chaos_tests::swarm::{self, service_spec};
use berth_chaos_tests::{Cluster, Node};
use berth_swarm::executor::fake::FakeExecutor;
use berth_swarm::Swarm;
use bollard_stubs::models::{NodeSpecAvailabilityEnum, SwarmJoinRequest};
use serde_json::{json, Value};

const SERVICE: &str = "sim";
/// The longest a phase may take, unless `BENCH_LIMIT_SECS` says otherwise.
fn limit() -> Duration {
    let secs = std::env::var("BENCH_LIMIT_SECS")
        .ok()
        .and_then(|s| s.parse().ok());
    Duration::from_secs(secs.unwrap_or(600))
}
/// Agents joining at once.
const JOINING: usize = 8;

/// The agents' runtime, the agents, and their data directories.
type Running = (tokio::runtime::Runtime, Vec<Arc<Swarm>>, tempfile::TempDir);

/// The simulated nodes, on their own thread and runtime inside the agents' namespace.
struct Agents {
    executors: Vec<Arc<FakeExecutor>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Agents {
    /// Starts `n` agents in the namespace at `netns`, joining `manager` with `token`; returns
    /// once all joined (or one failed).
    fn start(
        n: usize,
        netns: &Path,
        ip: std::net::Ipv4Addr,
        manager: String,
        token: String,
    ) -> anyhow::Result<Agents> {
        let executors: Vec<Arc<FakeExecutor>> = (0..n)
            .map(|i| Arc::new(FakeExecutor::new(&format!("sim{i}"))))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<anyhow::Result<()>>();
        let netns = netns.to_path_buf();
        let (execs, halt) = (executors.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let joined = (|| -> anyhow::Result<Running> {
                let file = std::fs::File::open(&netns)?;
                nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)?;
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()?;
                // Removed when dropped, after the agents stopped.
                let root = tempfile::Builder::new().prefix("berth-sim-").tempdir()?;
                let swarms = rt.block_on(join_all(execs, root.path(), ip, &manager, &token))?;
                Ok((rt, swarms, root))
            })();
            match joined {
                Ok((rt, swarms, root)) => {
                    let _ = tx.send(Ok(()));
                    while !halt.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    drop(swarms);
                    rt.shutdown_timeout(Duration::from_secs(5));
                    drop(root);
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
        rx.recv().context("agents thread")??;
        Ok(Agents {
            executors,
            stop,
            thread: Some(thread),
        })
    }

    /// Tasks started on all agents so far.
    fn starts(&self) -> usize {
        self.executors.iter().map(|e| e.started().len()).sum()
    }
}

impl Drop for Agents {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn join_all(
    executors: Vec<Arc<FakeExecutor>>,
    root: &Path,
    ip: std::net::Ipv4Addr,
    manager: &str,
    token: &str,
) -> anyhow::Result<Vec<Arc<Swarm>>> {
    let mut swarms = Vec::new();
    for (chunk_no, chunk) in executors.chunks(JOINING).enumerate() {
        let mut joins = Vec::new();
        for (i, exec) in chunk.iter().enumerate() {
            let dir = root.join(format!("a{}", chunk_no * JOINING + i));
            std::fs::create_dir_all(&dir)?;
            let swarm = Swarm::new(exec.clone(), &dir);
            let req = SwarmJoinRequest {
                listen_addr: Some(format!("{ip}:0")),
                advertise_addr: Some(ip.to_string()),
                remote_addrs: Some(vec![manager.to_string()]),
                join_token: Some(token.to_string()),
                ..Default::default()
            };
            let s = swarm.clone();
            // A busy leader may answer "no quorum" for a moment: try again a few times.
            joins.push(tokio::spawn(async move {
                let mut last = None;
                for attempt in 0..10u64 {
                    match s.join(req.clone(), NodeSpecAvailabilityEnum::ACTIVE).await {
                        Ok(()) => return Ok(s),
                        Err(e) => last = Some(e),
                    }
                    tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                }
                Err(last.map_or_else(|| "join failed".to_string(), |e| e.to_string()))
            }));
        }
        for j in joins {
            swarms.push(j.await?.map_err(|e| anyhow::anyhow!("join: {e}"))?);
        }
    }
    Ok(swarms)
}

/// Polls `cond` every 200 ms; its time, or an error naming `what` after `limit()`.
fn until(what: &str, mut cond: impl FnMut() -> bool) -> anyhow::Result<Duration> {
    let start = Instant::now();
    if swarm::poll(limit(), Duration::from_millis(200), &mut cond) {
        Ok(start.elapsed())
    } else {
        bail!("{what}: not within {:?}", limit())
    }
}

/// Running and desired tasks of the service, as the manager `at` counts them.
fn counts(at: &Node) -> (u64, u64) {
    let services = at.list("/services?status=true").unwrap_or_default();
    services
        .iter()
        .find(|s| s["Spec"]["Name"] == SERVICE)
        .map_or((0, 0), |s| {
            let st = &s["ServiceStatus"];
            (
                st["RunningTasks"].as_u64().unwrap_or(0),
                st["DesiredTasks"].as_u64().unwrap_or(0),
            )
        })
}

fn ready_workers(at: &Node) -> usize {
    at.swarm_nodes()
        .unwrap_or_default()
        .iter()
        .filter(|n| n["Spec"]["Role"] == "worker" && n["Status"]["State"] == "ready")
        .count()
}

fn update(at: &Node, change: impl FnOnce(&mut Value)) -> anyhow::Result<()> {
    let r = at.update_service(SERVICE, false, change)?;
    if r.status != 200 {
        bail!("update: {}", r.text());
    }
    Ok(())
}

/// With `BENCH_TRACE` set, prints how many tasks run every 5 s of a phase.
struct Progress {
    on: bool,
    start: Instant,
    last: Instant,
    printed: bool,
}

impl Progress {
    fn new() -> Self {
        let now = Instant::now();
        Progress {
            on: std::env::var_os("BENCH_TRACE").is_some(),
            start: now,
            last: now,
            printed: false,
        }
    }

    /// Passes `running` through, printing it when due.
    fn running(&mut self, running: u64) -> u64 {
        self.printed = self.on && self.last.elapsed() >= Duration::from_secs(5);
        if self.printed {
            self.last = Instant::now();
            println!(
                "        {:>6.1} s: {running} running",
                self.start.elapsed().as_secs_f64()
            );
        }
        running
    }

    /// Prints `what` too, when `running` was just printed.
    fn note(&self, what: &Value) {
        if self.printed {
            println!("                  {what}");
        }
    }
}

/// Why a phase did not finish: the service's tasks by desired and reported state, and a few
/// live ones that do not run, as the leader lists them.
fn stuck_report(c: &Cluster) {
    let Some(at) = swarm::leader(c, &[0, 1, 2]) else {
        println!("      (no leader to ask why)");
        return;
    };
    let Ok(tasks) = c.node(at).list("/tasks") else {
        return;
    };
    let mut states: std::collections::BTreeMap<(String, String), usize> = Default::default();
    let mut sample = Vec::new();
    for t in &tasks {
        let desired = t["DesiredState"].as_str().unwrap_or("?").to_string();
        let state = t["Status"]["State"].as_str().unwrap_or("?").to_string();
        let failed = matches!(state.as_str(), "failed" | "rejected");
        if (failed || desired == "running" && state != "running") && sample.len() < 5 {
            sample.push(swarm::task_line(t));
        }
        *states.entry((desired, state)).or_default() += 1;
    }
    println!("      tasks by (desired, state) on manager {at}: {states:?}");
    if let Ok(svc) = c.node(at).service(SERVICE) {
        println!("      update status: {}", svc["UpdateStatus"]);
    }
    for line in sample {
        println!("        {line}");
    }
}

/// Each manager's CPU time so far, RSS and swarm data size.
fn print_usage(c: &Cluster) {
    for i in 0..3 {
        let (cpu, rss) = c.node(i).pid().map(usage).unwrap_or_default();
        let raft = dir_mib(&c.node(i).data_root().join("swarm"));
        println!(
            "      manager {i}: CPU {cpu:>7.1} s, RSS {rss:>6.1} MiB, swarm data {raft:>6.1} MiB"
        );
    }
}

/// The CPU each manager spends in 10 s with nothing to do but the agents' heartbeats: the
/// steady cost of the cluster.
fn print_idle(c: &Cluster) {
    const IDLE: Duration = Duration::from_secs(10);
    let cpu = |i: usize| c.node(i).pid().map_or(0.0, |p| usage(p).0);
    let before: Vec<f64> = (0..3).map(cpu).collect();
    std::thread::sleep(IDLE);
    let spent: Vec<String> = (0..3)
        .map(|i| format!("{:.2} s", cpu(i) - before[i]))
        .collect();
    println!(
        "      idle {} s: managers' CPU {}",
        IDLE.as_secs(),
        spent.join(" / ")
    );
}

/// (CPU seconds, RSS MiB) of process `pid`.
fn usage(pid: i32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    (ticks / 100.0, rss_kib / 1024.0)
}

fn dir_mib(p: &Path) -> f64 {
    fn walk(p: &Path) -> u64 {
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            return 0;
        };
        if !meta.is_dir() {
            return meta.len();
        }
        std::fs::read_dir(p)
            .map(|d| d.flatten().map(|e| walk(&e.path())).sum())
            .unwrap_or(0)
    }
    walk(p) as f64 / (1024.0 * 1024.0)
}

fn secs(d: Duration) -> String {
    format!("{:>7.2} s", d.as_secs_f64())
}

fn run(n: usize, per_node: usize) -> anyhow::Result<()> {
    // Debug logging (the harness's default) costs the managers more than the work measured.
    let options = berth_chaos_tests::NodeOptions {
        log_level: std::env::var("BENCH_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
        ..swarm::node_options()
    };
    let mut c = Cluster::builder(4).default_options(options).start()?;
    let measured = measure(&mut c, n, per_node);
    // Kept on failure too: a phase that never ends is what the logs are for.
    if let Some(dir) = std::env::var_os("BENCH_KEEP_LOGS") {
        c.copy_logs(Path::new(&dir));
    }
    c.shutdown()?;
    measured
}

fn measure(c: &mut Cluster, n: usize, per_node: usize) -> anyhow::Result<()> {
    let replicas = n * per_node;
    swarm::form_three_managers(c)?;
    let tokens = c.node(0).join_tokens()?;
    let manager = c.node(0).swarm_addr();
    let started = Instant::now();
    let agents = Agents::start(
        n,
        &c.node(3).netns_path(),
        c.node(3).ip(),
        manager,
        tokens.worker.clone(),
    )?;
    let joined = started.elapsed();
    let ready = until("agents ready", || ready_workers(c.node(0)) == n)?;
    println!(
        "{n:>5} agents: joined {}, all ready {}",
        secs(joined),
        secs(joined + ready)
    );

    let mut spec = service_spec(SERVICE, replicas as u64);
    // The managers are real nodes without the image: tasks go to the simulated workers.
    spec["TaskTemplate"]["Placement"] = json!({ "Constraints": ["node.role==worker"] });
    spec["UpdateConfig"] =
        json!({ "Parallelism": 100, "Delay": 0, "Monitor": 1_000_000, "Order": "stop-first" });
    let t = Instant::now();
    c.node(0).create_service(&spec)?;
    let mut trace = Progress::new();
    until("create", || {
        trace.running(counts(c.node(0)).0) == replicas as u64
    })
    .inspect_err(|_| stuck_report(c))?;
    println!(
        "      create {replicas} replicas → running   {}",
        secs(t.elapsed())
    );
    print_usage(c);
    print_idle(c);
    // The rolling update of the 10×N tasks the issue names, before the scale.
    let t = Instant::now();
    update(c.node(0), |s| {
        s["TaskTemplate"]["ContainerSpec"]["Env"] = json!(["V=2"]);
    })?;
    let mut trace = Progress::new();
    until("rolling update", || {
        let svc = c.node(0).service(SERVICE).unwrap_or_default();
        let running = trace.running(counts(c.node(0)).0);
        trace.note(&svc["UpdateStatus"]);
        svc["UpdateStatus"]["State"] == "completed" && running == replicas as u64
    })
    .inspect_err(|_| stuck_report(c))?;
    println!(
        "      rolling update of {replicas} (parallelism 100) {}",
        secs(t.elapsed())
    );
    print_usage(c);
    let t = Instant::now();
    update(c.node(0), |s| {
        s["Mode"]["Replicated"]["Replicas"] = json!(2 * replicas)
    })?;
    let mut trace = Progress::new();
    until("scale", || {
        trace.running(counts(c.node(0)).0) == 2 * replicas as u64
    })
    .inspect_err(|_| stuck_report(c))?;
    println!(
        "      scale {replicas} → {}              {}",
        2 * replicas,
        secs(t.elapsed())
    );
    print_usage(c);
    let before = agents.starts();
    let leader = swarm::leader(c, &[0, 1, 2]).context("a leader")?;
    let others: Vec<usize> = [0, 1, 2].into_iter().filter(|i| *i != leader).collect();
    let t = Instant::now();
    c.kill(leader)?;
    let elected = until("new leader", || swarm::leader(c, &others).is_some())?;
    let at = others[0];
    let write = until("first write", || {
        update(c.node(at), |s| s["Labels"] = json!({ "after": "failover" })).is_ok()
    })?;
    std::thread::sleep(Duration::from_secs(10));
    println!(
        "      leader killed: new leader {}, first write {}, tasks started again in 10 s after: {}",
        secs(elected),
        secs(t.elapsed().min(elected + write)),
        agents.starts() - before
    );
    drop(agents);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if !berth_chaos_tests::is_root() {
        println!("scale: needs root (SKIP)");
        return Ok(());
    }
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let sweep: Vec<usize> = match args.iter().position(|a| a == "--agents") {
        Some(i) => args
            .get(i + 1)
            .context("--agents N[,N…]")?
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()?,
        None if quick => vec![50],
        None => vec![100, 500, 1000],
    };
    let per_node = if quick { 5 } else { 10 };
    if let Err(e) = Cluster::sweep_leftovers(berth_chaos_tests::PREFIX_HEAD) {
        eprintln!("sweep: {e}");
    }
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("scale: 3 berthd managers in netns ({build} build), N simulated worker agents in-process (fake executor), default heartbeat");
    for n in sweep {
        run(n, per_node)?;
    }
    Ok(())
}
