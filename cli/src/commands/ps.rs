//! `ps`: list containers with docker's columns, `--filter`, `-q` and `--format`. Rows are built
//! as objects with docker's template field names (`.ID`, `.Names`, `.RunningFor`, …).

use std::collections::HashMap;

use anyhow::Result;
use bollard::models::ContainerSummary;
use bollard::query_parameters::ListContainersOptionsBuilder;
use clap::Args;
use serde_json::{json, Value};

use crate::client::Client;
use crate::output::{render_rows, units};

const DEFAULT_FORMAT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// `berth ps`
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter output based on conditions provided (key=value)
    #[arg(short = 'f', long = "filter", value_name = "filter", value_parser = crate::parse::filter)]
    pub filter: Vec<String>,
    /// Format output using a Go template, "table …" or "json"
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i32,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

/// Splits `key=value` filters into the API's map; a bare key filters on presence.
pub fn filters(list: &[String]) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for f in list {
        let (k, v) = f.split_once('=').unwrap_or((f, ""));
        map.entry(k.trim().to_lowercase())
            .or_default()
            .push(v.to_string());
    }
    map
}

/// `berth ps`
pub async fn ps(client: &Client, args: PsArgs) -> Result<i32> {
    // As docker: a format that shows `.Size` asks the daemon for sizes too.
    let size = args.size || args.format.as_deref().is_some_and(|f| f.contains(".Size"));
    let mut options = ListContainersOptionsBuilder::new()
        .all(args.all)
        .size(size)
        .filters(&filters(&args.filter));
    let limit = if args.latest { 1 } else { args.last };
    if limit > 0 {
        options = options.limit(limit);
    }
    let containers = client
        .docker()?
        .list_containers(Some(options.build()))
        .await?;
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = containers
        .iter()
        .map(|c| row(c, !args.no_trunc, now))
        .collect();
    let format = match (args.quiet, args.format) {
        (true, _) => "{{.ID}}".to_string(),
        (false, Some(format)) => format,
        (false, None) if args.size => format!("{DEFAULT_FORMAT}\t{{{{.Size}}}}"),
        (false, None) => DEFAULT_FORMAT.to_string(),
    };
    print!("{}", render_rows(&format, &header(), &rows)?);
    Ok(0)
}

fn header() -> Value {
    json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
        "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
        "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES",
    })
}

fn row(c: &ContainerSummary, trunc: bool, now: i64) -> Value {
    let id = c.id.clone().unwrap_or_default();
    let created = c.created.unwrap_or(0);
    let mut labels: Vec<String> = c
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    labels.sort();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .flatten()
        .map(|m| {
            m.name
                .clone()
                .or_else(|| m.source.clone())
                .unwrap_or_default()
        })
        .collect();
    let mut networks: Vec<String> = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let command = c.command.clone().unwrap_or_default();
    json!({
        "ID": if trunc { short_id(&id) } else { id.clone() },
        "Image": image_name(c.image.as_deref().unwrap_or(""), trunc),
        "Command": go_quote(&if trunc { ellipsis(&command, 20) } else { command }),
        "CreatedAt": created_at(created),
        "RunningFor": units::ago(created, now),
        "Ports": ports(c),
        "State": c.state.map(|s| s.to_string()).unwrap_or_default(),
        "Status": c.status.clone().unwrap_or_default(),
        "Size": size(c),
        "Names": names(c.names.as_deref().unwrap_or(&[]), trunc),
        "Labels": labels.join(","),
        "Mounts": mounts.join(","),
        "Networks": networks.join(","),
        "LocalVolumes": mounts.len().to_string(),
    })
}

/// The first 12 characters of an id, without a `sha256:` prefix.
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

fn image_name(image: &str, trunc: bool) -> String {
    match image.strip_prefix("sha256:") {
        Some(_) if trunc => short_id(image),
        _ => image.to_string(),
    }
}

/// Names without the leading `/`; link names (`/a/b`) only with `--no-trunc`.
fn names(names: &[String], trunc: bool) -> String {
    let stripped: Vec<&str> = names
        .iter()
        .map(|n| n.strip_prefix('/').unwrap_or(n))
        .filter(|n| !trunc || !n.contains('/'))
        .collect();
    stripped.join(",")
}

fn ports(c: &ContainerSummary) -> String {
    let list: Vec<String> = c
        .ports
        .iter()
        .flatten()
        .map(|p| {
            let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
            match (p.public_port, p.ip.as_deref()) {
                (Some(public), ip) => {
                    let ip = ip.unwrap_or("");
                    let ip = if ip.contains(':') {
                        format!("[{ip}]")
                    } else {
                        ip.to_string()
                    };
                    format!("{ip}:{public}->{}/{proto}", p.private_port)
                }
                (None, _) => format!("{}/{proto}", p.private_port),
            }
        })
        .collect();
    list.join(", ")
}

/// Go's `time.Unix(created, 0).String()` in local time.
pub fn created_at(unix: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(unix, 0).single() {
        Some(t) if t.offset().local_minus_utc() == 0 => {
            t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()
        }
        Some(t) => t.format("%Y-%m-%d %H:%M:%S %z %Z").to_string(),
        None => String::new(),
    }
}

/// Docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
/// `12B (virtual 1.24MB)`, as docker shows a container's sizes.
fn size(c: &ContainerSummary) -> String {
    let rw = units::human_size(c.size_rw.unwrap_or(0) as f64, 3);
    match c.size_root_fs.unwrap_or(0) {
        0 => rw,
        root => format!("{rw} (virtual {})", units::human_size(root as f64, 3)),
    }
}

fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Go's `strconv.Quote` for printable text.
fn go_quote(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_quoted_and_truncated_like_docker() {
        assert_eq!(go_quote(&ellipsis("sleep 300", 20)), "\"sleep 300\"");
        assert_eq!(
            go_quote(&ellipsis("sh -c 'echo one; echo two'", 20)),
            "\"sh -c 'echo one; ec…\""
        );
        assert_eq!(go_quote("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn names_drop_slash_and_links() {
        let n = vec!["/web".to_string(), "/other/link".to_string()];
        assert_eq!(names(&n, true), "web");
        assert_eq!(names(&n, false), "web,other/link");
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }

    #[test]
    fn filters_group_by_key() {
        let f = filters(&[
            "label=bct=1".into(),
            "status=exited".into(),
            "status=created".into(),
        ]);
        assert_eq!(f["label"], vec!["bct=1"]);
        assert_eq!(f["status"], vec!["exited", "created"]);
    }
}
