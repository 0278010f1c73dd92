//! What the swarm tests share: five nodes with the busybox image, joins, spreads, scaling,
//! the writer that counts acknowledged creates during a failover, and exec into task containers.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers panic on failure by design"
)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use berth_chaos_tests::swarm::{self, per_node, service_spec};
use berth_chaos_tests::{client, Cluster, Node, Response, PREFIX_HEAD};
use serde_json::{json, Value};

/// The dispatcher heartbeat of the test swarms: a node is down after 3 missed ones.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long any convergence may take.
pub const LONG: Duration = Duration::from_secs(60);
pub const MANAGERS: [usize; 3] = [0, 1, 2];

pub fn wait(cond: impl FnMut() -> bool) -> bool {
    swarm::poll(LONG, Duration::from_millis(200), cond)
}

/// Copies the nodes' berthd logs out of the cluster's directory when the test panics
/// (the cluster removes its directory when dropped, which happens after this guard).
pub struct LogsOnFailure {
    prefix: String,
    logs: Vec<std::path::PathBuf>,
}

impl LogsOnFailure {
    /// Watches `c`'s logs; declare it after the cluster so it drops first.
    pub fn new(c: &Cluster) -> Self {
        let logs = c
            .nodes()
            .iter()
            .map(|n| n.root().join("berthd.log"))
            .collect();
        LogsOnFailure {
            prefix: c.prefix().to_string(),
            logs,
        }
    }
}

impl Drop for LogsOnFailure {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let dir = std::env::temp_dir()
            .join("berth-chaos-logs")
            .join(&self.prefix);
        let _ = std::fs::create_dir_all(&dir);
        for (i, log) in self.logs.iter().enumerate() {
            let _ = std::fs::copy(log, dir.join(format!("n{i}.log")));
        }
        eprintln!("berthd logs kept in {}", dir.display());
    }
}

/// Five nodes with the busybox image, no swarm yet.
pub fn five_nodes() -> Cluster {
    if let Err(e) = Cluster::sweep_leftovers(PREFIX_HEAD) {
        eprintln!("sweep: {e}");
    }
    let c = Cluster::builder(5)
        .default_options(swarm::node_options())
        .start()
        .unwrap();
    swarm::import_busybox(&c).unwrap();
    c
}

/// Three nodes with busybox in one swarm, all ready: node 0 made it, nodes below `managers`
/// joined as managers and the others as workers.
pub fn three_node_swarm(managers: usize) -> Cluster {
    if let Err(e) = Cluster::sweep_leftovers(PREFIX_HEAD) {
        eprintln!("sweep: {e}");
    }
    let c = Cluster::builder(3)
        .default_options(swarm::node_options())
        .start()
        .unwrap();
    swarm::import_busybox(&c).unwrap();
    c.node(0).swarm_init(Some(HEARTBEAT)).unwrap();
    let tokens = c.node(0).join_tokens().unwrap();
    for i in 1..3 {
        let token = if i < managers {
            &tokens.manager
        } else {
            &tokens.worker
        };
        let r = c.node(i).swarm_join(c.node(0), token).unwrap();
        assert_eq!(r.status, 200, "node {i} join: {}", r.text());
    }
    let ready = wait(|| {
        let ns = c.node(0).swarm_nodes().unwrap_or_default();
        ns.len() == 3 && ns.iter().all(|n| n["Status"]["State"] == "ready")
    });
    assert!(ready, "nodes: {:#?}", c.node(0).swarm_nodes());
    c
}

/// Joins `nodes` to node 0's swarm (managers for 1 and 2, workers otherwise) and waits
/// until node 0 lists `total` nodes, all ready, its managers reachable.
pub fn join(c: &Cluster, nodes: &[usize], total: usize) {
    let tokens = c.node(0).join_tokens().unwrap();
    for &i in nodes {
        let token = if MANAGERS.contains(&i) {
            &tokens.manager
        } else {
            &tokens.worker
        };
        let r = c.node(i).swarm_join(c.node(0), token).unwrap();
        assert_eq!(r.status, 200, "node {i} join: {}", r.text());
    }
    let want = total;
    let ready = wait(|| {
        let ns = c.node(0).swarm_nodes().unwrap_or_default();
        ns.len() == want
            && ns.iter().all(|n| n["Status"]["State"] == "ready")
            && ns
                .iter()
                .filter(|n| n["ManagerStatus"]["Reachability"] == "reachable")
                .count()
                == want.min(3)
    });
    assert!(ready, "nodes: {:#?}", c.node(0).swarm_nodes());
}

pub fn refused(r: Response, status: u16, message: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r.text().contains(message), "want {message:?}: {}", r.text());
}

