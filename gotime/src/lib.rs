//! Go's time texts as Docker reads and writes them, shared by berthd and the CLI: durations
//! (`time.Duration`: HEALTHCHECK flags, the classic builder's history, `--health-interval`)
//! and the since/until timestamps of Docker's CLI and prune filters.

mod duration;
mod timestamp;

pub use duration::{format_duration, parse_duration};
pub use timestamp::{get_timestamp, parse_timestamps, timestamp_at};
