//! The agent every swarm node runs (managers too): it holds a session with the leader's
//! dispatcher (a heartbeat that long-polls for the node's assignments), hands the assignments
//! to the runner, and sends the runner's status reports. It follows "not the leader" answers
//! to the leader and fails over between the managers it knows.

mod runner;
pub mod spec;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use berth_raft::Object;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::Status;

use super::ca::client_tls;
use super::local::Certs;
use super::rpc::{self, Method, ReportRequest, SessionReply, SessionRequest, NOT_LEADER};
use crate::engine::Engine;
pub use runner::task_containers;
use runner::{Report, Runner};

/// What an agent needs.
pub struct AgentStart {
    /// This node's id.
    pub node_id: String,
    /// Its certificates.
    pub certs: Certs,
    /// The managers it knows.
    pub managers: Vec<String>,
    /// The engine it runs tasks on.
    pub engine: Arc<Engine>,
    /// The address it reports (host).
    pub addr: String,
    /// Its swarm address (`host:port`).
    pub advertise: String,
    /// Where it publishes its node object as the managers see it (role changes).
    pub node_tx: tokio::sync::watch::Sender<Option<Object>>,
}

/// A running agent.
pub struct Agent {
    loops: Vec<JoinHandle<()>>,
    conn: Arc<Conn>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").finish_non_exhaustive()
    }
}

impl Agent {
    /// Starts the session, the periodic check of the containers and the reporter.
    pub fn start(s: AgentStart) -> Agent {
        let conn = Arc::new(Conn::new(
            client_tls(&s.certs.cert_pem, &s.certs.key_pem, &s.certs.ca_pem),
            s.managers,
        ));
        let (tx, rx) = mpsc::unbounded_channel();
        let runner = Arc::new(Runner::new(s.engine.clone(), tx));
        let tasks: Arc<Mutex<Vec<Object>>> = Arc::default();
        let session = tokio::spawn(session_loop(
            conn.clone(),
            runner.clone(),
            tasks.clone(),
            s.node_id.clone(),
            (s.addr, s.advertise),
            s.node_tx,
        ));
        let check = tokio::spawn(check_loop(runner.clone(), tasks));
        let reporter = tokio::spawn(report_loop(conn.clone(), runner, rx, s.node_id));
        Agent {
            loops: vec![session, check, reporter],
            conn,
        }
    }

    /// The managers it last heard of.
    pub fn managers(&self) -> Vec<String> {
        self.conn
            .managers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops it; the containers keep running.
    pub async fn stop(self) {
        for l in self.loops {
            l.abort();
            let _ = l.await;
        }
    }
}

/// This node as Docker's `NodeDescription`.
fn description() -> Value {
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    json!({
        "Hostname": hostname,
        "Platform": { "Architecture": std::env::consts::ARCH, "OS": "linux" },
        "Resources": {
            "NanoCPUs": (cpus as u64) * 1_000_000_000,
            "MemoryBytes": crate::api::system::mem_total(),
        },
        "Engine": { "EngineVersion": crate::api::system::VERSION, "Labels": {} },
    })
}

async fn session_loop(
    conn: Arc<Conn>,
    runner: Arc<Runner>,
    tasks: Arc<Mutex<Vec<Object>>>,
    node_id: String,
    (addr, advertise): (String, String),
    node_tx: tokio::sync::watch::Sender<Option<Object>>,
) {
    let mut known = 0;
    let description = description();
    loop {
        let req = SessionRequest {
            node_id: node_id.clone(),
            known,
            description: description.clone(),
            addr: addr.clone(),
            advertise: advertise.clone(),
        };
        match conn
            .call::<_, SessionReply>(Method::Session, &req, Duration::from_secs(30))
            .await
        {
            Ok(reply) => {
                known = reply.version;
                if !reply.managers.is_empty() {
                    *conn.managers.lock().unwrap_or_else(PoisonError::into_inner) = reply.managers;
                }
                if reply.node.is_some() {
                    node_tx.send_replace(reply.node);
                }
                runner.apply(&reply.tasks).await;
                *tasks.lock().unwrap_or_else(PoisonError::into_inner) = reply.tasks;
            }
            Err(e) => {
                tracing::debug!(error = %e, "dispatcher session");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// Notices exits between sessions.
async fn check_loop(runner: Arc<Runner>, tasks: Arc<Mutex<Vec<Object>>>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let current = tasks.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if !current.is_empty() {
            runner.apply(&current).await;
        }
    }
}

async fn report_loop(
    conn: Arc<Conn>,
    runner: Arc<Runner>,
    mut rx: mpsc::UnboundedReceiver<Report>,
    node_id: String,
) {
    while let Some(first) = rx.recv().await {
        let mut updates = vec![first];
        while let Ok(more) = rx.try_recv() {
            updates.push(more);
        }
        let req = ReportRequest {
            node_id: node_id.clone(),
            updates,
        };
        if let Err(e) = conn
            .call::<_, ()>(Method::Report, &req, Duration::from_secs(10))
            .await
        {
            tracing::debug!(error = %e, "task report lost; the next check reports again");
            for (task, _) in &req.updates {
                runner.forget(task);
            }
        }
    }
}

/// Channels to the managers, with the leader preferred.
pub struct Conn {
    tls: ClientTlsConfig,
    managers: Mutex<Vec<String>>,
    leader: Mutex<Option<String>>,
    channels: Mutex<HashMap<String, Channel>>,
    next: AtomicUsize,
}

impl Conn {
    /// Channels to `managers`, presenting the certificate in `tls`.
    pub fn new(tls: ClientTlsConfig, managers: Vec<String>) -> Self {
        Conn {
            tls,
            managers: Mutex::new(managers),
            leader: Mutex::default(),
            channels: Mutex::default(),
            next: AtomicUsize::new(0),
        }
    }

    fn channel(&self, addr: &str) -> Result<Channel, Status> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = channels.get(addr) {
            return Ok(c.clone());
        }
        let bad = |e: &dyn std::fmt::Display| Status::unavailable(format!("{addr}: {e}"));
        let channel = Endpoint::from_shared(format!("https://{addr}"))
            .map_err(|e| bad(&e))?
            .tls_config(self.tls.clone())
            .map_err(|e| bad(&e))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5))
            .connect_lazy();
        channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }

    fn target(&self) -> Option<String> {
        if let Some(l) = self
            .leader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Some(l);
        }
        let managers = self.managers.lock().unwrap_or_else(PoisonError::into_inner);
        if managers.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % managers.len();
        Some(managers[i].clone())
    }

    /// Calls the leader's dispatcher, following redirects and trying each manager once.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: Method,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, Status> {
        let tries = self
            .managers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
            + 2;
        let mut last = Status::unavailable("no manager is known");
        for _ in 0..tries {
            let Some(addr) = self.target() else { break };
            match rpc::call(self.channel(&addr)?, method, req, timeout).await {
                Ok(r) => {
                    *self.leader.lock().unwrap_or_else(PoisonError::into_inner) = Some(addr);
                    return Ok(r);
                }
                Err(s) => {
                    let redirect = s
                        .message()
                        .strip_prefix(NOT_LEADER)
                        .filter(|a| !a.is_empty())
                        .map(str::to_string);
                    *self.leader.lock().unwrap_or_else(PoisonError::into_inner) = redirect;
                    last = s;
                }
            }
        }
        Err(last)
    }
}
