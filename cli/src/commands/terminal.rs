//! The local terminal during an attached TTY session (`run -it`, `attach`, `exec -it`): raw mode,
//! its size sent at start and on SIGWINCH, and docker's detach keys (ctrl-p ctrl-q) spotted in
//! what we forward. It never decides exit codes; callers restore the terminal by dropping it.

use std::io::IsTerminal;
use std::pin::Pin;

use anyhow::Result;
use bollard::container::LogOutput;
use bollard::query_parameters::{ResizeContainerTTYOptionsBuilder, ResizeExecOptionsBuilder};
use bollard::Docker;
use futures_util::Stream;
use nix::sys::termios::{self, SetArg, Termios};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

/// Docker's default detach sequence: ctrl-p, ctrl-q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

/// Our terminal in raw mode while a TTY session is attached; restores it on drop.
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

/// `(rows, columns)` of our terminal, when stdout is one.
pub fn terminal_size() -> Option<(u16, u16)> {
    if !std::io::stdout().is_terminal() {
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

/// Whose TTY a resize goes to.
#[derive(Debug, Clone)]
pub enum TtyOwner {
    /// `POST /containers/{id}/resize`
    Container(String),
    /// `POST /exec/{id}/resize`
    Exec(String),
}

/// Sends our terminal's size to the TTY, if we have one; failures are ignored as docker does.
pub async fn resize(docker: &Docker, owner: &TtyOwner) {
    let Some((rows, cols)) = terminal_size() else {
        return;
    };
    let (h, w) = (i32::from(rows), i32::from(cols));
    let _ = match owner {
        TtyOwner::Container(id) => {
            let options = ResizeContainerTTYOptionsBuilder::new().h(h).w(w).build();
            docker.resize_container_tty(id, options).await
        }
        TtyOwner::Exec(id) => {
            let options = ResizeExecOptionsBuilder::new().h(h).w(w).build();
            docker.resize_exec(id, options).await
        }
    };
}

/// Resizes now and again on every SIGWINCH until aborted.
pub fn watch_size(docker: Docker, owner: TtyOwner) -> JoinHandle<()> {
    tokio::spawn(async move {
        resize(&docker, &owner).await;
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while winch.recv().await.is_some() {
            resize(&docker, &owner).await;
        }
    })
}

/// Finds the detach sequence in a byte stream, holding back a partial match until it is decided,
/// as docker's escape proxy does.
#[derive(Debug)]
pub struct DetachScanner {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachScanner {
    /// A scanner for `keys` (an empty sequence never detaches).
    pub fn new(keys: &[u8]) -> Self {
        Self {
            keys: keys.to_vec(),
            matched: 0,
        }
    }

    /// Feeds `input`; returns the bytes to forward now and whether the sequence was completed
    /// (bytes after it are dropped: the session ends there).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return (out, false);
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            // A broken partial match goes through as typed.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// Copies stdin into the session, watching for `keys` when given; half-closes at end of input.
/// The handle yields true when the user typed the detach sequence.
pub fn forward_stdin(
    mut input: Pin<Box<dyn AsyncWrite + Send>>,
    keys: Option<&[u8]>,
) -> JoinHandle<bool> {
    let mut scanner = DetachScanner::new(keys.unwrap_or_default());
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let (out, detached) = scanner.feed(&buf[..n]);
            // A failed write means the process went away; its exit code tells the user more.
            if input.write_all(&out).await.is_err() || input.flush().await.is_err() {
                return false;
            }
            if detached {
                return true;
            }
        }
        let _ = input.shutdown().await;
        false
    })
}

/// How an attached stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The output stream closed (the process exited or the daemon ended it).
    Closed,
    /// The user typed the detach keys.
    Detached,
}

/// Writes output until the stream ends or stdin forwarding reports a detach.
pub async fn pump_until_detach<S>(output: S, input: Option<&mut JoinHandle<bool>>) -> Result<Ended>
where
    S: Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
{
    let pump = super::stdio::pump_output(output);
    tokio::pin!(pump);
    let Some(input) = input else {
        pump.await?;
        return Ok(Ended::Closed);
    };
    tokio::select! {
        done = &mut pump => { done?; return Ok(Ended::Closed); }
        detached = input => {
            if matches!(detached, Ok(true)) {
                return Ok(Ended::Detached);
            }
        }
    }
    pump.await?;
    Ok(Ended::Closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_sequence_is_found_and_not_forwarded() {
        let mut s = DetachScanner::new(DEFAULT_DETACH_KEYS);
        assert_eq!(s.feed(b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(s.feed(&[b'a', 0x10, 0x11, b'z']), (b"a".to_vec(), true));
    }

    #[test]
    fn detach_sequence_split_across_reads_still_detaches() {
        let mut s = DetachScanner::new(DEFAULT_DETACH_KEYS);
        assert_eq!(s.feed(&[b'x', 0x10]), (b"x".to_vec(), false));
        assert_eq!(s.feed(&[0x11]), (Vec::new(), true));
    }

    #[test]
    fn broken_partial_sequence_is_forwarded_as_typed() {
        let mut s = DetachScanner::new(DEFAULT_DETACH_KEYS);
        assert_eq!(s.feed(&[0x10, b'q']), (vec![0x10, b'q'], false));
        assert_eq!(s.feed(&[0x10, 0x10, 0x11]), (vec![0x10], true));
    }

    #[test]
    fn empty_detach_keys_forward_everything() {
        let mut s = DetachScanner::new(&[]);
        assert_eq!(s.feed(&[0x10, 0x11]), (vec![0x10, 0x11], false));
    }
}
