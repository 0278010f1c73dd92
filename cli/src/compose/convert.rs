//! A loaded Compose file as the objects `stack deploy` makes, in the Engine API's own JSON
//! (what the daemon stores and returns, so `stack plan` can compare field by field): networks
//! `<stack>_<name>`, services `<stack>_<name>` labelled `com.docker.stack.namespace`, and the
//! secrets and configs made from files. Follows docker's CLI (cli/compose/convert). A
//! service's spec is built in `convert_service.rs`, its `deploy:` keys in `convert_deploy.rs`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::convert_service::service;
use super::model::MapOrList;
use super::Loaded;
use crate::commands::service::parse::duration;

/// The label that ties an object to its stack.
pub const NAMESPACE_LABEL: &str = "com.docker.stack.namespace";
/// The label docker's client puts on a stack's service: its image as the file names it.
pub(super) const IMAGE_LABEL: &str = "com.docker.stack.image";

/// What a deploy of a file wants to exist.
#[derive(Debug, Default)]
pub struct Desired {
    /// Networks to create when missing: full name → `POST /networks/create` body.
    pub networks: BTreeMap<String, Value>,
    /// Networks that must exist already (`external`).
    pub external_networks: BTreeSet<String>,
    /// Secrets and configs made from files: full name → (data, labels).
    pub secrets: BTreeMap<String, FileObject>,
    pub configs: BTreeMap<String, FileObject>,
    /// Services: full name → spec (Engine API JSON).
    pub services: BTreeMap<String, Value>,
}

/// A secret or config a deploy creates from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileObject {
    pub data: Vec<u8>,
    pub labels: BTreeMap<String, String>,
    pub template_driver: Option<String>,
}

/// `name` in stack `ns`.
pub fn scoped(ns: &str, name: &str) -> String {
    format!("{ns}_{name}")
}

/// Everything `loaded` asks for in stack `ns`; `env` resolves `environment: [KEY]`.
pub fn convert(
    ns: &str,
    loaded: &Loaded,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Desired, String> {
    let f = &loaded.file;
    let mut out = Desired::default();
    let mut used_networks = BTreeSet::new();
    for (name, svc) in &f.services {
        let spec = service(ns, name, svc, loaded, env, &mut used_networks)?;
        out.services.insert(scoped(ns, name), spec);
    }
    for net in used_networks {
        let config = f.networks.get(&net).cloned().flatten().unwrap_or_default();
        if let Some((true, external)) = config.external.as_ref().map(|e| e.name()) {
            let name = external
                .or(config.name.as_deref())
                .unwrap_or(&net)
                .to_string();
            out.external_networks.insert(name);
            continue;
        }
        let full = config.name.clone().unwrap_or_else(|| scoped(ns, &net));
        let mut labels = labels_of(config.labels.as_ref(), env);
        labels.insert(NAMESPACE_LABEL.into(), ns.into());
        let mut body = json!({
            "Name": full,
            "Driver": config.driver.clone().unwrap_or_else(|| "overlay".into()),
            "Scope": "swarm",
            "Labels": labels,
        });
        if !config.driver_opts.is_empty() {
            body["Options"] = json!(config
                .driver_opts
                .iter()
                .map(|(k, v)| (k.clone(), v.text()))
                .collect::<BTreeMap<_, _>>());
        }
        for (key, v) in [
            ("Attachable", config.attachable),
            ("Internal", config.internal),
            ("EnableIPv6", config.enable_ipv6),
        ] {
            if let Some(v) = v {
                body[key] = json!(v);
            }
        }
        if let Some(ipam) = &config.ipam {
            let pools: Vec<Value> = ipam
                .config
                .iter()
                .map(|p| json!({ "Subnet": p.subnet, "Gateway": p.gateway, "IPRange": p.ip_range }))
                .map(strip_nulls)
                .collect();
            body["IPAM"] = strip_nulls(json!({ "Driver": ipam.driver, "Config": pools }));
        }
        out.networks.insert(full, body);
    }
    files(ns, &f.secrets, "secret", loaded, env, &mut out.secrets)?;
    files(ns, &f.configs, "config", loaded, env, &mut out.configs)?;
    Ok(out)
}

/// Top-level `secrets:`/`configs:` made from files (external ones are looked up at deploy).
fn files(
    ns: &str,
    declared: &BTreeMap<String, super::model::FileObjectConfig>,
    what: &str,
    loaded: &Loaded,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut BTreeMap<String, FileObject>,
) -> Result<(), String> {
    for (name, c) in declared {
        if c.external.as_ref().is_some_and(|e| e.name().0) {
            continue;
        }
        let data = if let Some(file) = &c.file {
            let path = loaded.base_dir.join(file);
            std::fs::read(&path)
                .map_err(|e| format!("{what} {name}: open {}: {e}", path.display()))?
        } else if let Some(var) = &c.environment {
            env(var)
                .ok_or_else(|| format!("{what} {name}: environment variable {var} is not set"))?
                .into_bytes()
        } else {
            return Err(format!(
                "{what} {name}: needs a file, environment or external"
            ));
        };
        let mut labels = labels_of(c.labels.as_ref(), env);
        labels.insert(NAMESPACE_LABEL.into(), ns.into());
        let full = c.name.clone().unwrap_or_else(|| scoped(ns, name));
        out.insert(
            full,
            FileObject {
                data,
                labels,
                template_driver: c.template_driver.clone(),
            },
        );
    }
    Ok(())
}

/// `labels:` as a map; a bare `KEY` is an empty label.
pub(super) fn labels_of(
    l: Option<&MapOrList>,
    _env: &dyn Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    l.map(|l| {
        l.entries()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect()
    })
    .unwrap_or_default()
}

/// A duration field in nanoseconds.
pub(super) fn nanos(field: &str, v: Option<&String>) -> Result<Option<i64>, String> {
    v.map(|s| duration(s).map_err(|e| format!("{field}: {e}")))
        .transpose()
}
/// `v` without null fields (recursively in objects), as the daemon stores specs.
pub fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
