//! The event loop's client connections: the request line, then stdin bytes, resize and exec
//! requests. Split from `mod.rs`, which owns the loop, output and reaping.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use super::{Conn, ConnState, Exec, State};
use crate::runtime::control::{self, Reply, Request};

impl State {
    pub(super) fn accept(&mut self) {
        while let Ok((stream, _)) = self.parts.control.accept() {
            self.conns.push(Conn {
                stream,
                state: ConnState::Header,
                done: false,
            });
        }
    }

    // Out of line for its buffer, as `copy_output`.
    #[inline(never)]
    pub(super) fn read_conn(&mut self, i: usize) {
        if matches!(self.conns[i].state, ConnState::Header) {
            self.read_request(i);
            return;
        }
        let mut buf = [0u8; 32 * 1024];
        let conn = &mut self.conns[i];
        let n = match conn.stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            Err(_) => 0,
        };
        if let ConnState::Stdin { pending, eof } = &mut conn.state {
            if n == 0 {
                *eof = true;
            } else {
                pending.extend_from_slice(&buf[..n]);
            }
        }
        self.flush_stdin();
    }

    #[inline(never)]
    fn read_request(&mut self, i: usize) {
        let mut buf = [0u8; 8192];
        let received = control::recv_with_fds(self.conns[i].stream.as_raw_fd(), &mut buf);
        let parsed = received.and_then(|(n, fds)| Ok((control::parse_request(&buf[..n])?, fds)));
        let ((req, rest), fds) = match parsed {
            Ok(p) => p,
            Err(_) => {
                self.conns[i].done = true;
                return;
            }
        };
        match req {
            Request::Stdin if self.parts.stdin.is_some() => {
                self.conns[i].state = ConnState::Stdin {
                    pending: rest,
                    eof: false,
                };
                self.flush_stdin();
            }
            Request::Stdin => self.conns[i].done = true,
            Request::Resize { height, width } => {
                let reply = match &self.parts.terminal {
                    Some(t) => match control::set_window_size(t.as_raw_fd(), height, width) {
                        Ok(()) => Reply::Done,
                        Err(e) => Reply::Failed {
                            message: format!("resize: {e}"),
                        },
                    },
                    None => Reply::Done,
                };
                let conn = &mut self.conns[i];
                let _ = conn.stream.write_all(&control::line(&reply));
                conn.done = true;
            }
            Request::Exec {
                id,
                process,
                console_socket,
                exit_path,
            } => self.start_exec(i, &id, &process, console_socket, exit_path, fds),
        }
    }

    fn start_exec(
        &mut self,
        i: usize,
        exec_id: &str,
        process: &std::path::Path,
        console: Option<PathBuf>,
        exit_path: PathBuf,
        fds: Vec<OwnedFd>,
    ) {
        // libcontainer's helpers for this exec are children no pidfd watches.
        self.unwatched = true;
        let started = crate::runtime::exec_spawn::spawn(
            &self.parts.runtime_root,
            &self.parts.id,
            self.parts.seccomp.clone(),
            process,
            console.as_deref(),
            fds,
        )
        .and_then(|pid| {
            crate::runtime::pidfd::open(pid)
                .map(|fd| (pid, fd))
                .map_err(|e| format!("watch exec {exec_id}: {e}"))
        });
        let conn = &mut self.conns[i];
        conn.done = true;
        match started {
            Ok((pid, pidfd)) => {
                let _ = conn
                    .stream
                    .write_all(&control::line(&Reply::Started { pid }));
                let Ok(reply_to) = conn.stream.try_clone() else {
                    return;
                };
                self.execs.push(Some(Exec {
                    pid,
                    pidfd,
                    reply_to,
                    exit_path,
                }));
            }
            Err(message) => {
                let _ = conn
                    .stream
                    .write_all(&control::line(&Reply::Failed { message }));
            }
        }
    }

    pub(super) fn flush_stdin(&mut self) {
        let Some(target) = self.parts.stdin.as_ref() else {
            return;
        };
        let mut broken = false;
        let mut close_stdin = false;
        for conn in self.conns.iter_mut() {
            let ConnState::Stdin { pending, eof } = &mut conn.state else {
                continue;
            };
            while !pending.is_empty() && !broken {
                // SAFETY: writes from a live buffer to an fd we own; the length is the buffer's.
                let n = unsafe {
                    libc::write(target.as_raw_fd(), pending.as_ptr().cast(), pending.len())
                };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::WouldBlock
                        && e.kind() != io::ErrorKind::Interrupted
                    {
                        broken = true;
                    }
                    break;
                }
                pending.drain(..usize::try_from(n).unwrap_or(0));
            }
            if *eof && pending.is_empty() {
                conn.done = true;
                close_stdin |= self.parts.stdin_once;
            }
        }
        if broken || close_stdin {
            // Either the container closed its stdin, or the first client of a `StdinOnce`
            // container half-closed: the container sees EOF (a terminal stays open).
            if self.parts.terminal.is_none() || broken {
                self.parts.stdin = None;
            }
            for conn in self.conns.iter_mut() {
                if matches!(conn.state, ConnState::Stdin { .. })
                    && (broken || self.parts.stdin.is_none())
                {
                    conn.done = true;
                }
            }
        }
    }
}
