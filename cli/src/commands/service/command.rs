//! The `service` command tree and the commands that change a service: `create`, `update`,
//! `scale` and `rollback`. Each prints what docker prints (the ID, the name, "web scaled to 3")
//! and then, unless `-d`, waits for convergence with progress (`wait.rs`).

use anyhow::{anyhow, Result};
use bollard::auth::DockerCredentials;
use bollard::models::{Platform, Service, ServiceSpec, TaskSpec};
use bollard::query_parameters::UpdateServiceOptions;
use bollard::Docker;
use clap::{Args, Subcommand};

use super::list::{self, InspectArgs, ListArgs, PsArgs, RmArgs};
use super::logs::{self, LogsArgs};
use super::opts::{CreateArgs, UpdateArgs};
use super::wait::wait_on_service;
use super::{edit, image, parse, read, spec};
use crate::client::Client;

/// `berth service …`
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Create a new service
    Create(Box<CreateArgs>),
    /// Display detailed information on one or more services
    Inspect(InspectArgs),
    /// Fetch the logs of a service or task
    Logs(LogsArgs),
    /// List services
    #[command(alias = "list")]
    Ls(ListArgs),
    /// List the tasks of one or more services
    Ps(PsArgs),
    /// Remove one or more services
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Revert changes to a service's configuration
    Rollback(RollbackArgs),
    /// Scale one or multiple replicated services
    Scale(ScaleArgs),
    /// Update a service
    Update(Box<UpdateArgs>),
}

/// `berth service rollback`
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Exit immediately instead of waiting for the service to converge
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Suppress progress output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// SERVICE
    pub service: String,
}

/// `berth service scale`
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Exit immediately instead of waiting for the service to converge
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// SERVICE=REPLICAS...
    #[arg(required = true, value_parser = parse::scale_arg, value_name = "SERVICE=REPLICAS")]
    pub services: Vec<(String, String)>,
}

/// Runs one `service` subcommand.
pub async fn run(client: &Client, command: ServiceCommand) -> Result<i32> {
    let docker = client.docker()?;
    match command {
        ServiceCommand::Create(a) => create(&docker, &a).await,
        ServiceCommand::Inspect(a) => list::inspect(client, &docker, a).await,
        ServiceCommand::Logs(a) => logs::logs(client, &docker, a).await,
        ServiceCommand::Ls(a) => list::list(&docker, a).await,
        ServiceCommand::Ps(a) => list::ps(&docker, a).await,
        ServiceCommand::Rm(a) => list::rm(client, &docker, a).await,
        ServiceCommand::Rollback(a) => rollback(client, &docker, a).await,
        ServiceCommand::Scale(a) => scale(client, &docker, a).await,
        ServiceCommand::Update(a) => update(client, &docker, &a).await,
    }
}

