//! What the API asks of a manager: find, create, update and remove services; update and
//! remove nodes; update the swarm. Validation and Docker's error wording live here; the
//! facade (`query`) calls these once it holds a manager that knows a leader.

use berth_raft::{
    ApplyError, Attrs, ClusterCommand, ClusterState, NodeRole, Object, ObjectKind, Op, RaftError,
};
use bollard_stubs::models::{NodeSpec, NodeSpecAvailabilityEnum, NodeSpecRoleEnum, ServiceSpec};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::ca::{JoinToken, RootCa};
use crate::error::{SwarmError, SwarmResult};
use crate::manager::Manager;
use crate::model::{
    new_id, same_template, Cluster, ClusterStatus, JobIteration, JobStatus, Node, NodeState,
    Service, ServiceStatus, UpdateState, UpdateStatus,
};
use crate::pull_auth::{self, PullAuth};
use crate::spec_support::UNSUPPORTED_ENDPOINT_OPTS;
use crate::swarm::node_role;

/// Finds an object of `kind` by id, name (services, nodes' hostnames) or unique id prefix.
pub fn find<'a>(state: &'a ClusterState, kind: ObjectKind, key: &str) -> SwarmResult<&'a Object> {
    if let Some(o) = state.get(kind, key) {
        return Ok(o);
    }
    if kind.has_unique_names() {
        if let Some(o) = state.by_name(kind, key) {
            return Ok(o);
        }
    }
    if kind == ObjectKind::Node {
        let mut named = state
            .list(kind)
            .filter(|n| Node::parse(n).is_ok_and(|n| n.hostname() == key));
        if let (Some(o), None) = (named.next(), named.next()) {
            return Ok(o);
        }
    }
    let mut prefixed = state.list(kind).filter(|o| o.id.starts_with(key));
    match (prefixed.next(), prefixed.next()) {
        (Some(o), None) if !key.is_empty() => Ok(o),
        (Some(_), Some(_)) => Err(SwarmError::NotFound(format!(
            "{kind} {key} is ambiguous (multiple matches)"
        ))),
        _ => Err(SwarmError::NotFound(format!("{kind} {key} not found"))),
    }
}

/// A store refusal in Docker's words.
fn refusal(e: RaftError, what: &str) -> SwarmError {
    if let RaftError::Apply(ApplyError::NameInUse { .. }) = e {
        return SwarmError::Conflict(
            "rpc error: code = AlreadyExists desc = name conflicts with an existing object".into(),
        );
    }
    match SwarmError::from(e) {
        SwarmError::Conflict(m) if m.contains("already in use") => SwarmError::Conflict(
            "rpc error: code = AlreadyExists desc = name conflicts with an existing object".into(),
        ),
        SwarmError::Conflict(_) => SwarmError::Conflict(format!(
            "rpc error: code = Unknown desc = update out of sequence ({what})"
        )),
        other => other,
    }
}

fn out_of_sequence() -> SwarmError {
    SwarmError::Conflict("rpc error: code = Unknown desc = update out of sequence".into())
}

