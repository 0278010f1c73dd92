//! What `node ls` and `node inspect --pretty` show of a node: table rows with docker's template
//! fields (`.ID .Self .Hostname .Status .Availability .ManagerStatus .EngineVersion
//! .TLSStatus`) and the pretty layout. Pure: the node and the swarm's TLS info are passed in.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{Node, NodeDescription, NodeState, TlsInfo};
use serde_json::{json, Value};

use super::task::{self, pretty};
use crate::output::units;

/// The node's hostname ("" when not reported).
pub fn hostname(n: &Node) -> String {
    n.description
        .as_ref()
        .and_then(|d| d.hostname.clone())
        .unwrap_or_default()
}

/// One `node ls` row with docker's template field names; `cluster_tls` is the swarm's trust
/// root the node's certificate issuer is compared with (`.TLSStatus`).
pub fn row(n: &Node, self_id: &str, cluster_tls: Option<&TlsInfo>) -> Value {
    let node_tls = n.description.as_ref().and_then(|d| d.tls_info.as_ref());
    let tls_status = match (
        cluster_tls.filter(|t| !is_empty_tls(t)),
        node_tls.filter(|t| !is_empty_tls(t)),
    ) {
        (Some(c), Some(t)) if c == t => "Ready",
        (Some(_), Some(_)) => "Needs Rotation",
        _ => "Unknown",
    };
    let id = n.id.clone().unwrap_or_default();
    let spec = n.spec.clone().unwrap_or_default();
    let state = n
        .status
        .as_ref()
        .and_then(|s| s.state)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let manager = n.manager_status.as_ref().map(|m| {
        if m.leader == Some(true) {
            "Leader".to_string()
        } else {
            m.reachability.map(|r| r.to_string()).unwrap_or_default()
        }
    });
    json!({
        "Self": !id.is_empty() && id == self_id,
        "ID": id,
        "Hostname": hostname(n),
        "Status": pretty(&state),
        "Availability": pretty(&spec.availability.map(|a| a.to_string()).unwrap_or_default()),
        "ManagerStatus": pretty(&manager.unwrap_or_default()),
        "EngineVersion": n.description.as_ref().and_then(|d| d.engine.as_ref()).and_then(|e| e.engine_version.clone()).unwrap_or_default(),
        "TLSStatus": tls_status,
    })
}

fn is_empty_tls(t: &TlsInfo) -> bool {
    [
        &t.trust_root,
        &t.cert_issuer_subject,
        &t.cert_issuer_public_key,
    ]
    .iter()
    .all(|f| f.as_deref().unwrap_or("").is_empty())
}

/// Docker's `node inspect --pretty` layout.
pub fn pretty_text(n: &Node) -> String {
    let spec = n.spec.clone().unwrap_or_default();
    let desc = n.description.clone().unwrap_or_default();
    let status = n.status.clone().unwrap_or_default();
    let mut out = format!("ID:\t\t\t{}\n", n.id.as_deref().unwrap_or(""));
    if let Some(name) = spec.name.as_deref().filter(|s| !s.is_empty()) {
        out.push_str(&format!("Name:\t\t\t{name}\n"));
    }
    push_labels(&mut out, "Labels:", spec.labels.as_ref());
    out.push_str(&format!(
        "Hostname:              \t{}\n",
        desc.hostname.as_deref().unwrap_or("")
    ));
    out.push_str(&format!(
        "Joined at:             \t{}\n",
        pretty(&go_time(&n.created_at))
    ));
    out.push_str("Status:\n");
    let state = status.state.unwrap_or(NodeState::UNKNOWN).to_string();
    out.push_str(&format!(" State:\t\t\t{}\n", pretty(&state)));
    if let Some(message) = status.message.as_deref().filter(|m| !m.is_empty()) {
        out.push_str(&format!(" Message:              \t{}\n", pretty(message)));
    }
    let availability = spec.availability.map(|a| a.to_string()).unwrap_or_default();
    out.push_str(&format!(
        " Availability:         \t{}\n",
        pretty(&availability)
    ));
    if let Some(addr) = status.addr.as_deref().filter(|a| !a.is_empty()) {
        out.push_str(&format!(" Address:\t\t{addr}\n"));
    }
    if let Some(m) = &n.manager_status {
        let reachability = m.reachability.map(|r| r.to_string()).unwrap_or_default();
        let leader = if m.leader == Some(true) { "Yes" } else { "No" };
        out.push_str(&format!(
            "Manager Status:\n Address:\t\t{}\n Raft Status:\t\t{}\n Leader:\t\t{leader}\n",
            m.addr.as_deref().unwrap_or(""),
            pretty(&reachability)
        ));
    }
    describe(&mut out, &desc);
    out
}

