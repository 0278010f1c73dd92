//! One exec start, the daemon's side of the wire: makes the exec's stdio (pipes, or a terminal
//! whose master libcontainer sends back), asks the container's monitor to start the process, and
//! pumps output to the client until the process has exited and its output is drained.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::ExecEntry;
use crate::engine::container::logs::LogChunk;
use crate::error::{EngineError, Result};
use crate::runtime::control::{self, Reply, Request};
use crate::runtime::logfile::Stream;

/// How long the monitor may take to start an exec.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What to ask the monitor for.
pub struct Plan {
    pub control_socket: PathBuf,
    pub console_socket: PathBuf,
    pub process: PathBuf,
    pub exit_path: PathBuf,
    pub tty: bool,
    pub stdin: bool,
    /// Output goes to the client (not detached, and asked for).
    pub stdout: bool,
    pub stderr: bool,
}

/// The daemon's ends of a started exec.
pub struct Started {
    pub pid: i32,
    /// The control connection, which carries the exit.
    pub conn: UnixStream,
    /// Output to pump: stdout/stderr pipes, or the terminal master as stdout.
    pub outputs: Vec<(Stream, File)>,
    /// Where the client's input goes: a pipe, or the terminal master.
    pub stdin: Option<File>,
    /// The terminal master, for resize.
    pub terminal: Option<OwnedFd>,
}

/// Starts the exec; blocking (run it on a blocking thread). `Ok(Err(message))` is a process that
/// could not be started (a missing executable), which Docker reports as the exec's outcome.
pub fn start(plan: &Plan, exec_id: &str) -> Result<std::result::Result<Started, String>> {
    let io = |ctx: &str, e: io::Error| EngineError::io(format!("exec {exec_id}: {ctx}"), e);
    let console = if plan.tty {
        let _ = std::fs::remove_file(&plan.console_socket);
        Some(UnixListener::bind(&plan.console_socket).map_err(|e| io("console socket", e))?)
    } else {
        None
    };
    let mut ours = Vec::new();
    let mut theirs: Vec<OwnedFd> = Vec::new();
    if !plan.tty {
        let null = || File::options().read(true).write(true).open("/dev/null");
        if plan.stdin {
            let (r, w) = io::pipe().map_err(|e| io("pipe", e))?;
            theirs.push(r.into());
            ours.push(Some(OwnedFd::from(w)));
        } else {
            theirs.push(null().map_err(|e| io("open /dev/null", e))?.into());
            ours.push(None);
        }
        for wanted in [plan.stdout, plan.stderr] {
            if wanted {
                let (r, w) = io::pipe().map_err(|e| io("pipe", e))?;
                theirs.push(w.into());
                ours.push(Some(OwnedFd::from(r)));
            } else {
                theirs.push(null().map_err(|e| io("open /dev/null", e))?.into());
                ours.push(None);
            }
        }
    }
    let conn = UnixStream::connect(&plan.control_socket)
        .map_err(|e| io("reach the container's monitor", e))?;
    conn.set_read_timeout(Some(START_TIMEOUT))
        .map_err(|e| io("control socket", e))?;
    let req = Request::Exec {
        id: exec_id.to_string(),
        process: plan.process.clone(),
        console_socket: plan.tty.then(|| plan.console_socket.clone()),
        exit_path: plan.exit_path.clone(),
    };
    let raw: Vec<i32> = theirs.iter().map(AsRawFd::as_raw_fd).collect();
    control::send_with_fds(conn.as_raw_fd(), &control::line(&req), &raw)
        .map_err(|e| io("send request", e))?;
    // The process has its copies now; ours would keep its pipes from ever reaching EOF.
    drop(theirs);
    let reply = read_reply(&conn).map_err(|e| io("read the monitor's reply", e))?;
    let pid = match reply {
        Reply::Started { pid } => pid,
        Reply::Failed { message } => return Ok(Err(message)),
        other => {
            return Err(EngineError::Runtime(format!(
                "exec {exec_id}: unexpected reply {other:?}"
            )))
        }
    };
    conn.set_read_timeout(None)
        .map_err(|e| io("control socket", e))?;
    let mut started = Started {
        pid,
        conn,
        outputs: Vec::new(),
        stdin: None,
        terminal: None,
    };
    if let Some(listener) = console {
        let master = control::receive_console(&listener).map_err(|e| io("receive terminal", e));
        let _ = std::fs::remove_file(&plan.console_socket);
        let master = master?;
        let dup = |fd: &OwnedFd| {
            fd.try_clone()
                .map(File::from)
                .map_err(|e| io("dup terminal", e))
        };
        started.outputs.push((Stream::Stdout, dup(&master)?));
        if plan.stdin {
            started.stdin = Some(dup(&master)?);
        }
        started.terminal = Some(master);
        return Ok(Ok(started));
    }
    let mut ours = ours.into_iter();
    started.stdin = ours.next().flatten().map(File::from);
    for stream in [Stream::Stdout, Stream::Stderr] {
        if let Some(fd) = ours.next().flatten() {
            started.outputs.push((stream, File::from(fd)));
        }
    }
    Ok(Ok(started))
}

