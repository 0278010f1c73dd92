//! What the API asks of a manager about secrets and configs: create (swarmkit's name and size
//! rules), update (labels only, as Docker), remove (refused while a service references it), and
//! the check of a service's references (each must name an existing object; the id is filled
//! from the name when only the name is given).

use base64::Engine as _;
use berth_raft::{ClusterCommand, ClusterState, ObjectKind, Op};
use serde_json::{json, Map, Value};

use crate::error::{SwarmError, SwarmResult};
use crate::manager::Manager;
use crate::model::{data_status, new_id, SecretKind, SecretObject, Service};
use crate::ops::find;

fn refuse(what: impl Into<String>) -> SwarmError {
    SwarmError::InvalidArgument(format!(
        "rpc error: code = InvalidArgument desc = {}",
        what.into()
    ))
}

/// Whether `name` is what swarmkit accepts: up to 64 of `[a-zA-Z0-9-_.]`, starting and ending
/// with `[a-zA-Z0-9]`.
fn valid_name(name: &str) -> bool {
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    name.len() <= 64
        && ends_ok(name.chars().next())
        && ends_ok(name.chars().last())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A create request checked: the name, the spec to store (without `Data`) and the data.
pub fn normalize(kind: SecretKind, raw: &Value) -> SwarmResult<(String, Value, Vec<u8>)> {
    let Some(fields) = raw.as_object() else {
        return Err(refuse(format!("{} spec must be an object", kind.noun())));
    };
    let name = fields.get("Name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        return Err(refuse("meta: name must be provided"));
    }
    if !valid_name(name) {
        return Err(refuse("invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]"));
    }
    if let Some(labels) = fields.get("Labels").filter(|l| !l.is_null()) {
        let ok = labels
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string));
        if !ok {
            return Err(refuse("Labels must map strings to strings"));
        }
    }
    if let Some(driver) = driver_name(fields, "Driver") {
        return Err(refuse(format!(
            "secret driver {driver:?}: external secret stores are not supported by berth"
        )));
    }
    let templating = driver_name(fields, "Templating");
    if let Some(driver) = templating.as_deref().filter(|d| *d != TEMPLATE_DRIVER) {
        return Err(refuse(format!(
            "template driver {driver:?} is not supported by berth (only {TEMPLATE_DRIVER:?})"
        )));
    }
    let encoded = fields.get("Data").and_then(Value::as_str).unwrap_or("");
    let data = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| refuse(format!("Data is not valid base64: {e}")))?;
    if data.is_empty() || data.len() >= kind.max_size() {
        return Err(refuse(format!(
            "{} data must be larger than 0 and less than {} bytes",
            kind.noun(),
            kind.max_size()
        )));
    }
    let mut spec = Map::new();
    spec.insert("Name".into(), json!(name));
    let labels = fields.get("Labels").filter(|l| !l.is_null());
    spec.insert(
        "Labels".into(),
        labels.cloned().unwrap_or_else(|| json!({})),
    );
    if templating.is_some() {
        spec.insert("Templating".into(), json!({ "Name": TEMPLATE_DRIVER }));
    }
    Ok((name.to_string(), Value::Object(spec), data))
}

/// The template driver berth has: Docker's placeholders in the data, expanded per task
/// (`agent/template.rs`).
pub const TEMPLATE_DRIVER: &str = "golang";

/// The name of a set driver field (`Driver`, `Templating`), if any.
fn driver_name(fields: &Map<String, Value>, key: &str) -> Option<String> {
    let d = fields.get(key)?;
    let name = d.get("Name").and_then(Value::as_str).unwrap_or("");
    (!d.is_null() && !name.is_empty()).then(|| name.to_string())
}

fn exists(kind: SecretKind, name: &str) -> SwarmError {
    SwarmError::Conflict(format!(
        "rpc error: code = AlreadyExists desc = {} {name} already exists",
        kind.noun()
    ))
}

/// Creates a secret or config; returns its id.
pub async fn create(m: &Manager, kind: SecretKind, raw: &Value) -> SwarmResult<String> {
    let (name, spec, data) = normalize(kind, raw)?;
    let taken = m
        .read_fresh(|s| s.by_name(kind.object_kind(), &name).is_some())
        .await?;
    if taken {
        return Err(exists(kind, &name));
    }
    let id = new_id();
    m.write(ClusterCommand::single(Op::Create {
        id: id.clone(),
        attrs: kind.attrs(name.clone()),
        spec,
        status: data_status(&data),
    }))
    .await
    .map_err(|e| match e {
        SwarmError::Conflict(_) => exists(kind, &name),
        other => other,
    })?;
    Ok(id)
}

