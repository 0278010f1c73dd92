//! `Proposer`: group commit for client writes on the leader. openraft 0.9 runs each
//! `client_write` through its own log append and flush, so concurrent writes would cost one
//! fsync each; the proposer instead packs every write queued while the previous proposal
//! commits into one log entry (`Proposal`), whose transactions still apply one by one with
//! their own versions and results.
//!
//! A writer is answered only once the log is synced past the entry's commit record:
//! `LogStore::save_committed` writes that record without waiting for it, so openraft's core
//! does not stall on one more fsync per commit, and the wait happens here instead, off the
//! core, usually sharing the next append's fsync.

use std::future::Future;

use futures_util::stream::{FuturesUnordered, StreamExt};
use openraft::raft::ClientWriteResult;
use tokio::sync::{mpsc, oneshot};

use crate::command::{ClusterCommand, ClusterResponse, Proposal};
use crate::store::LogStore;
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
    log: LogStore,
}

impl Proposer {
    /// Starts the batching task for `raft`; it ends when every `Proposer` clone is dropped.
    pub(crate) fn start(raft: Raft, log: LogStore) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(raft, log.clone(), rx));
        (Self { queue, log }, task)
    }

    /// Waits until this node's log is on disk up to now, commit records included; every
    /// write is answered only after it.
    pub(crate) async fn durable(&self) -> Result<(), OpenRaftError<ClientWriteError>> {
        self.log
            .durable()
            .await
            .map_err(|e| OpenRaftError::Fatal(openraft::error::Fatal::StorageError(e)))
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

async fn run(raft: Raft, log: LogStore, mut queue: mpsc::UnboundedReceiver<Pending>) {
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
        match raft.client_write_ff(Proposal::new(txns)).await {
            Ok(committed) => in_flight.push(answer(committed, &log, replies)),
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
    log: &LogStore,
    replies: Vec<oneshot::Sender<WriteReply>>,
) {
    let written = match committed.await {
        Ok(result) => result.map_err(OpenRaftError::APIError),
        // openraft dropped the responder: it stopped before the entry was applied.
        Err(_) => Err(OpenRaftError::Fatal(openraft::error::Fatal::Stopped)),
    };
    let written = match written {
        Ok(written) => match log.durable().await {
            Ok(()) => Ok(written),
            Err(e) => Err(OpenRaftError::Fatal(openraft::error::Fatal::StorageError(
                e,
            ))),
        },
        Err(e) => Err(e),
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
