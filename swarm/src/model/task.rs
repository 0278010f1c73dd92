//! Tasks: the document a task object's `spec` holds (slot, service name, the service's task
//! template when the task was made, host-mode ports) and the typed view of a task object.

use std::borrow::Cow;

use berth_raft::{Attrs, Object};
use bollard_stubs::models::{EndpointPortConfig, GenericResourcesInner, TaskSpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DesiredState, HostPort, ModelError, TaskState, TaskStatus, TemplatePrint};

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
    /// The run of its job service it belongs to (`JobIteration.Index`); none for services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_iteration: Option<u64>,
    /// The swarm's default log driver (`TaskDefaults.LogDriver`) when it was made, for a
    /// template that names none (swarmkit's `Task.LogDriver`); kept apart from the template,
    /// which must stay the service's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<bollard_stubs::models::TaskSpecLogDriver>,
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
    /// The service's driver options for this attachment, given to the container's endpoint
    /// as moby's executor gives them.
    #[serde(
        rename = "DriverOpts",
        default,
        skip_serializing_if = "std::collections::BTreeMap::is_empty"
    )]
    pub driver_opts: std::collections::BTreeMap<String, String>,
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
    /// Options for the network's driver on this attachment.
    #[serde(rename = "DriverOpts", default)]
    pub driver_opts: Option<std::collections::BTreeMap<String, String>>,
}

impl TaskDoc {
    /// The document as the store keeps it.
    pub fn to_value(&self) -> Value {
        // Numbers, strings and JSON values: serializing cannot fail.
        serde_json::to_value(self).unwrap_or_default()
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
    /// The template's print: compare it, not the template.
    pub print: TemplatePrint,
    /// What its node last reported: decoded once per stored object (`berth_raft::Memo`).
    pub status: Cow<'a, TaskStatus>,
}

/// What the leader's passes and the node sessions read of a stored task, made once per
/// stored object (`berth_raft::Memo`): they read every task each time, and decoding 50,000
/// statuses and walking as many templates per pass was most of their cost.
struct Reading {
    /// Its slot, or what its spec lacks: the spec is checked here once, and the service name
    /// and template are looked up only by the readers that want them (three lookups per
    /// task were a fifth of a pass).
    slot: Result<u64, &'static str>,
    status: Result<TaskStatus, String>,
    print: TemplatePrint,
    awaits_allocation: bool,
    /// `assignment_print`, made when the dispatcher first asks.
    assignment: std::sync::OnceLock<u64>,
}

impl Reading {
    fn of(object: &Object) -> Reading {
        let spec = &object.spec;
        let template = spec.get("template").filter(|t| t.is_object());
        let slot = match spec.get("slot").and_then(Value::as_u64) {
            None => Err("spec has no slot"),
            Some(_) if !spec.get("service_name").is_some_and(Value::is_string) => {
                Err("spec has no service name")
            }
            Some(_) if template.is_none() => Err("spec has no task template"),
            Some(slot) => Ok(slot),
        };
        Reading {
            slot,
            status: TaskStatus::deserialize(&object.status).map_err(|e| e.to_string()),
            print: TemplatePrint::of(template.unwrap_or(&Value::Null)),
            awaits_allocation: read_awaits_allocation(object),
            assignment: std::sync::OnceLock::new(),
        }
    }
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
        let (slot, status, print) = match object.memo.get_or_init(|| Reading::of(object)) {
            Some(r) => (
                r.slot,
                r.status.as_ref().map(Cow::Borrowed).map_err(Clone::clone),
                r.print,
            ),
            None => {
                let r = Reading::of(object);
                (r.slot, r.status.map(Cow::Owned), r.print)
            }
        };
        let slot = slot.map_err(|e| ModelError::of(object, e))?;
        let status = status.map_err(|e| ModelError::of(object, format!("status: {e}")))?;
        Ok(Task {
            object,
            service_id,
            node_id: node_id.as_deref(),
            desired: *desired_state,
            slot,
            print,
            status,
        })
    }

