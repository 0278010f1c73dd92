//! The routed side of `RaftNode`: writes and membership changes go to the leader (locally, or
//! forwarded over gRPC), following `ForwardToLeader` until the request deadline. A request is
//! retried only when it certainly did not reach a leader (`Unavailable`, `ForwardToLeader`),
//! so a retry never applies a write twice; a timeout is reported as such, since the write may
//! still commit.

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::error::ChangeMembershipError;
use openraft::ServerState;
use tokio::time::Instant;

use crate::command::{Change, ClusterCommand, ClusterResponse, Op};
use crate::error::RaftError;
use crate::network::{MembershipRequest, Method};
use crate::node::RaftNode;
use crate::proposer::{Committed, Proposer, WriteReply};
use crate::types::{ChangeMembers, ClientWriteError, ClientWriteResponse, NodeAddr, NodeId, Raft};

/// A committed, applied transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The store version it produced.
    pub version: u64,
    /// The Raft log index of its entry.
    pub log_index: u64,
    /// What it changed.
    pub changes: Vec<Change>,
}

/// How long to wait before trying again after a refusal that did not reach a leader.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

impl RaftNode {
    /// Where the leader is: `None` when this node leads, else the leader's id and address.
    /// Waits for a leader to be known, until `deadline`.
    pub(crate) async fn route(
        &self,
        deadline: Instant,
    ) -> Result<Option<(NodeId, String)>, RaftError> {
        loop {
            let target = {
                let metrics = self.raft.metrics();
                let m = metrics.borrow();
                match m.current_leader {
                    Some(leader) if leader == self.id && m.state == ServerState::Leader => {
                        Some(None)
                    }
                    Some(leader) if leader != self.id => m
                        .membership_config
                        .membership()
                        .get_node(&leader)
                        .map(|node| Some((leader, node.addr.clone()))),
                    _ => None,
                }
            };
            if let Some(target) = target {
                return Ok(target);
            }
            self.pause(deadline).await?;
        }
    }

    /// Sleeps a little before a retry, or fails when `deadline` has passed.
    pub(crate) async fn pause(&self, deadline: Instant) -> Result<(), RaftError> {
        if Instant::now() >= deadline {
            return Err(RaftError::Unavailable {
                reason: format!(
                    "no leader with a quorum reachable from member {} within {:?}",
                    self.id, self.config.request_timeout
                ),
            });
        }
        tokio::time::sleep(RETRY_PAUSE.min(deadline.saturating_duration_since(Instant::now())))
            .await;
        Ok(())
    }

    /// Commits `cmd` through the leader and returns what it changed. A refused transaction is
    /// `RaftError::Apply` (e.g. a version conflict); nothing of it was applied.
    pub async fn write(&self, cmd: ClusterCommand) -> Result<Applied, RaftError> {
        let response = self
            .leader_write(Method::Write, &cmd, self.config.request_timeout)
            .await?;
        match response.response {
            ClusterResponse::Applied { version, changes } => Ok(Applied {
                version,
                log_index: response.log_index,
                changes,
            }),
            ClusterResponse::Rejected { error } => Err(error.into()),
            ClusterResponse::None => Err(RaftError::Fatal("a write produced no response".into())),
        }
    }

