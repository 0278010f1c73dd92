//! `berth secret create|ls|inspect|rm` (`rotate` is `secret_rotate.rs`) and `berth config create|ls|inspect|rm`: docker's
//! flags, columns, `--format` fields (`.ID .Name .Driver .CreatedAt .UpdatedAt .Labels`) and
//! messages. Both nouns share this file; `Kind` says which API paths and columns apply.

use std::io::Read;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::inspect::print_raw;
use super::ps::filters;
use crate::client::Client;
use crate::output::{render_rows, units, Template};
use crate::stream::escape;

/// Which noun a command manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `berth secret`
    Secret,
    /// `berth config`
    Config,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Self::Secret => "secrets",
            Self::Config => "configs",
        }
    }
}

/// `berth secret …`
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Create a secret from a file or STDIN as content
    Create(CreateArgs),
    /// List secrets
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more secrets
    Inspect(InspectArgs),
    /// Remove one or more secrets
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Create the next version of a secret and move every service using it there
    Rotate(super::secret_rotate::RotateArgs),
}

/// `berth config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Create a config from a file or STDIN
    Create(CreateArgs),
    /// List configs
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more configs
    Inspect(InspectArgs),
    /// Remove one or more configs
    #[command(alias = "remove")]
    Rm(RmArgs),
}

/// `create`
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Secret driver (secrets only; berthd refuses external drivers by name)
    #[arg(short = 'd', long)]
    pub driver: Option<String>,
    /// Secret labels
    #[arg(short = 'l', long, value_name = "list")]
    pub label: Vec<String>,
    /// Template driver
    #[arg(long = "template-driver")]
    pub template_driver: Option<String>,
    /// NAME
    pub name: String,
    /// FILE, or - for STDIN
    pub file: Option<String>,
}

/// `ls`
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

/// `inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a Go template (or "json")
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Print the information in a human friendly format
    #[arg(long)]
    pub pretty: bool,
    /// NAME...
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `rm`
#[derive(Debug, Args)]
pub struct RmArgs {
    /// NAME...
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Runs one `secret` subcommand.
pub async fn run_secret(client: &Client, command: SecretCommand) -> Result<i32> {
    match command {
        SecretCommand::Create(a) => create(client, Kind::Secret, a).await,
        SecretCommand::Ls(a) => list(client, Kind::Secret, a).await,
        SecretCommand::Inspect(a) => inspect(client, Kind::Secret, a).await,
        SecretCommand::Rm(a) => remove(client, Kind::Secret, a).await,
        SecretCommand::Rotate(a) => super::secret_rotate::rotate(client, a).await,
    }
}

/// Runs one `config` subcommand.
pub async fn run_config(client: &Client, command: ConfigCommand) -> Result<i32> {
    match command {
        ConfigCommand::Create(a) => create(client, Kind::Config, a).await,
        ConfigCommand::Ls(a) => list(client, Kind::Config, a).await,
        ConfigCommand::Inspect(a) => inspect(client, Kind::Config, a).await,
        ConfigCommand::Rm(a) => remove(client, Kind::Config, a).await,
    }
}

/// The bytes of FILE, or of STDIN for `-`.
pub fn read_data(file: &str) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    if file == "-" {
        std::io::stdin().read_to_end(&mut data)?;
    } else {
        data = std::fs::read(file).with_context(|| format!("open {file}"))?;
    }
    Ok(data)
}

/// Labels as a map; a bare key has an empty value, as docker's.
pub fn label_map(labels: &[String]) -> Value {
    let map: serde_json::Map<String, Value> = labels
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), json!(v))
        })
        .collect();
    Value::Object(map)
}

/// `POST /secrets/create` (or configs) with `spec`; the new id.
pub async fn create_object(client: &Client, kind: Kind, spec: &Value) -> Result<String> {
    let docker = client.docker()?;
    let id = match kind {
        Kind::Secret => {
            let spec = serde_json::from_value(spec.clone())?;
            docker.create_secret(spec).await?.id
        }
        Kind::Config => {
            let spec = serde_json::from_value(spec.clone())?;
            docker.create_config(spec).await?.id
        }
    };
    Ok(id)
}

async fn create(client: &Client, kind: Kind, a: CreateArgs) -> Result<i32> {
    if kind == Kind::Config && a.driver.is_some() {
        bail!("unknown flag: --driver");
    }
    let Some(file) = a.file.as_deref() else {
        if a.driver.is_some() {
            bail!("secret drivers are not supported by berth");
        }
        bail!("\"create\" requires exactly 2 arguments: NAME and a file (or - for STDIN)");
    };
    let data = read_data(file)?;
    let mut spec = json!({
        "Name": a.name,
        "Labels": label_map(&a.label),
        "Data": base64::engine::general_purpose::STANDARD.encode(&data),
    });
    if let Some(d) = &a.driver {
        spec["Driver"] = json!({ "Name": d });
    }
    if let Some(t) = &a.template_driver {
        spec["Templating"] = json!({ "Name": t });
    }
    println!("{}", create_object(client, kind, &spec).await?);
    Ok(0)
}

