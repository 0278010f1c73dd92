//! berth-node: the engine behind berthd. `api` speaks Docker's HTTP API, `engine` owns
//! containers and images, `runtime` is the only user of libcontainer (in the monitor process).

pub mod api;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod error;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzz;
pub mod listen;
pub mod network;
pub mod runtime;
pub mod store;
pub mod swarm_events;
pub mod swarm_executor;

pub use error::{EngineError, ErrorKind, Result};
