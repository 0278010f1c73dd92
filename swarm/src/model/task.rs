//! Tasks: the document a task object's `spec` holds (slot, service name, the service's task
//! template when the task was made, host-mode ports) and the typed view of a task object.

use std::borrow::Cow;

use berth_raft::{Attrs, Object};
use bollard_stubs::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    GenericResourcesInner, TaskSpec,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DesiredState, ModelError, TaskState, TaskStatus};

/// What a task object's `spec` holds: its slot and the service's task template when it was
/// made (Docker's `TaskSpec`, kept as sent); an update compares templates to find outdated
/// tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDoc {
    /// The replica number (0 for global tasks).
    pub slot: u64,
    /// The service's name, for container names and labels.
    pub service_name: String,
    /// Docker's `TaskSpec` JSON.
    pub template: Value,
    /// The service's host-mode published ports (`EndpointSpec.Ports` entries).
    #[serde(default)]
    pub host_ports: Value,
    /// Its places on overlay networks (`TaskAttachment`s), once the allocator gave them.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub networks: Value,
    /// The generic resources the leader gave it when placing it (`AssignedGenericResources`).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub generic_resources: Value,
}

/// A task's place on an overlay network, as the leader's allocator gave it: everything a node
/// needs to attach the task's container, so no other object has to reach the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAttachment {
    /// The network's id.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// The network's name.
    #[serde(rename = "Name")]
    pub name: String,
    /// Its VXLAN id.
    #[serde(rename = "VNI")]
    pub vni: u32,
    /// Its subnet (`a.b.c.d/n`).
    #[serde(rename = "Subnet")]
    pub subnet: String,
    /// Its gateway.
    #[serde(rename = "Gateway")]
    pub gateway: std::net::Ipv4Addr,
    /// The task's address on it.
    #[serde(rename = "Address")]
    pub address: std::net::Ipv4Addr,
    /// The aliases the service asked for on it.
    #[serde(rename = "Aliases", default)]
    pub aliases: Vec<String>,
    /// The network's MTU option, when set.
    #[serde(rename = "MTU", default)]
    pub mtu: Option<u32>,
    /// The swarm's VXLAN UDP port (`DataPathPort`).
    #[serde(rename = "DataPathPort", default = "default_data_path_port")]
    pub port: u16,
    /// The network is `--internal`: no way out through the node's gateway bridge.
    #[serde(rename = "Internal", default)]
    pub internal: bool,
}

fn default_data_path_port() -> u16 {
    4789
}

/// The cluster's VXLAN port, read from its status (Docker's default when unset).
pub fn data_path_port(s: &berth_raft::ClusterState) -> u16 {
    s.list(berth_raft::ObjectKind::Cluster)
        .next()
        .and_then(|c| super::Cluster::parse(c).ok())
        .and_then(|c| u16::try_from(c.status.data_path_port).ok())
        .filter(|p| *p != 0)
        .unwrap_or_else(default_data_path_port)
}

/// A network a task template asks for (`TaskSpec.Networks` entry).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NetworkWanted {
    /// The network's id or name.
    #[serde(rename = "Target")]
    pub target: String,
    /// Extra DNS names on it.
    #[serde(rename = "Aliases", default)]
    pub aliases: Option<Vec<String>>,
}

impl TaskDoc {
    /// The document as the store keeps it.
    pub fn to_value(&self) -> Value {
        // Numbers, strings and JSON values: serializing cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A port published on the task's node (`PublishMode: host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The port inside the container.
    pub target: u16,
    /// The port on the node.
    pub published: u16,
    /// Its protocol.
    pub protocol: Protocol,
}

/// A port's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP (Docker's default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// Docker's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }
}