    /// Runs a write-like request (a command or a membership change) on the leader.
    async fn leader_write<Req>(
        &self,
        method: Method,
        request: &Req,
        timeout: Duration,
    ) -> Result<Committed, RaftError>
    where
        Req: serde::Serialize + Clone + LocalWrite,
    {
        let deadline = Instant::now() + timeout;
        loop {
            let reply: WriteReply = match self.route(deadline).await? {
                None => {
                    match tokio::time::timeout_at(
                        deadline,
                        request.clone().run(&self.raft, &self.proposer),
                    )
                    .await
                    {
                        Ok(reply) => reply,
                        Err(_) => {
                            return Err(RaftError::Timeout {
                                what: "raft write",
                                after: timeout,
                            })
                        }
                    }
                }
                Some((leader, addr)) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    match self
                        .peers
                        .call(leader, &addr, method, request, remaining)
                        .await
                    {
                        Ok(reply) => reply,
                        Err(RaftError::Unavailable { .. }) => {
                            self.pause(deadline).await?;
                            continue;
                        }
                        Err(RaftError::Timeout { .. }) => {
                            return Err(RaftError::Timeout {
                                what: "raft write",
                                after: timeout,
                            })
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            match reply {
                Ok(response) => return Ok(response),
                Err(e) if e.forward_to_leader::<NodeAddr>().is_some() => {
                    self.pause(deadline).await?
                }
                // Another change (or the second phase of one) is still committing: wait.
                Err(openraft::error::RaftError::APIError(
                    ClientWriteError::ChangeMembershipError(ChangeMembershipError::InProgress(_)),
                )) => self.pause(deadline).await?,
                Err(openraft::error::RaftError::APIError(
                    ClientWriteError::ChangeMembershipError(e),
                )) => return Err(RaftError::Membership(e.to_string())),
                Err(e) => return Err(RaftError::Fatal(e.to_string())),
            }
        }
    }

    fn membership_timeout(&self) -> Duration {
        // Adding a learner waits until it caught up, which may mean a large snapshot.
        self.config.request_timeout * 6
    }

    /// Adds member `id` at `addr` as a learner and waits until it has caught up. Refuses ids
    /// already in the membership or used before.
    pub async fn add_learner(&self, id: NodeId, addr: NodeAddr) -> Result<(), RaftError> {
        if self.read_linearizable(|s| s.is_member_retired(id)).await? {
            return Err(RaftError::Membership(format!(
                "member id {id} was used before"
            )));
        }
        let known = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&id)
            .cloned();
        if known.is_some_and(|node| node != addr) {
            return Err(RaftError::Membership(format!(
                "member id {id} is already in use"
            )));
        }
        let request = MembershipRequest::AddLearner { id, node: addr };
        self.leader_write(
            Method::ChangeMembership,
            &request,
            self.membership_timeout(),
        )
        .await?;
        Ok(())
    }

    /// Makes learner `id` a voter.
    pub async fn promote(&self, id: NodeId) -> Result<(), RaftError> {
        self.change(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
    }

    /// Makes voter `id` a learner (it keeps replicating but no longer votes).
    pub async fn demote(&self, id: NodeId) -> Result<(), RaftError> {
        self.change(ChangeMembers::RemoveVoters(BTreeSet::from([id])), true)
            .await
    }

    /// Removes member `id` (voter or learner) and retires its id for good.
    pub async fn remove_member(&self, id: NodeId) -> Result<(), RaftError> {
        // Retired first: from here on no add can reuse the id, even if the removal fails.
        self.write(ClusterCommand::single(Op::RetireMember { id }))
            .await?;
        let is_voter = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == id);
        if is_voter {
            self.change(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
                .await?;
        }
        self.change(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false)
            .await
    }

    /// The smallest member id never used: above every member and every retired id.
    pub async fn next_member_id(&self) -> Result<NodeId, RaftError> {
        let retired = self.read_linearizable(|s| s.max_retired_member()).await?;
        let members = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .nodes()
            .map(|(id, _)| *id)
            .max();
        Ok(retired.max(members).map_or(1, |m| m + 1))
    }

    async fn change(&self, changes: ChangeMembers, retain: bool) -> Result<(), RaftError> {
        let request = MembershipRequest::Change { changes, retain };
        self.leader_write(
            Method::ChangeMembership,
            &request,
            self.membership_timeout(),
        )
        .await?;
        Ok(())
    }
}

/// A request the local openraft instance can run when this node leads.
pub(crate) trait LocalWrite {
    fn run(
        self,
        raft: &Raft,
        proposer: &Proposer,
    ) -> impl std::future::Future<Output = WriteReply> + Send;
}

impl LocalWrite for ClusterCommand {
    async fn run(self, _raft: &Raft, proposer: &Proposer) -> WriteReply {
        proposer.propose(self).await
    }
}

impl LocalWrite for MembershipRequest {
    async fn run(self, raft: &Raft, proposer: &Proposer) -> WriteReply {
        let written = match self {
            Self::AddLearner { id, node } => raft.add_learner(id, node, true).await,
            Self::Change { changes, retain } => raft.change_membership(changes, retain).await,
        };
        let committed = written.map(membership_committed)?;
        proposer.durable().await?;
        Ok(committed)
    }
}

/// A committed membership change, in the shape of a write reply.
pub(crate) fn membership_committed(written: ClientWriteResponse) -> Committed {
    Committed {
        log_index: written.log_id.index,
        response: ClusterResponse::None,
    }
}

/// Runs for the node's lifetime: when this node leads and the membership has stayed joint for
/// a while (a leader died between the two phases of a change), it finishes the change toward
/// the newest config. The wait leaves a live change time to finish its own second phase.
pub(crate) async fn finish_joint_membership(raft: Raft, settle: Duration) {
    let mut metrics = raft.metrics();
    loop {
        let pending = joint_target(&raft);
        if let Some((log_id, target)) = pending {
            tokio::time::sleep(settle).await;
            if joint_target(&raft).is_some_and(|(now, _)| now == log_id) {
                let change = ChangeMembers::ReplaceAllVoters(target);
                if let Err(e) = raft.change_membership(change, true).await {
                    tracing::debug!(error = %e, "finishing a joint membership change");
                }
            }
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// The membership log id and the newest voter set, when this node leads a joint membership.
fn joint_target(raft: &Raft) -> Option<(Option<crate::LogId>, BTreeSet<NodeId>)> {
    let metrics = raft.metrics();
    let m = metrics.borrow();
    let joint = m.membership_config.membership().get_joint_config();
    if m.state != ServerState::Leader || joint.len() < 2 {
        return None;
    }
    Some((*m.membership_config.log_id(), joint.last()?.clone()))
}
