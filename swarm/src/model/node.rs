//! Nodes: the typed view of a node object (Docker's `NodeSpec` in `spec`; the description the
//! node reports, its state and, for managers, the Raft id and address in `status`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use berth_raft::{Attrs, NodeRole, Object};
use bollard_stubs::models::{NodeDescription, NodeSpec, NodeSpecAvailabilityEnum};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ModelError;

/// A node's state as the managers see it (Docker's `NodeState`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Not heard from yet (Docker's default).
    #[default]
    Unknown,
    /// Silent for too long, or its session broke.
    Down,
    /// Holds a session with the leader.
    Ready,
    /// Disconnected (Docker reports it; berth uses `down`).
    Disconnected,
}

/// Whether a node takes tasks (Docker's `NodeSpec.Availability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Availability {
    /// Takes new tasks (Docker's default).
    Active,
    /// Keeps its tasks, takes no new ones.
    Pause,
    /// Its tasks move away.
    Drain,
}

/// `Status` of a node object: state, message and address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The state.
    #[serde(rename = "State", default)]
    pub state: NodeState,
    /// Why it is in that state.
    #[serde(rename = "Message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Its address (host).
    #[serde(rename = "Addr", default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
}

/// What a node object's `status` holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStatusDoc {
    /// What the node reports of itself (Docker's `NodeDescription`).
    #[serde(
        rename = "Description",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<NodeDescription>,
    /// State, message and address; a node not heard from is `unknown`.
    #[serde(rename = "Status", default)]
    pub status: NodeStatus,
    /// Its Raft member id, for managers (reserved at join or promotion).
    #[serde(rename = "RaftId", default, skip_serializing_if = "Option::is_none")]
    pub raft_id: Option<u64>,
    /// Its swarm address (`host:port`), for managers.
    #[serde(
        rename = "ManagerAddr",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub manager_addr: Option<String>,
    /// The swarm address it would serve Raft on once promoted.
    #[serde(
        rename = "AdvertiseAddr",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub advertise_addr: Option<String>,
}

impl NodeStatusDoc {
    /// The status as the store keeps it.
    pub fn to_value(&self) -> Value {
        // Strings, numbers and Docker models: serializing cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The typed view of a node object.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// The stored object (id, version, times).
    pub object: &'a Object,
    /// Manager or worker, as the cluster holds it.
    pub role: NodeRole,
    /// The spec, typed (decoded once per stored object, `berth_raft::Memo`).
    pub spec: Cow<'a, NodeSpec>,
    /// The status, typed (likewise).
    pub status: Cow<'a, NodeStatusDoc>,
}

/// A node's documents, typed: what `Node::parse` keeps with the stored object.
type Decoded = Result<(NodeSpec, NodeStatusDoc), String>;

fn decode(object: &Object) -> Decoded {
    let spec = match &object.spec {
        Value::Null => NodeSpec::default(),
        v => NodeSpec::deserialize(v).map_err(|e| format!("spec: {e}"))?,
    };
    let status = match &object.status {
        Value::Null => NodeStatusDoc::default(),
        v => NodeStatusDoc::deserialize(v).map_err(|e| format!("status: {e}"))?,
    };
    Ok((spec, status))
}

impl<'a> Node<'a> {
    /// Reads a node object; a spec or status of the wrong shape is an error.
    pub fn parse(object: &'a Object) -> Result<Self, ModelError> {
        let Attrs::Node { role } = object.attrs else {
            return Err(ModelError::of(object, "not a node"));
        };
        // Every leader pass and session reads every node: decoded once per stored object.
        let (spec, status) = match object.memo.get_or_init(|| decode(object)) {
            Some(Ok((spec, status))) => (Cow::Borrowed(spec), Cow::Borrowed(status)),
            Some(Err(e)) => return Err(ModelError::of(object, e.clone())),
            None => {
                let (spec, status) = decode(object).map_err(|e| ModelError::of(object, e))?;
                (Cow::Owned(spec), Cow::Owned(status))
            }
        };
        Ok(Node {
            object,
            role,
            spec,
            status,
        })
    }

    /// The node id.
    pub fn id(&self) -> &'a str {
        &self.object.id
    }

    /// The node's state.
    pub fn state(&self) -> NodeState {
        self.status.status.state
    }

    /// Its availability (Docker's default: active).
    pub fn availability(&self) -> Availability {
        match self.spec.availability {
            Some(NodeSpecAvailabilityEnum::PAUSE) => Availability::Pause,
            Some(NodeSpecAvailabilityEnum::DRAIN) => Availability::Drain,
            _ => Availability::Active,
        }
    }

    /// The hostname it reported.
    pub fn hostname(&self) -> &str {
        let d = self.status.description.as_ref();
        d.and_then(|d| d.hostname.as_deref()).unwrap_or("")
    }

    /// User labels.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let labels = self.spec.labels.clone().unwrap_or_default();
        labels.into_iter().collect()
    }

    /// Whether new tasks may go there.
    pub fn takes_tasks(&self) -> bool {
        self.state() == NodeState::Ready && self.availability() == Availability::Active
    }

    /// Whether its tasks must move away.
    pub fn sheds_tasks(&self) -> bool {
        self.state() == NodeState::Down || self.availability() == Availability::Drain
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(spec: Value, status: Value) -> Object {
        let attrs = Attrs::Node {
            role: NodeRole::Worker,
        };
        crate::fixtures::object("n1", attrs, spec, status)
    }

    #[test]
    fn a_ready_active_node_takes_tasks_and_a_drained_or_down_one_sheds_them() {
        let ready = node(
            json!({ "Availability": "active" }),
            json!({ "Status": { "State": "ready" } }),
        );
        let n = Node::parse(&ready).unwrap();
        assert!(n.takes_tasks() && !n.sheds_tasks());
        let drained = node(
            json!({ "Availability": "drain" }),
            json!({ "Status": { "State": "ready" } }),
        );
        let n = Node::parse(&drained).unwrap();
        assert!(!n.takes_tasks() && n.sheds_tasks());
        let down = node(json!({}), json!({ "Status": { "State": "down" } }));
        assert!(Node::parse(&down).unwrap().sheds_tasks());
        let paused = node(
            json!({ "Availability": "pause" }),
            json!({ "Status": { "State": "ready" } }),
        );
        let n = Node::parse(&paused).unwrap();
        assert!(!n.takes_tasks() && !n.sheds_tasks());
    }

    #[test]
    fn a_node_never_heard_from_is_unknown_and_a_bad_state_is_an_error() {
        let fresh = node(json!({}), json!({ "Description": { "Hostname": "h1" } }));
        let n = Node::parse(&fresh).unwrap();
        assert_eq!((n.state(), n.hostname()), (NodeState::Unknown, "h1"));
        assert_eq!(n.availability(), Availability::Active);
        let bad = node(json!({}), json!({ "Status": { "State": "asleep" } }));
        assert!(Node::parse(&bad).is_err());
        let bad = node(json!({ "Availability": "sometimes" }), json!({}));
        assert!(Node::parse(&bad).is_err());
    }
}
