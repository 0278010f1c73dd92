//! What the API asks of a manager: find, create, update and remove services; update and
//! remove nodes; update the swarm. Validation and Docker's error wording live here; the JSON
//! shapes of replies are `api::convert::swarm`'s.

use berth_raft::{
    ApplyError, Attrs, ClusterCommand, ClusterState, NodeRole, Object, ObjectKind, Op, RaftError,
};
use serde_json::{json, Value};

use super::ca::JoinToken;
use super::error::{SwarmError, SwarmResult};
use super::manager::Manager;
use super::model::{new_id, template};

/// Finds an object of `kind` by id, name (services, nodes' hostnames) or unique id prefix.
pub fn find<'a>(state: &'a ClusterState, kind: ObjectKind, key: &str) -> SwarmResult<&'a Object> {
    if let Some(o) = state.get(kind, key) {
        return Ok(o);
    }
    if kind == ObjectKind::Service {
        if let Some(o) = state.service_by_name(key) {
            return Ok(o);
        }
    }
    if kind == ObjectKind::Node {
        let mut named = state
            .list(kind)
            .filter(|n| n.status["Description"]["Hostname"].as_str() == Some(key));
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
fn refusal(e: SwarmError, what: &str) -> SwarmError {
    match e {
        SwarmError::Conflict(m) if m.contains("already in use") => SwarmError::Conflict(
            "rpc error: code = AlreadyExists desc = name conflicts with an existing object".into(),
        ),
        SwarmError::Conflict(_) => SwarmError::Conflict(format!(
            "rpc error: code = Unknown desc = update out of sequence ({what})"
        )),
        other => other,
    }
}

fn raft_refusal(e: RaftError, what: &str) -> SwarmError {
    match e {
        RaftError::Apply(ApplyError::NameInUse { .. }) => SwarmError::Conflict(
            "rpc error: code = AlreadyExists desc = name conflicts with an existing object".into(),
        ),
        other => refusal(other.into(), what),
    }
}

/// Checks a service spec and fills Docker's defaults (mode, name).
pub fn normalize_service(mut spec: Value) -> SwarmResult<Value> {
    if !spec.is_object() {
        return Err(SwarmError::InvalidArgument(
            "service spec must be an object".into(),
        ));
    }
    let image = template(&spec)["ContainerSpec"]["Image"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if image.is_empty() {
        return Err(SwarmError::InvalidArgument(
            "ContainerSpec: image reference must be provided".into(),
        ));
    }
    if spec["Name"].as_str().is_none_or(str::is_empty) {
        spec["Name"] = json!(format!("svc-{}", &new_id()[..10]));
    }
    let name = spec["Name"].as_str().unwrap_or("").to_string();
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        || name.len() > 63
    {
        return Err(SwarmError::InvalidArgument(format!(
            "rpc error: code = InvalidArgument desc = name must be valid as a DNS name component: {name:?}"
        )));
    }
    if spec["Mode"].is_null() || spec["Mode"].as_object().is_some_and(|m| m.is_empty()) {
        spec["Mode"] = json!({ "Replicated": { "Replicas": 1 } });
    }
    if spec["Mode"].get("Replicated").is_some() && spec["Mode"]["Replicated"]["Replicas"].is_null()
    {
        spec["Mode"]["Replicated"]["Replicas"] = json!(1);
    }
    if spec["Mode"].get("ReplicatedJob").is_some() || spec["Mode"].get("GlobalJob").is_some() {
        return Err(SwarmError::InvalidArgument(
            "job modes (replicated-job, global-job) are not supported yet".into(),
        ));
    }
    let constraints: Vec<String> = template(&spec)["Placement"]["Constraints"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    berth_scheduler::parse_constraints(&constraints)
        .map_err(|e| SwarmError::InvalidArgument(format!("invalid constraint: {e}")))?;
    Ok(spec)
}

/// Creates a service; returns its id.
pub async fn create_service(m: &Manager, spec: Value) -> SwarmResult<String> {
    let spec = normalize_service(spec)?;
    let id = new_id();
    let name = spec["Name"].as_str().unwrap_or("").to_string();
    m.raft
        .write(ClusterCommand::single(Op::Create {
            id: id.clone(),
            attrs: Attrs::Service { name },
            spec,
            status: json!({}),
        }))
        .await
        .map_err(|e| raft_refusal(e, "create"))?;
    Ok(id)
}

/// Updates a service at `version` to `spec`, or back to its previous spec (`rollback`).
pub async fn update_service(
    m: &Manager,
    key: &str,
    version: u64,
    spec: Option<Value>,
    rollback: bool,
) -> SwarmResult<()> {
    let svc = m.read(|s| find(s, ObjectKind::Service, key).cloned())?;
    if svc.meta.version != version {
        return Err(SwarmError::Conflict(
            "rpc error: code = Unknown desc = update out of sequence".into(),
        ));
    }
    let mut status = if svc.status.is_object() {
        svc.status.clone()
    } else {
        json!({})
    };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let new = if rollback {
        let previous = svc.status["PreviousSpec"].clone();
        if previous.is_null() {
            return Err(SwarmError::InvalidArgument(
                "service does not have a previous spec".into(),
            ));
        }
        status["UpdateStatus"] = json!({ "State": "rollback_started", "StartedAt": now, "Message": "manually requested rollback" });
        previous
    } else {
        let spec = normalize_service(spec.unwrap_or(Value::Null))?;
        if spec["Name"] != svc.spec["Name"] {
            return Err(SwarmError::InvalidArgument(
                "rpc error: code = Unimplemented desc = renaming services is not supported".into(),
            ));
        }
        if !super::model::same_template(template(&spec), template(&svc.spec)) {
            status["UpdateStatus"] =
                json!({ "State": "updating", "StartedAt": now, "Message": "update in progress" });
        }
        spec
    };
    status["PreviousSpec"] = svc.spec.clone();
    if let Some(o) = status.as_object_mut() {
        o.remove("UpdateLast");
    }
    m.raft
        .write(ClusterCommand::single(Op::Update {
            id: svc.id.clone(),
            expected_version: Some(version),
            attrs: svc.attrs.clone(),
            spec: new,
            status,
        }))
        .await
        .map_err(|e| raft_refusal(e, "update"))?;
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
        .map_err(|e| raft_refusal(e, "remove"))?;
    Ok(())
}

/// Updates a node's availability and labels at `version`.
pub async fn update_node(m: &Manager, key: &str, version: u64, spec: Value) -> SwarmResult<()> {
    let node = m.read(|s| find(s, ObjectKind::Node, key).cloned())?;
    if node.meta.version != version {
        return Err(SwarmError::Conflict(
            "rpc error: code = Unknown desc = update out of sequence".into(),
        ));
    }
    let availability = spec["Availability"].as_str().unwrap_or("active");
    if !matches!(availability, "active" | "pause" | "drain") {
        return Err(SwarmError::InvalidArgument(format!(
            "invalid availability {availability:?}: use active, pause or drain"
        )));
    }
    let role = spec["Role"].as_str().unwrap_or("");
    let current = super::node_role(&node);
    let wanted = match role {
        "manager" => NodeRole::Manager,
        "worker" => NodeRole::Worker,
        "" => current,
        other => {
            return Err(SwarmError::InvalidArgument(format!(
                "invalid role {other:?}: use manager or worker"
            )))
        }
    };
    let mut attrs = node.attrs.clone();
    let mut status = node.status.clone();
    if wanted != current {
        match wanted {
            NodeRole::Manager => {
                let addr = node.status["AdvertiseAddr"]
                    .as_str()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| {
                        SwarmError::InvalidArgument(format!(
                            "node {} has not reported its swarm address yet; try again when it \
                             is ready",
                            node.id
                        ))
                    })?
                    .to_string();
                status["RaftId"] = json!(super::handler::next_raft_id(m).await?);
                status["ManagerAddr"] = json!(addr);
            }
            NodeRole::Worker => {
                let managers = m.read(|s| s.nodes_by_role(NodeRole::Manager).len());
                if managers <= 1 {
                    return Err(SwarmError::InvalidArgument(
                        "rpc error: code = FailedPrecondition desc = attempting to demote the \
                         last manager of the swarm"
                            .into(),
                    ));
                }
                if let Some(raft_id) = node.status["RaftId"].as_u64() {
                    m.raft.remove_member(raft_id).await?;
                }
                if let Some(o) = status.as_object_mut() {
                    o.remove("RaftId");
                    o.remove("ManagerAddr");
                }
            }
        }
        attrs = Attrs::Node { role: wanted };
    }
    let mut new_spec = node.spec.clone();
    new_spec["Availability"] = json!(availability);
    new_spec["Role"] = json!(match wanted {
        NodeRole::Manager => "manager",
        NodeRole::Worker => "worker",
    });
    new_spec["Labels"] = if spec["Labels"].is_object() {
        spec["Labels"].clone()
    } else {
        json!({})
    };
    if let Some(name) = spec["Name"].as_str() {
        new_spec["Name"] = json!(name);
    }
    m.raft
        .write(ClusterCommand::single(Op::Update {
            id: node.id.clone(),
            expected_version: Some(version),
            attrs,
            spec: new_spec,
            status,
        }))
        .await
        .map_err(|e| raft_refusal(e, "node update"))?;
    Ok(())
}

/// Removes a node: refused while it is up unless forced; a manager must be demoted first.
pub async fn remove_node(m: &Manager, key: &str, force: bool) -> SwarmResult<()> {
    let node = m.read(|s| find(s, ObjectKind::Node, key).cloned())?;
    if super::node_role(&node) == NodeRole::Manager {
        return Err(SwarmError::InvalidArgument(format!(
            "rpc error: code = FailedPrecondition desc = node {} is a cluster manager and is a \
             member of the raft cluster. It must be demoted to worker before removal",
            node.id
        )));
    }
    if !force && node.status["Status"]["State"].as_str() == Some("ready") {
        return Err(SwarmError::InvalidArgument(format!(
            "rpc error: code = FailedPrecondition desc = node {} is not down and can't be \
             removed",
            node.id
        )));
    }
    m.raft
        .write(ClusterCommand::single(Op::Delete {
            kind: ObjectKind::Node,
            id: node.id,
            expected_version: None,
        }))
        .await
        .map_err(|e| raft_refusal(e, "node remove"))?;
    Ok(())
}

/// Updates the swarm spec at `version`, and rotates join tokens when asked.
pub async fn update_swarm(
    m: &Manager,
    version: u64,
    spec: Value,
    rotate_worker: bool,
    rotate_manager: bool,
) -> SwarmResult<()> {
    let cluster = m
        .cluster()
        .ok_or_else(|| SwarmError::Unavailable("the swarm is still starting".into()))?;
    if cluster.meta.version != version {
        return Err(SwarmError::Conflict(
            "rpc error: code = Unknown desc = update out of sequence".into(),
        ));
    }
    let mut new_spec = cluster.spec.clone();
    super::merge(&mut new_spec, &spec);
    let mut status = cluster.status.clone();
    if rotate_worker || rotate_manager {
        let ca = super::model::cluster_ca(&cluster)
            .map_err(|e| SwarmError::internal("cluster CA", e))?;
        if rotate_worker {
            status["Tokens"]["Worker"] = json!(JoinToken::new(&ca).secret);
        }
        if rotate_manager {
            status["Tokens"]["Manager"] = json!(JoinToken::new(&ca).secret);
        }
    }
    m.raft
        .write(ClusterCommand::single(Op::Update {
            id: cluster.id.clone(),
            expected_version: Some(version),
            attrs: cluster.attrs.clone(),
            spec: new_spec,
            status,
        }))
        .await
        .map_err(|e| raft_refusal(e, "swarm update"))?;
    Ok(())
}

/// The full join tokens of the cluster object: (worker, manager).
pub fn join_tokens(cluster: &Object) -> (String, String) {
    let digest = super::model::cluster_ca(cluster)
        .map(|ca| ca.digest())
        .unwrap_or_default();
    let token = |secret: &Value| {
        JoinToken {
            digest: digest.clone(),
            secret: secret.as_str().unwrap_or("").to_string(),
        }
        .to_string()
    };
    (
        token(&cluster.status["Tokens"]["Worker"]),
        token(&cluster.status["Tokens"]["Manager"]),
    )
}
