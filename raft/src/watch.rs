//! Watches: every committed transaction becomes an `Event` that subscribers receive in commit
//! order, from a version they name. A subscriber that falls behind, or asks for history the hub
//! no longer holds, or whose node installed a snapshot, gets `Resync`: read the state again and
//! watch from its version. Events are never dropped silently.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

use crate::command::Change;

/// The changes of one committed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The store version the transaction produced (consecutive across events).
    pub version: u64,
    /// What it changed, in operation order.
    pub changes: Vec<Change>,
}

/// What a watcher receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchMessage {
    /// The next committed transaction.
    Event(Arc<Event>),
    /// Events were missed (the watcher lagged, or a snapshot replaced the state): read the state
    /// again and subscribe from its version. Every later call returns `Resync` too.
    Resync,
    /// The node is shutting down.
    Closed,
}

#[derive(Debug, Clone)]
enum Signal {
    Event(Arc<Event>),
    Reset,
}

#[derive(Debug)]
struct HubInner {
    /// Events with versions `floor + 1 ..= floor + history.len()`.
    history: VecDeque<Arc<Event>>,
    floor: u64,
    capacity: usize,
    tx: broadcast::Sender<Signal>,
}

/// The publisher side, owned by the state machine; cheap to clone.
#[derive(Debug, Clone)]
pub struct WatchHub {
    inner: Arc<Mutex<HubInner>>,
}

impl WatchHub {
    /// A hub whose state is at `version`, remembering the last `history` events for late
    /// subscribers and letting a live subscriber fall `history` events behind before `Resync`.
    pub fn new(version: u64, history: usize) -> Self {
        let capacity = history.max(1);
        let (tx, _) = broadcast::channel(capacity);
        let inner = HubInner {
            history: VecDeque::new(),
            floor: version,
            capacity,
            tx,
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes a committed transaction; versions must follow each other.
    pub(crate) fn publish(&self, event: Event) {
        let mut inner = self.lock();
        let event = Arc::new(event);
        inner.history.push_back(event.clone());
        while inner.history.len() > inner.capacity {
            inner.history.pop_front();
            inner.floor += 1;
        }
        // No receiver is not an error: nobody watches.
        let _ = inner.tx.send(Signal::Event(event));
    }

    /// The state was replaced by a snapshot at `version`: everyone must resync.
    pub(crate) fn reset(&self, version: u64) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.floor = version;
        let _ = inner.tx.send(Signal::Reset);
    }

    /// Subscribes to every transaction after `from` (a state's `version()`).
    pub fn subscribe(&self, from: u64) -> Watcher {
        let inner = self.lock();
        let rx = inner.tx.subscribe();
        let newest = inner.floor + inner.history.len() as u64;
        if from < inner.floor || from > newest {
            return Watcher {
                backlog: VecDeque::new(),
                rx,
                last: from,
                resync: true,
            };
        }
        // Versions follow each other from `floor + 1`: skip to `from` rather than test every
        // event, as every node session subscribes after every commit.
        let skip = usize::try_from(from - inner.floor).unwrap_or(usize::MAX);
        let backlog = inner.history.iter().skip(skip).cloned().collect();
        Watcher {
            backlog,
            rx,
            last: from,
            resync: false,
        }
    }
}

/// The subscriber side of a watch.
#[derive(Debug)]
pub struct Watcher {
    backlog: VecDeque<Arc<Event>>,
    rx: broadcast::Receiver<Signal>,
    last: u64,
    resync: bool,
}

impl Watcher {
    /// The next message; waits for the next commit when none is pending.
    pub async fn next(&mut self) -> WatchMessage {
        loop {
            if self.resync {
                return WatchMessage::Resync;
            }
            let event = match self.backlog.pop_front() {
                Some(event) => event,
                None => match self.rx.recv().await {
                    Ok(Signal::Event(event)) => event,
                    Ok(Signal::Reset) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.resync = true;
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return WatchMessage::Closed,
                },
            };
            // Events published between taking the backlog and subscribing arrive twice.
            if event.version <= self.last {
                continue;
            }
            if event.version != self.last + 1 {
                self.resync = true;
                continue;
            }
            self.last = event.version;
            return WatchMessage::Event(event);
        }
    }

    /// The version of the last event delivered (or the version subscribed from).
    pub fn last_version(&self) -> u64 {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(version: u64) -> Event {
        Event {
            version,
            changes: Vec::new(),
        }
    }

    async fn versions(w: &mut Watcher, n: usize) -> Vec<u64> {
        let mut out = Vec::new();
        for _ in 0..n {
            match w.next().await {
                WatchMessage::Event(e) => out.push(e.version),
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    #[tokio::test]
    async fn a_subscriber_gets_history_then_live_events_once_each_in_order() {
        let hub = WatchHub::new(0, 16);
        hub.publish(event(1));
        hub.publish(event(2));
        let mut w = hub.subscribe(1);
        hub.publish(event(3));
        assert_eq!(versions(&mut w, 2).await, [2, 3]);
    }

    #[tokio::test]
    async fn asking_for_forgotten_history_is_a_resync() {
        let hub = WatchHub::new(0, 2);
        for v in 1..=5 {
            hub.publish(event(v));
        }
        assert_eq!(hub.subscribe(1).next().await, WatchMessage::Resync);
        let mut w = hub.subscribe(3);
        assert_eq!(versions(&mut w, 2).await, [4, 5]);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_gets_resync_and_keeps_getting_it() {
        let hub = WatchHub::new(0, 2);
        let mut w = hub.subscribe(0);
        for v in 1..=10 {
            hub.publish(event(v));
        }
        assert_eq!(w.next().await, WatchMessage::Resync);
        assert_eq!(w.next().await, WatchMessage::Resync);
    }

    #[tokio::test]
    async fn a_snapshot_install_makes_every_subscriber_resync() {
        let hub = WatchHub::new(0, 8);
        let mut w = hub.subscribe(0);
        hub.reset(100);
        assert_eq!(w.next().await, WatchMessage::Resync);
        hub.publish(event(101));
        assert_eq!(versions(&mut hub.subscribe(100), 1).await, [101]);
    }

    #[tokio::test]
    async fn dropping_the_hub_closes_watchers() {
        let hub = WatchHub::new(0, 8);
        let mut w = hub.subscribe(0);
        drop(hub);
        assert_eq!(w.next().await, WatchMessage::Closed);
    }
}
