//! The sled-backed Raft storage: `LogStore` (log, vote, committed) and `StateMachineStore`
//! (the cluster objects and snapshots), both in one sled database under the node's data
//! directory, in separate trees. Log entries and snapshot images go through the member's
//! `Sealer` (encrypted at rest when it has a key).

mod log;
mod state_machine;

#[cfg(test)]
mod space_tests;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

pub use log::LogStore;
pub use state_machine::StateMachineStore;

use crate::error::RaftError;
use crate::space::{Renew, Space};

/// How long to keep retrying to open a database that a previous instance in this process
/// still holds (its tasks drop their handles shortly after shutdown).
const OPEN_RETRY: Duration = Duration::from_secs(10);

/// Opens (or creates) the stores under `dir`; `watch_history` is how many committed
/// transactions late watchers may ask for. Needs a tokio runtime (the log's flush task).
pub async fn open(
    dir: &Path,
    watch_history: usize,
    sealer: &crate::seal::Sealer,
) -> Result<(LogStore, StateMachineStore), RaftError> {
    let storage = |source| RaftError::Storage {
        path: dir.display().to_string(),
        source,
    };
    // Before sled opens (its recovery may write): never on a full disk.
    let space =
        Space::open("the Raft store", dir, Renew::No).map_err(|e| storage(sled::Error::Io(e)))?;
    let deadline = Instant::now() + OPEN_RETRY;
    let db = loop {
        let opened = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .open();
        match opened {
            // sled reports a held lock as an `Other` I/O error naming the lock.
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => break other.map_err(storage)?,
        }
    };
    space.preallocate();
    let log = LogStore::new(&db, sealer.clone(), space.clone()).map_err(storage)?;
    let sm = StateMachineStore::open(&db, watch_history, sealer.clone(), space)?;
    Ok((log, sm))
}

/// The openraft storage error for a failed sled or codec call.
pub(crate) fn io_error(
    make: fn(openraft::AnyError) -> openraft::StorageIOError<u64>,
    e: &(impl std::error::Error + 'static),
) -> openraft::StorageError<u64> {
    openraft::StorageError::IO {
        source: make(openraft::AnyError::new(e)),
    }
}
