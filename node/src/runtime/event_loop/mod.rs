//! The monitor's single-threaded event loop, from the container's start to its end: it copies
//! output into the log, feeds stdin from attached clients, answers control requests (exec,
//! resize) and reaps the init and the execs through pidfds. One thread on purpose: libcontainer
//! forks for every exec, and a fork taken while another thread holds a lock would deadlock.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

mod conns;

use super::control::{self, Reply};
use super::logfile::{LineSplitter, LogWriter, Stream};

/// After the init ended, how long output may still drain and execs still be reaped.
const DRAIN: Duration = Duration::from_secs(2);
/// How often the loop looks for exited children even when nothing else happened, while a
/// child that no pidfd watches is alive.
const REAP_INTERVAL: Duration = Duration::from_secs(1);
/// How long the container runs before the monitor drops its start-up pages: a container that
/// ends sooner (`run --rm x true`) would only fault them back in on its exit path.
const TRIM_AFTER: Duration = Duration::from_millis(250);

/// What the loop starts with, set up by the monitor.
pub struct Parts {
    pub log: LogWriter,
    pub init_pid: i32,
    /// Output to log: stdout and stderr pipes, or the terminal master (as stdout).
    pub outputs: Vec<(Stream, OwnedFd)>,
    /// The container's stdin (pipe write end or terminal master), when it has one.
    pub stdin: Option<OwnedFd>,
    pub stdin_once: bool,
    /// The terminal master, for resize requests.
    pub terminal: Option<OwnedFd>,
    pub control: UnixListener,
    /// What exec needs to find the container in libcontainer's state.
    pub runtime_root: PathBuf,
    pub id: String,
    /// The container's seccomp filter, which execs get too.
    pub seccomp: Option<crate::runtime::seccomp_bpf::Filter>,
}

struct Output {
    fd: File,
    lines: LineSplitter,
}

enum ConnState {
    /// Accepted; the request line has not come yet.
    Header,
    /// Feeding stdin; `pending` waits for the pipe to take it, `eof` once the client half-closed.
    Stdin { pending: Vec<u8>, eof: bool },
}

struct Conn {
    stream: UnixStream,
    state: ConnState,
    done: bool,
}

struct Exec {
    pid: i32,
    pidfd: OwnedFd,
    reply_to: UnixStream,
    exit_path: PathBuf,
}

#[derive(Clone, Copy)]
enum Token {
    Init,
    Output(usize),
    Control,
    Conn(usize),
    StdinWritable,
    Exec,
}

struct State {
    parts: Parts,
    init_pidfd: Option<OwnedFd>,
    outputs: Vec<Option<Output>>,
    conns: Vec<Conn>,
    execs: Vec<Option<Exec>>,
    init_exit: Option<(i64, Instant)>,
    /// When to drop the start-up pages; `None` once done.
    trim_at: Option<Instant>,
    /// A child other than the init and the execs may be alive (libcontainer's helpers), so the
    /// loop wakes every `REAP_INTERVAL`; see `timeout_ms`.
    unwatched: bool,
}

