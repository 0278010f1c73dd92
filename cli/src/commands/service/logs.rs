//! `berth service logs SERVICE|TASK`: the daemon's log stream with docker's per-line context
//! (`web.1.abc123def456@node1    | line`), which needs `details=true` and so the raw stream from
//! `stream.rs`; `--raw` and TTY services print the stream as it comes.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{bail, Result};
use bollard::Docker;
use clap::Args;
use futures_util::StreamExt;

use crate::client::Client;
use crate::commands::inspect::is_not_found;
use crate::commands::task::node_name;
use crate::stream::{escape, FrameDecoder};

/// `berth service logs`
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Do not map IDs to Names in output
    #[arg(long = "no-resolve")]
    pub no_resolve: bool,
    /// Do not include task IDs in output
    #[arg(long = "no-task-ids")]
    pub no_task_ids: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Do not neatly format logs
    #[arg(long)]
    pub raw: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all", value_name = "string")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// SERVICE|TASK
    pub target: String,
}

/// `berth service logs`
pub async fn logs(client: &Client, docker: &Docker, a: LogsArgs) -> Result<i32> {
    let (path, tty, width) = log_source(docker, &a.target).await?;
    if tty && !a.raw {
        bail!("tty service logs only supported with --raw");
    }
    let since = match &a.since {
        Some(s) => crate::parse::timestamp(s, chrono::Utc::now().timestamp())
            .map_err(anyhow::Error::msg)?,
        None => 0,
    };
    let query = format!(
        "?stdout=1&stderr=1&follow={}&timestamps={}&details={}&since={since}&tail={}",
        a.follow,
        a.timestamps,
        a.details || !a.raw,
        escape(&a.tail)
    );
    let mut body = client.get_stream(&format!("{path}{query}")).await?;
    let mut frames = FrameDecoder::default();
    let mut context = Context {
        docker,
        args: &a,
        width,
        cache: HashMap::new(),
    };
    while let Some(data) = body.next().await {
        let data = data?;
        if tty {
            std::io::stdout().write_all(&data)?;
            continue;
        }
        for (stream, payload) in frames.push(&data) {
            let line = if a.raw {
                payload
            } else {
                context.format(&payload).await
            };
            if stream == 2 {
                std::io::stderr().write_all(&line)?;
            } else {
                std::io::stdout().write_all(&line)?;
            }
        }
        std::io::stdout().flush()?;
    }
    Ok(0)
}

/// The logs endpoint for a service (tried first) or a task, whether it has a TTY, and the
/// width slot numbers are padded to (digits of the replica count, or of the task's slot).
async fn log_source(docker: &Docker, target: &str) -> Result<(String, bool, usize)> {
    Ok(match docker.inspect_service(target, None).await {
        Ok(s) => {
            let spec = s.spec.unwrap_or_default();
            let tty = tty_of(spec.task_template.as_ref());
            let replicas = spec
                .mode
                .and_then(|m| m.replicated)
                .and_then(|r| r.replicas)
                .unwrap_or(1);
            (
                format!("/services/{}/logs", s.id.unwrap_or_default()),
                tty,
                digits(replicas),
            )
        }
        Err(e) if is_not_found(&e) => match docker.inspect_task(target).await {
            Ok(t) => {
                let tty = tty_of(t.spec.as_ref());
                (
                    format!("/tasks/{}/logs", t.id.unwrap_or_default()),
                    tty,
                    digits(t.slot.unwrap_or(0)),
                )
            }
            Err(e) if is_not_found(&e) => bail!("no such task or service: {target}"),
            Err(e) => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    })
}

fn tty_of(spec: Option<&bollard::models::TaskSpec>) -> bool {
    spec.and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.tty)
        .unwrap_or(false)
}

fn digits(n: i64) -> usize {
    n.to_string().len()
}

/// Resolves and caches the `name.slot.task@node` prefix of each task's lines.
struct Context<'a> {
    docker: &'a Docker,
    args: &'a LogsArgs,
    width: usize,
    cache: HashMap<(String, String, String), String>,
}

