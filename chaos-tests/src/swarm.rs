//! Swarm mode on a harness cluster, for the swarm tests and the swarm benchmark: the busybox
//! image on every node, `swarm init`/`join` on the nodes' switch addresses, services and
//! their tasks through Docker's API. Every call names the node that answered when it fails;
//! the callers decide what an answer must be.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::error::ClusterError;
use crate::harness::Cluster;
use crate::node::{Node, NodeOptions};
use berth_test_support::client::Response;

/// The port every node's swarm listener binds on its switch address.
pub const SWARM_PORT: u16 = 2377;

/// Node options for swarm work: no daemon ever contacts a public registry.
pub fn node_options() -> NodeOptions {
    NodeOptions {
        extra_config: "allowed-registries = []".into(),
        ..NodeOptions::default()
    }
}

/// One line about a task as `GET /tasks` lists it, for reports of a run that did not converge.
pub fn task_line(t: &Value) -> String {
    format!(
        "{} {} slot {} node {} desired {} state {} since {} err {} msg {}",
        t["ID"],
        t["ServiceID"],
        t["Slot"],
        t["NodeID"],
        t["DesiredState"],
        t["Status"]["State"],
        t["Status"]["Timestamp"],
        t["Status"]["Err"],
        t["Status"]["Message"]
    )
}

/// Polls `cond` every `every` until it holds or `limit` passes; one last try at the end.
pub fn poll(limit: Duration, every: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(every);
    }
    cond()
}

/// Whether `at` lists three managers, all ready and reachable.
pub fn three_managers_ready(at: &Node) -> bool {
    at.swarm_nodes().is_ok_and(|ns| {
        ns.iter()
            .filter(|n| {
                n["Status"]["State"] == "ready" && n["ManagerStatus"]["Reachability"] == "reachable"
            })
            .count()
            == 3
    })
}