    /// Its service's name.
    pub fn service_name(&self) -> &'a str {
        // Checked by `parse`.
        let name = self.object.spec.get("service_name").and_then(Value::as_str);
        name.unwrap_or_default()
    }

    /// The task template it was made from (Docker's `TaskSpec` JSON; checked by `parse`).
    pub fn template(&self) -> &'a Value {
        self.object.spec.get("template").unwrap_or(&Value::Null)
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
        TaskSpec::deserialize(self.template())
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
        match self.template().get("Networks") {
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
            service_name: self.service_name().to_string(),
            template: self.template().clone(),
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
            job_iteration: self.job_iteration(),
            log_driver: self.default_log_driver(),
        }
    }

    /// The swarm's default log driver it was made with (see `TaskDoc::log_driver`).
    pub fn default_log_driver(&self) -> Option<bollard_stubs::models::TaskSpecLogDriver> {
        serde_json::from_value(self.object.spec.get("log_driver")?.clone()).ok()
    }

    /// The run of its job service it belongs to; none for a service's task.
    pub fn job_iteration(&self) -> Option<u64> {
        self.object
            .spec
            .get("job_iteration")
            .and_then(Value::as_u64)
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
            format!("{}.{node}.{}", self.service_name(), self.id())
        } else {
            format!("{}.{}.{}", self.service_name(), self.slot, self.id())
        }
    }
}

/// What of the stored task `o` its node acts on: its document, node and desired state, and
/// its status up to `Assigned` (the orchestrator's and the scheduler's). Later states are the
/// node's own reports, which it knows already: like swarmkit's dispatcher (`TasksEqualStable`),
/// a change of those alone sends the node nothing (every report woke the node's session with
/// its whole assignment list).
pub fn assignment_print(o: &Object) -> u64 {
    match o.memo.get_or_init(|| Reading::of(o)) {
        Some(r) => *r.assignment.get_or_init(|| {
            let state = r.status.as_ref().ok().map(|s| s.state);
            read_assignment_print(o, state)
        }),
        None => {
            let state = TaskStatus::deserialize(&o.status).ok().map(|s| s.state);
            read_assignment_print(o, state)
        }
    }
}

fn read_assignment_print(o: &Object, state: Option<TaskState>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    TemplatePrint::of(&o.spec).hash(&mut h);
    if let Attrs::Task {
        node_id,
        desired_state,
        ..
    } = &o.attrs
    {
        node_id.hash(&mut h);
        desired_state.hash(&mut h);
    }
    // Capped at `Assigned`: the node's first report (`Assigned` → `Starting`) is no change
    // either, as swarmkit sends a task again only when its new state is `Assigned` or below.
    state.map(|s| s.min(TaskState::Assigned)).hash(&mut h);
    h.finish()
}

/// Whether the stored task `o` asks for networks and has no places on them yet; read from
/// its document without parsing the task (the dispatcher asks for every task of a node on
/// every session wake).
pub fn awaits_allocation(o: &Object) -> bool {
    match o.memo.get_or_init(|| Reading::of(o)) {
        Some(r) => r.awaits_allocation,
        None => read_awaits_allocation(o),
    }
}

fn read_awaits_allocation(o: &Object) -> bool {
    let wants = o.spec["template"]["Networks"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    wants
        && o.spec
            .get("networks")
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty())
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
        for (spec, missing) in [
            (json!({ "slot": 1, "template": {} }), "service name"),
            (
                json!({ "slot": 1, "service_name": 7, "template": {} }),
                "service name",
            ),
            (json!({ "slot": 1, "service_name": "web" }), "template"),
            (
                json!({ "slot": 1, "service_name": "web", "template": [] }),
                "template",
            ),
        ] {
            let o = object(spec, status(), None);
            // Twice: the second reading comes from the object's memo.
            for _ in 0..2 {
                let e = Task::parse(&o).unwrap_err();
                assert!(e.reason.contains(missing), "{e}");
            }
        }
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
            job_iteration: None,
            log_driver: None,
        };
        let o = object(doc.to_value(), status(), Some("n1"));
        let t = Task::parse(&o).unwrap();
        assert_eq!(t.container_name(), "web.2.t1");
        assert_eq!(t.doc(), doc);
        let global = TaskDoc { slot: 0, ..doc };
        let o = object(global.to_value(), status(), Some("n1"));
        assert_eq!(Task::parse(&o).unwrap().container_name(), "web.n1.t1");
    }
}
