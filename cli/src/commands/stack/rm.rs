//! `stack rm`: removes a stack's services, then (once their tasks are gone, unless
//! `--detach`) its networks, secrets and configs.

use std::time::Duration;

use anyhow::Result;
use bollard::query_parameters::{
    ListConfigsOptionsBuilder, ListNetworksOptionsBuilder, ListSecretsOptionsBuilder,
    ListServicesOptionsBuilder, ListTasksOptionsBuilder,
};
use bollard::Docker;
use clap::{ArgAction, Args};

use super::namespace_filter;

/// `berth stack rm`
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not wait for stack removal
    #[arg(short = 'd', long, default_value_t = false, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub detach: bool,
    /// Stack name(s)
    #[arg(required = true)]
    pub stacks: Vec<String>,
}

/// `berth stack rm`
pub async fn rm(docker: &Docker, a: RmArgs) -> Result<i32> {
    let mut failed = false;
    for stack in &a.stacks {
        failed |= !remove_one(docker, stack, a.detach).await?;
    }
    Ok(i32::from(failed))
}

/// Removes one stack; false when something could not be removed (reported).
async fn remove_one(docker: &Docker, stack: &str, detach: bool) -> Result<bool> {
    let f = namespace_filter(stack);
    let services = docker
        .list_services(Some(ListServicesOptionsBuilder::new().filters(&f).build()))
        .await?;
    let networks = docker
        .list_networks(Some(ListNetworksOptionsBuilder::new().filters(&f).build()))
        .await?;
    let secrets = docker
        .list_secrets(Some(ListSecretsOptionsBuilder::new().filters(&f).build()))
        .await?;
    let configs = docker
        .list_configs(Some(ListConfigsOptionsBuilder::new().filters(&f).build()))
        .await?;
    if services.is_empty() && networks.is_empty() && secrets.is_empty() && configs.is_empty() {
        eprintln!("Nothing found in stack: {stack}");
        return Ok(true);
    }
    let mut ok = true;
    let mut names: Vec<(String, String)> = services
        .into_iter()
        .map(|s| {
            let name = s.spec.and_then(|s| s.name).unwrap_or_default();
            (name, s.id.unwrap_or_default())
        })
        .collect();
    names.sort();
    for (name, id) in &names {
        println!("Removing service {name}");
        if let Err(e) = docker.delete_service(id).await {
            eprintln!("Failed to remove service {id}: {e}");
            ok = false;
        }
    }
    if !detach {
        wait_for_tasks(docker, stack).await?;
    }
    let mut nets: Vec<(String, String)> = networks
        .into_iter()
        .map(|n| (n.name.unwrap_or_default(), n.id.unwrap_or_default()))
        .collect();
    nets.sort();
    for (name, id) in &nets {
        println!("Removing network {name}");
        if let Err(e) = docker.remove_network(id).await {
            eprintln!("Failed to remove network {id}: {e}");
            ok = false;
        }
    }
    for s in secrets {
        let (name, id) = (
            s.spec.and_then(|s| s.name).unwrap_or_default(),
            s.id.unwrap_or_default(),
        );
        println!("Removing secret {name}");
        if let Err(e) = docker.delete_secret(&id).await {
            eprintln!("Failed to remove secret {id}: {e}");
            ok = false;
        }
    }
    for c in configs {
        let (name, id) = (
            c.spec.and_then(|s| s.name).unwrap_or_default(),
            c.id.unwrap_or_default(),
        );
        println!("Removing config {name}");
        if let Err(e) = docker.delete_config(&id).await {
            eprintln!("Failed to remove config {id}: {e}");
            ok = false;
        }
    }
    Ok(ok)
}

/// Waits until the stack has no task left (their containers are gone, so its networks are
/// free), as docker's CLI waits unless `--detach`.
async fn wait_for_tasks(docker: &Docker, stack: &str) -> Result<()> {
    let f = namespace_filter(stack);
    loop {
        let tasks = docker
            .list_tasks(Some(ListTasksOptionsBuilder::new().filters(&f).build()))
            .await?;
        if tasks.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
