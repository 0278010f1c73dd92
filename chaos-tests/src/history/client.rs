//! The recording client: one thread's sequence of service creates, updates (scale or tag)
//! and removes through any node's API socket, each logged with its outcome, and the reads of
//! service versions an update does first. Takes sockets rather than the cluster, so a test
//! can kill and restart nodes (`&mut Cluster`) while it runs. `sample` counts running tasks
//! for the over-replication check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{FinalState, History, Op, OpKind, Outcome, Read, Sample, Want};
use crate::client;
use crate::swarm::service_spec;

/// The update parallelism of every service the recorder creates.
pub const SAMPLE_PARALLELISM: u64 = 1;

/// What a manager says when it never sent a write to a leader (so it certainly did not
/// apply); other 5xx answers may hide a committed write.
const NO_LEADER: &str = "does not have a leader";

/// A client logging what it does; see the module docs.
#[derive(Debug)]
pub struct Recorder {
    sockets: Vec<PathBuf>,
    t0: Instant,
    timeout: Duration,
    history: History,
}

impl Recorder {
    /// A client of the nodes behind `sockets` (by node index) whose requests give up after
    /// `timeout` (the outcome is then unknown); times count from `t0`.
    pub fn new(sockets: Vec<PathBuf>, t0: Instant, timeout: Duration) -> Self {
        Recorder {
            sockets,
            t0,
            timeout,
            history: History::default(),
        }
    }

    /// What was recorded so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The history, to add samples and check.
    pub fn into_history(self) -> History {
        self.history
    }

    fn socket(&self, node: usize) -> &Path {
        let last = self.sockets.len().saturating_sub(1);
        &self.sockets[node.min(last)]
    }

    /// Sends one write and logs it.
    fn write(
        &mut self,
        node: usize,
        service: &str,
        kind: OpKind,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Outcome {
        let start = self.t0.elapsed();
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let r = client::request(self.socket(node), method, path, &bytes, self.timeout);
        let (outcome, answer) = match r {
            Ok(r) => (
                classify(r.status, &r.text()),
                format!("{} {}", r.status, r.text()),
            ),
            Err(e) => (Outcome::Unknown, format!("no answer: {e}")),
        };
        self.history.ops.push(Op {
            service: service.to_string(),
            kind,
            start,
            end: self.t0.elapsed(),
            outcome,
            answer: format!("node {node}: {}", answer.trim()),
        });
        outcome
    }

    /// Creates service `name` asking for `want`.
    pub fn create(&mut self, node: usize, name: &str, want: &Want) -> Outcome {
        let spec = spec(name, want);
        let kind = OpKind::Create(want.clone());
        self.write(node, name, kind, "POST", "/services/create", &spec)
    }

    /// Reads service `name`, logging its version; `None` when it cannot be read.
    pub fn read(&mut self, node: usize, name: &str) -> Option<Value> {
        let r = client::request(
            self.socket(node),
            "GET",
            &format!("/services/{name}"),
            b"",
            self.timeout,
        );
        let svc = r.ok().filter(|r| r.status == 200)?.try_json().ok()?;
        let id = svc["ID"].as_str()?.to_string();
        let version = svc["Version"]["Index"].as_u64()?;
        self.history.reads.push(Read {
            id,
            version,
            at: self.t0.elapsed(),
            node,
        });
        Some(svc)
    }

    /// Reads service `name` and, if that worked, updates it to `want` at the version read.
    /// `None` when the read failed and nothing was sent.
    pub fn update(&mut self, node: usize, name: &str, want: &Want) -> Option<Outcome> {
        let svc = self.read(node, name)?;
        let mut spec = svc["Spec"].clone();
        spec["Mode"]["Replicated"]["Replicas"] = json!(want.replicas);
        spec["TaskTemplate"]["ContainerSpec"]["Env"] = json!([format!("CHAOS_TAG={}", want.tag)]);
        let path = format!(
            "/services/{name}/update?version={}",
            svc["Version"]["Index"]
        );
        Some(self.write(
            node,
            name,
            OpKind::Update(want.clone()),
            "POST",
            &path,
            &spec,
        ))
    }

    /// Removes service `name`.
    pub fn remove(&mut self, node: usize, name: &str) -> Outcome {
        self.write(
            node,
            name,
            OpKind::Remove,
            "DELETE",
            &format!("/services/{name}"),
            &Value::Null,
        )
    }
}

/// Acked for 2xx; failed for 4xx and for "no leader" (never sent on); unknown otherwise.
fn classify(status: u16, body: &str) -> Outcome {
    match status {
        200..=299 => Outcome::Acked,
        400..=499 => Outcome::Failed,
        503 if body.contains(NO_LEADER) => Outcome::Failed,
        _ => Outcome::Unknown,
    }
}

/// A busybox service asking for `want`, updated `SAMPLE_PARALLELISM` at a time.
pub fn spec(name: &str, want: &Want) -> Value {
    let mut spec = service_spec(name, want.replicas);
    spec["TaskTemplate"]["ContainerSpec"]["Env"] = json!([format!("CHAOS_TAG={}", want.tag)]);
    spec["UpdateConfig"] = json!({ "Parallelism": SAMPLE_PARALLELISM, "Order": "stop-first" });
    spec
}

fn get_list(socket: &Path, path: &str, timeout: Duration) -> Option<Vec<Value>> {
    let r = client::request(socket, "GET", path, b"", timeout).ok()?;
    if r.status != 200 {
        return None;
    }
    match r.try_json().ok()? {
        Value::Array(items) => Some(items),
        _ => None,
    }
}

/// The services behind `socket` as the checks see them (`None` when it cannot be listed).
pub fn final_state(socket: &Path, timeout: Duration) -> Option<FinalState> {
    let services = get_list(socket, "/services", timeout)?;
    Some(
        services
            .iter()
            .filter_map(|s| {
                Some((
                    s["Spec"]["Name"].as_str()?.to_string(),
                    Want::of_spec(&s["Spec"])?,
                ))
            })
            .collect(),
    )
}

/// One sample per replicated service: its tasks running on nodes the managers call ready
/// (a node cut off may still run copies nobody can see; the checks after healing count
/// those). `None` when the manager behind `socket` does not answer.
pub fn sample(socket: &Path, at: Duration, timeout: Duration) -> Option<Vec<Sample>> {
    let nodes = get_list(socket, "/nodes", timeout)?;
    let ready: BTreeSet<&str> = nodes
        .iter()
        .filter(|n| n["Status"]["State"] == "ready")
        .filter_map(|n| n["ID"].as_str())
        .collect();
    let services = get_list(socket, "/services", timeout)?;
    // Every task, whatever its desired state: a task told to shut down still runs until it stops.
    let tasks = get_list(socket, "/tasks", timeout)?;
    let mut running: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &tasks {
        let on_ready = t["NodeID"].as_str().is_some_and(|n| ready.contains(n));
        if t["Status"]["State"] == "running" && on_ready {
            if let Some(s) = t["ServiceID"].as_str() {
                *running.entry(s).or_default() += 1;
            }
        }
    }
    Some(
        services
            .iter()
            .filter_map(|s| {
                let replicas = s["Spec"]["Mode"]["Replicated"]["Replicas"].as_u64()?;
                let id = s["ID"].as_str()?;
                Some(Sample {
                    service: s["Spec"]["Name"].as_str()?.to_string(),
                    at,
                    running: running.get(id).copied().unwrap_or(0),
                    replicas,
                    parallelism: s["Spec"]["UpdateConfig"]["Parallelism"]
                        .as_u64()
                        .unwrap_or(1),
                })
            })
            .collect(),
    )
}
