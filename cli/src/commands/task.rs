//! Swarm task tables for `service ps` and `node ps`, as docker's task formatter prints them:
//! tasks named `SERVICE.SLOT` (or `SERVICE.NODEID` for global services), sorted naturally with
//! older tasks of a slot indented under the newest (` \_ `), service and node IDs resolved to
//! names. Also the swarm object helpers both commands use (timestamps, pretty states).

use std::collections::HashMap;

use anyhow::Result;
use bollard::models::Task;
use bollard::Docker;
use serde::Serialize;
use serde_json::{json, Value};

use crate::output::natural::natural_cmp;
use crate::output::{render_rows, units};

const DEFAULT_FORMAT: &str = "table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}";

/// How to print a task list.
#[derive(Debug, Clone, Default)]
pub struct TaskFormat {
    /// Shorten IDs, images and errors.
    pub trunc: bool,
    /// Only IDs.
    pub quiet: bool,
    /// Keep service and node IDs instead of names.
    pub no_resolve: bool,
    /// A `--format` template.
    pub format: Option<String>,
}

/// Resolves names and prints `tasks` like docker's `task.Print`.
pub async fn print(docker: &Docker, tasks: &[Task], how: &TaskFormat) -> Result<()> {
    let mut services = HashMap::new();
    let mut nodes = HashMap::new();
    for t in tasks {
        if let Some(id) = t.service_id.as_deref() {
            if !how.no_resolve && !services.contains_key(id) {
                let name = match docker.inspect_service(id, None).await {
                    Ok(s) => s
                        .spec
                        .and_then(|s| s.name)
                        .unwrap_or_else(|| id.to_string()),
                    Err(_) => id.to_string(),
                };
                services.insert(id.to_string(), name);
            }
        }
        if let Some(id) = t.node_id.as_deref().filter(|id| !id.is_empty()) {
            if !how.no_resolve && !nodes.contains_key(id) {
                nodes.insert(id.to_string(), node_name(docker, id).await);
            }
        }
    }
    let format = match (&how.format, how.quiet) {
        (_, true) => "{{.ID}}".to_string(),
        (Some(f), false) if !f.is_empty() && f != "table" => f.clone(),
        _ => DEFAULT_FORMAT.to_string(),
    };
    let table = format.trim_start().starts_with("table");
    let now = chrono::Utc::now();
    let rows = rows(tasks, &services, &nodes, how.trunc, table, now);
    print!("{}", render_rows(&format, &header(), &rows)?);
    Ok(())
}

/// A node's name for tables: its spec name, else its hostname, else the ID (docker's resolver).
pub async fn node_name(docker: &Docker, id: &str) -> String {
    match docker.inspect_node(id).await {
        Ok(n) => n
            .spec
            .and_then(|s| s.name)
            .filter(|s| !s.is_empty())
            .or_else(|| n.description.and_then(|d| d.hostname))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| id.to_string()),
        Err(_) => id.to_string(),
    }
}

fn header() -> Value {
    json!({
        "ID": "ID", "Name": "NAME", "Image": "IMAGE", "Node": "NODE",
        "DesiredState": "DESIRED STATE", "CurrentState": "CURRENT STATE", "Error": "ERROR",
        "Ports": "PORTS",
    })
}