impl Context<'_> {
    /// Docker's `logWriter`: `[timestamp ]prefix    | [details ]message`. A line without the
    /// swarm context is printed as it came.
    async fn format(&mut self, line: &[u8]) -> Vec<u8> {
        let Some(parsed) = split_line(line, self.args.timestamps) else {
            return line.to_vec();
        };
        let key = (
            parsed.node.clone(),
            parsed.service.clone(),
            parsed.task.clone(),
        );
        let prefix = match self.cache.get(&key) {
            Some(p) => p.clone(),
            None => {
                let p = self.prefix(&parsed).await;
                self.cache.insert(key, p.clone());
                p
            }
        };
        let mut out = Vec::new();
        if let Some(ts) = &parsed.timestamp {
            out.extend_from_slice(ts.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(b"    | ");
        if self.args.details {
            out.extend_from_slice(parsed.extra.join(",").as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&parsed.message);
        out
    }

    async fn prefix(&self, p: &LogLine) -> String {
        let (node, service) = if self.args.no_resolve {
            (p.node.clone(), p.service.clone())
        } else {
            let service = match self.docker.inspect_service(&p.service, None).await {
                Ok(s) => s.spec.and_then(|s| s.name).unwrap_or_default(),
                Err(_) => p.service.clone(),
            };
            (node_name(self.docker, &p.node).await, service)
        };
        let slot = match self.docker.inspect_task(&p.task).await {
            Ok(t) => t.slot.unwrap_or(0),
            Err(_) => 0,
        };
        task_prefix(&service, slot, &p.task, &node, self.args, self.width)
    }
}

/// `service.slot[.task]@node`, padded so lines of different slots align.
fn task_prefix(
    service: &str,
    slot: i64,
    task: &str,
    node: &str,
    a: &LogsArgs,
    width: usize,
) -> String {
    let mut name = format!("{service}.{slot}");
    if !a.no_task_ids {
        name.push('.');
        name.push_str(if a.no_trunc {
            task
        } else {
            task.get(..12).unwrap_or(task)
        });
    }
    let pad = " ".repeat(width.saturating_sub(digits(slot)));
    format!("{name}@{node}{pad}")
}

/// One log line with the swarm context taken out of its details.
#[derive(Debug, PartialEq)]
struct LogLine {
    timestamp: Option<String>,
    node: String,
    service: String,
    task: String,
    /// Other details, `k=v`, sorted.
    extra: Vec<String>,
    message: Vec<u8>,
}

/// Splits `[timestamp ]details message`; None when the swarm context is missing.
fn split_line(line: &[u8], timestamps: bool) -> Option<LogLine> {
    let mut parts = line.splitn(if timestamps { 3 } else { 2 }, |b| *b == b' ');
    let timestamp = if timestamps {
        Some(String::from_utf8_lossy(parts.next()?).to_string())
    } else {
        None
    };
    let details = String::from_utf8_lossy(parts.next()?).to_string();
    let message = parts.next()?.to_vec();
    let mut map: HashMap<String, String> = HashMap::new();
    for pair in details.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=')?;
        map.insert(unescape(k), unescape(v));
    }
    let node = map.remove("com.docker.swarm.node.id")?;
    let service = map.remove("com.docker.swarm.service.id")?;
    let task = map.remove("com.docker.swarm.task.id")?;
    let mut extra: Vec<String> = map.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    extra.sort();
    Some(LogLine {
        timestamp,
        node,
        service,
        task,
        extra,
        message,
    })
}

/// Go's `url.QueryUnescape` (details are query-escaped by the daemon).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: &str = "com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,com.docker.swarm.task.id=t0123456789abcdef";

    fn args() -> LogsArgs {
        LogsArgs {
            details: false,
            follow: false,
            no_resolve: false,
            no_task_ids: false,
            no_trunc: false,
            raw: false,
            since: None,
            tail: "all".into(),
            timestamps: false,
            target: "web".into(),
        }
    }

    #[test]
    fn lines_split_into_context_details_and_message() {
        let line = format!("{CONTEXT},extra=a%20b hello world\n");
        let parsed = split_line(line.as_bytes(), false).unwrap();
        assert_eq!(
            (parsed.node.as_str(), parsed.service.as_str()),
            ("n1", "s1")
        );
        assert_eq!(parsed.task, "t0123456789abcdef");
        assert_eq!(parsed.extra, vec!["extra=a b"]);
        assert_eq!(parsed.message, b"hello world\n");
        let stamped = format!("2024-01-01T00:00:00.000000000Z {CONTEXT} hi\n");
        let parsed = split_line(stamped.as_bytes(), true).unwrap();
        assert_eq!(
            parsed.timestamp.as_deref(),
            Some("2024-01-01T00:00:00.000000000Z")
        );
        assert_eq!(parsed.message, b"hi\n");
        assert!(split_line(b"no context here\n", false).is_none());
    }

    #[test]
    fn prefixes_name_slot_task_and_node() {
        let mut a = args();
        assert_eq!(
            task_prefix("web", 1, "t0123456789abcdef", "vm", &a, 2),
            "web.1.t0123456789a@vm "
        );
        assert_eq!(
            task_prefix("web", 10, "t0123456789abcdef", "vm", &a, 2),
            "web.10.t0123456789a@vm"
        );
        a.no_task_ids = true;
        assert_eq!(task_prefix("web", 1, "t0", "vm", &a, 1), "web.1@vm");
        a.no_task_ids = false;
        a.no_trunc = true;
        assert_eq!(
            task_prefix("web", 1, "t0123456789abcdef", "vm", &a, 1),
            "web.1.t0123456789abcdef@vm"
        );
        assert_eq!(unescape("a%2Cb+c%zz"), "a,b c%zz");
    }
}
