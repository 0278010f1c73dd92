//! Which node sessions a committed transaction concerns. A session waits for its node's
//! assignments to change; woken by every commit, a thousand sessions each read their node's
//! tasks again at every task report of every other node, and the leader spent its time doing
//! that. One relay reads the commits instead and wakes only the sessions of the nodes whose
//! tasks changed, or all of them for a change every node may see (a node, a network, a secret,
//! a service, or a task on an overlay network, whose address every peer's reply carries).
//! A rolling update writes its progress into the service at every batch; no reply carries
//! that, so a service change that is only progress wakes no one.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use berth_raft::{Action, Attrs, Event, Object, WatchMessage};
use serde_json::Value;
use tokio::sync::Notify;

use crate::manager::Manager;

/// The wake-ups of node sessions, by node.
#[derive(Debug, Default)]
pub struct SessionSignals {
    nodes: Mutex<HashMap<String, Arc<Notify>>>,
    everyone: Notify,
    /// Each service as the sessions were last woken for it (by id).
    services: Mutex<HashMap<String, Arc<Object>>>,
}

impl SessionSignals {
    /// What wakes `node_id`'s session (besides `everyone`).
    pub fn node(&self, node_id: &str) -> Arc<Notify> {
        self.nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(node_id.to_string())
            .or_default()
            .clone()
    }

    /// What wakes every session.
    pub fn everyone(&self) -> &Notify {
        &self.everyone
    }

    /// Wakes the sessions `event` concerns.
    pub fn dispatch(&self, event: &Event) {
        let mut nodes = BTreeSet::new();
        for change in &event.changes {
            match &change.object.attrs {
                Attrs::Task { node_id, .. } if !on_a_network(&change.object) => {
                    nodes.extend(node_id.as_deref());
                }
                Attrs::Service { .. } if !self.service_shows(change) => {}
                _ => {
                    self.everyone.notify_waiters();
                    return;
                }
            }
        }
        let waiting = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        for node in nodes {
            if let Some(n) = waiting.get(node) {
                n.notify_waiters();
            }
        }
    }

    /// Whether a service change may change a reply: anything but the update's progress, or a
    /// service not seen since the last resync. Remembers it.
    fn service_shows(&self, change: &berth_raft::Change) -> bool {
        let mut seen = self.services.lock().unwrap_or_else(PoisonError::into_inner);
        let now = &change.object;
        if change.action == Action::Delete {
            seen.remove(&now.id);
            return true;
        }
        let before = seen.insert(now.id.clone(), now.clone());
        !before.is_some_and(|b| b.spec == now.spec && same_but_progress(&b.status, &now.status))
    }

