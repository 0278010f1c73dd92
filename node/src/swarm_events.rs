//! A manager's `scope: swarm` events (`service`, `node`, `secret`, `config` and swarm
//! `network` create, update and remove), made from the Raft store's committed changes as moby
//! makes them from swarmkit's watch: with the object's name, and on an update what moved (a
//! service's image, replicas and update state; a node's role, availability and state).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};

use berth_raft::{Action, Change, Object, ObjectKind, WatchMessage};
use serde_json::Value;

use crate::engine::Engine;

/// One event: its type, action, actor id and attributes.
type SwarmEvent = (&'static str, &'static str, String, BTreeMap<String, String>);

/// Follows the store while this node is a manager, and logs its events on `engine`, from the
/// moment it manages (woken by the membership change, not polling); ends when either is gone.
pub async fn forward(swarm: Weak<berth_swarm::Swarm>, engine: Weak<Engine>) {
    let Some(mut membership) = swarm.upgrade().map(|s| s.membership()) else {
        return;
    };
    loop {
        membership.borrow_and_update();
        let manager = swarm.upgrade().and_then(|s| s.manager().ok());
        let read_again = match manager {
            Some(m) => follow(m, &engine, &mut membership).await,
            None => false,
        };
        if !read_again && membership.changed().await.is_err() {
            return; // the swarm handle is gone
        }
        if engine.strong_count() == 0 {
            return;
        }
    }
}

/// Logs the events of `manager`'s commits until the membership changes or its store says to
/// read again (true), or it closes (false: wait for the next membership change).
async fn follow(
    manager: Arc<berth_swarm::manager::Manager>,
    engine: &Weak<Engine>,
    membership: &mut tokio::sync::watch::Receiver<u64>,
) -> bool {
    // The previous value of each object an update is compared with.
    let (mut known, mut watcher) = manager.raft.read_and_watch(|s| {
        let mut known: HashMap<(ObjectKind, String), Arc<Object>> = HashMap::new();
        for kind in [ObjectKind::Service, ObjectKind::Node] {
            for o in s.list(kind) {
                // Shared with the store, not copied.
                if let Some(shared) = s.get_shared(kind, &o.id) {
                    known.insert((kind, o.id.clone()), shared);
                }
            }
        }
        known
    });
    // Not held while following: a leave or a demotion drops the manager.
    drop(manager);
    loop {
        let message = tokio::select! {
            m = watcher.next() => m,
            _ = membership.changed() => return true,
        };
        let event = match message {
            WatchMessage::Event(event) => event,
            WatchMessage::Resync => return true,
            WatchMessage::Closed => return false,
        };
        let Some(engine) = engine.upgrade() else {
            return false;
        };
        for change in &event.changes {
            // Most commits are tasks' (every start, every report): nothing to log, nothing kept.
            let kind = change.object.attrs.kind();
            if matches!(kind, ObjectKind::Task | ObjectKind::Cluster) {
                continue;
            }
            let key = (kind, change.object.id.clone());
            if let Some((kind, action, id, attrs)) = event_of(change, known.get(&key).map(|o| &**o))
            {
                engine.events().emit_swarm(kind, action, &id, attrs);
            }
            if matches!(key.0, ObjectKind::Service | ObjectKind::Node) {
                match change.action {
                    Action::Delete => known.remove(&key),
                    _ => known.insert(key, change.object.clone()),
                };
            }
        }
    }
}