impl HostPort {
    /// The host-mode entries of `EndpointSpec.Ports`; an entry without both ports is not one
    /// that can be published on a node.
    pub fn of_ports(ports: &[EndpointPortConfig]) -> Vec<HostPort> {
        ports
            .iter()
            .filter(|p| p.publish_mode == Some(EndpointPortConfigPublishModeEnum::HOST))
            .filter_map(|p| {
                Some(HostPort {
                    target: u16::try_from(p.target_port?).ok()?,
                    published: u16::try_from(p.published_port?).ok()?,
                    protocol: match p.protocol {
                        Some(EndpointPortConfigProtocolEnum::UDP) => Protocol::Udp,
                        Some(EndpointPortConfigProtocolEnum::SCTP) => Protocol::Sctp,
                        _ => Protocol::Tcp,
                    },
                })
            })
            .collect()
    }
}

/// The typed view of a task object.
#[derive(Debug, Clone)]
pub struct Task<'a> {
    /// The stored object (id, version, times).
    pub object: &'a Object,
    /// The service it belongs to.
    pub service_id: &'a str,
    /// Its node, once assigned.
    pub node_id: Option<&'a str>,
    /// What the orchestrator wants it to be.
    pub desired: DesiredState,
    /// Its replica number (0 for global tasks).
    pub slot: u64,
    /// Its service's name.
    pub service_name: &'a str,
    /// The task template it was made from (Docker's `TaskSpec` JSON).
    pub template: &'a Value,
    /// What its node last reported: decoded once per stored object (`berth_raft::Memo`).
    pub status: Cow<'a, TaskStatus>,
}

impl<'a> Task<'a> {
    /// Reads a task object; anything missing or of the wrong shape is an error.
    pub fn parse(object: &'a Object) -> Result<Self, ModelError> {
        let Attrs::Task {
            service_id,
            node_id,
            desired_state,
        } = &object.attrs
        else {
            return Err(ModelError::of(object, "not a task"));
        };
        let spec = &object.spec;
        let slot = spec
            .get("slot")
            .and_then(Value::as_u64)
            .ok_or_else(|| ModelError::of(object, "spec has no slot"))?;
        let service_name = spec
            .get("service_name")
            .and_then(Value::as_str)
            .ok_or_else(|| ModelError::of(object, "spec has no service name"))?;
        let template = spec
            .get("template")
            .filter(|t| t.is_object())
            .ok_or_else(|| ModelError::of(object, "spec has no task template"))?;
        let decode = || TaskStatus::deserialize(&object.status).map_err(|e| e.to_string());
        let status = match object.memo.get_or_init(decode) {
            Some(Ok(status)) => Cow::Borrowed(status),
            Some(Err(e)) => return Err(ModelError::of(object, format!("status: {e}"))),
            None => {
                Cow::Owned(decode().map_err(|e| ModelError::of(object, format!("status: {e}")))?)
            }
        };
        Ok(Task {
            object,
            service_id,
            node_id: node_id.as_deref(),
            desired: *desired_state,
            slot,
            service_name,
            template,
            status,
        })
    }