/// Every object of `kind` matching `filter` (`key=value` strings), as the daemon lists them.
pub async fn list_objects(client: &Client, kind: Kind, filter: &[String]) -> Result<Vec<Value>> {
    let filters = serde_json::to_string(&filters(filter))?;
    let path = format!("/{}?filters={}", kind.path(), escape(&filters));
    let Value::Array(list) = client.get_json(&path).await? else {
        bail!("bad response to GET /{}", kind.path());
    };
    Ok(list)
}

async fn list(client: &Client, kind: Kind, a: ListArgs) -> Result<i32> {
    let mut list = list_objects(client, kind, &a.filter).await?;
    list.sort_by(|x, y| x["Spec"]["Name"].as_str().cmp(&y["Spec"]["Name"].as_str()));
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = list.iter().map(|o| row(o, now)).collect();
    let default = match kind {
        Kind::Secret => "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}",
        Kind::Config => "table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}",
    };
    let format = match (a.quiet, a.format.as_deref()) {
        (true, _) => "{{.ID}}",
        (false, Some(f)) if !f.is_empty() && f != "table" => f,
        _ => default,
    };
    let header = json!({
        "ID": "ID", "Name": "NAME", "Driver": "DRIVER", "CreatedAt": "CREATED",
        "UpdatedAt": "UPDATED", "Labels": "LABELS",
    });
    print!("{}", render_rows(format, &header, &rows)?);
    Ok(0)
}

fn row(o: &Value, now: i64) -> Value {
    let since = |field: &str| {
        o[field]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| units::ago(t.timestamp(), now))
            .unwrap_or_default()
    };
    let labels = o["Spec"]["Labels"]
        .as_object()
        .map(|m| {
            let mut pairs: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            pairs.sort();
            pairs.join(",")
        })
        .unwrap_or_default();
    json!({
        "ID": o["ID"], "Name": o["Spec"]["Name"],
        "Driver": o["Spec"]["Driver"]["Name"].as_str().unwrap_or_default(),
        "CreatedAt": since("CreatedAt"), "UpdatedAt": since("UpdatedAt"), "Labels": labels,
    })
}

/// The object as a template sees it: docker's templates run on Go structs where `Spec.Data`
/// is a byte slice, printed `[]` when empty (a secret's) and as text by `printf "%s"`.
fn for_template(mut o: Value) -> Value {
    let data = o["Spec"]["Data"].as_str().map(|d| {
        base64::engine::general_purpose::STANDARD
            .decode(d)
            .unwrap_or_default()
    });
    if o["Spec"].is_object() {
        o["Spec"]["Data"] = match data {
            Some(bytes) if !bytes.is_empty() => json!(String::from_utf8_lossy(&bytes)),
            _ => json!([]),
        };
    }
    o
}

async fn inspect(client: &Client, kind: Kind, a: InspectArgs) -> Result<i32> {
    let template = match (a.format.as_deref(), a.pretty) {
        (None | Some(""), true) => Some(Template::parse(
            "ID:\t\t{{.ID}}\nName:\t\t{{.Spec.Name}}\nCreated at:\t{{.CreatedAt}}\nUpdated at:\t{{.UpdatedAt}}",
        )?),
        (None | Some(""), false) => None,
        (Some("json"), _) => Some(Template::parse("{{json .}}")?),
        (Some(f), _) => Some(Template::parse(f)?),
    };
    let mut found = Vec::new();
    let mut code = 0;
    for name in &a.names {
        match client
            .get_raw(&format!("/{}/{}", kind.path(), escape(name)))
            .await
        {
            Ok(raw) => found.push(raw),
            Err(e) => {
                eprintln!("{}", client.describe(&e));
                code = 1;
            }
        }
    }
    match &template {
        Some(t) if a.format.as_deref() != Some("json") => {
            for raw in &found {
                let value: Value = serde_json::from_slice(raw)?;
                println!("{}", t.render(&for_template(value))?);
            }
        }
        _ => print_raw(&found, template.as_ref())?,
    }
    Ok(code)
}

/// `DELETE /secrets/{name}` (or configs).
pub async fn remove_object(client: &Client, kind: Kind, name: &str) -> Result<()> {
    let docker = client.docker()?;
    match kind {
        Kind::Secret => docker.delete_secret(name).await?,
        Kind::Config => docker.delete_config(name).await?,
    }
    Ok(())
}

async fn remove(client: &Client, kind: Kind, a: RmArgs) -> Result<i32> {
    let mut code = 0;
    for name in &a.names {
        match remove_object(client, kind, name).await {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("{}", client.describe(&e));
                code = 1;
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_sees_a_secrets_missing_data_as_an_empty_byte_slice() {
        let t = Template::parse("{{.Spec.Data}}").unwrap();
        let secret = json!({ "Spec": { "Name": "s" } });
        assert_eq!(t.render(&for_template(secret)).unwrap(), "[]");
        let config = json!({ "Spec": { "Name": "c", "Data": "a2V5PXZhbHVl" } });
        let t = Template::parse("{{printf \"%s\" .Spec.Data}}").unwrap();
        assert_eq!(t.render(&for_template(config)).unwrap(), "key=value");
    }

    #[test]
    fn bare_labels_get_empty_values() {
        assert_eq!(
            label_map(&["a=b".into(), "c".into()]),
            json!({ "a": "b", "c": "" })
        );
    }
}
