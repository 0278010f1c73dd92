//! Swarm benchmark (a program, not a test): three berthd managers (each also runs tasks) in
//! their own network namespaces on the harness switch, with the DEFAULT 5 s heartbeat.
//! Prints the time from `service create` with 100 replicas to 100 running, from scaling to
//! 300 to 300 running, for the cluster to notice a SIGKILLed node and run its tasks
//! elsewhere, and for a new leader (and a first accepted write) after the leader is
//! SIGKILLed; then, when `BENCH_DOCKER_HOST` names a docker daemon's socket
//! (`unix:///path`), the same create and scale figures for a one-node docker swarm.
//! Needs root. `--quick` runs 20 and 60 replicas instead of 100 and 300;
//! `BENCH_KEEP_LOGS=<dir>` keeps the nodes' berthd logs there.
//! Run: `cargo bench -p berth-chaos-tests --bench swarm` (release), or build with
//! `cargo build -p berth-chaos-tests --benches` and run `target/debug/deps/swarm-*`.
#![allow(clippy::print_stdout, reason = "a benchmark program reports on stdout")]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use berth_chaos_tests::docker_ref::{self, DockerSwarm};
use berth_chaos_tests::swarm::{self, per_node, service_spec, urlencode};
use berth_chaos_tests::{client, Cluster, Node, NodeOptions};
use serde_json::{json, Value};

/// The longest any one phase may take before the bench gives up.
const LIMIT: Duration = Duration::from_secs(300);
/// How often progress is polled (the figures' resolution).
const POLL: Duration = Duration::from_millis(50);
const MANAGERS: [usize; 3] = [0, 1, 2];
const SERVICE: &str = "bench";

fn secs(d: Duration) -> String {
    format!("{:>7.2} s", d.as_secs_f64())
}

/// Polls `cond` until it holds; fails after `LIMIT` naming `what`.
fn until(what: &str, mut cond: impl FnMut() -> bool) -> anyhow::Result<Duration> {
    let start = Instant::now();
    if swarm::poll(LIMIT, POLL, &mut cond) {
        Ok(start.elapsed())
    } else {
        bail!("{what}: not within {LIMIT:?}")
    }
}

/// Running tasks of the bench service, as `at` reports them (errors count as none).
fn running(at: &Node) -> Vec<Value> {
    at.running_tasks(SERVICE).unwrap_or_default()
}

