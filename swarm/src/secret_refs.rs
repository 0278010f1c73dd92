//! A service's references to secrets and configs (`ContainerSpec.Secrets`/`Configs`), checked
//! on the manager as swarmkit checks them: each names an existing object (the id is filled
//! from the name when a client sent only the name), has a file target with a usable name,
//! owner and mode, and no two references land on one path.

use std::collections::HashMap;

use berth_raft::ClusterState;
use serde_json::{json, Value};

use crate::error::{SwarmError, SwarmResult};
use crate::model::{target_path, SecretKind};
use crate::secret_ops::{id_field, name_field};

fn refuse(what: impl Into<String>) -> SwarmError {
    SwarmError::InvalidArgument(format!(
        "rpc error: code = InvalidArgument desc = {}",
        what.into()
    ))
}

/// Checks the secret and config references of a service spec, filling ids and names.
pub fn resolve_service_refs(s: &ClusterState, spec: &mut Value) -> SwarmResult<()> {
    let mut targets: HashMap<String, String> = HashMap::new();
    for kind in [SecretKind::Secret, SecretKind::Config] {
        let field = match kind {
            SecretKind::Secret => "Secrets",
            SecretKind::Config => "Configs",
        };
        let Some(refs) = spec
            .pointer_mut(&format!("/TaskTemplate/ContainerSpec/{field}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        let mut missing = Vec::new();
        for r in refs.iter_mut() {
            let reference = resolve_one(s, kind, r, &mut missing)?;
            if let Some(path) = reference {
                let label = r[name_field(kind)].as_str().unwrap_or_default().to_string();
                if let Some(other) = targets.insert(path.clone(), label.clone()) {
                    return Err(refuse(format!(
                        "{} references '{other}' and '{label}' have a conflicting target: '{path}'",
                        kind.noun()
                    )));
                }
            }
        }
        if !missing.is_empty() {
            return Err(refuse(format!(
                "{} not found: {}",
                kind.noun(),
                missing.join(", ")
            )));
        }
    }
    Ok(())
}

/// Resolves one reference; its target path in the container, unless its object is missing
/// (then its key is pushed onto `missing`).
fn resolve_one(
    s: &ClusterState,
    kind: SecretKind,
    r: &mut Value,
    missing: &mut Vec<String>,
) -> SwarmResult<Option<String>> {
    let noun = kind.noun();
    if !r.is_object() {
        return Err(refuse(format!("malformed {noun} reference")));
    }
    let id = r[id_field(kind)].as_str().unwrap_or_default().to_string();
    let name = r[name_field(kind)].as_str().unwrap_or_default().to_string();
    if id.is_empty() && name.is_empty() {
        return Err(refuse(format!("malformed {noun} reference")));
    }
    if r.get("Runtime").is_some_and(|v| !v.is_null()) {
        return Err(refuse(format!(
            "{noun} references with a Runtime target are not supported by berth"
        )));
    }
    let file = r.get("File").filter(|f| f.is_object()).cloned();
    let Some(file) = file else {
        return Err(refuse(format!(
            "malformed {noun} reference, no target provided"
        )));
    };
    let file_name = file["Name"].as_str().unwrap_or_default();
    let bad_name = file_name.is_empty()
        || file_name.contains('\0')
        || file_name.split('/').any(|part| part == "..");
    if bad_name {
        return Err(refuse(format!(
            "malformed file {noun} reference, invalid target file name provided"
        )));
    }
    for owner in ["UID", "GID"] {
        let v = file[owner].as_str().unwrap_or_default();
        if !v.is_empty() && v.parse::<u32>().is_err() {
            return Err(refuse(format!(
                "invalid {owner} {v:?} in the {noun} reference to {name}: a number is needed"
            )));
        }
    }
    if file["Mode"].as_u64().is_some_and(|m| m > 0o7777) {
        return Err(refuse(format!(
            "invalid file mode in the {noun} reference to {name}"
        )));
    }
    let found = if id.is_empty() {
        s.by_name(kind.object_kind(), &name)
    } else {
        s.get(kind.object_kind(), &id)
    };
    let Some(o) = found else {
        missing.push(if id.is_empty() { name } else { id });
        return Ok(None);
    };
    r[id_field(kind)] = json!(o.id);
    if name.is_empty() {
        r[name_field(kind)] = json!(o.attrs.unique_name().unwrap_or_default());
    }
    Ok(Some(target_path(kind, file_name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_raft::{Attrs, Op};

    fn state_with_secret() -> ClusterState {
        let mut s = ClusterState::default();
        let op = Op::Create {
            id: "sec1".into(),
            attrs: Attrs::Secret { name: "db".into() },
            spec: json!({ "Name": "db", "Labels": {} }),
            status: json!({ "Data": "eA==" }),
        };
        crate::fixtures::apply(&mut s, vec![op]);
        s
    }

    fn spec_with(secrets: Value) -> Value {
        json!({ "TaskTemplate": { "ContainerSpec": { "Image": "busybox", "Secrets": secrets } } })
    }

    #[test]
    fn a_reference_by_name_gets_the_id_filled() {
        let s = state_with_secret();
        let mut spec = spec_with(json!([{ "SecretName": "db", "File": { "Name": "db" } }]));
        resolve_service_refs(&s, &mut spec).unwrap();
        assert_eq!(
            spec["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretID"],
            "sec1"
        );
    }

    #[test]
    fn an_unknown_secret_is_refused_with_swarmkits_words() {
        let s = state_with_secret();
        let mut spec = spec_with(json!([{ "SecretID": "nope", "SecretName": "nope",
            "File": { "Name": "x" } }]));
        let e = resolve_service_refs(&s, &mut spec).unwrap_err().to_string();
        assert!(e.ends_with("secret not found: nope"), "{e}");
    }

    #[test]
    fn two_references_on_one_target_conflict() {
        let s = state_with_secret();
        let mut spec = spec_with(json!([
            { "SecretID": "sec1", "SecretName": "db", "File": { "Name": "t" } },
            { "SecretID": "sec1", "SecretName": "db", "File": { "Name": "t" } },
        ]));
        let e = resolve_service_refs(&s, &mut spec).unwrap_err().to_string();
        assert!(e.contains("conflicting target: '/run/secrets/t'"), "{e}");
    }

    #[test]
    fn a_target_escaping_its_directory_is_refused() {
        let s = state_with_secret();
        let mut spec = spec_with(json!([{ "SecretID": "sec1", "File": { "Name": "../etc/x" } }]));
        let e = resolve_service_refs(&s, &mut spec).unwrap_err().to_string();
        assert!(e.contains("invalid target file name"), "{e}");
    }
}
