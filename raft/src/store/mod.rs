//! The sled-backed Raft storage: `LogStore` (log, vote, committed) and `StateMachineStore`
//! (the cluster objects and snapshots), both in one sled database under the node's data
//! directory, in separate trees.

mod log;
mod state_machine;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use log::LogStore;
pub use state_machine::StateMachineStore;

use crate::error::RaftError;

/// Opens (or creates) the stores under `dir`; `watch_history` is how many committed
/// transactions late watchers may ask for.
pub fn open(dir: &Path, watch_history: usize) -> Result<(LogStore, StateMachineStore), RaftError> {
    let storage = |source| RaftError::Storage {
        path: dir.display().to_string(),
        source,
    };
    let db = sled::Config::new()
        .path(dir)
        .mode(sled::Mode::HighThroughput)
        .open()
        .map_err(storage)?;
    let log = LogStore::new(&db).map_err(storage)?;
    let sm = StateMachineStore::open(&db, watch_history)?;
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
