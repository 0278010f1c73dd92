//! `run` and `create`: create the container, then (for `run`) attach, register the wait, start,
//! stream, and exit with the container's code — in docker's order. Errors of our own or of the
//! daemon exit 125 with docker's `<prog>: …` wording; a command that cannot run exits 126/127.

use std::io::IsTerminal;

use anyhow::Result;
use bollard::query_parameters::{CreateContainerOptionsBuilder, StartContainerOptions};
use bollard::Docker;
use clap::Args;

use super::create_opts::{ContainerOpts, PullPolicy};
use super::stdio;
use super::terminal::{self, Ended, TtyOwner};
use crate::client::Client;

/// `berth run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[command(flatten)]
    pub opts: ContainerOpts,
}

/// `berth create`
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub opts: ContainerOpts,
}

/// Runs `berth create`; returns the exit code.
pub async fn create(client: &Client, args: CreateArgs) -> i32 {
    match create_container(client, &args.opts, true).await {
        Ok((_, id)) => {
            println!("{id}");
            0
        }
        Err(e) => fail(client, "create", &e),
    }
}

/// Runs `berth run`; returns the container's exit code, or 125/126/127 as docker does.
pub async fn run(client: &Client, args: RunArgs) -> i32 {
    if !args.detach && args.opts.interactive && args.opts.tty && !std::io::stdin().is_terminal() {
        eprintln!("the input device is not a TTY");
        return 1;
    }
    let (docker, id) = match create_container(client, &args.opts, !args.detach).await {
        Ok(created) => created,
        Err(e) => return fail(client, "run", &e),
    };
    if args.detach {
        if let Err(e) = docker
            .start_container(&id, None::<StartContainerOptions>)
            .await
        {
            return fail_start(client, &e.into());
        }
        println!("{id}");
        return 0;
    }
    let session = Session {
        stdin: args.opts.interactive,
        tty: args.opts.tty,
        condition: if args.opts.rm { "removed" } else { "next-exit" },
        start: true,
        sig_proxy: true,
    };
    match attached_session(client, &docker, &id, session).await {
        Ok(code) => code,
        Err(Failure::Start(e)) => fail_start(client, &e),
        Err(Failure::Other(e)) => fail(client, "run", &e),
    }
}

/// What went wrong while running attached: start failures map to 126/127.
pub enum Failure {
    /// `POST /containers/{id}/start` failed.
    Start(anyhow::Error),
    /// Anything else.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::Other(e)
    }
}

async fn create_container(
    client: &Client,
    opts: &ContainerOpts,
    attached: bool,
) -> Result<(Docker, String)> {
    let body = opts.to_body(attached, |k| std::env::var(k).ok())?;
    let docker = client.docker()?;
    let mut options = CreateContainerOptionsBuilder::new();
    if let Some(name) = &opts.name {
        options = options.name(name);
    }
    let image = opts.image().to_string();
    if opts.pull == PullPolicy::Always {
        super::registry::pull_image(client, &image, None, false).await?;
    }
    let created = match docker
        .create_container(Some(options.clone().build()), body.clone())
        .await
    {
        // As docker does: a missing image is pulled, then the create is tried again.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message,
        }) if message.starts_with("No such image") && opts.pull == PullPolicy::Missing => {
            eprintln!("Unable to find image '{image}' locally");
            super::registry::pull_image(client, &image, None, false).await?;
            docker.create_container(Some(options.build()), body).await?
        }
        other => other?,
    };
    for warning in created.warnings.iter().filter(|w| !w.is_empty()) {
        eprintln!("WARNING: {warning}");
    }
    Ok((docker, created.id))
}

/// How an attached session runs: what to attach, which wait condition, whether to start.
#[derive(Debug, Clone, Copy)]
pub struct Session<'a> {
    /// Forward our stdin (`-i`).
    pub stdin: bool,
    /// The container has a TTY: raw output, raw terminal, no signal proxy.
    pub tty: bool,
    /// Wait condition: `next-exit`, `removed` (with `--rm`) or `not-running` (`attach`).
    pub condition: &'a str,
    /// Start the container once attached (false for `attach`).
    pub start: bool,
    /// Forward SIGINT/SIGTERM to the container when it has no TTY (`--sig-proxy`).
    pub sig_proxy: bool,
}

/// Docker's attached flow shared by `run`, `start -a` and `attach`: attach, register the wait,
/// start, stream output (forwarding stdin when `-i`), then collect the exit code.
pub async fn attached_session(
    client: &Client,
    docker: &Docker,
    id: &str,
    session: Session<'_>,
) -> Result<i32, Failure> {
    let attached = stdio::attach(docker, id, session.stdin).await?;
    let waiter = client.wait_registered(id, session.condition).await?;
    let raw = if session.stdin && session.tty {
        terminal::RawTerminal::enable()
    } else {
        None
    };
    if session.start {
        if let Err(e) = docker
            .start_container(id, None::<StartContainerOptions>)
            .await
        {
            drop(raw);
            waiter.abort();
            return Err(Failure::Start(e.into()));
        }
    }
    let sizer = session
        .tty
        .then(|| terminal::watch_size(docker.clone(), TtyOwner::Container(id.to_string())));
    let proxy = if session.tty || !session.sig_proxy {
        None
    } else {
        stdio::proxy_signals(docker.clone(), id.to_string())
    };
    // Detach keys only make sense on a raw terminal: piped input may hold any byte.
    let keys = (session.tty && raw.is_some()).then_some(terminal::DEFAULT_DETACH_KEYS);
    let mut input = session
        .stdin
        .then(|| terminal::forward_stdin(attached.input, keys));
    let streamed = terminal::pump_until_detach(attached.output, input.as_mut()).await;
    drop(raw);
    for task in [sizer, proxy].into_iter().flatten() {
        task.abort();
    }
    if let Some(i) = input {
        i.abort();
    }
    if matches!(streamed, Ok(Ended::Detached)) {
        waiter.abort();
        return Ok(0);
    }
    let code = waiter.await.map_err(anyhow::Error::from)?;
    streamed?;
    match code {
        Ok(code) => Ok(i32::try_from(code).unwrap_or(125)),
        Err(e) => {
            eprintln!("{}", client.describe(&e));
            Ok(125)
        }
    }
}

/// Prints docker's `berth: <message>` plus the help hint and returns 125.
pub fn fail(client: &Client, command: &str, err: &anyhow::Error) -> i32 {
    eprintln!(
        "berth: {}\n\nRun 'berth {command} --help' for more information",
        client.describe(err)
    );
    125
}

/// A failed start: 127 when the command is missing, 126 when it cannot be executed, else 125.
pub fn fail_start(client: &Client, err: &anyhow::Error) -> i32 {
    let message = client.describe(err);
    eprintln!("berth: {message}\n\nRun 'berth run --help' for more information");
    start_failure_code(&message)
}

fn start_failure_code(message: &str) -> i32 {
    if [
        "executable file not found",
        "no such file or directory",
        "system cannot find the file specified",
    ]
    .iter()
    .any(|s| message.contains(s))
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_map_to_docker_codes() {
        assert_eq!(
            start_failure_code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(start_failure_code("exec /x: permission denied"), 126);
        assert_eq!(start_failure_code("Conflict"), 125);
    }
}