/// What a service spec asks that has no effect, as Docker takes it too, for the create's or
/// update's `Warnings`: spread preferences over nothing a node has (swarmkit skips them; the
/// service runs without that level).
pub fn spec_warnings(spec: &Value) -> Vec<String> {
    let spreads: Vec<berth_scheduler::Preference> = spec["TaskTemplate"]["Placement"]
        ["Preferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["Spread"]["SpreadDescriptor"].as_str())
        .map(berth_scheduler::Preference::spread)
        .collect();
    berth_scheduler::ignored_preferences(&spreads)
        .into_iter()
        .map(|d| {
            format!(
                "placement preference spread={d} names no node label or attribute: it has no \
                 effect"
            )
        })
        .collect()
}

/// Checks a service spec and fills Docker's defaults (mode, name) into the spec as sent.
pub fn normalize_service(mut spec: Value) -> SwarmResult<Value> {
    if !spec.is_object() {
        return Err(SwarmError::InvalidArgument(
            "service spec must be an object".into(),
        ));
    }
    // Credentials come only from X-Registry-Auth (pull_auth.rs), never from a spec's body.
    pull_auth::set(&mut spec, None);
    let typed = ServiceSpec::deserialize(&spec)
        .map_err(|e| SwarmError::InvalidArgument(format!("invalid service spec: {e}")))?;
    let template = typed.task_template.clone().unwrap_or_default();
    let container = template.container_spec.clone().unwrap_or_default();
    if container.image.as_deref().is_none_or(str::is_empty) {
        return Err(SwarmError::InvalidArgument(
            "ContainerSpec: image reference must be provided".into(),
        ));
    }
    let name = match typed.name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => format!("svc-{}", &new_id()[..10]),
    };
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        || name.len() > 63
    {
        return Err(SwarmError::InvalidArgument(format!(
            "rpc error: code = InvalidArgument desc = name must be valid as a DNS name component: {name:?}"
        )));
    }
    spec["Name"] = json!(name);
    let mode = typed.mode.clone().unwrap_or_default();
    if let Some(job) = &mode.replicated_job {
        // moby's defaults: one at a time, as many completions as run at once.
        let count = |n: Option<i64>, default: i64, what: &str| match n {
            Some(n) if n < 0 => Err(SwarmError::InvalidArgument(format!("invalid {what} {n}"))),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        let concurrent = count(job.max_concurrent, 1, "MaxConcurrent")?;
        let total = count(job.total_completions, concurrent, "TotalCompletions")?;
        spec["Mode"] = json!({ "ReplicatedJob": {
            "MaxConcurrent": concurrent, "TotalCompletions": total } });
    } else if mode.global_job.is_some() {
        spec["Mode"] = json!({ "GlobalJob": {} });
    } else if mode.global.is_none() {
        let replicas = mode.replicated.and_then(|r| r.replicas).unwrap_or(1);
        if replicas < 0 {
            return Err(SwarmError::InvalidArgument(format!(
                "invalid replica count {replicas}"
            )));
        }
        spec["Mode"] = json!({ "Replicated": { "Replicas": replicas } });
    }
    // The deprecated top-level `Networks` means the task template's, as Docker moves it.
    if let Some(top) = spec
        .get("Networks")
        .filter(|n| n.as_array().is_some_and(|a| !a.is_empty()))
        .cloned()
    {
        if template.networks.as_ref().is_some_and(|n| !n.is_empty()) {
            return Err(SwarmError::InvalidArgument(
                "Networks and TaskTemplate.Networks cannot both be set".into(),
            ));
        }
        spec["TaskTemplate"]["Networks"] = top;
        if let Some(m) = spec.as_object_mut() {
            m.remove("Networks");
        }
    }
    let placement = template.placement.clone().unwrap_or_default();
    berth_scheduler::parse_constraints(&placement.constraints.unwrap_or_default())
        .map_err(|e| SwarmError::InvalidArgument(format!("invalid constraint: {e}")))?;
    crate::published_ports::check_spec(&typed)?;
    check_unsupported(&template)?;
    let generic = template
        .resources
        .as_ref()
        .and_then(|r| r.reservations.as_ref()?.generic_resources.as_deref())
        .unwrap_or_default();
    crate::generic_resources::task_request(generic).map_err(SwarmError::InvalidArgument)?;
    Ok(spec)
}

/// Task fields berth cannot honour, refused by name when set (never stored and dropped):
/// plugin and network-attachment tasks, another runtime, Windows isolation and credential
/// specs, SELinux labels.
fn check_unsupported(t: &bollard_stubs::models::TaskSpec) -> SwarmResult<()> {
    use bollard_stubs::models::TaskSpecContainerSpecIsolationEnum as Isolation;
    let refuse = |field: &str, why: &str| {
        Err(SwarmError::InvalidArgument(format!(
            "{field} is not supported by berth: {why}"
        )))
    };
    if t.plugin_spec.is_some() {
        return refuse("TaskTemplate.PluginSpec", "plugin tasks");
    }
    if t.network_attachment_spec.is_some() {
        return refuse("TaskTemplate.NetworkAttachmentSpec", "attachment tasks");
    }
    if t.runtime
        .as_deref()
        .is_some_and(|r| !r.is_empty() && r != "container")
    {
        return refuse("TaskTemplate.Runtime", "tasks run containers");
    }
    let unsupported = t
        .networks
        .iter()
        .flatten()
        .flat_map(|n| n.driver_opts.iter().flatten())
        .find(|(k, _)| UNSUPPORTED_ENDPOINT_OPTS.contains(&k.as_str()));
    if let Some((key, _)) = unsupported {
        return Err(SwarmError::InvalidArgument(format!(
            "TaskTemplate.Networks.DriverOpts {key} is not supported by berth: per-endpoint sysctls and interface names"
        )));
    }
    let Some(c) = &t.container_spec else {
        return Ok(());
    };
    if matches!(c.isolation, Some(Isolation::PROCESS | Isolation::HYPERV)) {
        return refuse("ContainerSpec.Isolation", "a Windows-only setting");
    }
    let Some(p) = &c.privileges else {
        return Ok(());
    };
    let credential = p.credential_spec.as_ref().is_some_and(|c| {
        [&c.config, &c.file, &c.registry]
            .iter()
            .any(|v| v.as_deref().is_some_and(|s| !s.is_empty()))
    });
    if credential {
        return refuse("Privileges.CredentialSpec", "a Windows-only setting");
    }
    Ok(())
}

/// Whether a normalized spec is a job's.
fn is_job(spec: &Value) -> bool {
    matches!(mode_kind(spec), "ReplicatedJob" | "GlobalJob")
}

/// The key of a normalized spec's mode (`Replicated`, `Global`, `ReplicatedJob`, `GlobalJob`).
fn mode_kind(spec: &Value) -> &str {
    spec.get("Mode")
        .and_then(Value::as_object)
        .and_then(|m| m.keys().next())
        .map_or("Replicated", String::as_str)
}

/// A job's next run after `last` (the first: 0, as Docker's), starting `now`.
fn next_run(last: Option<&JobStatus>, now: chrono::DateTime<chrono::Utc>) -> JobStatus {
    JobStatus {
        iteration: JobIteration {
            index: last.map_or(0, |j| j.iteration.index + 1),
        },
        last_execution: Some(now),
    }
}

/// A spec `normalize_service` passed, typed.
fn typed_spec(spec: &Value) -> SwarmResult<ServiceSpec> {
    ServiceSpec::deserialize(spec)
        .map_err(|e| SwarmError::InvalidArgument(format!("invalid service spec: {e}")))
}

/// Creates a service; returns its id.
pub async fn create_service(m: &Manager, spec: Value, auth: Option<String>) -> SwarmResult<String> {
    let mut spec = normalize_service(spec)?;
    pull_auth::set(&mut spec, auth.as_deref());
    let typed = typed_spec(&spec)?;
    m.read(|s| crate::published_ports::check_conflicts(s, &typed, None))?;
    crate::ingress::join_ingress(m, &mut spec).await?;
    m.read(|s| crate::network_ops::resolve_service_networks(s, &mut spec))?;
    m.read(|s| crate::secret_refs::resolve_service_refs(s, &mut spec))?;
    let id = new_id();
    let name = spec
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut status = ServiceStatus::default();
    if is_job(&spec) {
        status.job = Some(next_run(None, chrono::Utc::now()));
    }
    m.raft
        .write(ClusterCommand::single(Op::Create {
            id: id.clone(),
            attrs: Attrs::Service { name },
            spec,
            status: status.to_value(),
        }))
        .await
        .map_err(|e| refusal(e, "create"))?;
    Ok(id)
}

/// Updates a service at `version` to `spec`, or back to its previous spec (`rollback`).
pub async fn update_service(
    m: &Manager,
    key: &str,
    version: u64,
    spec: Option<Value>,
    rollback: bool,
    auth: PullAuth,
) -> SwarmResult<()> {
    let object = m.read(|s| find(s, ObjectKind::Service, key).cloned())?;
    let svc = Service::parse(&object)?;
    if object.meta.version != version {
        return Err(out_of_sequence());
    }
    let mut status = svc.status.clone();
    let now = chrono::Utc::now();
    let new = if rollback {
        let previous = status.previous_spec.clone().ok_or_else(|| {
            SwarmError::InvalidArgument("service does not have a previous spec".into())
        })?;
        status.update_status = Some(UpdateStatus {
            state: UpdateState::RollbackStarted,
            started_at: Some(now),
            completed_at: None,
            message: "manually requested rollback".into(),
        });
        previous
    } else {
        let mut spec = normalize_service(spec.unwrap_or(Value::Null))?;
        let previous = status.previous_spec.as_ref();
        let kept = match &auth {
            PullAuth::Given(a) => Some(a.as_str()),
            PullAuth::FromSpec => pull_auth::of_spec(&object.spec),
            PullAuth::FromPreviousSpec => previous.and_then(pull_auth::of_spec),
        };
        pull_auth::set(&mut spec, kept);
        // As swarmkit: checked when the ports change, so services that shared a port before
        // the check existed can still be updated otherwise.
        if spec.get("EndpointSpec") != object.spec.get("EndpointSpec") {
            let typed = typed_spec(&spec)?;
            m.read(|s| crate::published_ports::check_conflicts(s, &typed, Some(&object.id)))?;
        }
        crate::ingress::join_ingress(m, &mut spec).await?;
        m.read(|s| crate::network_ops::resolve_service_networks(s, &mut spec))?;
        m.read(|s| crate::secret_refs::resolve_service_refs(s, &mut spec))?;
        if spec.get("Name").and_then(Value::as_str) != Some(svc.name()) {
            return Err(SwarmError::Unimplemented(
                "rpc error: code = Unimplemented desc = renaming services is not supported".into(),
            ));
        }
        let stored = svc.template();
        let template = spec.get("TaskTemplate").unwrap_or(&Value::Null);
        if !same_template(template, stored)
            && m.read(|s| crate::older_specs::same_as_stored(s, template, stored))
        {
            // Asked for as an older berth stored it: the tasks made from it stay.
            spec["TaskTemplate"] = stored.clone();
        }
        let template = spec.get("TaskTemplate").unwrap_or(&Value::Null);
        if svc.mode.is_job() {
            // A job has no rolling update: every update runs it again.
        } else if !same_template(template, svc.template()) {
            status.update_status = Some(UpdateStatus {
                state: UpdateState::Updating,
                started_at: Some(now),
                completed_at: None,
                message: "update in progress".into(),
            });
        }
        spec
    };
    if mode_kind(&new) != mode_kind(&object.spec) {
        return Err(SwarmError::Unimplemented(
            "rpc error: code = Unimplemented desc = service mode change is not allowed".into(),
        ));
    }
    if svc.mode.is_job() {
        status.job = Some(next_run(status.job.as_ref(), now));
    }
    status.previous_spec = Some(object.spec.clone());
    status.update_last = None;
    m.raft
        .write(ClusterCommand::single(Op::Update {
            id: object.id.clone(),
            expected_version: Some(version),
            attrs: object.attrs.clone(),
            spec: new,
            status: status.to_value(),
        }))
        .await
        .map_err(|e| refusal(e, "update"))?;
    Ok(())
}

/// Removes a service and its tasks (their containers go when the nodes see them gone).
pub async fn remove_service(m: &Manager, key: &str) -> SwarmResult<()> {
    let (svc, tasks) = m.read(|s| {
        find(s, ObjectKind::Service, key).map(|svc| {
            let tasks: Vec<String> = s
                .tasks_by_service(&svc.id)
                .iter()
                .map(|t| t.id.clone())
                .collect();
            (svc.id.clone(), tasks)
        })
    })?;
    let mut ops = vec![Op::Delete {
        kind: ObjectKind::Service,
        id: svc,
        expected_version: None,
    }];
    ops.extend(tasks.into_iter().map(|id| Op::Delete {
        kind: ObjectKind::Task,
        id,
        expected_version: None,
    }));
    m.raft
        .write(ClusterCommand::new(ops))
        .await
        .map_err(|e| refusal(e, "remove"))?;
    Ok(())
}

/// The role a node update asks for (`""`: unchanged).
fn wanted_role(given: &Value, current: NodeRole) -> SwarmResult<NodeRole> {
    match given.get("Role").and_then(Value::as_str).unwrap_or("") {
        "manager" => Ok(NodeRole::Manager),
        "worker" => Ok(NodeRole::Worker),
        "" => Ok(current),
        other => Err(SwarmError::InvalidArgument(format!(
            "invalid role {other:?}: use manager or worker"
        ))),
    }
}

/// Updates a node's availability, labels, name and role at `version`.
pub async fn update_node(m: &Manager, key: &str, version: u64, given: Value) -> SwarmResult<()> {
    let object = m.read(|s| find(s, ObjectKind::Node, key).cloned())?;
    let node = Node::parse(&object)?;
    if object.meta.version != version {
        return Err(out_of_sequence());
    }
    let availability = match given
        .get("Availability")
        .and_then(Value::as_str)
        .unwrap_or("active")
    {
        "active" => NodeSpecAvailabilityEnum::ACTIVE,
        "pause" => NodeSpecAvailabilityEnum::PAUSE,
        "drain" => NodeSpecAvailabilityEnum::DRAIN,
        other => {
            return Err(SwarmError::InvalidArgument(format!(
                "invalid availability {other:?}: use active, pause or drain"
            )))
        }
    };
    let wanted = wanted_role(&given, node.role)?;
    let requested = NodeSpec::deserialize(&given)
        .map_err(|e| SwarmError::InvalidArgument(format!("invalid node spec: {e}")))?;
    let mut status = node.status.clone().into_owned();
    if wanted != node.role {
        change_role(m, &node, wanted, &mut status).await?;
    }
    let mut spec = node.spec.clone().into_owned();
    spec.availability = Some(availability);
    spec.role = Some(match wanted {
        NodeRole::Manager => NodeSpecRoleEnum::MANAGER,
        NodeRole::Worker => NodeSpecRoleEnum::WORKER,
    });
    spec.labels = Some(requested.labels.unwrap_or_default());
    if requested.name.is_some() {
        spec.name = requested.name;
    }
    let spec = serde_json::to_value(spec).map_err(|e| SwarmError::internal("node spec", e))?;
    m.raft
        .write(ClusterCommand::single(Op::Update {
            id: object.id.clone(),
            expected_version: Some(version),
            attrs: Attrs::Node { role: wanted },
            spec,
            status: status.to_value(),
        }))
        .await
        .map_err(|e| refusal(e, "node update"))?;
    Ok(())
}

/// Promotion reserves a Raft id and records the manager address; demotion (never of the last
/// manager) takes the node out of the Raft group.
async fn change_role(
    m: &Manager,
    node: &Node<'_>,
    wanted: NodeRole,
    status: &mut crate::model::NodeStatusDoc,
) -> SwarmResult<()> {
    match wanted {
        NodeRole::Manager => {
            let addr = node
                .status
                .advertise_addr
                .clone()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    SwarmError::InvalidArgument(format!(
                        "node {} has not reported its swarm address yet; try again when it is \
                         ready",
                        node.id()
                    ))
                })?;
            status.raft_id = Some(crate::handler::next_raft_id(m).await?);
            status.manager_addr = Some(addr);
        }
        NodeRole::Worker => {
            let managers = m.read(|s| s.nodes_by_role(NodeRole::Manager).len());
            if managers <= 1 {
                return Err(SwarmError::InvalidArgument(
                    "rpc error: code = FailedPrecondition desc = attempting to demote the last \
                     manager of the swarm"
                        .into(),
                ));
            }
            if let Some(raft_id) = node.status.raft_id {
                m.raft.remove_member(raft_id).await?;
            }
            status.raft_id = None;
            status.manager_addr = None;
        }
    }
    Ok(())
}

