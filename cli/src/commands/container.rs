//! Container lifecycle commands that act on existing containers: `start`, `stop`, `restart`,
//! `kill`, `rm`, `wait`, `attach`, `logs`. Each prints what docker prints and returns the exit code.

use anyhow::{bail, Result};
use bollard::errors::Error as DockerError;
use bollard::query_parameters::{
    KillContainerOptionsBuilder, RemoveContainerOptionsBuilder, RestartContainerOptionsBuilder,
    StartContainerOptions, StopContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use bollard::Docker;
use clap::Args;
use futures_util::StreamExt;

use std::io::Write;

use super::run::{attached_session, fail_start, Failure, Session};
use crate::client::Client;

/// `berth start`
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth stop` / `berth restart`
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i32>,
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth kill`
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth rm`
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth wait`
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// CONTAINER...
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth attach`
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy received signals (SIGINT, SIGTERM) to the process; without a TTY only
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true",
        require_equals = true, value_name = "bool")]
    pub sig_proxy: bool,
    /// CONTAINER
    pub container: String,
}

/// `berth logs`
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative time
    #[arg(long)]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// CONTAINER
    pub container: String,
}

/// Runs `op` on each name, printing the name on success and docker's error line otherwise;
/// 1 when any failed.
pub async fn each<F, Fut>(client: &Client, names: &[String], op: F) -> Result<i32>
where
    F: Fn(Docker, String) -> Fut,
    Fut: std::future::Future<Output = Result<(), DockerError>>,
{
    let docker = client.docker()?;
    let mut code = 0;
    for name in names {
        match op(docker.clone(), name.clone()).await {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("{}", client.describe(&e.into()));
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `berth start`: prints names, or with `-a` streams the one container and returns its code.
pub async fn start(client: &Client, args: StartArgs) -> Result<i32> {
    if !(args.attach || args.interactive) {
        let docker = client.docker()?;
        let mut failed = Vec::new();
        for name in &args.containers {
            match docker
                .start_container(name, None::<StartContainerOptions>)
                .await
            {
                Ok(()) => println!("{name}"),
                Err(e) => {
                    eprintln!("{}", client.describe(&e.into()));
                    failed.push(name.as_str());
                }
            }
        }
        if !failed.is_empty() {
            eprintln!("Error: failed to start containers: {}", failed.join(", "));
            return Ok(1);
        }
        return Ok(0);
    }
    let [name] = args.containers.as_slice() else {
        bail!("you cannot start and attach multiple containers at once");
    };
    let docker = client.docker()?;
    let info = docker.inspect_container(name, None).await?;
    let id = info.id.unwrap_or_else(|| name.clone());
    let config = info.config.unwrap_or_default();
    let auto_remove = info
        .host_config
        .and_then(|h| h.auto_remove)
        .unwrap_or(false);
    let session = Session {
        stdin: args.interactive && config.open_stdin.unwrap_or(false),
        tty: config.tty.unwrap_or(false),
        condition: if auto_remove { "removed" } else { "next-exit" },
        start: true,
        sig_proxy: true,
    };
    match attached_session(client, &docker, &id, session).await {
        Ok(code) => Ok(code),
        Err(Failure::Start(e)) => Ok(fail_start(client, &e)),
        Err(Failure::Other(e)) => Err(e),
    }
}

/// `berth stop`
pub async fn stop(client: &Client, args: StopArgs) -> Result<i32> {
    each(client, &args.containers, |docker, name| {
        let mut options = StopContainerOptionsBuilder::new();
        if let Some(t) = args.time {
            options = options.t(t);
        }
        if let Some(s) = &args.signal {
            options = options.signal(s);
        }
        async move { docker.stop_container(&name, Some(options.build())).await }
    })
    .await
}

/// `berth restart`
pub async fn restart(client: &Client, args: StopArgs) -> Result<i32> {
    each(client, &args.containers, |docker, name| {
        let mut options = RestartContainerOptionsBuilder::new();
        if let Some(t) = args.time {
            options = options.t(t);
        }
        if let Some(s) = &args.signal {
            options = options.signal(s);
        }
        async move { docker.restart_container(&name, Some(options.build())).await }
    })
    .await
}

/// `berth kill`
pub async fn kill(client: &Client, args: KillArgs) -> Result<i32> {
    each(client, &args.containers, |docker, name| {
        let options = KillContainerOptionsBuilder::new()
            .signal(&args.signal)
            .build();
        async move { docker.kill_container(&name, Some(options)).await }
    })
    .await
}

/// `berth rm`
pub async fn rm(client: &Client, args: RmArgs) -> Result<i32> {
    each(client, &args.containers, |docker, name| {
        let options = RemoveContainerOptionsBuilder::new()
            .force(args.force)
            .v(args.volumes)
            .build();
        async move { docker.remove_container(&name, Some(options)).await }
    })
    .await
}

/// Waits for `name` to stop (`not-running`) and returns its exit code.
pub async fn wait_exit_code(docker: &Docker, name: &str) -> Result<i64, DockerError> {
    let options = WaitContainerOptionsBuilder::new()
        .condition("not-running")
        .build();
    let mut stream = docker.wait_container(name, Some(options));
    match stream.next().await {
        Some(Ok(resp)) => Ok(resp.status_code),
        // bollard reports a non-zero exit as an error; for us it is just the code.
        Some(Err(DockerError::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(e),
        None => Err(DockerError::DockerStreamError {
            error: "wait ended without a status".into(),
        }),
    }
}

/// `berth wait`: one exit code per line.
pub async fn wait(client: &Client, args: WaitArgs) -> Result<i32> {
    let docker = client.docker()?;
    let mut code = 0;
    for name in &args.containers {
        match wait_exit_code(&docker, name).await {
            Ok(c) => println!("{c}"),
            Err(e) => {
                eprintln!("{}", client.describe(&e.into()));
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `berth attach`: streams a running container and returns its exit code.
pub async fn attach(client: &Client, args: AttachArgs) -> Result<i32> {
    let docker = client.docker()?;
    let info = docker.inspect_container(&args.container, None).await?;
    let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
    if !running {
        bail!("You cannot attach to a stopped container, start it first");
    }
    let config = info.config.unwrap_or_default();
    let id = info.id.unwrap_or_else(|| args.container.clone());
    let session = Session {
        stdin: !args.no_stdin && config.open_stdin.unwrap_or(false),
        tty: config.tty.unwrap_or(false),
        condition: "not-running",
        start: false,
        sig_proxy: args.sig_proxy,
    };
    match attached_session(client, &docker, &id, session).await {
        Ok(code) => Ok(code),
        Err(Failure::Start(e) | Failure::Other(e)) => Err(e),
    }
}

/// `berth logs`: stdout frames to stdout, stderr frames to stderr (a TTY's bytes as they are).
/// The times keep their fractions, as docker's client sends them.
pub async fn logs(client: &Client, args: LogsArgs) -> Result<i32> {
    let now = chrono::Utc::now().timestamp();
    let mut query = format!(
        "stdout=1&stderr=1&follow={}&timestamps={}&details={}&tail={}",
        args.follow,
        args.timestamps,
        args.details,
        crate::stream::escape(&args.tail)
    );
    for (key, value) in [("since", &args.since), ("until", &args.until)] {
        if let Some(v) = value {
            let at = super::events::api_timestamp(v, now)?;
            query.push_str(&format!("&{key}={at}"));
        }
    }
    let docker = client.docker()?;
    let info = docker.inspect_container(&args.container, None).await?;
    let tty = info.config.and_then(|c| c.tty).unwrap_or(false);
    let id = info.id.unwrap_or_else(|| args.container.clone());
    let path = format!("/containers/{}/logs?{query}", crate::stream::escape(&id));
    let mut body = client.get_stream(&path).await?;
    let mut frames = crate::stream::FrameDecoder::default();
    while let Some(data) = body.next().await {
        let data = data?;
        if tty {
            std::io::stdout().write_all(&data)?;
        } else {
            for (stream, payload) in frames.push(&data) {
                if stream == 2 {
                    std::io::stderr().write_all(&payload)?;
                } else {
                    std::io::stdout().write_all(&payload)?;
                }
            }
        }
        std::io::stdout().flush()?;
    }
    Ok(0)
}