/// Makes nodes 0, 1 and 2 of `c` one swarm of three managers (node 0 inits it with the
/// default heartbeat) and waits until all are ready and reachable (two minutes at most).
pub fn form_three_managers(c: &Cluster) -> Result<(), ClusterError> {
    c.node(0).swarm_init(None)?;
    let tokens = c.node(0).join_tokens()?;
    for i in [1, 2] {
        let r = c.node(i).swarm_join(c.node(0), &tokens.manager)?;
        if r.status != 200 {
            return Err(ClusterError::Swarm(format!("node {i} join: {}", r.text())));
        }
    }
    let ready = poll(Duration::from_secs(120), Duration::from_millis(50), || {
        three_managers_ready(c.node(0))
    });
    if !ready {
        return Err(ClusterError::Swarm(
            "three managers not ready within 120 s".into(),
        ));
    }
    Ok(())
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Node {
    /// One request with a JSON body (`Value::Null`: none) that must answer `expected`;
    /// returns the answer's JSON (`Value::Null` when the body is empty).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        expected: u16,
    ) -> Result<Value, ClusterError> {
        let r = self.send(method, path, body)?;
        if r.status != expected {
            return Err(ClusterError::Api {
                node: self.index(),
                method: method.into(),
                path: path.into(),
                status: r.status,
                expected,
                body: r.text(),
            });
        }
        if r.body.is_empty() {
            return Ok(Value::Null);
        }
        r.try_json().map_err(|_| self.shape("JSON", &r))
    }

    /// One request with a JSON body (`Value::Null`: none); any status is `Ok`.
    pub fn send(&self, method: &str, path: &str, body: &Value) -> Result<Response, ClusterError> {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        self.request(method, path, &bytes)
    }

    /// Runs `cmd` in container `id` (with a terminal, so the output is one stream); its exit
    /// code and output.
    pub fn exec_in(&self, id: &str, cmd: &[&str]) -> Result<(i64, String), ClusterError> {
        let body = json!({ "Cmd": cmd, "AttachStdout": true, "AttachStderr": true, "Tty": true });
        let created = self.call("POST", &format!("/containers/{id}/exec"), &body, 201)?;
        let exec_id = created["Id"].as_str().unwrap_or_default().to_string();
        let start = json!({ "Detach": false, "Tty": true });
        let out = self.send("POST", &format!("/exec/{exec_id}/start"), &start)?;
        let inspect = self.call("GET", &format!("/exec/{exec_id}/json"), &Value::Null, 200)?;
        Ok((inspect["ExitCode"].as_i64().unwrap_or(-1), out.text()))
    }

    /// A `GET` that must answer 200 with a JSON array.
    pub fn list(&self, path: &str) -> Result<Vec<Value>, ClusterError> {
        match self.call("GET", path, &Value::Null, 200)? {
            Value::Array(items) => Ok(items),
            other => Err(ClusterError::Shape {
                node: self.index(),
                what: "array",
                body: other.to_string(),
            }),
        }
    }

    fn shape(&self, what: &'static str, r: &Response) -> ClusterError {
        ClusterError::Shape {
            node: self.index(),
            what,
            body: r.text(),
        }
    }

    /// `host:2377` on the node's switch address.
    pub fn swarm_addr(&self) -> String {
        format!("{}:{SWARM_PORT}", self.ip())
    }

    /// `POST /swarm/init` on the node's address, with `heartbeat` as the dispatcher's
    /// heartbeat period (the daemon's default when `None`); returns the node's id.
    pub fn swarm_init(&self, heartbeat: Option<Duration>) -> Result<String, ClusterError> {
        let mut body =
            json!({ "ListenAddr": self.swarm_addr(), "AdvertiseAddr": self.ip().to_string() });
        if let Some(h) = heartbeat {
            body["Spec"] = json!({ "Dispatcher": { "HeartbeatPeriod": h.as_nanos() } });
        }
        let id = self.call("POST", "/swarm/init", &body, 200)?;
        id.as_str()
            .map(str::to_string)
            .ok_or_else(|| ClusterError::Shape {
                node: self.index(),
                what: "node id",
                body: id.to_string(),
            })
    }

    /// The worker and manager join tokens (`GET /swarm`, on a manager).
    pub fn join_tokens(&self) -> Result<JoinTokens, ClusterError> {
        let swarm = self.call("GET", "/swarm", &Value::Null, 200)?;
        let token = |role: &str| swarm["JoinTokens"][role].as_str().map(str::to_string);
        match (token("Worker"), token("Manager")) {
            (Some(worker), Some(manager)) => Ok(JoinTokens { worker, manager }),
            _ => Err(ClusterError::Shape {
                node: self.index(),
                what: "JoinTokens",
                body: swarm.to_string(),
            }),
        }
    }

    /// `POST /swarm/join` to `manager` with `token`; the raw answer (refusals are tested).
    pub fn swarm_join(&self, manager: &Node, token: &str) -> Result<Response, ClusterError> {
        let body = json!({
            "ListenAddr": self.swarm_addr(), "AdvertiseAddr": self.ip().to_string(),
            "RemoteAddrs": [manager.swarm_addr()], "JoinToken": token,
        });
        self.send("POST", "/swarm/join", &body)
    }

    /// This node's swarm id (`/info` → `Swarm.NodeID`; empty outside a swarm).
    pub fn swarm_node_id(&self) -> Result<String, ClusterError> {
        let info = self.call("GET", "/info", &Value::Null, 200)?;
        Ok(info["Swarm"]["NodeID"].as_str().unwrap_or("").to_string())
    }

    /// Whether this node answers that it is the swarm's leader; any failure is "no".
    pub fn reports_leader(&self) -> bool {
        let Ok(id) = self.swarm_node_id() else {
            return false;
        };
        self.call("GET", &format!("/nodes/{id}"), &Value::Null, 200)
            .is_ok_and(|n| n["ManagerStatus"]["Leader"] == true)
    }

    /// `GET /nodes`: every node the managers know.
    pub fn swarm_nodes(&self) -> Result<Vec<Value>, ClusterError> {
        self.list("/nodes")
    }

    /// Changes node `id`'s spec with `change` at its current version.
    pub fn update_node(
        &self,
        id: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<(), ClusterError> {
        let node = self.call("GET", &format!("/nodes/{id}"), &Value::Null, 200)?;
        let mut spec = node["Spec"].clone();
        change(&mut spec);
        let path = format!("/nodes/{id}/update?version={}", node["Version"]["Index"]);
        self.call("POST", &path, &spec, 200).map(drop)
    }

    /// `POST /services/create`; returns the service id.
    pub fn create_service(&self, spec: &Value) -> Result<String, ClusterError> {
        let r = self.call("POST", "/services/create", spec, 201)?;
        r["ID"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ClusterError::Shape {
                node: self.index(),
                what: "service ID",
                body: r.to_string(),
            })
    }

    /// `GET /services/{id}`.
    pub fn service(&self, id: &str) -> Result<Value, ClusterError> {
        self.call("GET", &format!("/services/{id}"), &Value::Null, 200)
    }

    /// Changes service `id`'s spec with `change` at its current version (`rollback`: asks
    /// for `rollback=previous`); the raw answer.
    pub fn update_service(
        &self,
        id: &str,
        rollback: bool,
        change: impl FnOnce(&mut Value),
    ) -> Result<Response, ClusterError> {
        let svc = self.service(id)?;
        let mut spec = svc["Spec"].clone();
        change(&mut spec);
        let mut path = format!("/services/{id}/update?version={}", svc["Version"]["Index"]);
        if rollback {
            path.push_str("&rollback=previous");
        }
        self.send("POST", &path, &spec)
    }

    /// The tasks of service `name` (`GET /tasks?filters={"service":[name]}`).
    pub fn tasks(&self, name: &str) -> Result<Vec<Value>, ClusterError> {
        let filters = urlencode(&json!({ "service": [name] }).to_string());
        self.list(&format!("/tasks?filters={filters}"))
    }

    /// The tasks of service `name` meant to run and running.
    pub fn running_tasks(&self, name: &str) -> Result<Vec<Value>, ClusterError> {
        let filters = json!({ "service": [name], "desired-state": ["running"] }).to_string();
        let path = format!("/tasks?filters={}", urlencode(&filters));
        let tasks = self.list(&path)?;
        Ok(tasks
            .into_iter()
            .filter(|t| t["Status"]["State"] == "running")
            .collect())
    }

    /// The running containers of service `name` on this node.
    pub fn service_containers(&self, name: &str) -> Result<Vec<Value>, ClusterError> {
        let label = format!("com.docker.swarm.service.name={name}");
        let filters = urlencode(&json!({ "label": [label] }).to_string());
        self.list(&format!("/containers/json?filters={filters}"))
    }

    /// Imports the busybox tarball at `tar` as `busybox:latest`.
    pub fn import_image(&self, tar: &Path) -> Result<(), ClusterError> {
        let bytes = std::fs::read(tar).map_err(ClusterError::io("read", tar))?;
        let path = "/images/create?fromSrc=-&repo=busybox&tag=latest";
        let r = self.request("POST", path, &bytes)?;
        if r.status != 200 || r.text().contains("\"error") {
            return Err(ClusterError::Image(format!(
                "node {}: {}",
                self.index(),
                r.text()
            )));
        }
        Ok(())
    }
}

/// A swarm's join tokens.
#[derive(Debug, Clone)]
pub struct JoinTokens {
    pub worker: String,
    pub manager: String,
}

/// Running tasks per node id.
pub fn per_node(tasks: &[Value]) -> BTreeMap<String, usize> {
    let mut spread = BTreeMap::new();
    for t in tasks {
        let node = t["NodeID"].as_str().unwrap_or("").to_string();
        *spread.entry(node).or_insert(0) += 1;
    }
    spread
}

/// A replicated busybox service sleeping 600 s (see `berth_test_support`).
pub fn service_spec(name: &str, replicas: u64) -> Value {
    berth_test_support::image::sleep_service_spec(name, replicas)
}

/// The same service in global mode.
pub fn global_spec(name: &str) -> Value {
    let mut spec = service_spec(name, 0);
    spec["Mode"] = json!({ "Global": {} });
    spec
}

/// Builds the busybox image tarball (scripts/busybox-rootfs.sh; needs busybox-static) in
/// the cluster's directory and imports it on every node.
pub fn import_busybox(cluster: &Cluster) -> Result<PathBuf, ClusterError> {
    let tar = cluster.root().join("busybox.tar");
    let script = berth_test_support::image::busybox_script();
    let status = Command::new("bash")
        .arg(&script)
        .arg(&tar)
        .status()
        .map_err(ClusterError::io("run", &script))?;
    if !status.success() {
        return Err(ClusterError::Image(format!(
            "{} failed ({status}; is busybox-static installed?)",
            script.display()
        )));
    }
    for node in cluster.nodes() {
        node.import_image(&tar)?;
    }
    Ok(tar)
}

/// The first of `among` that reports itself leader.
pub fn leader(cluster: &Cluster, among: &[usize]) -> Option<usize> {
    among
        .iter()
        .copied()
        .find(|i| cluster.try_node(*i).is_ok_and(Node::reports_leader))
}
