//! Which node sessions a committed transaction concerns. A session waits for its node's
//! assignments to change; woken by every commit, a thousand sessions each read their node's
//! tasks again at every task report of every other node, and the leader spent its time doing
//! that. One relay reads the commits instead and wakes only the sessions of the nodes whose
//! tasks changed, or all of them for a change every node may see (a node, a network, a secret,
//! a service, or a task on an overlay network, whose address every peer's reply carries).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use berth_raft::{Attrs, Event, Object, WatchMessage};
use serde_json::Value;
use tokio::sync::Notify;

use crate::manager::Manager;

/// The wake-ups of node sessions, by node.
#[derive(Debug, Default)]
pub struct SessionSignals {
    nodes: Mutex<HashMap<String, Arc<Notify>>>,
    everyone: Notify,
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
}
