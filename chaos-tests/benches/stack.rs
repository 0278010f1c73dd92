//! Stack benchmark (a program, not a test): three berthd managers (each also runs tasks) in
//! their own network namespaces on the harness switch, default heartbeat. A generated Compose
//! file of 10 services × 10 replicas (busybox `sleep`, `init: true`, one overlay network, the
//! default update config: one task at a time, stop-first) is deployed with
//! `berth stack deploy`; printed: the time from starting the client to all 100 tasks running,
//! and for a re-deploy of the file with one service's command changed, from starting the
//! client to that service's 10 tasks replaced and running (the other 90 untouched). Each
//! round uses a fresh stack, removed (`stack rm`, which waits) before the next; p50 and p90
//! over the rounds. When `BENCH_DOCKER_HOST` names a docker daemon's socket (`unix:///path`),
//! the same rounds with `docker stack deploy` on a one-node docker swarm follow.
//! Needs root. `--quick`: 1 round of 4 services × 5 replicas; `--rounds N` sets the rounds
//! (default 3). Run: `cargo bench -p berth-chaos-tests --bench stack` (release), or build with
//! `cargo build -p berth-chaos-tests --benches` and run `target/debug/deps/stack-*`.
#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use berth_chaos_tests::cli::berth_binary;
use berth_chaos_tests::docker_ref::DockerSwarm;
use berth_chaos_tests::swarm;
use berth_chaos_tests::{client, Cluster, NodeOptions};
use serde_json::json;

/// The longest any one phase may take before the bench gives up.
const LIMIT: Duration = Duration::from_secs(600);
/// How often progress is polled (the figures' resolution).
const POLL: Duration = Duration::from_millis(100);
/// The service whose command the re-deploy changes.
const EDITED: usize = 3;
const NAMESPACE: &str = "com.docker.stack.namespace";

/// The size of the generated stack.
#[derive(Debug, Clone, Copy)]
struct Shape {
    services: usize,
    replicas: usize,
}

impl Shape {
    fn tasks(self) -> usize {
        self.services * self.replicas
    }
}

/// The generated Compose file; `edited` gives service `EDITED` another command.
fn compose(shape: Shape, edited: bool) -> String {
    let mut out = String::from("services:\n");
    for i in 0..shape.services {
        let secs = if edited && i == EDITED { 601 } else { 600 };
        out.push_str(&format!(
            "  s{i}:\n    image: busybox:latest\n    command: [\"sleep\", \"{secs}\"]\n    \
             init: true\n    deploy:\n      replicas: {}\n",
            shape.replicas
        ));
    }
    out
}

/// Who answers: a stack client (`berth` or `docker`) and the API socket it talks to.
struct Target {
    name: String,
    client: PathBuf,
    socket: PathBuf,
    /// The client's own configuration directory (no user contexts or credentials).
    config: PathBuf,
    /// Where the generated files are written.
    dir: PathBuf,
}

