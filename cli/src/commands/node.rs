//! `berth node ls|inspect|update|promote|demote|rm|ps`: docker's columns (the `*` after this
//! node's ID), `--format` fields `.ID .Self .Hostname .Status .Availability .ManagerStatus
//! .EngineVersion`, the `--pretty` layout and the role-change messages.

use std::collections::HashSet;

use anyhow::{bail, Result};
use bollard::models::{Node, NodeSpec, NodeSpecAvailabilityEnum, NodeSpecRoleEnum};
use bollard::query_parameters::{
    DeleteNodeOptionsBuilder, ListNodesOptionsBuilder, ListTasksOptionsBuilder,
    UpdateNodeOptionsBuilder,
};
use bollard::Docker;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::inspect::print_raw;
use super::node_format::{hostname, pretty_text, row};
use super::ps::filters;
use super::task::{self, TaskFormat};
use crate::client::Client;
use crate::output::natural::natural_cmp;
use crate::output::{render_rows, Template};
use crate::stream::escape;

const DEFAULT_FORMAT: &str = "table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}";

/// `berth node …`
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List nodes in the swarm
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more nodes
    Inspect(InspectArgs),
    /// Update a node
    Update(UpdateArgs),
    /// Promote one or more nodes to manager in the swarm
    Promote(NodesArgs),
    /// Demote one or more nodes from manager in the swarm
    Demote(NodesArgs),
    /// Remove one or more nodes from the swarm
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// List tasks running on one or more nodes, defaults to current node
    Ps(PsArgs),
}

/// `berth node ls`
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

/// `berth node inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go template (or "json")
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Print the information in a human friendly format
    #[arg(long)]
    pub pretty: bool,
    /// self|NODE...
    #[arg(required = true)]
    pub nodes: Vec<String>,
}

/// `berth node update`
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Availability of the node ("active", "pause", "drain")
    #[arg(long, value_parser = ["active", "pause", "drain"])]
    pub availability: Option<String>,
    /// Role of the node ("worker", "manager")
    #[arg(long, value_parser = ["worker", "manager"])]
    pub role: Option<String>,
    /// Add or update a node label ("key=value")
    #[arg(long = "label-add", value_name = "list")]
    pub label_add: Vec<String>,
    /// Remove a node label if exists
    #[arg(long = "label-rm", value_name = "list")]
    pub label_rm: Vec<String>,
    /// NODE
    pub node: String,
}

/// `berth node promote|demote`
#[derive(Debug, Args)]
pub struct NodesArgs {
    /// NODE...
    #[arg(required = true)]
    pub nodes: Vec<String>,
}

/// `berth node rm`
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force remove a node from the swarm
    #[arg(short = 'f', long)]
    pub force: bool,
    /// NODE...
    #[arg(required = true)]
    pub nodes: Vec<String>,
}

/// `berth node ps`
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Do not map IDs to Names
    #[arg(long = "no-resolve")]
    pub no_resolve: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter", value_parser = crate::parse::filter)]
    pub filter: Vec<String>,
    /// Pretty-print tasks using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Only display task IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// NODE... (default: self)
    pub nodes: Vec<String>,
}