fn read_reply(conn: &UnixStream) -> io::Result<Reply> {
    let mut line = String::new();
    // One byte at a time: the exit reply that follows must stay in the socket for the waiter.
    let mut byte = [0u8; 1];
    let mut reader = conn;
    loop {
        match reader.read(&mut byte)? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "monitor closed the connection",
                ))
            }
            _ if byte[0] == b'\n' => break,
            _ => line.push(char::from(byte[0])),
        }
    }
    serde_json::from_str(&line).map_err(io::Error::other)
}

/// Waits (blocking) for the monitor to report the exit; if the connection breaks, the exit the
/// monitor recorded on disk, or 255 when there is none.
pub fn wait_exit(conn: UnixStream, exit_path: &Path) -> i64 {
    let mut lines = BufReader::new(conn).lines();
    while let Some(Ok(line)) = lines.next() {
        if let Ok(Reply::Exited { exit_code }) = serde_json::from_str(&line) {
            return exit_code;
        }
    }
    crate::runtime::files::read_json::<crate::runtime::event_loop::ExecExit>(exit_path)
        .ok()
        .flatten()
        .map_or(255, |e| e.exit_code)
}

/// Copies the exec's output into a channel until every stream ended and the exit is known, then
/// records the exit in `entry` and closes the channel.
pub fn pump(
    entry: Arc<ExecEntry>,
    outputs: Vec<(Stream, File)>,
    conn: UnixStream,
    exit_path: PathBuf,
    on_exit: Box<dyn FnOnce(i64) + Send>,
) -> mpsc::Receiver<LogChunk> {
    let (tx, rx) = mpsc::channel(64);
    let (exit_tx, exit_rx) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let _ = exit_tx.send(wait_exit(conn, &exit_path));
    });
    let readers: Vec<_> = outputs
        .into_iter()
        .map(|(stream, file)| {
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || copy_out(stream, file, &tx))
        })
        .collect();
    tokio::spawn(async move {
        for r in readers {
            let _ = r.await;
        }
        let code = exit_rx.await.unwrap_or(255);
        entry.update(|s| {
            s.running = false;
            s.exit_code = Some(code);
        });
        if let Ok(mut t) = entry.terminal.lock() {
            *t = None;
        }
        on_exit(code);
        drop(tx);
    });
    rx
}

fn copy_out(stream: Stream, mut file: File, tx: &mpsc::Sender<LogChunk>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let chunk = LogChunk {
                    stream,
                    bytes: buf[..n].to_vec(),
                    starts: Vec::new(),
                };
                // A client that went away still lets the process run; keep draining.
                let _ = tx.blocking_send(chunk);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A terminal master reads EIO once the process and its children closed the slave.
            Err(_) => return,
        }
    }
}
