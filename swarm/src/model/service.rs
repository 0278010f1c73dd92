//! Services: the typed view of a service object (Docker's `ServiceSpec` in `spec`, as sent;
//! the previous spec and the update's progress in `status`) and the policies read from it
//! with Docker's defaults.

use berth_raft::{Attrs, Object};
use bollard_stubs::models::{
    EndpointPortConfig, ServiceSpec, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum, TaskSpec,
    TaskSpecRestartPolicyConditionEnum,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{HostPort, ModelError, UpdateState};

/// What the service is asked to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `n` replicas.
    Replicated(u64),
    /// One task on every eligible node.
    Global,
    /// A job: tasks run to `total` completions, at most `concurrent` at a time.
    ReplicatedJob { concurrent: u64, total: u64 },
    /// A job: a task runs to completion once on every eligible node.
    GlobalJob,
}

impl Mode {
    /// Whether its tasks run to completion rather than for ever.
    pub fn is_job(self) -> bool {
        matches!(self, Mode::ReplicatedJob { .. } | Mode::GlobalJob)
    }

    /// Whether its tasks go one per node rather than by slot.
    pub fn is_per_node(self) -> bool {
        matches!(self, Mode::Global | Mode::GlobalJob)
    }

    /// Docker's name (`docker service ls --filter mode=`).
    pub fn name(self) -> &'static str {
        match self {
            Mode::Replicated(_) => "replicated",
            Mode::Global => "global",
            Mode::ReplicatedJob { .. } => "replicated-job",
            Mode::GlobalJob => "global-job",
        }
    }
}

/// Which run of a job its tasks belong to (Docker's `JobStatus`): every update of a job
/// service runs it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    #[serde(rename = "JobIteration")]
    pub iteration: JobIteration,
    /// When this run started.
    #[serde(
        rename = "LastExecution",
        default,
        with = "super::time::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_execution: Option<DateTime<Utc>>,
}

/// Docker's `Version` object, as `JobIteration` holds it: `{}` for a job's first run, as
/// docker 20.10 shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobIteration {
    #[serde(rename = "Index", default, skip_serializing_if = "is_zero")]
    pub index: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A rolling update's progress (Docker's `UpdateStatus`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateStatus {
    /// Where it stands.
    #[serde(rename = "State")]
    pub state: UpdateState,
    /// When it started.
    #[serde(
        rename = "StartedAt",
        default,
        with = "super::time::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended, once it did.
    #[serde(
        rename = "CompletedAt",
        default,
        with = "super::time::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub completed_at: Option<DateTime<Utc>>,
    /// What happened, in Docker's words.
    #[serde(rename = "Message", default)]
    pub message: String,
}

/// What a service object's `status` holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// The spec before the last update (what a rollback returns to).
    #[serde(
        rename = "PreviousSpec",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub previous_spec: Option<Value>,
    /// The last update's progress.
    #[serde(
        rename = "UpdateStatus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub update_status: Option<UpdateStatus>,
    /// When the last batch of the update started (for `UpdateConfig.Delay`).
    #[serde(
        rename = "UpdateLast",
        default,
        with = "super::time::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub update_last: Option<DateTime<Utc>>,
    /// Its virtual IP on each overlay network it uses (endpoint mode `vip`), as the
    /// allocator gave them.
    #[serde(rename = "VirtualIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ips: Vec<VirtualIp>,
    /// Its published ports as Docker shows them (`Endpoint.Ports`), a port on the routing
    /// mesh without a number given one by the allocator.
    #[serde(rename = "Ports", default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<EndpointPortConfig>,
    /// A job's current run.
    #[serde(rename = "JobStatus", default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobStatus>,
}

/// A service's address on one network (Docker's `Endpoint.VirtualIPs` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualIp {
    /// The network's id.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// The address with the subnet's prefix (`10.0.0.2/24`).
    #[serde(rename = "Addr")]
    pub addr: String,
}

impl VirtualIp {
    /// The address alone.
    pub fn ip(&self) -> Option<std::net::Ipv4Addr> {
        self.addr.split('/').next()?.parse().ok()
    }
}