/// Platform, resources, plugins, engine and TLS sections.
fn describe(out: &mut String, desc: &NodeDescription) {
    let platform = desc.platform.clone().unwrap_or_default();
    out.push_str(&format!(
        "Platform:\n Operating System:\t{}\n Architecture:\t\t{}\n",
        platform.os.unwrap_or_default(),
        platform.architecture.unwrap_or_default()
    ));
    let resources = desc.resources.clone().unwrap_or_default();
    let memory = resources
        .memory_bytes
        .filter(|m| *m != 0)
        .map(|m| units::bytes_size(m as f64))
        .unwrap_or_default();
    out.push_str(&format!(
        "Resources:\n CPUs:\t\t\t{}\n Memory:\t\t{memory}\n",
        resources.nano_cpus.unwrap_or(0) / 1_000_000_000
    ));
    let engine = desc.engine.clone().unwrap_or_default();
    let mut plugins: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in engine.plugins.iter().flatten() {
        let names = plugins
            .entry(p.typ.clone().unwrap_or_default())
            .or_default();
        names.push(p.name.clone().unwrap_or_default());
    }
    if !plugins.is_empty() {
        out.push_str("Plugins:\n");
        for (typ, names) in &plugins {
            out.push_str(&format!(" {typ}:\t\t{}\n", names.join(", ")));
        }
    }
    let version = engine.engine_version.unwrap_or_default();
    out.push_str(&format!("Engine Version:\t\t{version}\n"));
    push_labels(out, "Engine Labels:", engine.labels.as_ref());
    if let Some(tls) = desc.tls_info.clone().filter(|t| !is_empty_tls(t)) {
        out.push_str(&format!(
            "TLS Info:\n TrustRoot:\n{}\n Issuer Subject:\t{}\n Issuer Public Key:\t{}\n",
            tls.trust_root.unwrap_or_default(),
            tls.cert_issuer_subject.unwrap_or_default(),
            tls.cert_issuer_public_key.unwrap_or_default()
        ));
    }
}

fn push_labels(out: &mut String, title: &str, labels: Option<&HashMap<String, String>>) {
    let Some(labels) = labels.filter(|l| !l.is_empty()) else {
        return;
    };
    out.push_str(title);
    out.push('\n');
    let mut keys: Vec<_> = labels.keys().collect();
    keys.sort();
    for k in keys {
        match labels[k].as_str() {
            "" => out.push_str(&format!(" - {k}\n")),
            v => out.push_str(&format!(" - {k}={v}\n")),
        }
    }
}

