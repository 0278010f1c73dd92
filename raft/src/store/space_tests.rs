//! The Raft store on a full disk (a small tmpfs, so root only): a write that would not fit is
//! refused before sled sees it, and once space is back the store reopens with every
//! acknowledged entry (sled 0.34 hit by an ENOSPC could be left unreadable for good).

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use openraft::storage::RaftLogStorageExt;
use openraft::RaftLogReader;
use tempfile::TempDir;

use super::tests::big_entry;
use super::{open, LogStore};
use crate::seal::Sealer;
use crate::space::{available, FLOOR, RESERVE};

/// A tmpfs of `mib` MiB on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    fn mount(mib: u64) -> Option<Self> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        let dir = TempDir::new().unwrap();
        let options = format!("size={mib}m");
        nix::mount::mount(
            Some("tmpfs"),
            dir.path(),
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(options.as_str()),
        )
        .unwrap();
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(self.dir.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Writes a filler until only about `leave` bytes are free (0: until ENOSPC).
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    for chunk in [1usize << 20, 4096, 1] {
        let block = vec![0xa5u8; chunk];
        loop {
            if available(dir).unwrap() < leave + block.len() as u64 {
                break;
            }
            match file.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::StorageFull => break,
                Err(e) => panic!("fill: {e}"),
            }
        }
    }
    path
}

async fn indexes(log: &mut LogStore) -> Vec<u64> {
    let entries = log.try_get_log_entries(0..u64::MAX).await.unwrap();
    entries.iter().map(|e| e.log_id.index).collect()
}

async fn full_disk_then_reopen(leave: u64) {
    let Some(fs) = Tmpfs::mount(48) else {
        return;
    };
    let dir = fs.path().join("raft");
    let entry_bytes = 256 << 10;
    {
        let (mut log, _sm) = open(&dir, 100, &Sealer::none()).await.unwrap();
        log.blocking_append((1..=10).map(|i| big_entry(i, entry_bytes)))
            .await
            .unwrap();
        let filler = fill(fs.path(), leave);
        // Appends until one is refused: every acknowledged one must survive.
        let mut acked = 10;
        for i in 11..=200 {
            match log.blocking_append([big_entry(i, entry_bytes)]).await {
                Ok(()) => acked = i,
                Err(e) => {
                    let text = e.to_string();
                    assert!(
                        text.contains("no space left on device for the Raft store"),
                        "sled saw the full disk: {text}"
                    );
                    break;
                }
            }
        }
        assert!(acked < 200, "the disk never filled up");
        // A refused store stays refused (it is reopened), also with space back.
        std::fs::remove_file(&filler).unwrap();
        assert!(log
            .blocking_append([big_entry(acked + 1, 10)])
            .await
            .is_err());
        let (mut log2, _) = (log.clone(), ());
        assert_eq!(indexes(&mut log2).await, (1..=acked).collect::<Vec<_>>());
        drop(log2);
        drop(log);
        // The reopen below must wait for this store's handles to go.
    }
    let (mut log, _sm) = open(&dir, 100, &Sealer::none()).await.unwrap();
    let acked = indexes(&mut log).await;
    assert!(acked.len() >= 10 && acked == (1..=acked.len() as u64).collect::<Vec<_>>());
    let next = acked.len() as u64 + 1;
    log.blocking_append([big_entry(next, entry_bytes)])
        .await
        .unwrap();
    assert_eq!(indexes(&mut log).await.last(), Some(&next));
}

#[tokio::test]
async fn a_disk_filled_to_the_last_byte_refuses_the_write_and_the_store_reopens_whole() {
    full_disk_then_reopen(0).await;
}

#[tokio::test]
async fn a_disk_filled_to_just_below_a_write_refuses_it_and_the_store_reopens_whole() {
    // Room for the reserve's worth of writes but not for the floor on top of the next one.
    full_disk_then_reopen(FLOOR + RESERVE / 2).await;
}

#[tokio::test]
async fn the_store_does_not_open_on_a_full_disk_and_opens_once_space_is_back() {
    let Some(fs) = Tmpfs::mount(32) else {
        return;
    };
    let dir = fs.path().join("raft");
    let filler = fill(fs.path(), 0);
    let refused = open(&dir, 100, &Sealer::none()).await.map(|_| ());
    let text = refused.unwrap_err().to_string();
    assert!(
        text.contains("no space left on device for the Raft store"),
        "{text}"
    );
    std::fs::remove_file(&filler).unwrap();
    let (mut log, _sm) = open(&dir, 100, &Sealer::none()).await.unwrap();
    log.blocking_append([big_entry(1, 10)]).await.unwrap();
}
