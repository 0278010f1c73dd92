//! A Compose service's `deploy:` keys and ports as the swarm's mode, update and rollback
//! configs, restart policy, placement, resources and endpoint ports (Engine API JSON).

use serde_json::{json, Map, Value};

use super::convert::{nanos, strip_nulls};
use super::model::{Deploy, PortConfig, ServiceConfig, UpdateConfig};

pub(super) fn mode(deploy: &Deploy, name: &str) -> Result<Value, String> {
    match deploy.mode.as_deref().unwrap_or("replicated") {
        "global" => {
            if deploy.replicas.is_some() {
                return Err(format!("services.{name}.deploy.replicas: replicas can only be used with replicated or replicated-job mode"));
            }
            Ok(json!({ "Global": {} }))
        }
        "replicated" => {
            Ok(json!({ "Replicated": { "Replicas": deploy.replicas.map_or(1, |r| r.0) } }))
        }
        other => Err(format!(
            "services.{name}.deploy.mode: unknown mode: {other}"
        )),
    }
}

pub(super) fn update_config(u: &UpdateConfig, at: &str) -> Result<Value, String> {
    Ok(strip_nulls(json!({
        "Parallelism": u.parallelism.map_or(1, |p| p.0),
        "Delay": nanos(&format!("{at}.delay"), u.delay.as_ref())?,
        "FailureAction": u.failure_action,
        "Monitor": nanos(&format!("{at}.monitor"), u.monitor.as_ref())?,
        "MaxFailureRatio": u.max_failure_ratio,
        "Order": u.order,
    })))
}

/// `deploy.restart_policy`, else what `restart:` says (docker's CLI maps it the same way).
pub(super) fn restart_policy(
    svc: &ServiceConfig,
    deploy: &Deploy,
    name: &str,
) -> Result<Option<Value>, String> {
    let at = format!("services.{name}.deploy.restart_policy");
    if let Some(r) = &deploy.restart_policy {
        let condition = match r.condition.as_deref() {
            Some("no") => Some("none"),
            other => other,
        };
        return Ok(Some(strip_nulls(json!({
            "Condition": condition,
            "Delay": nanos(&format!("{at}.delay"), r.delay.as_ref())?,
            "MaxAttempts": r.max_attempts.map(|m| m.0),
            "Window": nanos(&format!("{at}.window"), r.window.as_ref())?,
        }))));
    }
    let Some(restart) = svc.other.get("restart").and_then(|v| v.as_str()) else {
        return Ok(None);
    };
    let (policy, attempts) = restart.split_once(':').unwrap_or((restart, ""));
    let condition = match policy {
        "no" => "none",
        "always" | "unless-stopped" => "any",
        "on-failure" => "on-failure",
        other => {
            return Err(format!(
                "services.{name}.restart: unknown restart policy {other}"
            ))
        }
    };
    let attempts: Option<u64> = if attempts.is_empty() {
        None
    } else {
        Some(
            attempts
                .parse()
                .map_err(|_| format!("services.{name}.restart: bad count in {restart}"))?,
        )
    };
    Ok(Some(strip_nulls(
        json!({ "Condition": condition, "MaxAttempts": attempts }),
    )))
}

pub(super) fn placement(deploy: &Deploy) -> Option<Value> {
    let p = deploy.placement.as_ref()?;
    let prefs: Vec<Value> = p
        .preferences
        .iter()
        .map(|s| json!({ "Spread": { "SpreadDescriptor": s.spread } }))
        .collect();
    Some(strip_nulls(json!({
        "Constraints": (!p.constraints.is_empty()).then(|| p.constraints.clone()),
        "Preferences": (!prefs.is_empty()).then_some(prefs),
        "MaxReplicas": p.max_replicas_per_node.map(|m| m.0),
    })))
}