impl ServiceStatus {
    /// The status as the store keeps it.
    pub fn to_value(&self) -> Value {
        // Strings, enums and JSON values: serializing cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The update's state, if one was ever started.
    pub fn update_state(&self) -> Option<UpdateState> {
        self.update_status.as_ref().map(|u| u.state)
    }
}

/// What updated tasks failing makes the update do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// Stop updating (Docker's default).
    Pause,
    /// Go on.
    Continue,
    /// Return to the previous spec.
    Rollback,
}

/// A service's update settings (Docker's defaults where unset).
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatePolicy {
    /// Tasks replaced at once; 0 means all.
    pub parallelism: u64,
    /// Pause between batches.
    pub delay: chrono::Duration,
    /// Start the new task before stopping the old.
    pub start_first: bool,
    /// What failures make the update do.
    pub failure_action: FailureAction,
    /// The share of updated tasks that may fail before the failure action.
    pub max_failure_ratio: f64,
    /// How long after the last batch failures still count (`Monitor`; Docker's 5 s).
    pub monitor: chrono::Duration,
}

/// Docker's `UpdateConfig.Monitor` default: 5 s.
const DEFAULT_MONITOR_NS: i64 = 5_000_000_000;

/// When a task that ended is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartCondition {
    /// Never.
    Never,
    /// When it failed.
    OnFailure,
    /// Whenever it ended (Docker's default).
    Any,
}

/// A task template's restart policy (Docker's defaults: any, 5 s, unlimited).
#[derive(Debug, Clone, PartialEq)]
pub struct RestartPolicy {
    /// When to restart.
    pub condition: RestartCondition,
    /// Wait after the task ended before its replacement.
    pub delay: chrono::Duration,
    /// Restarts allowed within `window` (0: unlimited).
    pub max_attempts: u64,
    /// The window attempts are counted in (zero: forever).
    pub window: chrono::Duration,
}

impl RestartPolicy {
    /// The policy of a task template.
    pub fn of(spec: &TaskSpec) -> RestartPolicy {
        let r = spec.restart_policy.clone().unwrap_or_default();
        RestartPolicy {
            condition: match r.condition {
                Some(TaskSpecRestartPolicyConditionEnum::NONE) => RestartCondition::Never,
                Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE) => RestartCondition::OnFailure,
                _ => RestartCondition::Any,
            },
            delay: r
                .delay
                .map_or(chrono::Duration::seconds(5), chrono::Duration::nanoseconds),
            max_attempts: r
                .max_attempts
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            window: chrono::Duration::nanoseconds(r.window.unwrap_or(0)),
        }
    }
}

/// The typed view of a service object.
#[derive(Debug, Clone)]
pub struct Service<'a> {
    /// The stored object (id, version, times).
    pub object: &'a Object,
    /// The spec, typed.
    pub spec: ServiceSpec,
    /// The status, typed.
    pub status: ServiceStatus,
    /// The replicas or global.
    pub mode: Mode,
}

impl<'a> Service<'a> {
    /// Reads a service object; a spec or status of the wrong shape is an error.
    pub fn parse(object: &'a Object) -> Result<Self, ModelError> {
        if !matches!(object.attrs, Attrs::Service { .. }) {
            return Err(ModelError::of(object, "not a service"));
        }
        let spec = ServiceSpec::deserialize(&object.spec)
            .map_err(|e| ModelError::of(object, format!("spec: {e}")))?;
        let status = match &object.status {
            Value::Null => ServiceStatus::default(),
            v => ServiceStatus::deserialize(v)
                .map_err(|e| ModelError::of(object, format!("status: {e}")))?,
        };
        let mode = mode_of(&spec).map_err(|e| ModelError::of(object, e))?;
        Ok(Service {
            object,
            spec,
            status,
            mode,
        })
    }

