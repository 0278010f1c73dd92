//! Attached container I/O for `run`, `start -a` and `attach`: output demultiplexed to our
//! stdout/stderr (raw with a TTY) and signal forwarding; the terminal side (raw mode, size,
//! detach keys, stdin) is `terminal.rs`. It never decides exit codes.

use std::io::Write;

use anyhow::Result;
use bollard::container::{AttachContainerResults, LogOutput};
use bollard::query_parameters::{AttachContainerOptionsBuilder, KillContainerOptionsBuilder};
use bollard::Docker;
use futures_util::{Stream, StreamExt};
use tokio::task::JoinHandle;

/// Attaches to `id`'s stdout and stderr (and stdin when `stdin`), streaming from now on.
pub async fn attach(docker: &Docker, id: &str, stdin: bool) -> Result<AttachContainerResults> {
    let options = AttachContainerOptionsBuilder::new()
        .stream(true)
        .stdin(stdin)
        .stdout(true)
        .stderr(true)
        .build();
    Ok(docker.attach_container(id, Some(options)).await?)
}

/// Writes the attached stream until it ends: stdout frames (and TTY bytes) to stdout, stderr
/// frames to stderr.
pub async fn pump_output<S>(mut output: S) -> Result<()>
where
    S: Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
{
    while let Some(frame) = output.next().await {
        write_frame(frame?)?;
    }
    Ok(())
}

/// Writes one demultiplexed frame where it belongs.
fn write_frame(frame: LogOutput) -> Result<()> {
    match frame {
        LogOutput::StdErr { message } => {
            let mut err = std::io::stderr().lock();
            err.write_all(&message)?;
            err.flush()?;
        }
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            let mut out = std::io::stdout().lock();
            out.write_all(&message)?;
            out.flush()?;
        }
        LogOutput::StdIn { .. } => {}
    }
    Ok(())
}

/// Forwards SIGINT and SIGTERM to the container, as docker's `--sig-proxy` does without a TTY.
pub fn proxy_signals(docker: Docker, id: String) -> Option<JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).ok()?;
    let mut term = signal(SignalKind::terminate()).ok()?;
    Some(tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                Some(()) = int.recv() => "SIGINT",
                Some(()) = term.recv() => "SIGTERM",
                else => return,
            };
            let options = KillContainerOptionsBuilder::new().signal(name).build();
            let _ = docker.kill_container(&id, Some(options)).await;
        }
    }))
}
