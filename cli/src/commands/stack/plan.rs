//! What a deploy changes, decided from the file's objects and the swarm's, without writing:
//! `stack plan` prints it and `stack deploy` carries it out, so the two cannot disagree. A
//! service whose spec is unchanged is not touched (its version does not move); a changed one
//! comes with the fields that differ.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::compose::convert::Desired;

/// What the swarm holds of the stack (and the networks that exist, for `external`).
#[derive(Debug, Default)]
pub struct Existing {
    /// Services of the stack: name → (id, version, spec).
    pub services: BTreeMap<String, (String, u64, Value)>,
    /// Every network's name.
    pub networks: BTreeSet<String>,
    /// Every secret's and config's name → id.
    pub secrets: BTreeMap<String, String>,
    pub configs: BTreeMap<String, String>,
}

/// One field that differs: where, and its old and new values (absent = `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// One step of a deploy, in the order it is taken.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    CreateNetwork(String),
    CreateSecret(String),
    CreateConfig(String),
    CreateService(String),
    UpdateService { name: String, changes: Vec<Change> },
    Unchanged(String),
    RemoveService(String),
}

/// The steps that take the swarm from `existing` to `desired`; `prune` removes the stack's
/// services the file no longer has. A missing external network is an error.
pub fn plan(desired: &Desired, existing: &Existing, prune: bool) -> Result<Vec<Step>, String> {
    for n in &desired.external_networks {
        if !existing.networks.contains(n) {
            return Err(format!(
                "network \"{n}\" is declared as external, but could not be found. You need to create a swarm-scoped network before the stack is deployed"
            ));
        }
    }
    // Every secret and config a service names must exist or be made by this deploy: checked
    // before anything is created, so a missing external one leaves the swarm as it was.
    for spec in desired.services.values() {
        for (key, name_key, made, have, what) in [
            (
                "Secrets",
                "SecretName",
                &desired.secrets,
                &existing.secrets,
                "secret",
            ),
            (
                "Configs",
                "ConfigName",
                &desired.configs,
                &existing.configs,
                "config",
            ),
        ] {
            let refs = spec
                .pointer(&format!("/TaskTemplate/ContainerSpec/{key}"))
                .and_then(Value::as_array);
            for name in refs
                .into_iter()
                .flatten()
                .filter_map(|r| r[name_key].as_str())
            {
                if !made.contains_key(name) && !have.contains_key(name) {
                    return Err(format!("{what} not found: {name}"));
                }
            }
        }
    }
    let mut steps = Vec::new();
    for n in desired.networks.keys() {
        if !existing.networks.contains(n) {
            steps.push(Step::CreateNetwork(n.clone()));
        }
    }
    for n in desired.secrets.keys() {
        if !existing.secrets.contains_key(n) {
            steps.push(Step::CreateSecret(n.clone()));
        }
    }
    for n in desired.configs.keys() {
        if !existing.configs.contains_key(n) {
            steps.push(Step::CreateConfig(n.clone()));
        }
    }
    for (name, spec) in &desired.services {
        match existing.services.get(name) {
            None => steps.push(Step::CreateService(name.clone())),
            Some((_, _, old)) => {
                let changes = diff(old, spec);
                if changes.is_empty() {
                    steps.push(Step::Unchanged(name.clone()));
                } else {
                    steps.push(Step::UpdateService {
                        name: name.clone(),
                        changes,
                    });
                }
            }
        }
    }
    if prune {
        for name in existing.services.keys() {
            if !desired.services.contains_key(name) {
                steps.push(Step::RemoveService(name.clone()));
            }
        }
    }
    Ok(steps)
}

/// The fields of `new` that differ from `old`, compared as the daemon keeps them: empty and
/// zero fields count as absent, secrets and configs by name (their ids are the swarm's), and an
/// image pinned to a digest equals the same image asked for without one.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    let old = without_resolved_platforms(&without_ingress(old, new), new);
    walk("", &normalized(&old), &normalized(new), &mut out);
    out.retain(|c| !same_image(c));
    out
}

/// `old` without the `ingress` attachment berthd adds to the stored spec of a service that
/// publishes ports through the routing mesh (a file cannot ask for it: Docker refuses an
/// explicit attachment to the ingress network), unless `new` names it too.
fn without_ingress(old: &Value, new: &Value) -> Value {
    const NETWORKS: &str = "/TaskTemplate/Networks";
    let is_ingress = |n: &Value| n.get("Target").and_then(Value::as_str) == Some("ingress");
    let asked = new
        .pointer(NETWORKS)
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(is_ingress));
    let mut old = old.clone();
    if !asked {
        if let Some(list) = old.pointer_mut(NETWORKS).and_then(Value::as_array_mut) {
            list.retain(|n| !is_ingress(n));
        }
    }
    old
}