fn scale(at: &Node, id: &str, replicas: u64) -> anyhow::Result<()> {
    let r = at.update_service(id, false, |s| {
        s["Mode"]["Replicated"]["Replicas"] = json!(replicas)
    })?;
    if r.status != 200 {
        bail!("scale to {replicas}: {} {}", r.status, r.text());
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if !berth_chaos_tests::is_root() {
        println!("swarm: needs root (SKIP)");
        return Ok(());
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let (small, large): (usize, usize) = if quick { (20, 60) } else { (100, 300) };
    if let Err(e) = Cluster::sweep_leftovers(berth_chaos_tests::PREFIX_HEAD) {
        eprintln!("sweep: {e}");
    }
    let options = NodeOptions {
        log_level: "info".into(),
        ..swarm::node_options()
    };
    let mut c = Cluster::builder(3).default_options(options).start()?;
    let tar = swarm::import_busybox(&c)?;
    swarm::form_three_managers(&c)?;
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "berth swarm: 3 managers (each also runs tasks) in netns on one bridge, default 5 s \
         heartbeat, {build} build, busybox `sleep 600` tasks"
    );

    let started = Instant::now();
    let id = c
        .node(0)
        .create_service(&service_spec(SERVICE, small as u64))?;
    until("create", || running(c.node(0)).len() == small)?;
    println!(
        "create {small} replicas → {small} running       {}   (target < 5 s for 100)",
        secs(started.elapsed())
    );
    let started = Instant::now();
    scale(c.node(1), &id, large as u64)?;
    until("scale", || running(c.node(0)).len() == large)?;
    println!(
        "scale {small} → {large}, until {large} running      {}",
        secs(started.elapsed())
    );
    dead_node(&mut c, large)?;
    failover(&mut c)?;
    keep_logs(&c);
    // The image for docker, read before the cluster (and its directory) goes.
    let image = std::fs::read(&tar)?;
    c.shutdown()?;
    match std::env::var("BENCH_DOCKER_HOST") {
        Ok(host) => docker(&host, &image, small, large)?,
        Err(_) => println!("docker: not measured (BENCH_DOCKER_HOST unset)"),
    }
    Ok(())
}

/// Copies the nodes' berthd logs to `$BENCH_KEEP_LOGS/n<i>.log` when that is set.
fn keep_logs(c: &Cluster) {
    if let Some(dir) = std::env::var_os("BENCH_KEEP_LOGS") {
        c.copy_logs(&PathBuf::from(dir));
    }
}

/// SIGKILLs a node that does not lead; times until it is marked down and until all
/// `replicas` run on the other two. Restarts it afterwards.
fn dead_node(c: &mut Cluster, replicas: usize) -> anyhow::Result<()> {
    let leader = swarm::leader(c, &MANAGERS).context("no leader")?;
    let victim = MANAGERS
        .into_iter()
        .find(|i| *i != leader)
        .context("no follower")?;
    let victim_id = c.node(victim).swarm_node_id()?;
    let killed = Instant::now();
    c.kill(victim)?;
    let at = c.node(leader);
    let path = format!("/nodes/{victim_id}");
    let down = until("node down", || {
        at.call("GET", &path, &Value::Null, 200)
            .is_ok_and(|n| n["Status"]["State"] == "down")
    })?;
    until("tasks moved", || {
        let tasks = running(at);
        tasks.len() == replicas && !per_node(&tasks).contains_key(&victim_id)
    })?;
    let moved = killed.elapsed();
    println!(
        "dead node (SIGKILL): marked down {}, its tasks running elsewhere {}   (target ≤ 3 \
         heartbeats = 15 s)",
        secs(down),
        secs(moved)
    );
    c.restart(victim)?;
    until("the dead node back", || {
        swarm::three_managers_ready(c.node(leader))
    })?;
    // Settled: its own store holds every running task, and the containers of the tasks it
    // lost are gone (the failover below should not race that cleanup).
    until("the restarted node settled", || {
        running(c.node(victim)).len() == replicas
            && c.node(victim)
                .service_containers(SERVICE)
                .is_ok_and(|cs| cs.is_empty())
    })?;
    Ok(())
}

/// SIGKILLs the leader; times until a survivor reports itself leader (each survivor
/// polled on its own thread, so a busy one delays nothing) and until a write through the
/// new leader commits.
fn failover(c: &mut Cluster) -> anyhow::Result<()> {
    let old = swarm::leader(c, &MANAGERS).context("no leader")?;
    let mut survivors = Vec::new();
    for i in MANAGERS.into_iter().filter(|i| *i != old) {
        let node = c.node(i);
        survivors.push((i, node.socket_path(), node.swarm_node_id()?));
    }
    let killed = Instant::now();
    c.kill(old)?;
    eprintln!("failover: node {old} killed at {}", wall_clock());
    let found = std::sync::OnceLock::new();
    std::thread::scope(|s| {
        for (i, socket, id) in &survivors {
            let found = &found;
            s.spawn(move || {
                let path = format!("/nodes/{id}");
                let leads = || {
                    client::request(socket, "GET", &path, b"", LIMIT).is_ok_and(|r| {
                        r.try_json()
                            .is_ok_and(|n| n["ManagerStatus"]["Leader"] == true)
                    })
                };
                let end = killed + LIMIT;
                while found.get().is_none() && Instant::now() < end {
                    if leads() {
                        let _ = found.set((*i, killed.elapsed()));
                    }
                    std::thread::sleep(POLL);
                }
            });
        }
    });
    let (new, elected) = *found.get().context("no new leader")?;
    eprintln!("failover: node {new} leads at {}", wall_clock());
    let at = c.node(new);
    until("a write after the failover", || {
        let spec = service_spec("failover-probe", 0);
        at.send("POST", "/services/create", &spec)
            .is_ok_and(|r| r.status == 201)
    })?;
    let written = killed.elapsed();
    eprintln!("failover: write accepted at {}", wall_clock());
    println!(
        "leader failover (SIGKILL): new leader {}, first write accepted {}   (target < 2 s)",
        secs(elected),
        secs(written)
    );
    Ok(())
}

/// One request to docker's API on `socket`; the JSON answer, or an error naming it.
fn docker_call(socket: &Path, method: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    docker_ref::call(socket, method, path, &bytes, LIMIT).map_err(anyhow::Error::msg)
}

fn docker_running(socket: &Path, name: &str) -> usize {
    let filters = json!({ "service": [name], "desired-state": ["running"] }).to_string();
    let path = format!("/tasks?filters={}", urlencode(&filters));
    docker_call(socket, "GET", &path, &Value::Null)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .map_or(0, |ts| {
            ts.iter()
                .filter(|t| t["Status"]["State"] == "running")
                .count()
        })
}

/// The create and scale figures on the docker daemon at `host` (`unix:///path`): joins no
/// one, inits a one-node swarm if it has none (and leaves it afterwards), imports busybox
/// from the tarball `image` if missing, and removes its service.
fn docker(host: &str, image: &[u8], small: usize, large: usize) -> anyhow::Result<()> {
    let docker = DockerSwarm::open(host, image, LIMIT).map_err(anyhow::Error::msg)?;
    let socket = docker.socket.clone();
    let name = format!("berth-bench-{}", std::process::id());
    let result = docker_figures(&socket, &name, small, large);
    // Clean up whatever the figures left, even after a failure.
    let _ = docker_call(
        &socket,
        "DELETE",
        &format!("/services/{name}"),
        &Value::Null,
    );
    let label = json!({ "label": [format!("com.docker.swarm.service.name={name}")] });
    let path = format!("/containers/json?filters={}", urlencode(&label.to_string()));
    let gone = swarm::poll(LIMIT, Duration::from_millis(500), || {
        docker_call(&socket, "GET", &path, &Value::Null)
            .is_ok_and(|v| v.as_array().is_some_and(Vec::is_empty))
    });
    docker.leave().map_err(anyhow::Error::msg)?;
    if !gone {
        eprintln!("docker: containers of {name} still listed");
    }
    let version = docker.version();
    let (create, scaled) = result?;
    println!("docker {version}: one-node swarm on the same host");
    println!(
        "docker: create {small} replicas → {small} running       {}",
        secs(create)
    );
    println!(
        "docker: scale {small} → {large}, until {large} running      {}",
        secs(scaled)
    );
    Ok(())
}

fn docker_figures(
    socket: &Path,
    name: &str,
    small: usize,
    large: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let started = Instant::now();
    let r = docker_call(
        socket,
        "POST",
        "/services/create",
        &service_spec(name, small as u64),
    )?;
    let id = r["ID"].as_str().context("no service ID")?.to_string();
    until("docker create", || docker_running(socket, name) == small)?;
    let create = started.elapsed();
    let started = Instant::now();
    let svc = docker_call(socket, "GET", &format!("/services/{id}"), &Value::Null)?;
    let mut spec = svc["Spec"].clone();
    spec["Mode"]["Replicated"]["Replicas"] = json!(large);
    let path = format!("/services/{id}/update?version={}", svc["Version"]["Index"]);
    docker_call(socket, "POST", &path, &spec)?;
    until("docker scale", || docker_running(socket, name) == large)?;
    Ok((create, started.elapsed()))
}

/// UTC time of day, to match against the daemons' logs.
fn wall_clock() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let day = t.as_secs() % 86_400;
    let ms = t.subsec_millis();
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        day / 3600,
        day % 3600 / 60,
        day % 60
    )
}
