//! `inspect`: containers and images as docker prints them — a 4-space-indented JSON array, or one
//! `--format` template result per object; a missing object is reported after the others.

use anyhow::Result;
use bollard::errors::Error as DockerError;
use bollard::Docker;
use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::Value;

use crate::client::Client;
use crate::output::Template;

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

#[derive(Serialize)]
#[serde(untagged)]
enum Found {
    Container(Box<bollard::models::ContainerInspectResponse>),
    Image(Box<bollard::models::ImageInspect>),
}

/// `berth inspect`
pub async fn inspect(client: &Client, args: InspectArgs) -> Result<i32> {
    let template = match args.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
    };
    let docker = client.docker()?;
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in &args.names {
        match lookup(&docker, name, args.object_type, args.size).await {
            Ok(Some(obj)) => found.push(obj),
            Ok(None) => missing.push(name.clone()),
            Err(e) => {
                print_found(&found, template.as_ref())?;
                return Err(e.into());
            }
        }
    }
    print_found(&found, template.as_ref())?;
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

async fn lookup(
    docker: &Docker,
    name: &str,
    kind: Option<ObjectType>,
    size: bool,
) -> Result<Option<Found>, DockerError> {
    if kind != Some(ObjectType::Image) {
        let options = bollard::query_parameters::InspectContainerOptionsBuilder::new()
            .size(size)
            .build();
        match docker.inspect_container(name, Some(options)).await {
            Ok(c) => return Ok(Some(Found::Container(Box::new(c)))),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
    if kind != Some(ObjectType::Container) {
        match docker.inspect_image(name).await {
            Ok(i) => return Ok(Some(Found::Image(Box::new(i)))),
            Err(e) if is_not_found(&e) => {}
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

fn print_found(found: &[Found], template: Option<&Template>) -> Result<()> {
    match template {
        Some(t) => {
            for obj in found {
                let value: Value = serde_json::to_value(obj)?;
                println!("{}", t.render(&value)?);
            }
        }
        None => println!("{}", to_docker_json(found)?),
    }
    Ok(())
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

/// Pretty JSON with docker's 4-space indent (fields in the API's order).
pub fn to_docker_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    value.serialize(&mut ser)?;
    Ok(String::from_utf8(buf)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_four_space_indent() {
        let v = serde_json::json!([{"Id": "x"}]);
        assert_eq!(
            to_docker_json(&v).unwrap(),
            "[\n    {\n        \"Id\": \"x\"\n    }\n]"
        );
        assert_eq!(to_docker_json(&Vec::<Value>::new()).unwrap(), "[]");
    }
}