async fn create(docker: &Docker, args: &CreateArgs) -> Result<i32> {
    let mut spec =
        spec::create_spec(args, |k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?;
    prepare_image(docker, &mut spec, !args.common.no_resolve_image).await;
    resolve_refs(docker, &mut spec).await?;
    let auth = registry_auth(&spec, args.common.with_registry_auth);
    let response = docker.create_service(spec, auth).await?;
    for warning in response.warnings.iter().flatten() {
        eprintln!("{warning}");
    }
    let id = response.id.unwrap_or_default();
    println!("{id}");
    if !args.common.detach {
        wait_on_service(docker, &id, args.common.quiet).await?;
    }
    Ok(0)
}

async fn update(client: &Client, docker: &Docker, args: &UpdateArgs) -> Result<i32> {
    let service = read::inspect(client, &args.service).await?;
    let mut spec = service.spec.clone().unwrap_or_default();
    let names = super::network::names_by_id(docker).await?;
    super::network::name_targets(&mut spec, &names);
    edit::update_spec(&mut spec, args).map_err(anyhow::Error::msg)?;
    let resolve = args.image.is_some() && !args.common.no_resolve_image;
    prepare_image(docker, &mut spec, resolve).await;
    resolve_refs(docker, &mut spec).await?;
    let rollback = args.rollback.then_some("previous");
    let auth = registry_auth(&spec, args.common.with_registry_auth);
    send_update(docker, &service, spec, rollback, "spec", auth).await?;
    println!("{}", args.service);
    if !args.common.detach {
        wait_on_service(docker, &args.service, args.common.quiet).await?;
    }
    Ok(0)
}

/// Fills the ids of the spec's secret and config references from their names.
async fn resolve_refs(docker: &Docker, spec: &mut ServiceSpec) -> Result<()> {
    let container = spec
        .task_template
        .as_mut()
        .and_then(|t| t.container_spec.as_mut());
    match container {
        Some(c) => super::secrets::resolve(docker, c).await,
        None => Ok(()),
    }
}

async fn rollback(client: &Client, docker: &Docker, args: RollbackArgs) -> Result<i32> {
    let service = read::inspect(client, &args.service).await?;
    let mut spec = service.spec.clone().unwrap_or_default();
    prepare_image(docker, &mut spec, false).await;
    send_update(
        docker,
        &service,
        spec,
        Some("previous"),
        "previous-spec",
        None,
    )
    .await?;
    println!("{}", args.service);
    if !args.detach {
        wait_on_service(docker, &args.service, args.quiet).await?;
    }
    Ok(0)
}

/// Docker's `runScale`: every service is scaled (errors collected as `NAME: error`), then
/// each scaled one is waited for in turn.
async fn scale(client: &Client, docker: &Docker, args: ScaleArgs) -> Result<i32> {
    let mut errors = Vec::new();
    let mut scaled = Vec::new();
    for (name, value) in &args.services {
        let Ok(replicas) = value.parse::<u64>() else {
            errors.push(format!(
                "{name}: invalid replicas value {value}: strconv.ParseUint: parsing \"{value}\": invalid syntax"
            ));
            continue;
        };
        match scale_one(client, docker, name, replicas).await {
            Ok(()) => {
                println!("{name} scaled to {replicas}");
                scaled.push(name.clone());
            }
            Err(e) => errors.push(format!("{name}: {}", client.describe(&e))),
        }
    }
    if !args.detach {
        for name in &scaled {
            if let Err(e) = wait_on_service(docker, name, false).await {
                errors.push(format!("{name}: {}", client.describe(&e)));
            }
        }
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

async fn scale_one(client: &Client, docker: &Docker, name: &str, replicas: u64) -> Result<()> {
    let service = read::inspect(client, name).await?;
    let mut spec = service.spec.clone().unwrap_or_default();
    let count = Some(i64::try_from(replicas).unwrap_or(i64::MAX));
    let mode = spec.mode.as_mut();
    match mode {
        Some(m) if m.replicated.is_some() => {
            if let Some(r) = m.replicated.as_mut() {
                r.replicas = count;
            }
        }
        // A replicated job's scale is its completions, as docker's.
        Some(m) if m.replicated_job.is_some() => {
            if let Some(j) = m.replicated_job.as_mut() {
                j.total_completions = count;
            }
        }
        _ => {
            return Err(anyhow!(
                "scale can only be used with replicated or replicated-job mode"
            ))
        }
    }
    prepare_image(docker, &mut spec, false).await;
    send_update(docker, &service, spec, None, "spec", None).await
}

/// What docker's client does to the image of every spec it sends: an explicit tag
/// (`busybox` → `busybox:latest`), and with `resolve` (its `QueryRegistry`) the registry's
/// digest and platforms, or a warning on stderr when the registry cannot be asked.
pub async fn prepare_image(docker: &Docker, spec: &mut ServiceSpec, resolve: bool) {
    let task = spec.task_template.get_or_insert_with(TaskSpec::default);
    let container = task.container_spec.get_or_insert_with(Default::default);
    let Some(tagged) = container.image.as_deref().map(image::with_default_tag) else {
        return;
    };
    container.image = Some(tagged.clone());
    if !resolve {
        return;
    }
    match docker.inspect_registry_image(&tagged, None).await {
        Ok(found) => {
            let digest = found.descriptor.digest.unwrap_or_default();
            if let Some(pinned) = image::with_digest(&tagged, &digest) {
                container.image = Some(pinned);
            }
            let platforms: Vec<Platform> = found
                .platforms
                .into_iter()
                .map(|p| Platform {
                    architecture: p.architecture,
                    os: p.os,
                })
                .collect();
            if !platforms.is_empty() {
                task.placement
                    .get_or_insert_with(Default::default)
                    .platforms = Some(platforms);
            }
        }
        Err(_) => eprintln!("{}", image::digest_warning(&tagged)),
    }
}

/// `--with-registry-auth`: the saved credentials for the registry of the spec's image, which
/// the daemon keeps for the nodes that pull it (none saved sends empty ones, as docker does).
pub fn registry_auth(spec: &ServiceSpec, wanted: bool) -> Option<DockerCredentials> {
    if !wanted {
        return None;
    }
    let image = spec
        .task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref()?.image.as_deref())
        .unwrap_or("");
    Some(crate::credentials::saved_for(image).unwrap_or_default())
}

/// `POST /services/{id}/update?version=…` with the version read; prints the daemon's warnings.
async fn send_update(
    docker: &Docker,
    service: &Service,
    spec: ServiceSpec,
    rollback: Option<&str>,
    registry_auth_from: &str,
    auth: Option<DockerCredentials>,
) -> Result<()> {
    let id = service.id.clone().unwrap_or_default();
    let version = service.version.as_ref().and_then(|v| v.index).unwrap_or(0);
    let options = UpdateServiceOptions {
        version: i32::try_from(version).unwrap_or(i32::MAX),
        registry_auth_from: registry_auth_from.to_string(),
        rollback: rollback.map(str::to_string),
    };
    let response = docker.update_service(&id, spec, options, auth).await?;
    for warning in response.warnings.iter().flatten() {
        eprintln!("{warning}");
    }
    Ok(())
}