/// Runs until the init has exited and its output is drained; returns the init's exit code
/// (128+signal when killed).
pub fn run(mut parts: Parts) -> io::Result<i64> {
    let init_pidfd = super::pidfd::open(parts.init_pid)?;
    let is_terminal = parts.terminal.is_some();
    let outputs = parts
        .outputs
        .drain(..)
        .map(|(stream, fd)| {
            let lines = if is_terminal {
                LineSplitter::unbuffered(stream)
            } else {
                LineSplitter::new(stream)
            };
            Some(Output {
                fd: File::from(fd),
                lines,
            })
        })
        .collect();
    let mut st = State {
        parts,
        init_pidfd: Some(init_pidfd),
        outputs,
        conns: Vec::new(),
        execs: Vec::new(),
        init_exit: None,
        trim_at: Some(Instant::now() + TRIM_AFTER),
        unwatched: true,
    };
    st.parts.control.set_nonblocking(true)?;
    if let Some(fd) = &st.parts.stdin {
        set_nonblocking(fd.as_raw_fd())?;
    }
    while !st.finished() {
        let (tokens, mut fds) = st.poll_set();
        // Once quiet: after the first look for unwatched children (a second in), whose code
        // would otherwise stay mapped; and the last thing before the wait, as any code run
        // after the trim maps its pages back.
        if !st.unwatched && st.trim_at.is_some_and(|at| Instant::now() >= at) {
            st.trim_at = None;
            if st.init_exit.is_none() {
                super::trim::release_idle_memory();
            }
        }
        let timeout = st.timeout_ms();
        let nfds = libc::nfds_t::try_from(fds.len()).unwrap_or(0);
        // SAFETY: `fds` is a live, correctly sized array of pollfd for the whole call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), nfds, timeout) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for (tok, pfd) in tokens.iter().zip(&fds) {
            if pfd.revents != 0 {
                st.handle(*tok);
            }
        }
        st.conns.retain(|c| !c.done);
        st.reap_all();
        if st.unwatched && n == 0 {
            st.unwatched = st.has_unwatched_children();
        }
    }
    st.finish()
}

impl State {
    fn finished(&self) -> bool {
        match self.init_exit {
            None => false,
            Some((_, at)) => {
                let drained = self.outputs.iter().all(Option::is_none)
                    && self.execs.iter().all(Option::is_none);
                drained || at.elapsed() >= DRAIN
            }
        }
    }

    fn timeout_ms(&self) -> i32 {
        match self.init_exit {
            // Wake up now and then to reap children nobody watches: a failed exec's helpers
            // exit without a pidfd here, and a zombie left in the container's pid namespace
            // would keep its init from ever finishing its exit.
            //
            // Only while such a child lives: a thousand idle monitors each waking every second
            // took CPU from every start on the machine.
            None => {
                let reap = self.unwatched.then_some(REAP_INTERVAL);
                let trim = self
                    .trim_at
                    .filter(|_| !self.unwatched)
                    .map(|at| at.saturating_duration_since(Instant::now()));
                reap.into_iter()
                    .chain(trim)
                    .min()
                    .map_or(-1, |wait| i32::try_from(wait.as_millis()).unwrap_or(1000))
            }
            Some((_, at)) => {
                let left = DRAIN.saturating_sub(at.elapsed()).as_millis();
                i32::try_from(left).unwrap_or(i32::MAX)
            }
        }
    }

    fn poll_set(&self) -> (Vec<Token>, Vec<libc::pollfd>) {
        let mut tokens = Vec::new();
        let mut fds = Vec::new();
        let mut add = |tok: Token, fd: RawFd, events: libc::c_short| {
            tokens.push(tok);
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
        };
        if let Some(fd) = &self.init_pidfd {
            add(Token::Init, fd.as_raw_fd(), libc::POLLIN);
        }
        for (i, out) in self.outputs.iter().enumerate() {
            if let Some(out) = out {
                add(Token::Output(i), out.fd.as_raw_fd(), libc::POLLIN);
            }
        }
        if self.init_exit.is_none() {
            add(Token::Control, self.parts.control.as_raw_fd(), libc::POLLIN);
        }
        let mut stdin_blocked = false;
        for (i, c) in self.conns.iter().enumerate() {
            match &c.state {
                ConnState::Stdin { pending, .. } if !pending.is_empty() => stdin_blocked = true,
                ConnState::Stdin { eof: true, .. } => {}
                _ => add(Token::Conn(i), c.stream.as_raw_fd(), libc::POLLIN),
            }
        }
        if let (true, Some(fd)) = (stdin_blocked, &self.parts.stdin) {
            add(Token::StdinWritable, fd.as_raw_fd(), libc::POLLOUT);
        }
        for e in self.execs.iter().flatten() {
            add(Token::Exec, e.pidfd.as_raw_fd(), libc::POLLIN);
        }
        (tokens, fds)
    }