/// Updates the labels of a secret or config at `version`: swarmkit refuses any other change.
pub async fn update(
    m: &Manager,
    kind: SecretKind,
    key: &str,
    version: u64,
    raw: &Value,
) -> SwarmResult<()> {
    let object = m.read(|s| find(s, kind.object_kind(), key).cloned())?;
    let current = SecretObject::parse(&object)?;
    let asked_name = raw.get("Name").and_then(Value::as_str).unwrap_or("");
    let data = raw.get("Data").and_then(Value::as_str).unwrap_or("");
    // As swarmkit: no data (a secret's is never shown, so inspect's spec has none), or the
    // same (`docker stack deploy` sends the file again with changed labels).
    let same_data = data.is_empty()
        || base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()
            .zip(current.data().ok())
            .is_some_and(|(a, b)| a == b);
    if asked_name != current.name() || !same_data {
        return Err(refuse("only updates to Labels are allowed"));
    }
    if object.meta.version != version {
        return Err(SwarmError::Conflict(
            "rpc error: code = Unknown desc = update out of sequence".into(),
        ));
    }
    let labels = raw.get("Labels").filter(|l| !l.is_null());
    if labels.is_some_and(|l| {
        !l.as_object()
            .is_some_and(|m| m.values().all(Value::is_string))
    }) {
        return Err(refuse("Labels must map strings to strings"));
    }
    let mut spec = object.spec.clone();
    spec["Labels"] = labels.cloned().unwrap_or_else(|| json!({}));
    m.write(ClusterCommand::single(Op::Update {
        id: object.id.clone(),
        expected_version: Some(version),
        attrs: object.attrs.clone(),
        spec,
        status: object.status.clone(),
    }))
    .await?;
    Ok(())
}

/// The `Secrets` or `Configs` references of a service spec's container.
pub fn references(spec: &Value, kind: SecretKind) -> &[Value] {
    let field = match kind {
        SecretKind::Secret => "Secrets",
        SecretKind::Config => "Configs",
    };
    spec["TaskTemplate"]["ContainerSpec"][field]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// The id field of a reference of `kind`.
pub fn id_field(kind: SecretKind) -> &'static str {
    match kind {
        SecretKind::Secret => "SecretID",
        SecretKind::Config => "ConfigID",
    }
}

/// The name field of a reference of `kind`.
pub fn name_field(kind: SecretKind) -> &'static str {
    match kind {
        SecretKind::Secret => "SecretName",
        SecretKind::Config => "ConfigName",
    }
}

/// The names of the services that reference object `id` of `kind`.
pub fn services_using(s: &ClusterState, kind: SecretKind, id: &str) -> Vec<String> {
    let mut names: Vec<String> = s
        .list(ObjectKind::Service)
        .filter(|o| {
            references(&o.spec, kind)
                .iter()
                .any(|r| r[id_field(kind)].as_str() == Some(id))
        })
        .filter_map(|o| Service::parse(o).ok().map(|svc| svc.name().to_string()))
        .collect();
    names.sort();
    names
}

/// Removes a secret or config no service references.
pub async fn remove(m: &Manager, kind: SecretKind, key: &str) -> SwarmResult<()> {
    let (id, version) = m
        .read_fresh(|s| {
            let o = find(s, kind.object_kind(), key)?;
            let obj = SecretObject::parse(o)?;
            let users = services_using(s, kind, &o.id);
            if !users.is_empty() {
                let plural = if users.len() > 1 { "s" } else { "" };
                return Err(refuse(format!(
                    "{} '{}' is in use by the following service{plural}: {}",
                    kind.noun(),
                    obj.name(),
                    users.join(", ")
                )));
            }
            Ok((o.id.clone(), o.meta.version))
        })
        .await??;
    m.write(ClusterCommand::single(Op::Delete {
        kind: kind.object_kind(),
        id,
        expected_version: Some(version),
    }))
    .await?;
    Ok(())
}

#[cfg(test)]
#[path = "secret_ops_tests.rs"]
mod tests;