/// Task rows in docker's order; `services`/`nodes` map IDs to names (missing → the ID).
pub fn rows(
    tasks: &[Task],
    services: &HashMap<String, String>,
    nodes: &HashMap<String, String>,
    trunc: bool,
    table: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Value> {
    let mut named: Vec<(String, &Task)> = tasks
        .iter()
        .map(|t| {
            let service_id = t.service_id.clone().unwrap_or_default();
            let service = services.get(&service_id).cloned().unwrap_or(service_id);
            let name = match t.slot.unwrap_or(0) {
                0 => format!("{service}.{}", t.node_id.as_deref().unwrap_or("")),
                slot => format!("{service}.{slot}"),
            };
            (name, t)
        })
        .collect();
    named.sort_by(|(an, at), (bn, bt)| {
        natural_cmp(an, bn).then_with(|| timestamp(&bt.created_at).cmp(&timestamp(&at.created_at)))
    });
    let mut previous = String::new();
    named
        .iter()
        .map(|(name, t)| {
            let shown = if table && *name == previous {
                format!(" \\_ {name}")
            } else {
                name.clone()
            };
            previous.clone_from(name);
            let node_id = t.node_id.clone().unwrap_or_default();
            let node = nodes.get(&node_id).cloned().unwrap_or(node_id);
            row(t, &shown, &node, trunc, now)
        })
        .collect()
}

fn row(t: &Task, name: &str, node: &str, trunc: bool, now: chrono::DateTime<chrono::Utc>) -> Value {
    let id = t.id.clone().unwrap_or_default();
    let status = t.status.clone().unwrap_or_default();
    let image = t
        .spec
        .as_ref()
        .and_then(|s| s.container_spec.as_ref())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    // Whole seconds elapsed, rounded down as Go's duration is ("less than a second ago").
    let since = timestamp(&status.timestamp).map_or(0, |t| (now - t).num_seconds());
    let state = pretty(&status.state.map(|s| s.to_string()).unwrap_or_default());
    let mut error = status.err.unwrap_or_default();
    if trunc {
        error = ellipsis(&error, 30);
    }
    let ports: Vec<String> = status
        .port_status
        .and_then(|p| p.ports)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let proto = p.protocol.map(|x| x.to_string()).unwrap_or_default();
            format!(
                "*:{}->{}/{proto}",
                p.published_port.unwrap_or(0),
                p.target_port.unwrap_or(0)
            )
        })
        .collect();
    json!({
        "ID": if trunc { id.chars().take(12).collect() } else { id },
        "Name": name,
        "Image": if trunc { familiar_tagged(&image) } else { image },
        "Node": node,
        "DesiredState": pretty(&t.desired_state.map(|s| s.to_string()).unwrap_or_default()),
        "CurrentState": format!("{state} {} ago", units::human_duration(since).to_lowercase()),
        "Error": if error.is_empty() { error } else { format!("\"{error}\"") },
        "Ports": ports.join(","),
    })
}

/// Docker's `PrettyPrint`: first letter upper case, the rest lower case ("running" → "Running").
pub fn pretty(s: &str) -> String {
    let mut chars = s.chars();
    match (chars.next(), s.chars().count()) {
        (None, _) => String::new(),
        (Some(c), 1) => c.to_lowercase().collect(),
        (Some(c), _) => c
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
    }
}

/// A swarm timestamp (an RFC 3339 string in the API, whatever type bollard maps it to).
pub fn timestamp<T: Serialize>(value: &Option<T>) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = serde_json::to_value(value.as_ref()?).ok()?;
    let parsed = chrono::DateTime::parse_from_rfc3339(text.as_str()?).ok()?;
    Some(parsed.with_timezone(&chrono::Utc))
}