    fn handle(&mut self, tok: Token) {
        match tok {
            // Exits are collected by `reap_all` after every round.
            Token::Init | Token::Exec => {}
            Token::Output(i) => self.copy_output(i),
            Token::Control => self.accept(),
            Token::Conn(i) => self.read_conn(i),
            Token::StdinWritable => self.flush_stdin(),
        }
    }

    /// Reaps every exited child: the init, execs, and helpers libcontainer left behind.
    fn reap_all(&mut self) {
        // __WALL: libcontainer clones its processes without SIGCHLD as their exit signal.
        let flags = WaitPidFlag::__WALL | WaitPidFlag::WNOHANG;
        loop {
            let (pid, code) = match waitpid(None, Some(flags)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), i64::from(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid.as_raw(), 128 + sig as i64),
                Ok(WaitStatus::StillAlive) => return,
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            };
            if pid == self.parts.init_pid {
                self.init_pidfd = None;
                self.init_exit = Some((code, Instant::now()));
                continue;
            }
            let found = self
                .execs
                .iter()
                .position(|e| e.as_ref().is_some_and(|e| e.pid == pid));
            if let Some(mut exec) = found.and_then(|i| self.execs[i].take()) {
                record_exec_exit(&mut exec, code);
            }
        }
    }

    /// Whether a child other than the init and the running execs is alive, from the kernel's
    /// list of this thread's children (the monitor is single-threaded). Without that list
    /// (a kernel built without it), assume so.
    fn has_unwatched_children(&self) -> bool {
        let Ok(list) = std::fs::read_to_string("/proc/thread-self/children") else {
            return true;
        };
        let watched = |pid: i32| {
            pid == self.parts.init_pid && self.init_exit.is_none()
                || self.execs.iter().flatten().any(|e| e.pid == pid)
        };
        children_outside(&list, watched)
    }

    // Not inlined, like the connection reads: their buffers would make the loop's own frame
    // ~100 KiB, all of it touched at its start (the stack probe) and kept mapped while the
    // container idles; out of line, the pages go with the trim until output comes.
    #[inline(never)]
    fn copy_output(&mut self, i: usize) {
        let Some(out) = self.outputs[i].as_mut() else {
            return;
        };
        let mut buf = [0u8; 64 * 1024];
        match out.fd.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => {
                let _ = out.lines.feed(&self.parts.log, &buf[..n]);
                return;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return
            }
            // A terminal master reads EIO once every slave is closed: that is its EOF.
            Err(_) => {}
        }
        let _ = out.lines.finish(&self.parts.log);
        self.outputs[i] = None;
    }

    fn finish(mut self) -> io::Result<i64> {
        for out in self.outputs.iter_mut().flatten() {
            let _ = out.lines.finish(&self.parts.log);
        }
        self.reap_all();
        for mut exec in self.execs.drain(..).flatten() {
            // Still not reaped after the drain: it was killed with the container's namespace.
            record_exec_exit(&mut exec, 137);
        }
        Ok(self.init_exit.map_or(255, |(code, _)| code))
    }
}

/// Whether `list` (space-separated pids) names a pid that `watched` does not.
fn children_outside(list: &str, watched: impl Fn(i32) -> bool) -> bool {
    list.split_whitespace()
        .any(|p| p.parse::<i32>().map_or(true, |pid| !watched(pid)))
}

fn record_exec_exit(exec: &mut Exec, exit_code: i64) {
    // The daemon waits on the reply; the file is only for a daemon that was not listening.
    let _ = exec
        .reply_to
        .write_all(&control::line(&Reply::Exited { exit_code }));
    let _ = super::files::write_json_replace(&exec.exit_path, &ExecExit { exit_code });
}

/// What the monitor records when an exec ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecExit {
    pub exit_code: i64,
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL on an fd we own; no memory is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::children_outside;

    #[test]
    fn only_children_nobody_watches_keep_the_loop_waking() {
        let watched = |pid: i32| pid == 10 || pid == 12;
        assert!(!children_outside("", watched));
        assert!(!children_outside("10 12 ", watched));
        assert!(children_outside("10 11 12 ", watched));
        assert!(
            children_outside("10 junk", watched),
            "unreadable: assume one"
        );
    }
}