pub(super) fn resources(deploy: &Deploy, name: &str) -> Result<Option<Value>, String> {
    let Some(r) = &deploy.resources else {
        return Ok(None);
    };
    let at = format!("services.{name}.deploy.resources");
    let amounts = |a: &super::model::ResourceAmounts, which: &str| -> Result<Value, String> {
        let cpus = a
            .cpus
            .as_ref()
            .map(|c| {
                crate::parse::nano_cpus(&c.text()).map_err(|e| format!("{at}.{which}.cpus: {e}"))
            })
            .transpose()?;
        let memory = a
            .memory
            .as_ref()
            .map(|m| match m {
                super::model::Scalar::Int(n) => Ok(*n),
                other => crate::parse::ram_in_bytes(&other.text()),
            })
            .transpose()
            .map_err(|e| format!("{at}.{which}.memory: {e}"))?;
        let generic = a
            .generic_resources
            .as_ref()
            .map(|list| {
                list.iter()
                    .map(|g| {
                        let d = g.discrete_resource_spec.as_ref().ok_or_else(|| {
                            format!("{at}.{which}.generic_resources: each needs a discrete_resource_spec")
                        })?;
                        Ok(json!({ "DiscreteResourceSpec": { "Kind": d.kind, "Value": d.value } }))
                    })
                    .collect::<Result<Vec<Value>, String>>()
            })
            .transpose()?;
        Ok(strip_nulls(json!({
            "NanoCPUs": cpus, "MemoryBytes": memory, "Pids": a.pids, "GenericResources": generic,
        })))
    };
    let mut out = Map::new();
    if let Some(l) = &r.limits {
        if l.generic_resources.is_some() {
            return Err(format!(
                "{at}.limits.generic_resources: only reservations take generic resources"
            ));
        }
        out.insert("Limits".into(), amounts(l, "limits")?);
    }
    if let Some(l) = &r.reservations {
        if l.pids.is_some() {
            return Err(format!("{at}.reservations.pids: only limits take pids"));
        }
        out.insert("Reservations".into(), amounts(l, "reservations")?);
    }
    Ok(Some(Value::Object(out)))
}

/// `ports:`: `[published:]target[/protocol]` with ranges, a number, or the long form.
pub(super) fn ports(list: &[PortConfig], at: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for p in list {
        match p {
            PortConfig::Number(n) => {
                out.push(json!({ "Protocol": "tcp", "TargetPort": n, "PublishMode": "ingress" }))
            }
            PortConfig::Short(s) => {
                let (spec, proto) = s.split_once('/').unwrap_or((s.as_str(), "tcp"));
                let parts: Vec<&str> = spec.split(':').collect();
                let (published, target) = match parts.as_slice() {
                    [t] => (None, *t),
                    [p, t] => (Some(*p), *t),
                    [_, _, _] => {
                        return Err(format!(
                            "{at}: {s}: a host IP cannot be published by a swarm service"
                        ))
                    }
                    _ => return Err(format!("{at}: invalid port {s}")),
                };
                let targets = range(target).map_err(|e| format!("{at}: {s}: {e}"))?;
                let published = published
                    .map(|p| range(p).map_err(|e| format!("{at}: {s}: {e}")))
                    .transpose()?;
                if let Some(p) = &published {
                    if p.len() != targets.len() {
                        return Err(format!(
                            "{at}: {s}: the published and target ranges differ in length"
                        ));
                    }
                }
                for (i, t) in targets.iter().enumerate() {
                    let mut port =
                        json!({ "Protocol": proto, "TargetPort": t, "PublishMode": "ingress" });
                    if let Some(p) = &published {
                        port["PublishedPort"] = json!(p[i]);
                    }
                    out.push(port);
                }
            }
            PortConfig::Long(l) => {
                if l.host_ip.is_some() {
                    return Err(format!(
                        "{at}: host_ip cannot be published by a swarm service"
                    ));
                }
                let published = l
                    .published
                    .as_ref()
                    .map(|p| {
                        p.text()
                            .parse::<u16>()
                            .map_err(|_| format!("{at}: invalid published port {}", p.text()))
                    })
                    .transpose()?;
                let target = u16::try_from(l.target.0)
                    .map_err(|_| format!("{at}: invalid target port {}", l.target.0))?;
                out.push(strip_nulls(json!({
                    "Name": l.name,
                    "Protocol": l.protocol.clone().unwrap_or_else(|| "tcp".into()),
                    "TargetPort": target,
                    "PublishedPort": published,
                    "PublishMode": l.mode.clone().unwrap_or_else(|| "ingress".into()),
                })));
            }
        }
    }
    Ok(out)
}

/// `8000` or `8000-8002`.
fn range(s: &str) -> Result<Vec<u16>, String> {
    let bad = || format!("invalid port {s}");
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.trim().parse().map_err(|_| bad())?;
    let b: u16 = b.trim().parse().map_err(|_| bad())?;
    if b < a {
        return Err(bad());
    }
    Ok((a..=b).collect())
}
