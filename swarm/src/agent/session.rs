//! The agent's loops: the session with the leader's dispatcher (a heartbeat that long-polls
//! for the node's assignments), a periodic check of the containers between sessions, and the
//! reporter that batches the runner's status reports.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use berth_raft::Object;
use bollard_stubs::models::NodeDescription;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::conn::Conn;
use super::runner::{Report, Runner};
use crate::ca::client_tls;
use crate::clock::SystemClock;
use crate::executor::Executor;
use crate::local::Certs;
use crate::rpc::{Method, ReportRequest, SessionReply, SessionRequest};

/// What an agent needs.
pub struct AgentStart {
    /// This node's id.
    pub node_id: String,
    /// Its certificates.
    pub certs: Certs,
    /// The managers it knows.
    pub managers: Vec<String>,
    /// What runs its tasks.
    pub executor: Arc<dyn Executor>,
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
    /// Its connection to the managers (for calls beside the session).
    pub(crate) fn conn(&self) -> Arc<Conn> {
        self.conn.clone()
    }

    /// Starts the session, the periodic check of the containers and the reporter.
    pub fn start(s: AgentStart) -> Agent {
        let conn = Arc::new(Conn::new(
            client_tls(&s.certs.cert_pem, &s.certs.key_pem, &s.certs.ca_pem),
            s.managers,
        ));
        let (tx, rx) = mpsc::unbounded_channel();
        let runner = Arc::new(Runner::new(s.executor.clone(), Arc::new(SystemClock), tx));
        let session = tokio::spawn(session_loop(
            conn.clone(),
            (s.executor, runner.clone()),
            s.node_id.clone(),
            (s.addr, s.advertise),
            s.node_tx,
        ));
        let check = tokio::spawn(check_loop(runner.clone()));
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

/// Applying one session reply for longer than this is logged: the node asks for the next
/// one only afterwards, so its view of the cluster is that much behind.
const SLOW_REPLY: Duration = Duration::from_secs(1);

async fn session_loop(
    conn: Arc<Conn>,
    (executor, runner): (Arc<dyn Executor>, Arc<Runner>),
    node_id: String,
    (addr, advertise): (String, String),
    node_tx: tokio::sync::watch::Sender<Option<Object>>,
) {
    let mut known = 0;
    let mut peers = Vec::new();
    let description: NodeDescription = executor.describe().await;
    loop {
        let req = SessionRequest {
            node_id: node_id.clone(),
            known,
            description: description.clone(),
            addr: addr.clone(),
            advertise: advertise.clone(),
            takes_unchanged: true,
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
                let applying = std::time::Instant::now();
                if !reply.unchanged {
                    // Before the tasks: a task starting now finds its secrets.
                    runner.set_secrets(&reply.secrets);
                    let assigned: Arc<Vec<Object>> =
                        Arc::new(reply.tasks.into_iter().map(Arc::unwrap_or_clone).collect());
                    runner.assign(assigned).await;
                    peers = reply.peers;
                }
                // Every reply, changed or not (one comes at least every half heartbeat): the
                // tables are reconciled against the kernel, so drift is repaired too.
                let syncing = std::time::Instant::now();
                if let Err(e) = executor.sync_peers(peers.clone()).await {
                    tracing::warn!(error = %e, "programming overlay peers");
                }
                let (apply, sync) = (syncing - applying, syncing.elapsed());
                if apply + sync > SLOW_REPLY {
                    tracing::warn!(
                        ?apply,
                        ?sync,
                        "a session reply took long to apply: the next one waits"
                    );
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "dispatcher session");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// Notices exits between sessions.
async fn check_loop(runner: Arc<Runner>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        runner.recheck().await;
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
