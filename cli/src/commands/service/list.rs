//! `service ls`, `service ps`, `service rm` and `service inspect`: docker's columns (REPLICAS
//! from `ServiceStatus`, or counted from tasks when the daemon does not send it), service
//! resolution by ID, name or ID prefix for `ps`, and the JSON or `--pretty` inspect output.

use std::collections::{HashMap, HashSet};

use anyhow::{bail, Result};
use bollard::models::{NodeState, Service, ServiceServiceStatus, TaskState};
use bollard::query_parameters::{ListServicesOptionsBuilder, ListTasksOptionsBuilder};
use bollard::Docker;
use clap::Args;
use serde_json::{json, Value};

use super::columns::row;
use super::pretty::pretty_text;
use crate::client::Client;
use crate::commands::inspect::{is_not_found, print_raw};
use crate::commands::ps::filters;
use crate::commands::task::{self, TaskFormat};
use crate::output::natural::natural_cmp;
use crate::output::{render_rows, Template};
use crate::stream::escape;

const DEFAULT_FORMAT: &str =
    "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}";

/// `berth service ls`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only display IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter", value_parser = crate::parse::filter)]
    pub filter: Vec<String>,
    /// Format output using a Go template, "table …" or "json"
    #[arg(long)]
    pub format: Option<String>,
}

/// The flags of the task lists (`service ps`, `stack ps`).
#[derive(Debug, Args)]
pub struct TaskListFlags {
    /// Only display task IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Do not map IDs to Names
    #[arg(long = "no-resolve")]
    pub no_resolve: bool,
    /// Pretty-print tasks using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter", value_parser = crate::parse::filter)]
    pub filter: Vec<String>,
}

impl TaskListFlags {
    /// How `task::print` shows the tasks.
    pub fn task_format(self) -> TaskFormat {
        TaskFormat {
            trunc: !self.no_trunc && !self.quiet,
            quiet: self.quiet,
            no_resolve: self.no_resolve,
            format: self.format,
        }
    }
}

/// `berth service ps`
#[derive(Debug, Args)]
pub struct PsArgs {
    #[command(flatten)]
    pub flags: TaskListFlags,
    /// SERVICE...
    #[arg(required = true)]
    pub services: Vec<String>,
}

/// `berth service rm`
#[derive(Debug, Args)]
pub struct RmArgs {
    /// SERVICE...
    #[arg(required = true)]
    pub services: Vec<String>,
}

/// `berth service inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go template (or "json")
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Print the information in a human friendly format
    #[arg(long)]
    pub pretty: bool,
    /// SERVICE...
    #[arg(required = true)]
    pub services: Vec<String>,
}

/// `berth service ls`
pub async fn list(docker: &Docker, a: ListArgs) -> Result<i32> {
    let options = ListServicesOptionsBuilder::new()
        .filters(&filters(&a.filter))
        .status(!a.quiet)
        .build();
    let mut services = docker.list_services(Some(options)).await?;
    if !a.quiet && services.iter().any(|s| s.service_status.is_none()) {
        append_status(docker, &mut services).await?;
    }
    services.sort_by(|x, y| natural_cmp(&name_of(x), &name_of(y)));
    let rows: Vec<Value> = services.iter().map(row).collect();
    let format = match (a.quiet, a.format.as_deref()) {
        (true, _) => "{{.ID}}",
        (false, Some(f)) if !f.is_empty() && f != "table" => f,
        _ => DEFAULT_FORMAT,
    };
    let header = json!({"ID": "ID", "Name": "NAME", "Mode": "MODE", "Replicas": "REPLICAS", "Image": "IMAGE", "Ports": "PORTS"});
    print!("{}", render_rows(format, &header, &rows)?);
    Ok(0)
}

fn name_of(s: &Service) -> String {
    s.spec
        .as_ref()
        .and_then(|s| s.name.clone())
        .unwrap_or_default()
}