/// Removes a node: refused while it is up unless forced; a manager must be demoted first.
pub async fn remove_node(m: &Manager, key: &str, force: bool) -> SwarmResult<()> {
    let object = m.read(|s| find(s, ObjectKind::Node, key).cloned())?;
    if node_role(&object) == NodeRole::Manager {
        return Err(SwarmError::InvalidArgument(format!(
            "rpc error: code = FailedPrecondition desc = node {} is a cluster manager and is a \
             member of the raft cluster. It must be demoted to worker before removal",
            object.id
        )));
    }
    let node = Node::parse(&object)?;
    if !force && node.state() == NodeState::Ready {
        return Err(SwarmError::InvalidArgument(format!(
            "rpc error: code = FailedPrecondition desc = node {} is not down and can't be \
             removed",
            object.id
        )));
    }
    m.raft
        .write(ClusterCommand::single(Op::Delete {
            kind: ObjectKind::Node,
            id: object.id.clone(),
            expected_version: None,
        }))
        .await
        .map_err(|e| refusal(e, "node remove"))?;
    Ok(())
}

/// The cluster's root CA.
pub fn cluster_ca(cluster: &Cluster<'_>) -> SwarmResult<RootCa> {
    let pem = &cluster.status.root_ca;
    RootCa::from_pem(&pem.cert, &pem.key).map_err(|e| SwarmError::internal("cluster CA", e))
}