/// Runs one `node` subcommand.
pub async fn run(client: &Client, command: NodeCommand) -> Result<i32> {
    let docker = client.docker()?;
    match command {
        NodeCommand::Ls(a) => list(&docker, a).await,
        NodeCommand::Inspect(a) => inspect(client, &docker, a).await,
        NodeCommand::Update(a) => {
            let node = a.node.clone();
            update_each(
                &docker,
                &[node],
                |n| Ok(Some(merge_update(n, &a)?)),
                |id| {
                    println!("{id}");
                },
            )
            .await
        }
        NodeCommand::Promote(a) => {
            let promote = |n: &Node| Ok(role_change(n, NodeSpecRoleEnum::MANAGER));
            update_each(&docker, &a.nodes, promote, |id| {
                println!("Node {id} promoted to a manager in the swarm.");
            })
            .await
        }
        NodeCommand::Demote(a) => {
            let demote = |n: &Node| Ok(role_change(n, NodeSpecRoleEnum::WORKER));
            update_each(&docker, &a.nodes, demote, |id| {
                println!("Manager {id} demoted in the swarm.");
            })
            .await
        }
        NodeCommand::Rm(a) => {
            let mut code = 0;
            for id in &a.nodes {
                let options = DeleteNodeOptionsBuilder::new().force(a.force).build();
                match docker.delete_node(id, Some(options)).await {
                    Ok(()) => println!("{id}"),
                    Err(e) => {
                        eprintln!("{}", client.describe(&e.into()));
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
        NodeCommand::Ps(a) => ps(client, &docker, a).await,
    }
}

async fn list(docker: &Docker, a: ListArgs) -> Result<i32> {
    let options = ListNodesOptionsBuilder::new()
        .filters(&filters(&a.filter))
        .build();
    let mut nodes = docker.list_nodes(Some(options)).await?;
    let swarm = if nodes.is_empty() || a.quiet {
        None
    } else {
        docker.info().await?.swarm
    };
    let self_id = swarm
        .as_ref()
        .and_then(|s| s.node_id.clone())
        .unwrap_or_default();
    let cluster_tls = swarm.and_then(|s| s.cluster).and_then(|c| c.tls_info);
    nodes.sort_by(|x, y| natural_cmp(&hostname(x), &hostname(y)));
    let rows: Vec<Value> = nodes
        .iter()
        .map(|n| row(n, &self_id, cluster_tls.as_ref()))
        .collect();
    let format = match (a.quiet, a.format.as_deref()) {
        (true, _) => "{{.ID}}",
        (false, Some(f)) if !f.is_empty() && f != "table" => f,
        _ => DEFAULT_FORMAT,
    };
    let header = json!({
        "ID": "ID", "Self": "", "Hostname": "HOSTNAME", "Status": "STATUS",
        "Availability": "AVAILABILITY", "ManagerStatus": "MANAGER STATUS",
        "EngineVersion": "ENGINE VERSION", "TLSStatus": "TLS STATUS",
    });
    print!("{}", render_rows(format, &header, &rows)?);
    Ok(0)
}

/// Docker's node `Reference`: `self` is this node's ID from `/info`.
async fn reference(docker: &Docker, name: &str) -> Result<String> {
    if name != "self" {
        return Ok(name.to_string());
    }
    let info = docker.info().await?;
    match info
        .swarm
        .and_then(|s| s.node_id)
        .filter(|id| !id.is_empty())
    {
        Some(id) => Ok(id),
        None => {
            docker.list_nodes(None).await?;
            bail!("node ID not found in /info")
        }
    }
}

async fn inspect(client: &Client, docker: &Docker, a: InspectArgs) -> Result<i32> {
    let format = if a.pretty {
        Some("pretty".to_string())
    } else {
        a.format
    };
    let template = match format.as_deref() {
        Some(f) if f.starts_with("pretty") && f != "pretty" => {
            bail!("cannot supply extra formatting options to the pretty template")
        }
        None | Some("" | "pretty") => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &a.nodes {
        let raw = match reference(docker, name).await {
            Ok(id) => client.get_raw(&format!("/nodes/{}", escape(&id))).await,
            Err(e) => Err(e),
        };
        match raw {
            Ok(raw) => found.push(raw),
            Err(e) => errors.push(client.describe(&e)),
        }
    }
    if format.as_deref() == Some("pretty") {
        for raw in &found {
            let node: Node = serde_json::from_slice(raw)?;
            print!("{}", pretty_text(&node));
        }
    } else {
        print_raw(&found, template.as_ref())?;
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

/// Docker's `updateNodes`: read, change (None = nothing to do), write with the read version.
async fn update_each(
    docker: &Docker,
    names: &[String],
    change: impl Fn(&Node) -> Result<Option<NodeSpec>>,
    done: impl Fn(&str),
) -> Result<i32> {
    for name in names {
        let node = docker.inspect_node(name).await?;
        let Some(spec) = change(&node)? else { continue };
        let version = node.version.as_ref().and_then(|v| v.index).unwrap_or(0);
        let options = UpdateNodeOptionsBuilder::new()
            .version(i64::try_from(version).unwrap_or(i64::MAX))
            .build();
        docker
            .update_node(node.id.as_deref().unwrap_or(name), spec, options)
            .await?;
        done(name);
    }
    Ok(0)
}

/// `promote`/`demote`: None (after docker's "already" message) when the role is unchanged.
fn role_change(n: &Node, role: NodeSpecRoleEnum) -> Option<NodeSpec> {
    let mut spec = n.spec.clone().unwrap_or_default();
    let id = n.id.clone().unwrap_or_default();
    if spec.role == Some(role) {
        let what = if role == NodeSpecRoleEnum::MANAGER {
            "a manager"
        } else {
            "a worker"
        };
        println!("Node {id} is already {what}.");
        return None;
    }
    spec.role = Some(role);
    Some(spec)
}

/// `node update`'s flags applied to the node's spec.
pub fn merge_update(n: &Node, a: &UpdateArgs) -> Result<NodeSpec> {
    let mut spec = n.spec.clone().unwrap_or_default();
    if let Some(role) = &a.role {
        spec.role = Some(if role == "manager" {
            NodeSpecRoleEnum::MANAGER
        } else {
            NodeSpecRoleEnum::WORKER
        });
    }
    if let Some(availability) = &a.availability {
        spec.availability = Some(match availability.as_str() {
            "pause" => NodeSpecAvailabilityEnum::PAUSE,
            "drain" => NodeSpecAvailabilityEnum::DRAIN,
            _ => NodeSpecAvailabilityEnum::ACTIVE,
        });
    }
    let labels = spec.labels.get_or_insert_with(Default::default);
    labels.extend(super::service::parse::to_map(&a.label_add));
    for key in &a.label_rm {
        if labels.remove(key).is_none() {
            bail!("key {key} doesn't exist in node's labels");
        }
    }
    Ok(spec)
}

async fn ps(client: &Client, docker: &Docker, a: PsArgs) -> Result<i32> {
    let names = if a.nodes.is_empty() {
        vec!["self".to_string()]
    } else {
        a.nodes.clone()
    };
    let mut tasks = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for name in &names {
        let node = match reference(docker, name).await {
            Ok(id) => docker.inspect_node(&id).await.map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        let node_id = match node {
            Ok(n) => n.id.unwrap_or_default(),
            Err(e) => {
                errors.push(client.describe(&e));
                continue;
            }
        };
        let mut filter = filters(&a.filter);
        filter.insert("node".to_string(), vec![node_id]);
        let options = ListTasksOptionsBuilder::new().filters(&filter).build();
        match docker.list_tasks(Some(options)).await {
            Ok(list) => tasks.extend(list.into_iter().filter(|t| seen.insert(t.id.clone()))),
            Err(e) => errors.push(client.describe(&e.into())),
        }
    }
    if errors.is_empty() || !tasks.is_empty() {
        let how = TaskFormat {
            trunc: !a.no_trunc,
            quiet: a.quiet,
            no_resolve: a.no_resolve,
            format: a.format,
        };
        task::print(docker, &tasks, &how).await?;
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}
