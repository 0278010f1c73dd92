//! `inspect`: containers and images as docker prints them — a 4-space-indented JSON array, or one
//! `--format` template result per object; a missing object is reported after the others.

use anyhow::Result;
use bollard::errors::Error as DockerError;
use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::client::Client;
use crate::output::Template;
use crate::stream::escape;

/// Which kind of object to look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectType {
    /// Containers only.
    Container,
    /// Images only.
    Image,
}

/// `berth inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go template (or "json")
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Only inspect objects of the given type
    #[arg(long = "type", value_enum)]
    pub object_type: Option<ObjectType>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// NAME|ID...
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `berth inspect`: the daemon's JSON as it sent it (as docker prints it), so fields berth's
/// API models lack (the pre-1.52 top-level `NetworkSettings.IPAddress`) still format.
pub async fn inspect(client: &Client, args: InspectArgs) -> Result<i32> {
    let template = match args.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
    };
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in &args.names {
        match lookup(client, name, args.object_type, args.size).await {
            Ok(Some(obj)) => found.push(obj),
            Ok(None) => missing.push(name.clone()),
            Err(e) => {
                print_raw(&found, template.as_ref())?;
                return Err(e);
            }
        }
    }
    print_raw(&found, template.as_ref())?;
    for name in &missing {
        let kind = match args.object_type {
            None => "object",
            Some(ObjectType::Container) => "container",
            Some(ObjectType::Image) => "image",
        };
        eprintln!("Error: No such {kind}: {name}");
    }
    Ok(if missing.is_empty() { 0 } else { 1 })
}

/// A container's (or else an image's) inspect body; `None` when neither exists.
async fn lookup(
    client: &Client,
    name: &str,
    kind: Option<ObjectType>,
    size: bool,
) -> Result<Option<Vec<u8>>> {
    let mut paths = Vec::new();
    if kind != Some(ObjectType::Image) {
        let size = if size { "?size=1" } else { "" };
        paths.push(format!("/containers/{}/json{size}", escape(name)));
    }
    if kind != Some(ObjectType::Container) {
        // An image reference keeps its slashes as path segments, as docker sends it.
        let segments: Vec<String> = name.split('/').map(escape).collect();
        paths.push(format!("/images/{}/json", segments.join("/")));
    }
    for path in paths {
        match client.get_raw(&path).await {
            Ok(raw) => return Ok(Some(raw)),
            Err(e) if e.downcast_ref::<DockerError>().is_some_and(is_not_found) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// True for the daemon's 404.
pub fn is_not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Prints objects as the daemon sent them: one `template` result each, or (without one) the
/// bodies joined into a JSON array indented like docker's raw-element inspect.
pub fn print_raw(objects: &[Vec<u8>], template: Option<&Template>) -> Result<()> {
    if let Some(t) = template {
        for raw in objects {
            let value: Value = serde_json::from_slice(raw)?;
            println!("{}", t.render(&value)?);
        }
        return Ok(());
    }
    let mut array = b"[".to_vec();
    for (i, raw) in objects.iter().enumerate() {
        if i > 0 {
            array.push(b',');
        }
        array.extend_from_slice(raw);
    }
    array.push(b']');
    println!("{}", crate::output::json::indent(&array)?);
    Ok(())
}
