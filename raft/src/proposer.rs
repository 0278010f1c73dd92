//! `Proposer`: group commit for client writes on the leader. openraft 0.9 runs each
//! `client_write` through its own log append and flush, so concurrent writes would cost one
//! fsync each; the proposer instead packs every write queued while the previous proposal
//! commits into one log entry (`Proposal`), whose transactions still apply one by one with
//! their own versions and results.

use tokio::sync::{mpsc, oneshot};

use crate::command::{ClusterCommand, ClusterResponse, Proposal};
use crate::types::{ClientWriteError, OpenRaftError, Raft};

/// Most transactions in one log entry.
const MAX_BATCH: usize = 256;

/// A write that committed and applied on the leader.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Committed {
    /// The log index of the entry that carried it.
    pub log_index: u64,
    /// Its result (`None` for a membership change).
    pub response: ClusterResponse,
}

/// The leader's answer to a write or a membership change.
pub(crate) type WriteReply = Result<Committed, OpenRaftError<ClientWriteError>>;

struct Pending {
    cmd: ClusterCommand,
    reply: oneshot::Sender<WriteReply>,
}

/// The queue into the batching task; cheap to clone.
#[derive(Clone)]
pub(crate) struct Proposer {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Proposer {
    /// Starts the batching task for `raft`; it ends when every `Proposer` clone is dropped.
    pub(crate) fn start(raft: Raft) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, rx) = mpsc::unbounded_channel();
        (Self { queue }, tokio::spawn(run(raft, rx)))
    }

    /// Proposes `cmd` through this node's Raft (which must lead, or the reply is
    /// `ForwardToLeader`) and waits until it applied.
    pub(crate) async fn propose(&self, cmd: ClusterCommand) -> WriteReply {
        let (reply, rx) = oneshot::channel();
        let stopped = || OpenRaftError::Fatal(openraft::error::Fatal::Stopped);
        self.queue
            .send(Pending { cmd, reply })
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

async fn run(raft: Raft, mut queue: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (txns, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|p| (p.cmd, p.reply)).unzip();
        match raft.client_write(Proposal { txns }).await {
            Ok(written) => {
                let log_index = written.log_id.index;
                let mut responses = written.data.into_iter();
                for reply in replies {
                    let response = responses.next().unwrap_or(ClusterResponse::None);
                    let _ = reply.send(Ok(Committed {
                        log_index,
                        response,
                    }));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
