//! `berth volume create|ls|inspect|rm|prune`: docker's flags, columns, `--format` fields
//! (`.Name .Driver .Scope .Mountpoint .Labels`) and messages.

use std::collections::HashMap;

use anyhow::{bail, Result};
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{PruneVolumesOptionsBuilder, RemoveVolumeOptionsBuilder};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::inspect::print_raw;
use super::prune::{confirm, size};
use super::ps::filters;
use crate::client::Client;
use crate::output::{render_rows, Template};
use crate::stream::escape;

const DEFAULT_FORMAT: &str = "table {{.Driver}}\t{{.Name}}";

/// `berth volume …`
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

/// `berth volume create`
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Set metadata for a volume
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Specify volume name
    #[arg(long = "name")]
    pub name_flag: Option<String>,
    /// [VOLUME]
    pub name: Option<String>,
}

/// `berth volume ls`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter", value_name = "filter", value_parser = crate::parse::filter)]
    pub filter: Vec<String>,
    /// Format output using a Go template, "table …" or "json"
    #[arg(long)]
    pub format: Option<String>,
}

/// `berth volume inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go template (or "json")
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// VOLUME...
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

/// `berth volume rm`
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    /// VOLUME...
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

/// `berth volume prune`
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter", value_name = "filter", value_parser = crate::parse::filter)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// Runs one `volume` subcommand.
pub async fn run(client: &Client, command: VolumeCommand) -> Result<i32> {
    match command {
        VolumeCommand::Create(a) => create(client, a).await,
        VolumeCommand::Ls(a) => list(client, a).await,
        VolumeCommand::Inspect(a) => inspect(client, a).await,
        VolumeCommand::Rm(a) => remove(client, a).await,
        VolumeCommand::Prune(a) => prune(client, a).await,
    }
}

fn map_of(flag: &str, pairs: &[String], bare_is_empty: bool) -> Result<HashMap<String, String>> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None if bare_is_empty => Ok((p.clone(), String::new())),
            None => bail!("invalid argument {p:?} for \"--{flag}\" flag: bad format"),
        })
        .collect()
}

async fn create(client: &Client, a: CreateArgs) -> Result<i32> {
    let name = match (a.name, a.name_flag) {
        (Some(n), Some(f)) if n != f => {
            bail!("conflicting options: either specify --name or provide positional arg, not both")
        }
        (n, f) => n.or(f).unwrap_or_default(),
    };
    let request = VolumeCreateRequest {
        name: Some(name),
        driver: Some(a.driver),
        driver_opts: Some(map_of("opt", &a.opt, false)?),
        labels: Some(map_of("label", &a.label, true)?),
        ..Default::default()
    };
    let volume = client.docker()?.create_volume(request).await?;
    println!("{}", volume.name);
    Ok(0)
}

async fn list(client: &Client, a: ListArgs) -> Result<i32> {
    let filters = serde_json::to_string(&filters(&a.filter))?;
    let body = client
        .get_json(&format!("/volumes?filters={}", escape(&filters)))
        .await?;
    let mut vols = body["Volumes"].as_array().cloned().unwrap_or_default();
    vols.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    let rows: Vec<Value> = vols
        .iter()
        .map(|v| {
            let labels = v["Labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            json!({"Name": v["Name"], "Driver": v["Driver"], "Scope": v["Scope"],
                "Mountpoint": v["Mountpoint"], "Labels": labels, "Links": "N/A", "Size": "N/A"})
        })
        .collect();
    let format = match (a.quiet, a.format.as_deref()) {
        (true, _) => "{{.Name}}",
        (false, Some(f)) if !f.is_empty() && f != "table" => f,
        _ => DEFAULT_FORMAT,
    };
    let header = json!({"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE"});
    print!("{}", render_rows(format, &header, &rows)?);
    Ok(0)
}

async fn inspect(client: &Client, a: InspectArgs) -> Result<i32> {
    let template = match a.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
    };
    let mut found = Vec::new();
    let mut code = 0;
    for name in &a.volumes {
        match client.get_raw(&format!("/volumes/{}", escape(name))).await {
            Ok(raw) => found.push(raw),
            Err(e) => {
                eprintln!("{}", client.describe(&e));
                code = 1;
            }
        }
    }
    print_raw(&found, template.as_ref())?;
    Ok(code)
}

async fn remove(client: &Client, a: RmArgs) -> Result<i32> {
    let docker = client.docker()?;
    let mut code = 0;
    for name in &a.volumes {
        let options = RemoveVolumeOptionsBuilder::new().force(a.force).build();
        match docker.remove_volume(name, Some(options)).await {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("{}", client.describe(&e.into()));
                code = 1;
            }
        }
    }
    Ok(code)
}

async fn prune(client: &Client, a: PruneArgs) -> Result<i32> {
    let warning = if a.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !a.force && !confirm(warning)? {
        return Ok(0);
    }
    let mut map = filters(&a.filter);
    if a.all {
        map.insert("all".into(), vec!["true".into()]);
    }
    let options = PruneVolumesOptionsBuilder::new().filters(&map).build();
    let report = client.docker()?.prune_volumes(Some(options)).await?;
    let deleted = report.volumes_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Volumes:");
        for name in deleted {
            println!("{name}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        size(report.space_reclaimed.unwrap_or(0))
    );
    Ok(0)
}
