//! Day-two commands on existing containers: `top`, `pause`, `unpause`, `rename`, `update`,
//! `export` and `diff`, each printing what docker prints. No streaming I/O beyond export's tar.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context, Result};
use bollard::models::{ChangeType, ContainerUpdateBody, RestartPolicy};
use bollard::query_parameters::{RenameContainerOptionsBuilder, TopOptionsBuilder};
use clap::Args;
use futures_util::StreamExt;

use super::container::each;
use crate::client::Client;
use crate::output::table::tabwrite_min;
use crate::parse;

/// `berth top`
#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct TopArgs {
    /// CONTAINER
    pub container: String,
    /// [ps OPTIONS]
    #[arg(allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `berth pause` / `berth unpause`
#[derive(Debug, Args)]
pub struct ContainersArgs {
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth rename`
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// CONTAINER
    pub container: String,
    /// NEW_NAME
    pub new_name: String,
}

/// `berth update`
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short = 'm', long, value_parser = parse::ram_in_bytes, value_name = "bytes")]
    pub memory: Option<i64>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_parser = parse::memory_swap, allow_hyphen_values = true, value_name = "bytes")]
    pub memory_swap: Option<i64>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_parser = parse::ram_in_bytes, value_name = "bytes")]
    pub memory_reservation: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_parser = parse::nano_cpus, value_name = "decimal")]
    pub cpus: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true, value_name = "int")]
    pub pids_limit: Option<i64>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<u16>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_parser = parse::restart_policy, value_name = "string")]
    pub restart: Option<RestartPolicy>,
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

impl UpdateArgs {
    /// The update body; docker refuses an update that changes nothing.
    pub fn to_body(&self) -> Result<ContainerUpdateBody> {
        let body = ContainerUpdateBody {
            memory: self.memory,
            memory_swap: self.memory_swap,
            memory_reservation: self.memory_reservation,
            nano_cpus: self.cpus,
            cpu_shares: self.cpu_shares,
            pids_limit: self.pids_limit,
            blkio_weight: self.blkio_weight,
            restart_policy: self.restart.clone(),
            ..Default::default()
        };
        if body == ContainerUpdateBody::default() {
            bail!("you must provide one or more flags when using this command");
        }
        Ok(body)
    }
}

/// `berth export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// CONTAINER
    pub container: String,
}

/// `berth diff`
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// CONTAINER
    pub container: String,
}

/// `berth top`: the daemon's ps table, aligned as docker's (min width 20).
pub async fn top(client: &Client, args: TopArgs) -> Result<i32> {
    let mut options = TopOptionsBuilder::new();
    if !args.ps_args.is_empty() {
        options = options.ps_args(&args.ps_args.join(" "));
    }
    let top = client
        .docker()?
        .top_processes(&args.container, Some(options.build()))
        .await?;
    let mut text = top.titles.unwrap_or_default().join("\t");
    text.push('\n');
    for process in top.processes.unwrap_or_default() {
        text.push_str(&process.join("\t"));
        text.push('\n');
    }
    print!("{}", tabwrite_min(&text, 20));
    Ok(0)
}

/// `berth pause`
pub async fn pause(client: &Client, args: ContainersArgs) -> Result<i32> {
    each(client, &args.containers, |docker, name| async move {
        docker.pause_container(&name).await
    })
    .await
}

/// `berth unpause`
pub async fn unpause(client: &Client, args: ContainersArgs) -> Result<i32> {
    each(client, &args.containers, |docker, name| async move {
        docker.unpause_container(&name).await
    })
    .await
}

/// `berth rename`: silent on success, as docker.
pub async fn rename(client: &Client, args: RenameArgs) -> Result<i32> {
    let new_name = args.new_name.trim();
    if new_name.is_empty() || args.container.trim().is_empty() {
        bail!("Neither old nor new names may be empty");
    }
    let options = RenameContainerOptionsBuilder::new().name(new_name).build();
    client
        .docker()?
        .rename_container(&args.container, options)
        .await?;
    Ok(0)
}