/// `old` without the platforms the deploy took from the registry with the image's digest
/// (`--resolve-image`; a file has no key for them), unless `new` has some.
fn without_resolved_platforms(old: &Value, new: &Value) -> Value {
    const PLATFORMS: &str = "/TaskTemplate/Placement/Platforms";
    let mut old = old.clone();
    if new.pointer(PLATFORMS).is_none() {
        if let Some(placement) = old
            .pointer_mut("/TaskTemplate/Placement")
            .and_then(Value::as_object_mut)
        {
            placement.remove("Platforms");
        }
    }
    old
}

fn same_image(c: &Change) -> bool {
    if !c.path.ends_with("ContainerSpec.Image") {
        return false;
    }
    match (&c.old, &c.new) {
        (Some(Value::String(o)), Some(Value::String(n))) => {
            !n.contains('@') && o.split('@').next() == Some(n.as_str())
        }
        _ => false,
    }
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => walk(&sub, x, y, out),
                    (x, y) => out.push(Change {
                        path: sub,
                        old: x.cloned(),
                        new: y.cloned(),
                    }),
                }
            }
        }
        (a, b) if a != b => out.push(Change {
            path: path.to_string(),
            old: Some(a.clone()),
            new: Some(b.clone()),
        }),
        _ => {}
    }
}

/// Without nulls, zero values, empty objects and lists, and swarm-given ids.
fn normalized(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| *k != "SecretID" && *k != "ConfigID")
                .filter(|(k, v)| !is_shown_default(k, v))
                .map(|(k, v)| (k.clone(), normalized(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

/// A value the daemon shows in every container service's spec, as moby does, whether or not the
/// file (or anyone) asked for it: the only runtime and isolation there are, and the endpoint's
/// mode and its ports' protocol and publish mode, swarmkit's first values when unset.
fn is_shown_default(key: &str, v: &Value) -> bool {
    matches!(
        (key, v.as_str()),
        ("Runtime", Some("container"))
            | ("Isolation", Some("default"))
            | ("Mode", Some("vip"))
            | ("Protocol", Some("tcp"))
            | ("PublishMode", Some("ingress"))
    )
}

/// Absent, or Go's zero value (which docker's client sends and omits alike).
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
    }
}

/// The plan as `stack plan` prints it.
pub fn render(stack: &str, steps: &[Step]) -> String {
    let count = |f: fn(&Step) -> bool| steps.iter().filter(|s| f(s)).count();
    let create = count(|s| {
        matches!(
            s,
            Step::CreateNetwork(_)
                | Step::CreateSecret(_)
                | Step::CreateConfig(_)
                | Step::CreateService(_)
        )
    });
    let update = count(|s| matches!(s, Step::UpdateService { .. }));
    let unchanged = count(|s| matches!(s, Step::Unchanged(_)));
    let remove = count(|s| matches!(s, Step::RemoveService(_)));
    let mut out = format!(
        "Stack {stack}: {create} to create, {update} to update, {unchanged} unchanged, {remove} to remove\n"
    );
    for s in steps {
        match s {
            Step::CreateNetwork(n) => out.push_str(&format!("create network {n}\n")),
            Step::CreateSecret(n) => out.push_str(&format!("create secret {n}\n")),
            Step::CreateConfig(n) => out.push_str(&format!("create config {n}\n")),
            Step::CreateService(n) => out.push_str(&format!("create service {n}\n")),
            Step::UpdateService { name, changes } => {
                out.push_str(&format!("update service {name}\n"));
                for c in changes {
                    let show = |v: &Option<Value>| {
                        v.as_ref()
                            .map_or_else(|| "(none)".to_string(), Value::to_string)
                    };
                    out.push_str(&format!(
                        "    {}: {} -> {}\n",
                        c.path,
                        show(&c.old),
                        show(&c.new)
                    ));
                }
            }
            Step::Unchanged(n) => out.push_str(&format!("unchanged service {n}\n")),
            Step::RemoveService(n) => out.push_str(&format!("remove service {n}\n")),
        }
    }
    out
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
