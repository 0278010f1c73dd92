//! Where the swarm reads wall-clock time for the timestamps it writes (task statuses, update
//! progress): the system clock, or in tests a clock that follows tokio's (paused) time.

use chrono::{DateTime, Utc};

/// The wall clock.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that starts at `base` and advances with tokio's clock, so tests that pause and
/// advance tokio time move the swarm's timestamps too.
#[cfg(any(test, feature = "fakes"))]
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: DateTime<Utc>,
    start: tokio::time::Instant,
}

#[cfg(any(test, feature = "fakes"))]
impl TokioClock {
    /// A clock reading `base` now.
    pub fn starting_at(base: DateTime<Utc>) -> Self {
        TokioClock {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

#[cfg(any(test, feature = "fakes"))]
impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.start);
        self.base + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
    }
}