/// `berth update`: prints each updated container, then the daemon's warnings (as docker's
/// CLI, on stdout).
pub async fn update(client: &Client, args: UpdateArgs) -> Result<i32> {
    let body = serde_json::to_value(args.to_body()?)?;
    let (mut code, mut warnings) = (0, Vec::new());
    for name in &args.containers {
        // A name is letters, digits and `_.-`; anything else is escaped (and not found).
        let segment: String = name
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let path = format!("/containers/{segment}/update");
        match client.post_json(&path, &body).await {
            Ok(answer) => {
                println!("{name}");
                let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
                warnings.extend(
                    answer["Warnings"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|w| w.as_str().map(str::to_string)),
                );
            }
            Err(e) => {
                eprintln!("{}", client.describe(&e));
                code = 1;
            }
        }
    }
    if !warnings.is_empty() {
        println!("{}", warnings.join("\n"));
    }
    Ok(code)
}

/// `berth export`: the rootfs as a tar to `-o` or stdout, never to a terminal.
pub async fn export(client: &Client, args: ExportArgs) -> Result<i32> {
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(std::fs::File::create(path).with_context(|| format!("open {path}"))?)
        }
        None if std::io::stdout().is_terminal() => {
            bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let docker = client.docker()?;
    let mut stream = docker.export_container(&args.container);
    while let Some(chunk) = stream.next().await {
        out.write_all(&chunk?)?;
    }
    out.flush()?;
    Ok(0)
}

/// One `diff` line: `C /etc`, `A /new`, `D /gone`.
pub fn change_line(kind: ChangeType, path: &str) -> String {
    let letter = match kind {
        ChangeType::_0 => 'C',
        ChangeType::_1 => 'A',
        ChangeType::_2 => 'D',
    };
    format!("{letter} {path}")
}

/// `berth diff`
pub async fn diff(client: &Client, args: DiffArgs) -> Result<i32> {
    let changes = client.docker()?.container_changes(&args.container).await?;
    for change in changes.unwrap_or_default() {
        println!("{}", change_line(change.kind, &change.path));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cmd {
        #[command(flatten)]
        update: UpdateArgs,
    }

    #[test]
    fn update_flags_fill_the_body() {
        let cmd = Cmd::try_parse_from([
            "update",
            "-m",
            "64m",
            "--memory-swap",
            "-1",
            "--cpus",
            "1.5",
            "--pids-limit",
            "-1",
            "--restart",
            "on-failure:3",
            "a",
            "b",
        ])
        .unwrap()
        .update;
        let body = cmd.to_body().unwrap();
        assert_eq!(body.memory, Some(67_108_864));
        assert_eq!(body.memory_swap, Some(-1));
        assert_eq!(body.nano_cpus, Some(1_500_000_000));
        assert_eq!(body.pids_limit, Some(-1));
        assert_eq!(body.restart_policy.unwrap().maximum_retry_count, Some(3));
        assert_eq!(cmd.containers, ["a", "b"]);
    }

    #[test]
    fn update_without_flags_is_refused() {
        let cmd = Cmd::try_parse_from(["update", "a"]).unwrap().update;
        assert!(cmd.to_body().is_err());
    }

    #[test]
    fn diff_lines_use_docker_letters() {
        assert_eq!(change_line(ChangeType::_0, "/etc"), "C /etc");
        assert_eq!(change_line(ChangeType::_1, "/new"), "A /new");
        assert_eq!(change_line(ChangeType::_2, "/gone"), "D /gone");
    }

    #[test]
    fn top_table_is_aligned_at_twenty() {
        let text = "UID\tPID\tCMD\nroot\t12\tsleep 9\n";
        assert_eq!(
            tabwrite_min(text, 20),
            "UID                 PID                 CMD\nroot                12                  sleep 9\n"
        );
    }
}
