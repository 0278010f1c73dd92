//! `berth stack …`: declarative service files. `deploy` and `plan` read Compose files
//! (crate::compose) and share one planner (`plan.rs`); `deploy.rs` carries a plan out, `list.rs`
//! has `ls`, `services` and `ps`, `rm.rs` removes a stack. Every object of a stack is named
//! `<stack>_<name>` and labelled `com.docker.stack.namespace=<stack>`, as docker's CLI does,
//! so either CLI can manage a stack the other deployed.

mod deploy;
mod list;
mod plan;
mod rm;

use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgAction, Args, Subcommand};

use crate::client::Client;

/// `berth stack …`
#[derive(Debug, Subcommand)]
pub enum StackCommand {
    /// Deploy a new stack or update an existing stack
    #[command(alias = "up")]
    Deploy(DeployArgs),
    /// Show what a deploy would create, update and remove, and change nothing
    Plan(PlanArgs),
    /// List stacks
    #[command(alias = "list")]
    Ls(list::LsArgs),
    /// List the tasks in the stack
    Ps(list::PsArgs),
    /// Remove one or more stacks
    #[command(alias = "remove", alias = "down")]
    Rm(rm::RmArgs),
    /// List the services in the stack
    Services(list::ServicesArgs),
}

/// The files and options `deploy` and `plan` share.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Path to a Compose file, or "-" to read from stdin
    #[arg(short = 'c', long = "compose-file", required = true)]
    pub compose_file: Vec<PathBuf>,
    /// Prune services that are no longer referenced
    #[arg(long)]
    pub prune: bool,
    /// Query the registry to resolve image digest and supported platforms ("always", "changed", "never")
    #[arg(long = "resolve-image", default_value = "always", value_parser = ["always", "changed", "never"])]
    pub resolve_image: String,
    /// Stack name
    pub stack: String,
}

/// `berth stack deploy`
#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Exit immediately instead of waiting for the stack services to converge
    #[arg(short = 'd', long, default_value_t = true, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub detach: bool,
    /// Suppress progress output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Send registry authentication details to Swarm agents
    #[arg(long = "with-registry-auth")]
    pub with_registry_auth: bool,
}

/// `berth stack plan`
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Runs one `stack` subcommand.
pub async fn run(client: &Client, command: StackCommand) -> Result<i32> {
    let docker = client.docker()?;
    match command {
        StackCommand::Deploy(a) => deploy::deploy(client, &docker, a).await,
        StackCommand::Plan(a) => deploy::plan(client, &docker, a).await,
        StackCommand::Ls(a) => list::ls(&docker, a).await,
        StackCommand::Ps(a) => list::ps(&docker, a).await,
        StackCommand::Rm(a) => rm::rm(&docker, a).await,
        StackCommand::Services(a) => list::services(&docker, a).await,
    }
}

/// A stack name as docker's CLI checks it.
fn check_name(name: &str) -> Result<()> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        anyhow::bail!("invalid stack name: {name:?}")
    }
}

/// The `label=com.docker.stack.namespace=<stack>` filter.
fn namespace_filter(stack: &str) -> std::collections::HashMap<String, Vec<String>> {
    let mut f = std::collections::HashMap::new();
    f.insert(
        "label".to_string(),
        vec![format!(
            "{}={stack}",
            crate::compose::convert::NAMESPACE_LABEL
        )],
    );
    f
}
