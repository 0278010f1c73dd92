//! openraft's storage conformance suite against the sled stores, plus what the suite does not
//! check: data survives reopening, and a snapshot carries the objects.

use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::RaftLogReader;
use openraft::{Entry, EntryPayload, LogId, RaftSnapshotBuilder, StorageError, Vote};
use serde_json::json;
use tempfile::TempDir;

use super::{open, LogStore, StateMachineStore};
use crate::command::{ClusterCommand, Op, Proposal};
use crate::network::MAX_APPEND_BYTES;
use crate::objects::{Attrs, ObjectKind};
use crate::seal::Sealer;
use crate::TypeConfig;

struct SledBuilder;

/// The suite runs on sealed stores: sealing must not change what the store answers.
fn sealed() -> Sealer {
    Sealer::new(&crate::seal::DataKey::generate())
}

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for SledBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError<u64>> {
        let dir =
            TempDir::new().map_err(|e| super::io_error(openraft::StorageIOError::write, &e))?;
        let (log, sm) = open(dir.path(), 100, &sealed()).await.map_err(|e| {
            super::io_error(
                openraft::StorageIOError::write,
                &std::io::Error::other(e.to_string()),
            )
        })?;
        Ok((dir, log, sm))
    }
}

#[test]
fn the_sled_stores_pass_the_openraft_storage_suite() {
    Suite::test_all(SledBuilder).unwrap();
}

pub(super) fn entry(index: u64, payload: EntryPayload<TypeConfig>) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
        payload,
    }
}

fn create_secret(id: &str) -> EntryPayload<TypeConfig> {
    let txn = ClusterCommand::single(Op::Create {
        id: id.into(),
        attrs: Attrs::Secret { name: id.into() },
        spec: json!({"Name": id}),
        status: json!(null),
    });
    EntryPayload::Normal(Proposal::new(vec![txn]))
}

/// An entry of one transaction whose spec holds `bytes` bytes of text.
pub(super) fn big_entry(index: u64, bytes: usize) -> Entry<TypeConfig> {
    let id = format!("big-{index}");
    let txn = ClusterCommand::single(Op::Create {
        id: id.clone(),
        attrs: Attrs::Secret { name: id },
        spec: json!({ "Data": "x".repeat(bytes) }),
        status: json!(null),
    });
    entry(index, EntryPayload::Normal(Proposal::new(vec![txn])))
}

#[tokio::test]
async fn replication_reads_batches_cut_by_size_and_never_empty() {
    let dir = TempDir::new().unwrap();
    let (mut log, _sm) = open(dir.path(), 100, &Sealer::none()).await.unwrap();
    let entry_bytes = MAX_APPEND_BYTES / 8;
    log.blocking_append((1..=20).map(|i| big_entry(i, entry_bytes)))
        .await
        .unwrap();
    let batch = log.limited_get_log_entries(1, 21).await.unwrap();
    assert!(
        (1..8).contains(&batch.len()),
        "{} entries of {entry_bytes} bytes in one batch",
        batch.len()
    );
    let indexes: Vec<u64> = batch.iter().map(|e| e.log_id.index).collect();
    assert_eq!(indexes, (1..=batch.len() as u64).collect::<Vec<_>>());
    // One entry over the limit still goes alone; a plain read is never cut.
    log.blocking_append([big_entry(21, MAX_APPEND_BYTES * 2)])
        .await
        .unwrap();
    assert_eq!(log.limited_get_log_entries(21, 22).await.unwrap().len(), 1);
    assert_eq!(log.try_get_log_entries(1..22).await.unwrap().len(), 21);
}