    /// The service id.
    pub fn id(&self) -> &'a str {
        &self.object.id
    }

    /// The service name.
    pub fn name(&self) -> &str {
        self.spec.name.as_deref().unwrap_or("")
    }

    /// The task template as sent (what new tasks copy and updates compare).
    pub fn template(&self) -> &'a Value {
        static NULL: Value = Value::Null;
        self.object.spec.get("TaskTemplate").unwrap_or(&NULL)
    }

    /// The run of a job its new tasks belong to; none for a service.
    pub fn job_iteration(&self) -> Option<u64> {
        if !self.mode.is_job() {
            return None;
        }
        Some(self.status.job.as_ref().map_or(0, |j| j.iteration.index))
    }

    /// The entries of `EndpointSpec.Ports` as sent.
    pub fn spec_ports(&self) -> &[EndpointPortConfig] {
        let ports = self
            .spec
            .endpoint_spec
            .as_ref()
            .and_then(|e| e.ports.as_ref());
        ports.map_or(&[], Vec::as_slice)
    }

    /// Its published ports as Docker shows them (`Endpoint.Ports`): as the allocator completed
    /// them, or as sent with Docker's defaults until it has.
    pub fn endpoint_ports(&self) -> Vec<EndpointPortConfig> {
        if self.status.ports.is_empty() {
            self.spec_ports().iter().map(super::with_defaults).collect()
        } else {
            self.status.ports.clone()
        }
    }

    /// The host-mode published ports as sent (`EndpointSpec.Ports` entries).
    pub fn host_ports_value(&self) -> Value {
        let ports = self
            .object
            .spec
            .get("EndpointSpec")
            .and_then(|e| e.get("Ports"))
            .and_then(Value::as_array);
        let host = ports
            .into_iter()
            .flatten()
            .filter(|p| p.get("PublishMode").and_then(Value::as_str) == Some("host"));
        Value::Array(host.cloned().collect())
    }

    /// The host-mode published ports, typed.
    pub fn host_ports(&self) -> Vec<HostPort> {
        let ports = self
            .spec
            .endpoint_spec
            .as_ref()
            .and_then(|e| e.ports.as_ref());
        ports.map_or_else(Vec::new, |p| HostPort::of_ports(p))
    }

    /// The update settings.
    pub fn update_policy(&self) -> UpdatePolicy {
        let u = self.spec.update_config.clone().unwrap_or_default();
        Self::policy_of(u)
    }

    /// The rollback settings (`RollbackConfig`, with Docker's defaults; its failure action
    /// is pause or continue).
    pub fn rollback_policy(&self) -> UpdatePolicy {
        let r = self.spec.rollback_config.clone().unwrap_or_default();
        // The same fields as an update config; the enums differ only in type.
        let u: ServiceSpecUpdateConfig = serde_json::to_value(r)
            .and_then(serde_json::from_value)
            .unwrap_or_default();
        let mut p = Self::policy_of(u);
        if p.failure_action == FailureAction::Rollback {
            p.failure_action = FailureAction::Pause;
        }
        p
    }

    fn policy_of(u: ServiceSpecUpdateConfig) -> UpdatePolicy {
        UpdatePolicy {
            parallelism: u
                .parallelism
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(1),
            delay: chrono::Duration::nanoseconds(u.delay.unwrap_or(0)),
            start_first: u.order == Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST),
            failure_action: match u.failure_action {
                Some(ServiceSpecUpdateConfigFailureActionEnum::CONTINUE) => FailureAction::Continue,
                Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK) => FailureAction::Rollback,
                _ => FailureAction::Pause,
            },
            max_failure_ratio: u.max_failure_ratio.unwrap_or(0.0),
            monitor: chrono::Duration::nanoseconds(u.monitor.unwrap_or(DEFAULT_MONITOR_NS)),
        }
    }

    /// The placement constraints of the template.
    pub fn constraints(&self) -> Vec<String> {
        let t = self.spec.task_template.as_ref();
        let p = t.and_then(|t| t.placement.as_ref());
        p.and_then(|p| p.constraints.clone()).unwrap_or_default()
    }
}

