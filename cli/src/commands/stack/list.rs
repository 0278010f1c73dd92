//! `stack ls` (stacks counted from their services' namespace labels), `stack services` and
//! `stack ps` (the service and task lists, filtered to the stack).

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use bollard::query_parameters::{ListServicesOptionsBuilder, ListTasksOptionsBuilder};
use bollard::Docker;
use clap::Args;
use serde_json::json;

use super::namespace_filter;
use crate::commands::ps::filters;
use crate::commands::service::list::{self, ListArgs, TaskListFlags};
use crate::commands::task;
use crate::compose::convert::NAMESPACE_LABEL;
use crate::output::render_rows;

/// `berth stack ls`
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Format output using a Go template, "table …" or "json"
    #[arg(long)]
    pub format: Option<String>,
}

/// `berth stack services`
#[derive(Debug, Args)]
pub struct ServicesArgs {
    /// Only display IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter", value_parser = crate::parse::filter)]
    pub filter: Vec<String>,
    /// Format output using a Go template, "table …" or "json"
    #[arg(long)]
    pub format: Option<String>,
    /// Stack name
    pub stack: String,
}

/// `berth stack ps`
#[derive(Debug, Args)]
pub struct PsArgs {
    #[command(flatten)]
    pub flags: TaskListFlags,
    /// Stack name
    pub stack: String,
}

/// `berth stack ls`
pub async fn ls(docker: &Docker, a: LsArgs) -> Result<i32> {
    let services = docker
        .list_services(None::<bollard::query_parameters::ListServicesOptions>)
        .await?;
    let mut stacks: BTreeMap<String, usize> = BTreeMap::new();
    for s in &services {
        if let Some(ns) = s
            .spec
            .as_ref()
            .and_then(|s| s.labels.as_ref())
            .and_then(|l| l.get(NAMESPACE_LABEL))
        {
            *stacks.entry(ns.clone()).or_default() += 1;
        }
    }
    let rows: Vec<_> = stacks
        .iter()
        .map(
            |(name, n)| json!({ "Name": name, "Services": n.to_string(), "Orchestrator": "Swarm" }),
        )
        .collect();
    let format = a
        .format
        .filter(|f| !f.is_empty() && f != "table")
        .unwrap_or_else(|| "table {{.Name}}\t{{.Services}}".into());
    let header = json!({ "Name": "NAME", "Services": "SERVICES", "Orchestrator": "ORCHESTRATOR" });
    print!("{}", render_rows(&format, &header, &rows)?);
    Ok(0)
}

/// `berth stack services`
pub async fn services(docker: &Docker, a: ServicesArgs) -> Result<i32> {
    let mut f = filters(&a.filter);
    f.extend(namespace_filter(&a.stack));
    let found = docker
        .list_services(Some(ListServicesOptionsBuilder::new().filters(&f).build()))
        .await?;
    if found.is_empty() {
        eprintln!("Nothing found in stack: {}", a.stack);
        return Ok(0);
    }
    let mut filter = a.filter;
    filter.push(format!("label={NAMESPACE_LABEL}={}", a.stack));
    list::list(
        docker,
        ListArgs {
            quiet: a.quiet,
            filter,
            format: a.format,
        },
    )
    .await
}

/// `berth stack ps`
pub async fn ps(docker: &Docker, a: PsArgs) -> Result<i32> {
    let mut f = filters(&a.flags.filter);
    f.extend(namespace_filter(&a.stack));
    let tasks = docker
        .list_tasks(Some(ListTasksOptionsBuilder::new().filters(&f).build()))
        .await?;
    if tasks.is_empty() {
        bail!("nothing found in stack: {}", a.stack);
    }
    task::print(docker, &tasks, &a.flags.task_format()).await?;
    Ok(0)
}