    /// The task id.
    pub fn id(&self) -> &'a str {
        &self.object.id
    }

    /// The observed state.
    pub fn state(&self) -> TaskState {
        self.status.state
    }

    /// Whether the orchestrator still wants it to run.
    pub fn is_live(&self) -> bool {
        self.desired <= DesiredState::Running
    }

    /// Whether its network addresses are still taken: while it is live, and after it is told
    /// to stop, if it reached a node, until the node reports it ended (its container still
    /// holds them: a rolling update's replacement given the same address failed to start).
    pub fn holds_addresses(&self) -> bool {
        self.is_live() || (self.node_id.is_some() && !self.state().is_terminal())
    }

    /// Its template, typed.
    pub fn spec(&self) -> Result<TaskSpec, ModelError> {
        TaskSpec::deserialize(self.template)
            .map_err(|e| ModelError::of(self.object, format!("task template: {e}")))
    }

    /// Its host-mode published ports.
    pub fn host_ports(&self) -> Result<Vec<HostPort>, ModelError> {
        match self.object.spec.get("host_ports") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) => Vec::<EndpointPortConfig>::deserialize(v)
                .map(|p| HostPort::of_ports(&p))
                .map_err(|e| ModelError::of(self.object, format!("host ports: {e}"))),
        }
    }

    /// The networks its template asks for.
    pub fn networks_wanted(&self) -> Result<Vec<NetworkWanted>, ModelError> {
        match self.template.get("Networks") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) => Vec::<NetworkWanted>::deserialize(v)
                .map_err(|e| ModelError::of(self.object, format!("task networks: {e}"))),
        }
    }

    /// Its places on overlay networks (empty until the allocator gave them).
    pub fn attachments(&self) -> Result<Vec<TaskAttachment>, ModelError> {
        match self.object.spec.get("networks") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) => Vec::<TaskAttachment>::deserialize(v)
                .map_err(|e| ModelError::of(self.object, format!("network attachments: {e}"))),
        }
    }

    /// Whether it waits for the allocator (asks for networks, has no places on them yet).
    pub fn awaits_allocation(&self) -> bool {
        awaits_allocation(self.object)
    }

    /// Its document (an owned copy of the spec).
    pub fn doc(&self) -> TaskDoc {
        TaskDoc {
            slot: self.slot,
            service_name: self.service_name.to_string(),
            template: self.template.clone(),
            host_ports: self
                .object
                .spec
                .get("host_ports")
                .cloned()
                .unwrap_or_default(),
            networks: self
                .object
                .spec
                .get("networks")
                .cloned()
                .unwrap_or_default(),
            generic_resources: self
                .object
                .spec
                .get("generic_resources")
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// The generic resources it was given when placed (none before, or when unreadable: they
    /// were written by the leader from a checked request).
    pub fn assigned_generic_resources(&self) -> Vec<GenericResourcesInner> {
        self.object
            .spec
            .get("generic_resources")
            .and_then(|v| Vec::<GenericResourcesInner>::deserialize(v).ok())
            .unwrap_or_default()
    }

    /// Its container's name: `service.slot.taskid` (`service.nodeid.taskid` for global).
    pub fn container_name(&self) -> String {
        if self.slot == 0 {
            let node = self.node_id.unwrap_or("");
            format!("{}.{node}.{}", self.service_name, self.id())
        } else {
            format!("{}.{}.{}", self.service_name, self.slot, self.id())
        }
    }
}

/// Whether two task templates ask for the same thing: absent, null, empty-object and
/// empty-list fields are the same (clients re-send a spec with such fields added or dropped,
/// which must not start a rolling update).
/// Whether the stored task `o` asks for networks and has no places on them yet; read from
/// its document without parsing the task (the dispatcher asks for every task of a node on
/// every session wake).
pub fn awaits_allocation(o: &Object) -> bool {
    let wants = o.spec["template"]["Networks"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    wants
        && o.spec
            .get("networks")
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty())
}

pub fn same_template(a: &Value, b: &Value) -> bool {
    // Tasks keep the very template they were made from: equal without normalizing, mostly.
    a == b || equivalent(a, b)
}

/// Equal once empty members (null, `{}`, `[]`, and objects of only those) are left out of
/// every object, without building the normalized copies: every leader pass compares each
/// task's template with its service's, and during a rolling update half of them differ.
fn equivalent(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let side = |x: &serde_json::Map<String, Value>, y: &serde_json::Map<String, Value>| {
                x.iter().all(|(k, v)| match y.get(k) {
                    Some(w) => (is_blank(v) && is_blank(w)) || equivalent(v, w),
                    None => is_blank(v),
                })
            };
            side(x, y) && y.iter().all(|(k, w)| x.contains_key(k) || is_blank(w))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| equivalent(v, w))
        }
        _ => a == b,
    }
}