impl Target {
    /// Runs the client with `args`; fails naming its output when it does not exit 0.
    fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let out = Command::new("timeout")
            .arg(LIMIT.as_secs().to_string())
            .arg(&self.client)
            .args(args)
            .current_dir(&self.dir)
            .env_remove("BERTH_HOST")
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", &self.config)
            .env("BERTH_CONFIG", &self.config)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run {}", self.client.display()))?;
        if !out.status.success() {
            bail!(
                "{} {args:?}: {}{}",
                self.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    fn deploy(&self, file: &str, stack: &str) -> anyhow::Result<()> {
        self.run(&[
            "stack",
            "deploy",
            "--resolve-image",
            "never",
            "-c",
            file,
            stack,
        ])
    }

    /// The running tasks of `stack` meant to run: (all, those running the edited command).
    fn running(&self, stack: &str) -> (usize, usize) {
        let filters = json!({ "desired-state": ["running"] }).to_string();
        let path = format!("/v1.41/tasks?filters={}", swarm::urlencode(&filters));
        let Ok(tasks) = client::request(&self.socket, "GET", &path, b"", LIMIT)
            .ok()
            .filter(|r| r.status == 200)
            .and_then(|r| r.try_json().ok())
            .and_then(|v| v.as_array().cloned())
            .context("no task list")
        else {
            return (0, 0);
        };
        let ours = tasks.iter().filter(|t| {
            t["Status"]["State"] == "running"
                && t["Spec"]["ContainerSpec"]["Labels"][NAMESPACE] == stack
        });
        let (mut all, mut edited) = (0, 0);
        for t in ours {
            all += 1;
            if t["Spec"]["ContainerSpec"]["Args"] == json!(["sleep", "601"]) {
                edited += 1;
            }
        }
        (all, edited)
    }
}

/// Polls `cond` until it holds; fails after `LIMIT` naming `what`.
fn until(what: &str, mut cond: impl FnMut() -> bool) -> anyhow::Result<()> {
    if swarm::poll(LIMIT, POLL, &mut cond) {
        Ok(())
    } else {
        bail!("{what}: not within {LIMIT:?}")
    }
}

/// One round on stack `stack`: (deploy → all running, one-service re-deploy → replaced).
fn round(t: &Target, shape: Shape, stack: &str) -> anyhow::Result<(Duration, Duration)> {
    let total = shape.tasks();
    let started = Instant::now();
    t.deploy("stack.yml", stack)?;
    until("all tasks running", || t.running(stack) == (total, 0))?;
    let deployed = started.elapsed();
    let started = Instant::now();
    t.deploy("edited.yml", stack)?;
    until("the edited service replaced", || {
        t.running(stack) == (total, shape.replicas)
    })?;
    let redeployed = started.elapsed();
    t.run(&["stack", "rm", stack])?;
    until("the stack's tasks gone", || t.running(stack) == (0, 0))?;
    Ok((deployed, redeployed))
}

/// Runs `rounds` rounds on `t` and prints the two figures.
fn measure(t: &Target, shape: Shape, rounds: usize) -> anyhow::Result<()> {
    std::fs::write(t.dir.join("stack.yml"), compose(shape, false))?;
    std::fs::write(t.dir.join("edited.yml"), compose(shape, true))?;
    let (mut deploys, mut redeploys) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let (d, u) = round(t, shape, &format!("bench{r}"))?;
        eprintln!("{} round {r}: deploy {d:?}, re-deploy {u:?}", t.name);
        deploys.push(d);
        redeploys.push(u);
    }
    let (services, replicas, tasks) = (shape.services, shape.replicas, shape.tasks());
    let deploy = format!("stack deploy {services} services / {tasks} tasks → all running");
    let redeploy = format!("re-deploy, 1 of {services} changed → its {replicas} tasks replaced");
    println!("{:<7}{deploy:<56}{}", t.name, figures(&mut deploys));
    println!("{:<7}{redeploy:<56}{}", t.name, figures(&mut redeploys));
    Ok(())
}

/// `p50 … s p90 … s n=…` of `samples` (nearest rank).
fn figures(samples: &mut [Duration]) -> String {
    samples.sort();
    let rank = |percent: usize| {
        let n = samples.len();
        let i = (n * percent).div_ceil(100).clamp(1, n) - 1;
        samples[i].as_secs_f64()
    };
    format!(
        "p50 {:>6.2} s  p90 {:>6.2} s  n={}",
        rank(50),
        rank(90),
        samples.len()
    )
}

fn main() -> anyhow::Result<()> {
    if !berth_chaos_tests::is_root() {
        println!("stack: needs root (SKIP)");
        return Ok(());
    }
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let shape = if quick {
        Shape {
            services: 4,
            replicas: 5,
        }
    } else {
        Shape {
            services: 10,
            replicas: 10,
        }
    };
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse::<usize>())
        .transpose()
        .context("--rounds takes a number")?
        .unwrap_or(if quick { 1 } else { 3 })
        .max(1);
    if let Err(e) = Cluster::sweep_leftovers(berth_chaos_tests::PREFIX_HEAD) {
        eprintln!("sweep: {e}");
    }
    let options = NodeOptions {
        log_level: "info".into(),
        ..swarm::node_options()
    };
    let c = Cluster::builder(3).default_options(options).start()?;
    let tar = swarm::import_busybox(&c)?;
    swarm::form_three_managers(&c)?;
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "berth stack: 3 managers (each also runs tasks) in netns on one bridge, default \
         heartbeat, {build} build; busybox `sleep` tasks, init, default update config \
         (1 at a time, stop-first); from starting the client"
    );
    let config = c.root().join("client-config");
    std::fs::create_dir_all(&config)?;
    let berth = Target {
        name: "berth".into(),
        client: berth_binary()?,
        socket: c.node(0).socket_path(),
        config,
        dir: c.root().to_path_buf(),
    };
    measure(&berth, shape, rounds)?;
    // The image for docker, read before the cluster (and its directory) goes.
    let image = std::fs::read(&tar)?;
    c.shutdown()?;
    match std::env::var("BENCH_DOCKER_HOST") {
        Ok(host) => docker(&host, &image, shape, rounds)?,
        Err(_) => println!("docker: not measured (BENCH_DOCKER_HOST unset)"),
    }
    Ok(())
}

/// One request to docker's API on `socket` that must answer 2xx; its JSON (`Null` if empty).
/// The same rounds with the docker CLI on the docker daemon at `host` (`unix:///path`): a
/// one-node swarm (made, and left afterwards, when it has none), busybox imported from the
/// tarball `image` when missing.
fn docker(host: &str, image: &[u8], shape: Shape, rounds: usize) -> anyhow::Result<()> {
    let docker = DockerSwarm::open(host, image, LIMIT).map_err(anyhow::Error::msg)?;
    let socket = docker.socket.clone();
    let dir = std::env::temp_dir().join(format!("berth-bench-stack-{}", std::process::id()));
    let config = dir.join("client-config");
    std::fs::create_dir_all(&config)?;
    let target = Target {
        name: "docker".into(),
        client: PathBuf::from("docker"),
        socket: socket.clone(),
        config,
        dir: dir.clone(),
    };
    let result = measure(&target, shape, rounds);
    if result.is_err() {
        // What a failed round left behind.
        for r in 0..rounds {
            let _ = target.run(&["stack", "rm", &format!("bench{r}")]);
        }
    }
    docker.leave().map_err(anyhow::Error::msg)?;
    let _ = std::fs::remove_dir_all(&dir);
    let version = docker.version();
    println!("(docker {version}: one-node swarm on the same host)");
    result
}