/// `name:tag` without a digest or docker.io prefix when the reference has a tag; otherwise the
/// reference unchanged (docker's `FamiliarString` of a `NamedTagged`).
pub fn familiar_tagged(image: &str) -> String {
    let name = image.split_once('@').map_or(image, |(n, _)| n);
    let has_tag = name
        .rsplit_once(':')
        .is_some_and(|(_, tag)| !tag.contains('/'));
    if !has_tag {
        return image.to_string();
    }
    for prefix in [
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
        "index.docker.io/",
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    name.to_string()
}

/// Docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        EndpointPortConfig, EndpointPortConfigProtocolEnum, PortStatus, TaskSpec,
        TaskSpecContainerSpec, TaskState, TaskStatus,
    };

    fn task(id: &str, slot: i64, created: &str, desired: TaskState, state: TaskState) -> Task {
        Task {
            id: Some(id.into()),
            service_id: Some("svc1".into()),
            node_id: Some("node1".into()),
            slot: Some(slot),
            created_at: Some(created.into()),
            desired_state: Some(desired),
            spec: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some("busybox:latest@sha256:0123".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: Some(TaskStatus {
                state: Some(state),
                timestamp: Some("2024-01-01T00:00:00.5Z".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:05Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    #[test]
    fn history_is_indented_under_the_newest_task_of_a_slot() {
        let tasks = vec![
            task(
                "old0123456789ab",
                1,
                "2024-01-01T00:00:00Z",
                TaskState::SHUTDOWN,
                TaskState::SHUTDOWN,
            ),
            task(
                "two0123456789ab",
                10,
                "2024-01-01T00:00:01Z",
                TaskState::RUNNING,
                TaskState::RUNNING,
            ),
            task(
                "new0123456789ab",
                1,
                "2024-01-01T00:00:02Z",
                TaskState::RUNNING,
                TaskState::RUNNING,
            ),
        ];
        let services = HashMap::from([("svc1".to_string(), "web".to_string())]);
        let nodes = HashMap::from([("node1".to_string(), "vm".to_string())]);
        let rows = rows(&tasks, &services, &nodes, true, true, now());
        let names: Vec<_> = rows
            .iter()
            .map(|r| (r["ID"].as_str().unwrap(), r["Name"].as_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("new012345678", "web.1"),
                ("old012345678", " \\_ web.1"),
                ("two012345678", "web.10")
            ]
        );
        let first = &rows[0];
        assert_eq!(first["Image"], "busybox:latest");
        assert_eq!(first["Node"], "vm");
        assert_eq!(first["DesiredState"], "Running");
        assert_eq!(first["CurrentState"], "Running 4 seconds ago");
        let plain = super::rows(
            &tasks,
            &HashMap::new(),
            &HashMap::new(),
            false,
            false,
            now(),
        );
        assert_eq!(plain[1]["Name"], "svc1.1");
        assert_eq!(plain[1]["ID"], "old0123456789ab");
        assert_eq!(plain[1]["Image"], "busybox:latest@sha256:0123");
    }

    #[test]
    fn global_tasks_are_named_by_node_and_errors_ports_shown() {
        let mut t = task(
            "g0123456789abcd",
            0,
            "2024-01-01T00:00:00Z",
            TaskState::RUNNING,
            TaskState::REJECTED,
        );
        let status = t.status.as_mut().unwrap();
        status.err =
            Some("no suitable node (scheduling constraints not satisfied on 1 node)".into());
        status.port_status = Some(PortStatus {
            ports: Some(vec![EndpointPortConfig {
                protocol: Some(EndpointPortConfigProtocolEnum::TCP),
                target_port: Some(80),
                published_port: Some(8080),
                ..Default::default()
            }]),
        });
        let services = HashMap::from([("svc1".to_string(), "web".to_string())]);
        let r = &rows(&[t], &services, &HashMap::new(), true, true, now())[0];
        assert_eq!(r["Name"], "web.node1");
        assert_eq!(r["Error"], "\"no suitable node (scheduling …\"");
        assert_eq!(r["Ports"], "*:8080->80/tcp");
        assert_eq!(r["CurrentState"], "Rejected 4 seconds ago");
    }

    #[test]
    fn helpers_match_docker_formatting() {
        assert_eq!(pretty("running"), "Running");
        assert_eq!(pretty("LEADER"), "Leader");
        assert_eq!(pretty("x"), "x");
        assert_eq!(pretty(""), "");
        assert_eq!(
            familiar_tagged("docker.io/library/nginx:1.25@sha256:ab"),
            "nginx:1.25"
        );
        assert_eq!(familiar_tagged("nginx@sha256:ab"), "nginx@sha256:ab");
        assert_eq!(familiar_tagged("localhost:5000/app"), "localhost:5000/app");
        assert_eq!(
            timestamp(&Some("2024-01-01T00:00:00Z")).map(|t| t.timestamp()),
            Some(1_704_067_200)
        );
        assert_eq!(timestamp::<String>(&None), None);
    }
}