/// Whether a value is left out of the object that holds it.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().all(is_blank),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_raft::ObjectKind;
    use chrono::Utc;
    use serde_json::json;

    fn object(spec: Value, status: Value, node: Option<&str>) -> Object {
        let attrs = Attrs::Task {
            service_id: "s1".into(),
            node_id: node.map(str::to_string),
            desired_state: DesiredState::Running,
        };
        crate::fixtures::object("t1", attrs, spec, status)
    }

    fn status() -> Value {
        TaskStatus::new(TaskState::Running, "started", None, Utc::now()).to_value()
    }

    #[test]
    fn templates_differing_only_in_empty_fields_are_the_same() {
        let a = json!({ "ContainerSpec": { "Image": "busybox", "Env": ["A=1"] } });
        let b = json!({ "ContainerSpec": { "Image": "busybox", "Env": ["A=1"], "Mounts": [],
                        "Labels": {} }, "Placement": {}, "ForceUpdate": null });
        assert!(same_template(&a, &b));
        let c = json!({ "ContainerSpec": { "Image": "busybox", "Env": ["A=2"] } });
        assert!(!same_template(&a, &c));
        let forced =
            json!({ "ContainerSpec": { "Image": "busybox", "Env": ["A=1"] }, "ForceUpdate": 1 });
        assert!(!same_template(&a, &forced));
    }

    /// The comparison's meaning, by building the copies it avoids building.
    fn normalized(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), normalized(v)))
                    .filter(|(_, v)| {
                        !matches!(v, Value::Null) && v != &json!({}) && v != &json!([])
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(normalized).collect()),
            other => other.clone(),
        }
    }

    #[test]
    fn the_comparison_leaves_out_exactly_the_empty_members_at_every_depth() {
        let values = [
            json!(null),
            json!({}),
            json!([]),
            json!(1),
            json!({ "A": null }),
            json!({ "A": {} }),
            json!({ "A": { "B": [] } }),
            json!({ "A": { "B": [1] } }),
            json!({ "A": { "B": [{}] } }),
            json!({ "A": { "B": [{ "C": null }] } }),
            json!({ "A": 1, "B": null }),
            json!({ "A": 1 }),
            json!({ "B": 1 }),
            json!([null]),
            json!([{}]),
            json!([{ "A": [] }]),
        ];
        for a in &values {
            for b in &values {
                assert_eq!(
                    same_template(a, b),
                    normalized(a) == normalized(b),
                    "{a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn a_malformed_task_is_an_error_naming_it_never_slot_zero() {
        let no_slot = object(
            json!({ "service_name": "web", "template": {} }),
            status(),
            None,
        );
        let e = Task::parse(&no_slot).unwrap_err();
        assert_eq!(e.kind, ObjectKind::Task);
        assert!(
            e.to_string().contains("t1") && e.reason.contains("slot"),
            "{e}"
        );
        let bad_status = object(
            json!({ "slot": 1, "service_name": "web", "template": {} }),
            json!({ "State": "running" }),
            None,
        );
        assert!(Task::parse(&bad_status).is_err());
    }

    #[test]
    fn container_names_are_service_slot_task_or_service_node_task() {
        let doc = TaskDoc {
            slot: 2,
            service_name: "web".into(),
            template: json!({ "ContainerSpec": { "Image": "busybox" } }),
            host_ports: Value::Null,
            networks: Value::Null,
            generic_resources: serde_json::Value::Null,
        };
        let o = object(doc.to_value(), status(), Some("n1"));
        let t = Task::parse(&o).unwrap();
        assert_eq!(t.container_name(), "web.2.t1");
        assert_eq!(t.doc(), doc);
        let global = TaskDoc { slot: 0, ..doc };
        let o = object(global.to_value(), status(), Some("n1"));
        assert_eq!(Task::parse(&o).unwrap().container_name(), "web.n1.t1");
    }

    #[test]
    fn only_host_mode_ports_with_both_numbers_are_host_ports() {
        let ports: Vec<EndpointPortConfig> = serde_json::from_value(json!([
            { "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host", "Protocol": "udp" },
            { "TargetPort": 81, "PublishedPort": 8081, "PublishMode": "ingress" },
            { "TargetPort": 82, "PublishMode": "host" },
        ]))
        .unwrap();
        assert_eq!(
            HostPort::of_ports(&ports),
            vec![HostPort {
                target: 80,
                published: 8080,
                protocol: Protocol::Udp
            }]
        );
    }
}