/// Node ids by cluster index.
pub fn ids(c: &Cluster) -> Vec<String> {
    c.nodes()
        .iter()
        .map(|n| n.swarm_node_id().unwrap())
        .collect()
}

/// Running tasks of `name` per node index (as node 0 reports them). A read refused because an
/// election is under way (a 503 "no leader", which a loaded CI machine sees now and then)
/// reads as no tasks yet: every check compares against a spread with tasks in it, so it
/// waits instead of failing.
pub fn spread(c: &Cluster, ids: &[String], name: &str) -> BTreeMap<usize, usize> {
    let tasks = match c.node(0).running_tasks(name) {
        Ok(t) => t,
        Err(berth_chaos_tests::ClusterError::Api {
            status: 503, body, ..
        }) if body.contains("does not have a leader") => {
            return BTreeMap::new();
        }
        Err(e) => panic!("tasks of {name}: {e}"),
    };
    let by_id = per_node(&tasks);
    by_id
        .into_iter()
        .map(|(id, n)| (ids.iter().position(|i| *i == id).unwrap_or(99), n))
        .collect()
}

pub fn scale(c: &Cluster, at: usize, id: &str, replicas: u64) {
    let r = c
        .node(at)
        .update_service(id, false, |s| {
            s["Mode"]["Replicated"]["Replicas"] = json!(replicas)
        })
        .unwrap();
    assert_eq!(r.status, 200, "scale to {replicas}: {}", r.text());
}

/// Waits until `name` has exactly `total` running tasks spread as `each` per node.
pub fn assert_spread(c: &Cluster, ids: &[String], name: &str, each: &[(usize, usize)]) {
    let want: BTreeMap<usize, usize> = each.iter().copied().collect();
    let ok = wait(|| spread(c, ids, name) == want);
    assert!(ok, "{name}: want {want:?}, got {:?}", spread(c, ids, name));
}

pub fn containers(c: &Cluster, name: &str, nodes: &[usize]) -> usize {
    nodes
        .iter()
        .map(|i| c.node(*i).service_containers(name).unwrap().len())
        .sum()
}

pub fn env_of(task: &Value) -> Value {
    task["Spec"]["ContainerSpec"]["Env"].clone()
}

/// Creates services `ack-<n>` (no replicas) through the API socket `socket` until `stop`;
/// returns the names whose creation was acknowledged.
pub fn keep_creating(socket: &std::path::Path, stop: &AtomicBool) -> Vec<String> {
    let mut acked = Vec::new();
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let name = format!("ack-{n}");
        let body = service_spec(&name, 0).to_string();
        let r = client::request(socket, "POST", "/services/create", body.as_bytes(), LONG);
        match r {
            Ok(r) if r.status == 201 => acked.push(name),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    acked
}

/// What a manager may say about a write whose outcome it cannot know.
const MAYBE_APPLIED: &str = "may still be applied later";

/// Cuts manager `cut` off the switch. A write sent right after the cut is answered 503
/// within seconds, saying there is no leader or that the write may still apply; once the
/// manager has noticed, it says the swarm has no leader, for reads and writes. The other
/// two managers elect a leader and commit; healed, `cut` catches up, and no write refused
/// as failed shows up later. `tag` names the services.
pub fn minority_refuses_writes(c: &Cluster, cut: usize, tag: &str) {
    let majority: Vec<usize> = MANAGERS.into_iter().filter(|i| *i != cut).collect();
    let create = |at: usize, name: &str| {
        let asked = Instant::now();
        let r = c
            .node(at)
            .send("POST", "/services/create", &service_spec(name, 0));
        (r.unwrap(), asked.elapsed())
    };
    c.cut(cut).unwrap();
    eprintln!("cut-off {tag}: node {cut} cut at {}", now());
    let (first, took) = create(cut, &format!("{tag}-minority-1"));
    let first_text = first.text();
    eprintln!(
        "cut-off {tag}: a write right after the cut: {} after {took:?}: {first_text}",
        first.status
    );
    assert_eq!(first.status, 503, "{first_text}");
    assert!(took < Duration::from_secs(15), "the refusal took {took:?}");
    let noticed = wait(|| {
        let r = c.node(cut).send("GET", "/nodes", &Value::Null).unwrap();
        r.status == 503 && r.text().contains("does not have a leader")
    });
    let r = c.node(cut).send("GET", "/nodes", &Value::Null).unwrap();
    assert!(
        noticed,
        "cut-off {tag} still answers: {} {}",
        r.status,
        r.text()
    );
    let (r, took) = create(cut, &format!("{tag}-minority-2"));
    refused(r, 503, "does not have a leader");
    assert!(took < Duration::from_secs(10), "the refusal took {took:?}");
    let elected = wait(|| swarm::leader(c, &majority).is_some());
    assert!(elected, "the majority has no leader");
    let committed = format!("{tag}-majority");
    c.node(majority[0])
        .create_service(&service_spec(&committed, 0))
        .unwrap();
    c.heal(cut).unwrap();
    eprintln!("cut-off {tag}: node {cut} healed at {}", now());
    let caught_up = wait(|| {
        let r = c
            .node(cut)
            .send("GET", &format!("/services/{committed}"), &Value::Null);
        r.is_ok_and(|r| r.status == 200)
    });
    assert!(caught_up, "the healed {tag} did not catch up");
    let leaders = || {
        MANAGERS
            .iter()
            .filter(|i| c.node(**i).reports_leader())
            .count()
    };
    assert!(
        wait(|| leaders() == 1),
        "{} leaders after healing",
        leaders()
    );
    let exists = |n: u32| {
        let path = format!("/services/{tag}-minority-{n}");
        let r = c
            .node(majority[1])
            .send("GET", &path, &Value::Null)
            .unwrap();
        (r.status == 200, r.text())
    };
    let (later, svc) = exists(1);
    assert!(
        !later || first_text.contains(MAYBE_APPLIED),
        "a write answered as failed ({first_text}) was applied after the heal: {svc}"
    );
    assert!(
        first_text.contains("does not have a leader") || first_text.contains(MAYBE_APPLIED),
        "no leader, or an unknown outcome, expected: {first_text}"
    );
    let (later, svc) = exists(2);
    assert!(
        !later,
        "a write refused for want of a leader committed: {svc}"
    );
}

/// The wall clock (UTC seconds since the epoch), to match against daemon logs.
fn now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:.3}", t.as_secs_f64())
}

