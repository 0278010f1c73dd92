//! The daemon's event log (`GET /events`): a bounded ring of recent events, kept on disk so
//! `since` reaches back across a daemon restart, and a broadcast for live subscribers. Events
//! are engine values; `api::convert::events` gives them Docker's shape.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Events kept (in memory and on disk).
const RING: usize = 1024;
/// Live events buffered per subscriber before it is told it fell behind.
const LIVE_BUFFER: usize = 1024;

/// One event, as Docker's `Type`/`Action`/`Actor` model has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `container`, `image`, `volume`, `network`, …
    pub kind: String,
    pub action: String,
    pub actor_id: String,
    pub attributes: BTreeMap<String, String>,
    /// Unix time in nanoseconds.
    pub time_nano: i64,
    /// A change to the swarm's state (Docker's `scope: swarm`), not to this daemon's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub swarm: bool,
}

/// The ring, its file and the live channel.
pub struct EventLog {
    ring: Mutex<Ring>,
    live: broadcast::Sender<Event>,
}

struct Ring {
    events: VecDeque<Event>,
    path: PathBuf,
    file: Option<File>,
    /// Lines in the file; it is rewritten with the ring alone when it reaches twice the ring.
    lines: usize,
}

impl EventLog {
    /// Opens the log at `path`, keeping the newest events it holds (torn lines are skipped).
    pub fn open(path: PathBuf) -> Self {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut events: VecDeque<Event> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        while events.len() > RING {
            events.pop_front();
        }
        let lines = text.lines().count();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .ok();
        EventLog {
            ring: Mutex::new(Ring {
                events,
                path,
                file,
                lines,
            }),
            live: broadcast::channel(LIVE_BUFFER).0,
        }
    }

    /// Records an event of this daemon now.
    pub fn emit(
        &self,
        kind: &str,
        action: &str,
        actor_id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        self.record(kind, action, actor_id, attributes, false);
    }

    /// Records a change to the swarm's state now (a manager's `scope: swarm` event).
    pub fn emit_swarm(
        &self,
        kind: &str,
        action: &str,
        actor_id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        self.record(kind, action, actor_id, attributes, true);
    }

    fn record(
        &self,
        kind: &str,
        action: &str,
        actor_id: &str,
        attributes: BTreeMap<String, String>,
        swarm: bool,
    ) {
        let time_nano = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let event = Event {
            kind: kind.to_string(),
            action: action.to_string(),
            actor_id: actor_id.to_string(),
            attributes,
            time_nano,
            swarm,
        };
        if let Ok(mut ring) = self.ring.lock() {
            ring.push(event.clone());
        }
        // No subscriber is not an error.
        let _ = self.live.send(event);
    }

    /// How many receivers wait for live events (`/info`'s `NEventsListener`).
    pub fn listeners(&self) -> usize {
        self.live.receiver_count()
    }

    /// Past events from `since` (ns) on, and a receiver for what comes next; taken together
    /// under the lock, so nothing falls between them.
    pub fn subscribe(&self, since: i64) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let ring = self.ring.lock();
        let rx = self.live.subscribe();
        let past = ring
            .map(|r| {
                r.events
                    .iter()
                    .filter(|e| e.time_nano >= since)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        (past, rx)
    }
}

impl Ring {
    fn push(&mut self, event: Event) {
        if let Some(f) = self.file.as_mut() {
            if let Ok(mut line) = serde_json::to_vec(&event) {
                line.push(b'\n');
                // Events are a convenience: a failed write loses the event, not the operation.
                if f.write_all(&line).is_ok() {
                    self.lines += 1;
                }
            }
        }
        self.events.push_back(event);
        while self.events.len() > RING {
            self.events.pop_front();
        }
        if self.lines >= 2 * RING {
            self.compact();
        }
    }

    /// Rewrites the file with the ring only (write new, fsync, rename).
    fn compact(&mut self) {
        let mut text = Vec::new();
        for e in &self.events {
            if let Ok(line) = serde_json::to_vec(e) {
                text.extend_from_slice(&line);
                text.push(b'\n');
            }
        }
        if crate::runtime::files::write_atomic(&self.path, &text).is_ok() {
            self.file = OpenOptions::new().append(true).open(&self.path).ok();
            self.lines = self.events.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_a_reopen_and_since_filters_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let log = EventLog::open(path.clone());
        log.emit("container", "create", "a", BTreeMap::new());
        log.emit("container", "start", "a", BTreeMap::new());
        let (all, _) = log.subscribe(0);
        drop(log);
        let log = EventLog::open(path);
        let (again, _) = log.subscribe(0);
        assert_eq!(again, all);
        let (later, _) = log.subscribe(all[1].time_nano);
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].action, "start");
    }

    #[test]
    fn the_file_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let log = EventLog::open(path.clone());
        for i in 0..(3 * RING) {
            log.emit("image", "tag", &i.to_string(), BTreeMap::new());
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines < 2 * RING, "{lines}");
        let (past, _) = log.subscribe(0);
        assert_eq!(past.len(), RING);
        assert_eq!(past.last().unwrap().actor_id, (3 * RING - 1).to_string());
    }

    #[tokio::test]
    async fn subscribers_get_live_events_after_the_past_ones() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path().join("e"));
        log.emit("container", "create", "a", BTreeMap::new());
        let (past, mut rx) = log.subscribe(0);
        log.emit("container", "start", "a", BTreeMap::new());
        assert_eq!(past.len(), 1);
        assert_eq!(rx.recv().await.unwrap().action, "start");
    }
}