/// Docker 20.10's `AppendServiceStatus` for daemons without `ServiceStatus`: running tasks on
/// nodes that are not down, desired tasks not shut down.
async fn append_status(docker: &Docker, services: &mut [Service]) -> Result<()> {
    let missing: Vec<String> = services
        .iter()
        .filter(|s| s.service_status.is_none())
        .filter_map(|s| s.id.clone())
        .collect();
    let filter = HashMap::from([("service".to_string(), missing.clone())]);
    let tasks = docker
        .list_tasks(Some(
            ListTasksOptionsBuilder::new().filters(&filter).build(),
        ))
        .await?;
    let active: HashSet<String> = docker
        .list_nodes(None)
        .await?
        .into_iter()
        .filter(|n| n.status.as_ref().and_then(|s| s.state) != Some(NodeState::DOWN))
        .filter_map(|n| n.id)
        .collect();
    let mut status: HashMap<String, ServiceServiceStatus> = missing
        .into_iter()
        .map(|id| {
            (
                id,
                ServiceServiceStatus {
                    running_tasks: Some(0),
                    desired_tasks: Some(0),
                    completed_tasks: None,
                },
            )
        })
        .collect();
    for t in &tasks {
        let Some(s) = t.service_id.as_ref().and_then(|id| status.get_mut(id)) else {
            continue;
        };
        let on_active = t.node_id.as_ref().is_some_and(|n| active.contains(n));
        if on_active && t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING) {
            s.running_tasks = Some(s.running_tasks.unwrap_or(0) + 1);
        }
        if t.desired_state != Some(TaskState::SHUTDOWN) {
            s.desired_tasks = Some(s.desired_tasks.unwrap_or(0) + 1);
        }
    }
    for s in services.iter_mut() {
        if let Some(found) = s.id.as_ref().and_then(|id| status.remove(id)) {
            s.service_status = Some(found);
        }
    }
    Ok(())
}

/// `berth service ps`
pub async fn ps(docker: &Docker, a: PsArgs) -> Result<i32> {
    let mut filter = filters(&a.flags.filter);
    let mut not_found = Vec::new();
    let mut service_ids = Vec::new();
    let listed = docker
        .list_services(None::<bollard::query_parameters::ListServicesOptions>)
        .await?;
    for wanted in &a.services {
        let exact = listed
            .iter()
            .find(|s| s.id.as_deref() == Some(wanted.as_str()))
            .or_else(|| listed.iter().find(|s| name_of(s) == *wanted));
        if let Some(s) = exact {
            service_ids.push(s.id.clone().unwrap_or_default());
            continue;
        }
        let by_prefix: Vec<&Service> = listed
            .iter()
            .filter(|s| {
                s.id.as_deref()
                    .is_some_and(|id| id.starts_with(wanted.as_str()))
            })
            .collect();
        match by_prefix.as_slice() {
            [] => not_found.push(format!("no such service: {wanted}")),
            [s] => service_ids.push(s.id.clone().unwrap_or_default()),
            _ => bail!("multiple services found with provided prefix: {wanted}"),
        }
    }
    if service_ids.is_empty() {
        bail!("{}", not_found.join("\n"));
    }
    filter.insert("service".to_string(), service_ids);
    if let Some(nodes) = filter.get_mut("node") {
        for node in nodes.iter_mut().filter(|n| *n == "self") {
            *node = docker
                .info()
                .await?
                .swarm
                .and_then(|s| s.node_id)
                .unwrap_or_default();
        }
    }
    let tasks = docker
        .list_tasks(Some(
            ListTasksOptionsBuilder::new().filters(&filter).build(),
        ))
        .await?;
    task::print(docker, &tasks, &a.flags.task_format()).await?;
    if !not_found.is_empty() {
        bail!("{}", not_found.join("\n"));
    }
    Ok(0)
}

/// `berth service rm`: prints each removed name; errors are reported and make the exit code 1.
pub async fn rm(client: &Client, docker: &Docker, a: RmArgs) -> Result<i32> {
    let mut code = 0;
    for name in &a.services {
        match docker.delete_service(name).await {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("{}", client.describe(&e.into()));
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `berth service inspect`: the daemon's JSON (with defaults filled in, as docker asks), a
/// template per service, or the `--pretty` text.
pub async fn inspect(client: &Client, docker: &Docker, a: InspectArgs) -> Result<i32> {
    let format = if a.pretty {
        Some("pretty".to_string())
    } else {
        a.format
    };
    let template = match format.as_deref() {
        None | Some("" | "pretty") => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &a.services {
        match client
            .get_raw(&format!("/services/{}?insertDefaults=true", escape(name)))
            .await
        {
            Ok(raw) => found.push(raw),
            Err(e) if e.downcast_ref().is_some_and(is_not_found) => {
                errors.push(format!("Error: no such service: {name}"));
            }
            Err(e) => errors.push(client.describe(&e)),
        }
    }
    if format.as_deref() == Some("pretty") {
        for raw in &found {
            let service: Service = super::read::folded(raw)?;
            print!(
                "{}",
                pretty_text(&service, &network_names(docker, &service).await)
            );
        }
    } else {
        print_raw(&found, template.as_ref())?;
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

async fn network_names(docker: &Docker, s: &Service) -> HashMap<String, String> {
    let mut names = HashMap::new();
    let targets = s
        .spec
        .as_ref()
        .and_then(|s| s.task_template.as_ref())
        .and_then(|t| t.networks.clone())
        .unwrap_or_default();
    for target in targets.into_iter().filter_map(|n| n.target) {
        if let Ok(n) = docker
            .inspect_network(
                &target,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
        {
            names.insert(target, n.name.unwrap_or_default());
        }
    }
    names
}