/// The mode of a service spec (Docker's default: one replica).
fn mode_of(spec: &ServiceSpec) -> Result<Mode, String> {
    let Some(mode) = &spec.mode else {
        return Ok(Mode::Replicated(1));
    };
    if mode.global.is_some() {
        return Ok(Mode::Global);
    }
    if mode.global_job.is_some() {
        return Ok(Mode::GlobalJob);
    }
    if let Some(job) = &mode.replicated_job {
        let count = |n: Option<i64>, default: u64, what: &str| match n {
            None => Ok(default),
            Some(n) => u64::try_from(n).map_err(|_| format!("invalid {what} {n}")),
        };
        let concurrent = count(job.max_concurrent, 1, "MaxConcurrent")?;
        let total = count(job.total_completions, concurrent, "TotalCompletions")?;
        return Ok(Mode::ReplicatedJob { concurrent, total });
    }
    let replicas = mode
        .replicated
        .as_ref()
        .and_then(|r| r.replicas)
        .unwrap_or(1);
    u64::try_from(replicas)
        .map(Mode::Replicated)
        .map_err(|_| format!("invalid replica count {replicas}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(spec: Value, status: Value) -> Object {
        let attrs = Attrs::Service { name: "web".into() };
        crate::fixtures::object("s1", attrs, spec, status)
    }

    #[test]
    fn dockers_defaults_fill_what_the_spec_leaves_out() {
        let o = service(json!({ "Name": "web", "TaskTemplate": {} }), json!({}));
        let s = Service::parse(&o).unwrap();
        assert_eq!(s.mode, Mode::Replicated(1));
        let p = s.update_policy();
        assert_eq!((p.parallelism, p.failure_action), (1, FailureAction::Pause));
        assert!(!p.start_first);
        let r = RestartPolicy::of(&TaskSpec::default());
        assert_eq!(r.condition, RestartCondition::Any);
        assert_eq!(r.delay, chrono::Duration::seconds(5));
    }

    #[test]
    fn update_and_restart_settings_are_read_as_docker_names_them() {
        let o = service(
            json!({ "Name": "web", "Mode": { "Global": {} },
                    "UpdateConfig": { "Parallelism": 0, "Order": "start-first",
                                      "FailureAction": "rollback", "Delay": 1_000_000_000 },
                    "TaskTemplate": { "RestartPolicy": { "Condition": "on-failure",
                                      "Delay": 0, "MaxAttempts": 3 } } }),
            json!({ "UpdateStatus": { "State": "paused", "Message": "x" } }),
        );
        let s = Service::parse(&o).unwrap();
        assert_eq!(s.mode, Mode::Global);
        let p = s.update_policy();
        assert_eq!(p.parallelism, 0);
        assert!(p.start_first);
        assert_eq!(p.failure_action, FailureAction::Rollback);
        assert_eq!(p.delay, chrono::Duration::seconds(1));
        let r = RestartPolicy::of(s.spec.task_template.as_ref().unwrap());
        assert_eq!(r.condition, RestartCondition::OnFailure);
        assert_eq!((r.delay, r.max_attempts), (chrono::Duration::zero(), 3));
        assert_eq!(s.status.update_state(), Some(UpdateState::Paused));
    }

    #[test]
    fn a_rollback_follows_its_own_config_and_the_update_its_monitor() {
        let o = service(
            json!({ "Name": "web",
                    "UpdateConfig": { "Parallelism": 2, "Monitor": 1_000_000_000,
                                      "FailureAction": "rollback" },
                    "RollbackConfig": { "Parallelism": 0, "Order": "start-first",
                                        "FailureAction": "continue" } }),
            json!({}),
        );
        let s = Service::parse(&o).unwrap();
        let u = s.update_policy();
        assert_eq!(
            (u.parallelism, u.monitor),
            (2, chrono::Duration::seconds(1))
        );
        let r = s.rollback_policy();
        assert_eq!(r.parallelism, 0);
        assert!(r.start_first);
        assert_eq!(r.failure_action, FailureAction::Continue);
        assert_eq!(r.monitor, chrono::Duration::seconds(5), "Docker's default");
        let bare = service(json!({ "Name": "web" }), json!({}));
        let bare = Service::parse(&bare).unwrap();
        let r = bare.rollback_policy();
        assert_eq!((r.parallelism, r.failure_action), (1, FailureAction::Pause));
    }

    #[test]
    fn a_service_with_a_malformed_spec_or_status_is_an_error() {
        let o = service(
            json!({ "Name": "web", "Mode": { "Replicated": { "Replicas": -1 } } }),
            json!({}),
        );
        assert!(Service::parse(&o).unwrap_err().reason.contains("replica"));
        let o = service(json!({ "Name": 7 }), json!({}));
        assert!(Service::parse(&o).is_err());
        let o = service(
            json!({ "Name": "web" }),
            json!({ "UpdateStatus": { "State": "sideways" } }),
        );
        assert!(Service::parse(&o).is_err());
    }
}