    /// Forgets what the sessions were woken for: after missed events, every change shows.
    fn forget(&self) {
        self.services
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Whether two service statuses differ in an update's progress alone (`UpdateStatus`,
/// `UpdateLast`), which no session reply carries.
fn same_but_progress(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    rest(a).count() == rest(b).count() && rest(a).all(|(k, v)| b.get(k) == Some(v))
}

/// A service status's members but the update's progress.
fn rest(status: &serde_json::Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    const PROGRESS: [&str; 2] = ["UpdateStatus", "UpdateLast"];
    status
        .iter()
        .filter(|(k, _)| !PROGRESS.contains(&k.as_str()))
}

fn on_a_network(task: &Object) -> bool {
    let attached = |v: Option<&Value>| v.and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    attached(task.spec.get("networks")) || attached(task.spec["template"].get("Networks"))
}

/// Relays every commit to the sessions it concerns, while the manager lives.
pub async fn relay(manager: Weak<Manager>, signals: Arc<SessionSignals>) {
    loop {
        let Some(m) = manager.upgrade() else { return };
        let ((), mut watcher) = m.raft.read_and_watch(|_| ());
        drop(m);
        loop {
            match watcher.next().await {
                WatchMessage::Event(event) => signals.dispatch(&event),
                // Events were missed: anyone may have changes; watch again from now.
                WatchMessage::Resync => {
                    signals.forget();
                    signals.everyone.notify_waiters();
                    break;
                }
                WatchMessage::Closed => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_raft::{Action, Change, Meta, TaskState};
    use futures_util::FutureExt;
    use serde_json::json;

    fn change(attrs: Attrs, spec: Value) -> Change {
        Change {
            action: Action::Update,
            object: Arc::new(Object {
                id: "x".into(),
                meta: Meta {
                    version: 1,
                    created_at: chrono::Utc::now(),
                    updated_at: chrono::Utc::now(),
                },
                attrs,
                spec,
                status: Value::Null,
                memo: berth_raft::Memo::default(),
            }),
        }
    }

    fn task(node: &str, spec: Value) -> Change {
        let attrs = Attrs::Task {
            service_id: "s".into(),
            node_id: Some(node.into()),
            desired_state: TaskState::Running,
        };
        change(attrs, spec)
    }

    fn event(changes: Vec<Change>) -> Event {
        Event {
            version: 1,
            changes,
        }
    }

    /// Which of (n1's, n2's, everyone's) waits `event` ends.
    fn woken(event: &Event) -> [bool; 3] {
        let s = SessionSignals::default();
        let (n1, n2) = (s.node("n1"), s.node("n2"));
        let mut waits = [
            n1.notified().boxed(),
            n2.notified().boxed(),
            s.everyone().notified().boxed(),
        ];
        s.dispatch(event);
        waits
            .each_mut()
            .map(|w| w.as_mut().now_or_never().is_some())
    }

    #[test]
    fn a_task_change_wakes_only_its_nodes_session() {
        assert_eq!(
            woken(&event(vec![task("n1", json!({}))])),
            [true, false, false]
        );
    }

    #[test]
    fn a_change_every_node_may_see_wakes_every_session() {
        let node = change(
            Attrs::Node {
                role: berth_raft::NodeRole::Worker,
            },
            json!({}),
        );
        assert_eq!(
            woken(&event(vec![task("n1", json!({})), node])),
            [false, false, true]
        );
        let attached = task("n2", json!({ "networks": [{ "vni": 4097 }] }));
        assert_eq!(woken(&event(vec![attached])), [false, false, true]);
        let waiting = task(
            "n2",
            json!({ "template": { "Networks": [{ "Target": "web" }] } }),
        );
        assert_eq!(woken(&event(vec![waiting])), [false, false, true]);
        let service = change(Attrs::Service { name: "web".into() }, json!({}));
        assert_eq!(woken(&event(vec![service])), [false, false, true]);
    }

    fn service(spec: Value, status: Value) -> Change {
        let mut c = change(Attrs::Service { name: "web".into() }, spec);
        if let Some(o) = Arc::get_mut(&mut c.object) {
            o.status = status;
        }
        c
    }

    /// Which waits each event in turn ends, all seen by one set of signals.
    fn woken_in_turn(events: &[Event]) -> Vec<bool> {
        let s = SessionSignals::default();
        events
            .iter()
            .map(|e| {
                let mut wait = s.everyone().notified().boxed();
                s.dispatch(e);
                wait.as_mut().now_or_never().is_some()
            })
            .collect()
    }

    #[test]
    fn an_updates_progress_wakes_no_session_and_any_other_service_change_wakes_all() {
        let spec = json!({ "Name": "web", "EndpointSpec": { "Ports": [] } });
        let vips = json!({ "VirtualIPs": [{ "NetworkID": "n", "Addr": "10.0.0.2/24" }] });
        let progress = |at: &str| {
            json!({
                "VirtualIPs": [{ "NetworkID": "n", "Addr": "10.0.0.2/24" }],
                "UpdateStatus": { "State": "updating", "Message": at },
                "UpdateLast": at,
            })
        };
        let one = |c: Change| event(vec![c]);
        let mut delete = service(spec.clone(), vips.clone());
        delete.action = Action::Delete;
        let events = [
            // First seen: woken, as the sessions may not have seen it.
            one(service(spec.clone(), vips.clone())),
            // The update's batches.
            one(service(spec.clone(), progress("2026-12-06T15:00:00Z"))),
            one(service(spec.clone(), progress("2026-12-06T15:00:01Z"))),
            // A new VIP, a new spec, a removal: each can change a peer's reply.
            one(service(spec.clone(), json!({ "VirtualIPs": [] }))),
            one(service(
                json!({ "Name": "web", "Labels": { "a": "b" } }),
                json!({}),
            )),
            one(delete),
            // Seen again after the removal.
            one(service(spec.clone(), vips.clone())),
        ];
        assert_eq!(
            woken_in_turn(&events),
            [true, false, false, true, true, true, true]
        );
    }

    #[test]
    fn after_missed_events_a_service_change_wakes_every_session_again() {
        let s = SessionSignals::default();
        let svc = || event(vec![service(json!({ "Name": "web" }), json!({}))]);
        s.dispatch(&svc());
        s.forget();
        let mut wait = s.everyone().notified().boxed();
        s.dispatch(&svc());
        assert!(wait.as_mut().now_or_never().is_some());
    }
}