/// The event of one change (none for tasks and the cluster object), compared with the
/// object's `old` value for an update.
pub fn event_of(change: &Change, old: Option<&Object>) -> Option<SwarmEvent> {
    let o = &change.object;
    let kind = match o.attrs.kind() {
        ObjectKind::Service => "service",
        ObjectKind::Node => "node",
        ObjectKind::Secret => "secret",
        ObjectKind::Config => "config",
        ObjectKind::Network => "network",
        ObjectKind::Task | ObjectKind::Cluster => return None,
    };
    let action = match change.action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "remove",
    };
    let name = match kind {
        "node" => text(&o.status, "/Description/Hostname"),
        _ => text(&o.spec, "/Name"),
    };
    let mut attrs = BTreeMap::from([("name".to_string(), name)]);
    if let (Action::Update, Some(old)) = (change.action, old) {
        let moved: &[(&str, &Value, &Value, &str)] = match kind {
            "service" => &[
                (
                    "image",
                    &old.spec,
                    &o.spec,
                    "/TaskTemplate/ContainerSpec/Image",
                ),
                ("replicas", &old.spec, &o.spec, "/Mode/Replicated/Replicas"),
                ("updatestate", &old.status, &o.status, "/UpdateStatus/State"),
            ],
            "node" => &[
                ("role", &old.spec, &o.spec, "/Role"),
                ("availability", &old.spec, &o.spec, "/Availability"),
                ("state", &old.status, &o.status, "/Status/State"),
            ],
            _ => &[],
        };
        for (field, before, after, at) in moved {
            let (was, now) = (text(before, at), text(after, at));
            if was != now {
                if !was.is_empty() {
                    attrs.insert(format!("{field}.old"), was);
                }
                attrs.insert(format!("{field}.new"), now);
            }
        }
    }
    Some((kind, action, o.id.clone(), attrs))
}

/// The string or number at `pointer` in `v`, "" when absent.
fn text(v: &Value, pointer: &str) -> String {
    match v.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_raft::{Attrs, Meta};
    use serde_json::json;

    fn meta() -> Meta {
        Meta {
            version: 1,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    fn service(replicas: u64, image: &str, state: Option<&str>) -> Object {
        Object {
            id: "svc1".into(),
            meta: meta(),
            attrs: Attrs::Service { name: "web".into() },
            spec: json!({"Name": "web", "Mode": {"Replicated": {"Replicas": replicas}},
                         "TaskTemplate": {"ContainerSpec": {"Image": image}}}),
            status: state.map_or(json!({}), |s| json!({"UpdateStatus": {"State": s}})),
            memo: Default::default(),
        }
    }

    fn change(action: Action, o: Object) -> Change {
        Change {
            action,
            object: Arc::new(o),
        }
    }

    #[test]
    fn a_service_update_says_what_moved_as_moby_does() {
        let old = service(1, "busybox", None);
        let scaled = change(Action::Update, service(2, "busybox", None));
        let (kind, action, id, attrs) = event_of(&scaled, Some(&old)).unwrap();
        assert_eq!((kind, action, id.as_str()), ("service", "update", "svc1"));
        assert_eq!(
            attrs,
            BTreeMap::from([
                ("name".to_string(), "web".to_string()),
                ("replicas.old".to_string(), "1".to_string()),
                ("replicas.new".to_string(), "2".to_string()),
            ])
        );
        let updating = change(Action::Update, service(1, "busybox", Some("updating")));
        let (_, _, _, attrs) = event_of(&updating, Some(&old)).unwrap();
        assert_eq!(
            attrs.get("updatestate.new").map(String::as_str),
            Some("updating")
        );
        assert!(!attrs.contains_key("updatestate.old"));
        let removed = change(Action::Delete, service(1, "busybox", None));
        assert_eq!(event_of(&removed, None).unwrap().1, "remove");
    }

    #[test]
    fn nodes_are_named_by_hostname_and_tasks_log_nothing() {
        let node = Object {
            id: "n1".into(),
            meta: meta(),
            attrs: Attrs::Node {
                role: berth_raft::NodeRole::Manager,
            },
            spec: json!({"Role": "manager", "Availability": "active"}),
            status: json!({"Description": {"Hostname": "vm"}, "Status": {"State": "ready"}}),
            memo: Default::default(),
        };
        let mut drained = node.clone();
        drained.spec["Availability"] = json!("drain");
        let (kind, _, _, attrs) = event_of(&change(Action::Update, drained), Some(&node)).unwrap();
        assert_eq!(kind, "node");
        assert_eq!(attrs["name"], "vm");
        assert_eq!(attrs["availability.old"], "active");
        assert_eq!(attrs["availability.new"], "drain");
        let task = Object {
            id: "t1".into(),
            meta: meta(),
            attrs: Attrs::Task {
                service_id: "svc1".into(),
                node_id: None,
                desired_state: berth_raft::TaskState::Running,
            },
            spec: json!({}),
            status: json!({}),
            memo: Default::default(),
        };
        assert!(event_of(&change(Action::Create, task), None).is_none());
    }
}
