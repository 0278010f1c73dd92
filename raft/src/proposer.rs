//! `Proposer`: group commit for client writes on the leader. openraft 0.9 runs each
//! `client_write` through its own log append and flush, so concurrent writes would cost one
//! fsync each; the proposer instead packs every write queued while the previous proposal
//! commits into one log entry (`Proposal`), whose transactions still apply one by one with
//! their own versions and results.

use std::future::Future;

use futures_util::stream::{FuturesUnordered, StreamExt};
use openraft::raft::ClientWriteResult;
use tokio::sync::{mpsc, oneshot};

use crate::command::{ClusterCommand, ClusterResponse, Proposal};
use crate::types::{ClientWriteError, OpenRaftError, Raft};
use crate::TypeConfig;

/// Most transactions in one log entry.
const MAX_BATCH: usize = 256;

/// Most proposals submitted and not yet applied. openraft's core appends, fsyncs and
/// replicates one entry while earlier ones wait for their quorum, so a few in flight keep
/// every stage busy; many would only make each entry (and its batch) smaller.
const MAX_IN_FLIGHT: usize = 4;

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
    let mut in_flight = FuturesUnordered::new();
    loop {
        // Full window: only a commit can make room; otherwise take whatever comes first.
        let first = tokio::select! {
            Some(()) = in_flight.next(), if !in_flight.is_empty() => continue,
            next = queue.recv(), if in_flight.len() < MAX_IN_FLIGHT => match next {
                Some(first) => first,
                None => break,
            },
        };
        let mut txns = vec![first.cmd];
        let mut replies = vec![first.reply];
        while txns.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => {
                    txns.push(next.cmd);
                    replies.push(next.reply);
                }
                Err(_) => break,
            }
        }
        // Submitted here, in queue order, so proposals enter the log in the order they were
        // made; only the wait for their commit runs concurrently.
        match raft.client_write_ff(Proposal { txns }).await {
            Ok(committed) => in_flight.push(answer(committed, replies)),
            Err(fatal) => {
                for reply in replies {
                    let _ = reply.send(Err(OpenRaftError::Fatal(fatal.clone())));
                }
            }
        }
    }
    // Every proposer is gone; proposals already submitted still get their answers.
    while in_flight.next().await.is_some() {}
}

/// Waits for one proposal's commit and answers each of its writers.
async fn answer<E>(
    committed: impl Future<Output = Result<ClientWriteResult<TypeConfig>, E>>,
    replies: Vec<oneshot::Sender<WriteReply>>,
) {
    let written = match committed.await {
        Ok(result) => result.map_err(OpenRaftError::APIError),
        // openraft dropped the responder: it stopped before the entry was applied.
        Err(_) => Err(OpenRaftError::Fatal(openraft::error::Fatal::Stopped)),
    };
    match written {
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