#[tokio::test]
async fn the_vote_and_the_last_snapshot_survive_reopening_and_later_applies_wait_for_the_log() {
    let dir = TempDir::new().unwrap();
    {
        let (mut log, mut sm) = open(dir.path(), 100, &Sealer::none()).await.unwrap();
        log.save_vote(&Vote::new(3, 2)).await.unwrap();
        sm.apply([entry(1, create_secret("a")), entry(2, create_secret("b"))])
            .await
            .unwrap();
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        sm.apply([entry(3, create_secret("c"))]).await.unwrap();
    }
    let (mut log, mut sm) = open(dir.path(), 100, &Sealer::none()).await.unwrap();
    assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(3, 2)));
    // openraft re-applies entry 3 from the log (up to the durable committed id) at start-up.
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied.map(|l| l.index), Some(2));
    assert_eq!(sm.read().version(), 2);
    assert_eq!(sm.read().by_name(ObjectKind::Secret, "b").unwrap().id, "b");
    assert!(sm.read().get(ObjectKind::Secret, "c").is_none());
}

#[tokio::test]
async fn an_older_releases_object_mirror_becomes_a_snapshot() {
    let dir = TempDir::new().unwrap();
    {
        // The rows the previous release wrote on every apply.
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("state_machine").unwrap();
        let applied = Some(LogId::new(openraft::CommittedLeaderId::new(1, 1), 7));
        tree.insert("m:applied", crate::codec::encode(&applied).unwrap())
            .unwrap();
        tree.insert("m:version", crate::codec::encode(&5u64).unwrap())
            .unwrap();
        let mut state = crate::state::ClusterState::default();
        let EntryPayload::Normal(proposal) = create_secret("kept") else {
            unreachable!()
        };
        state.apply(&proposal.txns().unwrap()[0]);
        let object = state.get(ObjectKind::Secret, "kept").unwrap();
        tree.insert("o:secret/kept", crate::codec::encode(object).unwrap())
            .unwrap();
        db.flush().unwrap();
    }
    for _ in 0..2 {
        let (_, mut sm) = open(dir.path(), 100, &Sealer::none()).await.unwrap();
        let (applied, _) = sm.applied_state().await.unwrap();
        assert_eq!(applied.map(|l| l.index), Some(7));
        assert_eq!(sm.read().version(), 5);
        assert!(sm.read().get(ObjectKind::Secret, "kept").is_some());
        let snapshot = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(snapshot.meta.last_log_id.map(|l| l.index), Some(7));
    }
    // The stores' tasks let go of the database lock shortly after they are dropped.
    let mut tries = 0;
    let db = loop {
        match sled::open(dir.path()) {
            Ok(db) => break db,
            Err(e) if tries < 500 => {
                tries += 1;
                let _ = e;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => panic!("reopening the database: {e}"),
        }
    };
    assert!(!db
        .tree_names()
        .iter()
        .any(|t| t.as_ref() == b"state_machine"));
}

#[tokio::test]
async fn an_installed_snapshot_replaces_the_state_and_persists() {
    let source_dir = TempDir::new().unwrap();
    let (_, mut source) = open(source_dir.path(), 100, &Sealer::none()).await.unwrap();
    source
        .apply([entry(1, create_secret("a")), entry(2, create_secret("b"))])
        .await
        .unwrap();
    let snapshot = source
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();

    let dir = TempDir::new().unwrap();
    {
        let (_, mut sm) = open(dir.path(), 100, &Sealer::none()).await.unwrap();
        sm.apply([entry(1, create_secret("old"))]).await.unwrap();
        let watcher = sm.watch_hub().subscribe(1);
        sm.install_snapshot(&snapshot.meta, snapshot.snapshot)
            .await
            .unwrap();
        let mut watcher = watcher;
        assert_eq!(watcher.next().await, crate::WatchMessage::Resync);
    }
    let (_, mut sm) = open(dir.path(), 100, &Sealer::none()).await.unwrap();
    assert!(sm.read().get(ObjectKind::Secret, "old").is_none());
    assert_eq!(sm.read().len(), 2);
    let current = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta.last_log_id.map(|l| l.index), Some(2));
}