/// Updates the swarm spec at `version`, and rotates join tokens (worker, manager) and the
/// unlock key when asked.
pub async fn update_swarm(
    m: &Manager,
    version: u64,
    spec: Value,
    (rotate_worker, rotate_manager, rotate_unlock): (bool, bool, bool),
) -> SwarmResult<()> {
    let object = m
        .cluster()
        .ok_or_else(|| SwarmError::Unavailable("the swarm is still starting".into()))?;
    let cluster = Cluster::parse(&object)?;
    if object.meta.version != version {
        return Err(out_of_sequence());
    }
    let mut new_spec = object.spec.clone();
    crate::bootstrap::merge(&mut new_spec, &spec);
    crate::bootstrap::refuse_unapplied(&object.spec, &new_spec)?;
    let typed = bollard_stubs::models::SwarmSpec::deserialize(&new_spec)
        .map_err(|e| SwarmError::InvalidArgument(format!("invalid swarm spec: {e}")))?;
    // Certificates issued from now on (joins, renewals) last as long as this says.
    crate::model::cert_expiry(&typed).map_err(SwarmError::InvalidArgument)?;
    let mut status = cluster.status.clone();
    if rotate_worker || rotate_manager {
        let ca = cluster_ca(&cluster)?;
        if rotate_worker {
            status.tokens.worker = JoinToken::new(&ca).secret;
        }
        if rotate_manager {
            status.tokens.manager = JoinToken::new(&ca).secret;
        }
    }
    // Autolock on: a key (a new one when asked to rotate); off: none, and every manager's
    // data key goes back to a key file (its key loop follows the cluster object).
    status.unlock_key = match (ClusterStatus::autolock_of(&new_spec), status.unlock_key) {
        (false, _) => None,
        (true, Some(key)) if !rotate_unlock => Some(key),
        (true, _) => Some(crate::keys::UnlockKey::generate().text()),
    };
    m.raft
        .write(ClusterCommand::single(Op::Update {
            id: object.id.clone(),
            expected_version: Some(version),
            attrs: object.attrs.clone(),
            spec: new_spec,
            status: status.to_value(),
        }))
        .await
        .map_err(|e| refusal(e, "swarm update"))?;
    Ok(())
}

/// The full join tokens of the cluster: (worker, manager).
pub fn join_tokens(cluster: &Cluster<'_>) -> SwarmResult<(String, String)> {
    let digest = cluster_ca(cluster)?.digest();
    let token = |secret: &str| {
        JoinToken {
            digest: digest.clone(),
            secret: secret.to_string(),
        }
        .to_string()
    };
    let t = &cluster.status.tokens;
    Ok((token(&t.worker), token(&t.manager)))
}

#[cfg(test)]
#[path = "ops_tests.rs"]
mod tests;