/// Runs `cmd` in container `id` on `node` through the API; its exit code and output.
pub fn exec(node: &Node, id: &str, cmd: &[&str]) -> (i64, String) {
    node.exec_in(id, cmd).unwrap()
}
/// The running task containers of `service` on `nodes`, each with its node and its address on
/// `network`: (node, container id, address).
pub fn task_endpoints(
    c: &Cluster,
    service: &str,
    network: &str,
    nodes: &[usize],
) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for &i in nodes {
        let n = c.node(i);
        for ctr in n.service_containers(service).unwrap_or_default() {
            let id = ctr["Id"].as_str().unwrap_or("").to_string();
            let inspect = n
                .send("GET", &format!("/containers/{id}/json"), &Value::Null)
                .unwrap()
                .json();
            let ip = inspect["NetworkSettings"]["Networks"][network]["IPAddress"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if inspect["State"]["Running"] == true && !ip.is_empty() {
                out.push((i, id, ip));
            }
        }
    }
    out
}

/// The task container of `service` on each node, with its address on `network`.
pub fn tasks_by_node(
    c: &Cluster,
    service: &str,
    network: &str,
) -> BTreeMap<usize, (String, String)> {
    let nodes: Vec<usize> = (0..c.nodes().len()).collect();
    task_endpoints(c, service, network, &nodes)
        .into_iter()
        .map(|(i, id, ip)| (i, (id, ip)))
        .collect()
}

/// Answers every TCP connection on 7000 and every UDP datagram on 7001 with its hostname.
pub const PY_SERVER: &str = "import socket, threading
h = socket.gethostname().encode()
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('', 7001))
    while True:
        d, a = s.recvfrom(99)
        s.sendto(h, a)
threading.Thread(target=udp, daemon=True).start()
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(('', 7000))
t.listen(64)
while True:
    c, _ = t.accept()
    c.sendall(h)
    c.close()
";

/// `python3 -c PY_CLIENT tcp|udp HOST [PORT]` (PY_SERVER's ports by default): prints the
/// answering task's hostname.
pub const PY_CLIENT: &str = "import socket, sys
kind, host = sys.argv[1], sys.argv[2]
port = int(sys.argv[3]) if len(sys.argv) > 3 else (7001 if kind == 'udp' else 7000)
if kind == 'udp':
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(b'x', (host, port))
    print(s.recvfrom(99)[0].decode())
else:
    s = socket.create_connection((host, port), 3)
    print(s.recv(99).decode())
";

/// The host's python3 inside a busybox container.
pub fn python_mounts() -> Value {
    let bind = |p: &str| json!({ "Type": "bind", "Source": p, "Target": p, "ReadOnly": true });
    json!([
        bind("/usr"),
        { "Type": "bind", "Source": "/usr/lib", "Target": "/lib", "ReadOnly": true },
        { "Type": "bind", "Source": "/usr/lib64", "Target": "/lib64", "ReadOnly": true },
    ])
}
