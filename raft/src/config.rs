//! `RaftConfig`: timing and limits of a node, with LAN defaults (heartbeat 100 ms, about 1 s
//! without a leader before an election), and its translation into openraft's `Config`.

use std::time::Duration;

use crate::error::RaftError;

/// Tunables of one Raft node.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// How often the leader sends heartbeats.
    pub heartbeat_interval: Duration,
    /// A follower that hears no leader for the leader lease (openraft sets it to
    /// `election_timeout_max`) plus a random time in `election_timeout_min..election_timeout_max`
    /// starts an election: with the defaults, 1.0 to 1.2 s after the last heartbeat.
    pub election_timeout_min: Duration,
    /// Upper end of the election timeout range.
    pub election_timeout_max: Duration,
    /// Build a snapshot (and then compact the log) after this many entries since the last one,
    /// unless the policy the member follows (`RaftNode::follow_compaction`) says otherwise.
    pub snapshot_after_entries: u64,
    /// Entries kept in the log behind a snapshot, so a briefly lagging follower needs no
    /// snapshot (the same exception).
    pub keep_entries_after_snapshot: u64,
    /// Most entries in one AppendEntries RPC.
    pub max_payload_entries: u64,
    /// Bytes of snapshot per InstallSnapshot chunk.
    pub snapshot_chunk_size: u64,
    /// The least time a Raft RPC gets before it counts as failed (openraft asks heartbeats to
    /// finish within one heartbeat interval, too short for a catch-up batch).
    pub rpc_timeout: Duration,
    /// How long a write or a linearizable read may wait for a quorum before it fails.
    pub request_timeout: Duration,
    /// How many committed transactions late watchers may ask for.
    pub watch_history: usize,
}

impl Default for RaftConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_millis(100),
            election_timeout_min: Duration::from_millis(400),
            election_timeout_max: Duration::from_millis(600),
            snapshot_after_entries: 10_000,
            keep_entries_after_snapshot: 1_000,
            max_payload_entries: 256,
            snapshot_chunk_size: 1 << 20,
            rpc_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            watch_history: 10_000,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RaftConfig {
    /// The compaction policy these settings give.
    pub fn compaction(&self) -> crate::compaction::Compaction {
        crate::compaction::Compaction {
            snapshot_after_entries: self.snapshot_after_entries,
            keep_entries_after_snapshot: self.keep_entries_after_snapshot,
        }
    }

    /// openraft's configuration for these settings; fails when they contradict each other.
    pub fn to_openraft(&self) -> Result<openraft::Config, RaftError> {
        let config = openraft::Config {
            cluster_name: "berth".into(),
            heartbeat_interval: millis(self.heartbeat_interval),
            election_timeout_min: millis(self.election_timeout_min),
            election_timeout_max: millis(self.election_timeout_max),
            // A chunk of a large snapshot crosses TLS and is written to sled: allow it time.
            install_snapshot_timeout: 10_000,
            max_payload_entries: self.max_payload_entries,
            // Snapshots and purges are asked for by `compaction::run`, which follows a policy
            // that may change while the member runs.
            snapshot_policy: openraft::SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: u64::MAX,
            snapshot_max_chunk_size: self.snapshot_chunk_size,
            ..Default::default()
        };
        config
            .validate()
            .map_err(|e| RaftError::InvalidConfig(e.to_string()))
    }
}