/// Go's `time.Time.String()` of an API timestamp, in UTC.
pub fn go_time<T: serde::Serialize>(value: &Option<T>) -> String {
    let Some(t) = task::timestamp(value) else {
        return String::new();
    };
    let nanos = t.timestamp_subsec_nanos();
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    format!("{}{frac} +0000 UTC", t.format("%Y-%m-%d %H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        EngineDescription, EngineDescriptionPlugins, ManagerStatus, NodeDescription, NodeSpec,
        NodeSpecAvailabilityEnum, NodeStatus, Platform, Reachability, ResourceObject,
    };

    fn node() -> Node {
        Node {
            id: Some("nodeID".into()),
            created_at: Some("2009-11-10T23:00:00Z".into()),
            spec: Some(NodeSpec {
                name: Some("defaultNodeName".into()),
                availability: Some(NodeSpecAvailabilityEnum::ACTIVE),
                ..Default::default()
            }),
            description: Some(NodeDescription {
                hostname: Some("defaultNodeHostname".into()),
                platform: Some(Platform {
                    architecture: Some("x86_64".into()),
                    os: Some("linux".into()),
                }),
                resources: Some(ResourceObject {
                    memory_bytes: Some(20 * 1024 * 1024),
                    ..Default::default()
                }),
                engine: Some(EngineDescription {
                    engine_version: Some("1.13.0".into()),
                    labels: Some(HashMap::from([("engine".into(), "label".into())])),
                    plugins: Some(vec![
                        EngineDescriptionPlugins {
                            typ: Some("Network".into()),
                            name: Some("bridge".into()),
                        },
                        EngineDescriptionPlugins {
                            typ: Some("Network".into()),
                            name: Some("overlay".into()),
                        },
                        EngineDescriptionPlugins {
                            typ: Some("Volume".into()),
                            name: Some("local".into()),
                        },
                    ]),
                }),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                state: Some(NodeState::READY),
                addr: Some("127.0.0.1".into()),
                ..Default::default()
            }),
            manager_status: Some(ManagerStatus {
                leader: Some(true),
                reachability: Some(Reachability::REACHABLE),
                addr: Some("127.0.0.1".into()),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn pretty_matches_docker_golden_for_a_leader() {
        let want = [
            "ID:\t\t\tnodeID",
            "Name:\t\t\tdefaultNodeName",
            "Hostname:              \tdefaultNodeHostname",
            "Joined at:             \t2009-11-10 23:00:00 +0000 utc",
            "Status:",
            " State:\t\t\tReady",
            " Availability:         \tActive",
            " Address:\t\t127.0.0.1",
            "Manager Status:",
            " Address:\t\t127.0.0.1",
            " Raft Status:\t\tReachable",
            " Leader:\t\tYes",
            "Platform:",
            " Operating System:\tlinux",
            " Architecture:\t\tx86_64",
            "Resources:",
            " CPUs:\t\t\t0",
            " Memory:\t\t20MiB",
            "Plugins:",
            " Network:\t\tbridge, overlay",
            " Volume:\t\tlocal",
            "Engine Version:\t\t1.13.0",
            "Engine Labels:",
            " - engine=label",
            "",
        ]
        .join("\n");
        assert_eq!(pretty_text(&node()), want);
    }

    #[test]
    fn rows_mark_self_leader_and_tls_status() {
        let tls = TlsInfo {
            trust_root: Some("root".into()),
            ..Default::default()
        };
        let mut n = node();
        let r = row(&n, "nodeID", Some(&tls));
        assert_eq!(
            (r["Self"].as_bool(), r["ManagerStatus"].as_str()),
            (Some(true), Some("Leader"))
        );
        assert_eq!(
            (r["Status"].as_str(), r["Availability"].as_str()),
            (Some("Ready"), Some("Active"))
        );
        assert_eq!(r["TLSStatus"], "Unknown");
        n.description.as_mut().unwrap().tls_info = Some(tls.clone());
        assert_eq!(row(&n, "other", Some(&tls))["TLSStatus"], "Ready");
        assert_eq!(
            row(
                &n,
                "other",
                Some(&TlsInfo {
                    trust_root: Some("new".into()),
                    ..Default::default()
                })
            )["TLSStatus"],
            "Needs Rotation"
        );
        n.manager_status = Some(ManagerStatus {
            leader: Some(false),
            reachability: Some(Reachability::UNREACHABLE),
            addr: None,
        });
        let r = row(&n, "other", None);
        assert_eq!(
            (r["Self"].as_bool(), r["ManagerStatus"].as_str()),
            (Some(false), Some("Unreachable"))
        );
        n.manager_status = None;
        assert_eq!(row(&n, "", None)["ManagerStatus"], "");
    }

    #[test]
    fn go_time_keeps_fractions_trimmed() {
        assert_eq!(
            go_time(&Some("2024-05-06T07:08:09.120Z")),
            "2024-05-06 07:08:09.12 +0000 UTC"
        );
        assert_eq!(go_time::<String>(&None), "");
    }
}
