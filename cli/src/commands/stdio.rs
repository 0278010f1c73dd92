//! Attached container I/O for `run`, `start -a` and `attach`: output demultiplexed to our
//! stdout/stderr (raw with a TTY), stdin forwarded then half-closed, terminal raw mode, TTY size
//! and signal forwarding. It never decides exit codes.

use std::io::{IsTerminal, Write};
use std::pin::Pin;

use anyhow::Result;
use bollard::container::{AttachContainerResults, LogOutput};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, KillContainerOptionsBuilder, ResizeContainerTTYOptionsBuilder,
};
use bollard::Docker;
use futures_util::{Stream, StreamExt};
use nix::sys::termios::{self, SetArg, Termios};
use tokio::io::{AsyncWrite, AsyncWriteExt};
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

/// Copies our stdin into the container, then half-closes so the process sees end of input.
pub fn forward_stdin(mut input: Pin<Box<dyn AsyncWrite + Send>>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        // A failed copy means the container went away; its exit code tells the user more.
        let _ = tokio::io::copy(&mut stdin, &mut input).await;
        let _ = input.shutdown().await;
    })
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
pub fn write_frame(frame: LogOutput) -> Result<()> {
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

/// Our terminal in raw mode while a TTY container is attached; restores it on drop.
pub struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    /// Puts stdin in raw mode when it is a terminal; None otherwise or when that fails.
    pub fn enable() -> Option<Self> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(Self { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

/// Sizes the container's TTY like our terminal, when stdout is one.
pub async fn resize_tty(docker: &Docker, id: &str) {
    let Some((rows, cols)) = terminal_size() else {
        return;
    };
    let options = ResizeContainerTTYOptionsBuilder::new()
        .h(rows.into())
        .w(cols.into())
        .build();
    // Like docker, a failed resize is not worth failing the run for.
    let _ = docker.resize_container_tty(id, options).await;
}

fn terminal_size() -> Option<(u16, u16)> {
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    let mut size = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the valid, exclusively borrowed `size`; fd 1
    // stays open for the call.
    let rc = unsafe { nix::libc::ioctl(1, nix::libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_row > 0).then_some((size.ws_row, size.ws_col))
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
