//! Registry credentials for the nodes (`--with-registry-auth`), kept where swarmkit keeps them:
//! in the task template, as `ContainerSpec.PullOptions.RegistryAuth` (the client's encoded
//! `X-Registry-Auth`). So they reach exactly the nodes given a task of the service, with the
//! task, and are sealed at rest with the rest of the Raft log. Docker's API has no such field:
//! it is never taken from a client's spec and never shown (`public`).

use serde_json::Value;

/// Where an update's credentials come from (Docker's `registryAuthFrom`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullAuth {
    /// The request's `X-Registry-Auth`.
    Given(String),
    /// The service's current spec (no header; `registryAuthFrom=spec`, the default).
    FromSpec,
    /// The previous spec (`registryAuthFrom=previous-spec`, as `docker service rollback` sends).
    FromPreviousSpec,
}

const PULL_OPTIONS: &str = "PullOptions";

fn container_of(spec: &Value) -> Option<&Value> {
    spec.get("TaskTemplate")?.get("ContainerSpec")
}

/// The credentials a task template carries.
pub fn of_template(template: &Value) -> Option<&str> {
    template
        .get("ContainerSpec")?
        .get(PULL_OPTIONS)?
        .get("RegistryAuth")?
        .as_str()
        .filter(|a| !a.is_empty())
}

/// The credentials a service spec carries.
pub fn of_spec(spec: &Value) -> Option<&str> {
    spec.get("TaskTemplate").and_then(of_template)
}

/// Sets (or, with `None`, removes) a service spec's credentials; a spec without a container
/// spec is left alone.
pub fn set(spec: &mut Value, auth: Option<&str>) {
    let Some(c) = spec
        .get_mut("TaskTemplate")
        .and_then(|t| t.get_mut("ContainerSpec"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    match auth {
        Some(a) => {
            c.insert(
                PULL_OPTIONS.into(),
                serde_json::json!({ "RegistryAuth": a }),
            );
        }
        None => {
            c.remove(PULL_OPTIONS);
        }
    }
}

/// A service spec as the API shows it: without credentials.
pub fn public_spec(spec: &Value) -> Value {
    let mut out = spec.clone();
    if container_of(spec).is_some_and(|c| c.get(PULL_OPTIONS).is_some()) {
        set(&mut out, None);
    }
    out
}

/// A task template as the API shows it: without credentials.
pub fn public_template(template: &Value) -> Value {
    let mut out = template.clone();
    if let Some(c) = out.get_mut("ContainerSpec").and_then(Value::as_object_mut) {
        c.remove(PULL_OPTIONS);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_are_set_read_and_never_shown() {
        let mut spec = json!({ "TaskTemplate": { "ContainerSpec": { "Image": "busybox" } } });
        set(&mut spec, Some("e30="));
        assert_eq!(of_spec(&spec), Some("e30="));
        assert_eq!(of_template(&spec["TaskTemplate"]), Some("e30="));
        let shown = public_spec(&spec);
        assert_eq!(
            shown,
            json!({ "TaskTemplate": { "ContainerSpec": { "Image": "busybox" } } })
        );
        assert_eq!(
            public_template(&spec["TaskTemplate"]),
            shown["TaskTemplate"]
        );
        set(&mut spec, None);
        assert_eq!(of_spec(&spec), None);
    }
}
