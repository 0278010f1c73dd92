//! The monitor spawner: a small process (`berth-monitor --spawner MONITOR`) that starts
//! monitors for berthd.
//!
//! A fork copies the parent's descriptor table and the exec then closes every close-on-exec
//! entry one by one. berthd holds a pidfd per running container (how it learns that a monitor
//! ended), so with 1,000 running each monitor it spawned itself copied and closed 1,000
//! descriptors: 0.6 ms of CPU per start, growing with every container. The spawner's table
//! holds its socket and the three descriptors of the spawn in flight.
//!
//! Wire (a `SOCK_SEQPACKET` pair, one message each way per spawn): berthd sends the monitor
//! config's path with the monitor's stdin (the start gate), stdout (the handshake pipe) and
//! stderr (its log file) attached; the spawner answers with the first monitor process's pid in
//! decimal, or `err <message>`. That process forks the real monitor and exits at once; the
//! spawner reaps it. The spawner ends when berthd's end of the socket closes.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

use super::control::{recv_with_fds, send_with_fds};

/// How often the spawner looks for exited first processes while some are outstanding.
const REAP_EVERY: Duration = Duration::from_millis(100);

/// How long the spawner waits without a request before it gives back its pages.
const TRIM_AFTER: Duration = Duration::from_secs(1);

/// The longest config path a request carries.
const MAX_REQUEST: usize = 4096;

/// How long berthd waits for the spawner to take a request and answer; a stuck one is
/// replaced.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Why a spawn through the spawner failed.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The request never reached the spawner: nothing was spawned, another way may be tried.
    #[error("the spawner did not take the request: {0}")]
    NotSent(io::Error),
    /// The spawner took the request but did not answer: a monitor may have been spawned.
    #[error("the spawner did not answer: {0}")]
    NoAnswer(io::Error),
    /// The spawner could not start the monitor.
    #[error("{0}")]
    Refused(String),
}

/// berthd's handle on a running spawner.
pub struct Spawner {
    sock: OwnedFd,
    process: Child,
}

impl Spawner {
    /// Starts `monitor_bin` as a spawner of `monitor_bin` monitors.
    pub fn start(monitor_bin: &Path) -> io::Result<Spawner> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let limit =
            nix::sys::time::TimeVal::new(i64::try_from(ANSWER_WITHIN.as_secs()).unwrap_or(10), 0);
        nix::sys::socket::setsockopt(&ours, nix::sys::socket::sockopt::SendTimeout, &limit)?;
        nix::sys::socket::setsockopt(&ours, nix::sys::socket::sockopt::ReceiveTimeout, &limit)?;
        let process = Command::new(monitor_bin)
            .arg("--spawner")
            .arg(monitor_bin)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .spawn()?;
        Ok(Spawner {
            sock: ours,
            process,
        })
    }

    /// Spawns a monitor for the config at `config` with `stdio` as its stdin, stdout and
    /// stderr; the first process's pid. Blocking (a round trip and a spawn: well under 1 ms;
    /// `ANSWER_WITHIN` at most).
    pub fn spawn(&self, config: &Path, stdio: [&OwnedFd; 3]) -> Result<i32, SpawnError> {
        let fds = stdio.map(AsRawFd::as_raw_fd);
        send_with_fds(self.sock.as_raw_fd(), config.as_os_str().as_bytes(), &fds)
            .map_err(SpawnError::NotSent)?;
        let mut buf = [0u8; 512];
        let (n, _) =
            recv_with_fds(self.sock.as_raw_fd(), &mut buf).map_err(SpawnError::NoAnswer)?;
        if n == 0 {
            return Err(SpawnError::NoAnswer(io::Error::other("the spawner ended")));
        }
        let reply = String::from_utf8_lossy(&buf[..n]);
        if let Some(message) = reply.strip_prefix("err ") {
            return Err(SpawnError::Refused(message.to_string()));
        }
        reply
            .parse()
            .map_err(|_| SpawnError::NoAnswer(io::Error::other(format!("spawner said {reply:?}"))))
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        // Closing our end ends it; reap it so it leaves no zombie.
        let _ = nix::sys::socket::shutdown(self.sock.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        let _ = self.process.wait();
    }
}

/// The spawner's loop, in the spawner process: `sock` is its end of berthd's socket.
/// Returns the process exit code.
pub fn serve(sock: &OwnedFd, monitor_bin: &Path) -> i32 {
    let mut outstanding: Vec<Child> = Vec::new();
    let mut buf = vec![0u8; MAX_REQUEST];
    // Whether the pages of the last spawns were given back (as an idle monitor does), and
    // whether that is due before the next wait.
    let mut trimmed = false;
    let mut trim_now = false;
    loop {
        outstanding.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_)) | Err(_)));
        let wait = match (outstanding.is_empty(), trimmed || trim_now) {
            (false, _) => Some(REAP_EVERY),
            (true, false) => Some(TRIM_AFTER),
            (true, true) => None,
        };
        let timeout = wait.map_or(nix::poll::PollTimeout::NONE, |w| {
            nix::poll::PollTimeout::try_from(w).unwrap_or(nix::poll::PollTimeout::NONE)
        });
        let mut polled = [nix::poll::PollFd::new(
            sock.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        if trim_now {
            // The last thing before the wait: code run after the trim maps its pages back.
            super::trim::release_idle_memory();
            (trimmed, trim_now) = (true, false);
        }
        match nix::poll::poll(&mut polled, timeout) {
            Ok(0) => {
                trim_now = outstanding.is_empty() && !trimmed;
                continue;
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => trimmed = false,
            Err(_) => return 1,
        }
        let (n, fds) = match recv_with_fds(sock.as_raw_fd(), &mut buf) {
            Ok(got) => got,
            Err(_) => return 1,
        };
        if n == 0 {
            return 0; // berthd closed its end
        }
        let reply = match spawn_one(monitor_bin, OsStr::from_bytes(&buf[..n]), fds) {
            Ok(child) => {
                let pid = child.id().to_string();
                outstanding.push(child);
                pid
            }
            Err(e) => format!("err {e}"),
        };
        if send_with_fds(sock.as_raw_fd(), reply.as_bytes(), &[]).is_err() {
            return 1;
        }
    }
}

fn spawn_one(monitor_bin: &Path, config: &OsStr, fds: Vec<OwnedFd>) -> io::Result<Child> {
    let Ok::<[OwnedFd; 3], _>([stdin, stdout, stderr]) = fds.try_into() else {
        return Err(io::Error::other(
            "a spawn request carries three descriptors",
        ));
    };
    Command::new(monitor_bin)
        .arg(config)
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .spawn()
}

/// Where a spawner started by `berthd` finds the monitor it spawns: next to itself, as given.
pub fn monitor_from_args(args: &[std::ffi::OsString]) -> Option<PathBuf> {
    match args {
        [_, flag, bin] if flag == "--spawner" => Some(PathBuf::from(bin)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A stand-in monitor: prints its config argument, what came on its stdin, and the
    /// descriptors it has (`ls` adds one of its own to read the directory).
    const STAND_IN: &str = r#"#!/bin/sh
printf '%s %s\n' "$1" "$(cat)"
echo "to stderr" >&2
exec ls /proc/self/fd
"#;

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap()
    }

    #[test]
    fn a_spawned_process_gets_the_three_descriptors_and_nothing_else() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("monitor");
        std::fs::write(&bin, STAND_IN).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The spawner runs in a thread of the test here, on its end of the pair.
        let (ours, theirs) = pair();
        let served = {
            let bin = bin.clone();
            std::thread::spawn(move || serve(&theirs, &bin))
        };
        let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let (in_r, in_w) = pipe();
        let (out_r, out_w) = pipe();
        let err_path = dir.path().join("stderr");
        let err = OwnedFd::from(std::fs::File::create(&err_path).unwrap());
        let client = Spawner {
            sock: ours,
            process: Command::new("true").spawn().unwrap(),
        };
        let pid = client
            .spawn(Path::new("/cfg.json"), [&in_r, &out_w, &err])
            .unwrap();
        assert!(pid > 0);
        drop((in_r, out_w, err));
        let mut gate = std::fs::File::from(in_w);
        gate.write_all(b"gate").unwrap();
        drop(gate);
        let mut out = String::new();
        std::fs::File::from(out_r).read_to_string(&mut out).unwrap();
        // Its stdin, stdout and stderr, and of the spawner's descriptors only those it
        // inherited without close-on-exec (here, whatever the test harness passed us).
        let mut expected: Vec<i32> = vec![0, 1, 2];
        expected.extend(inherited_fds());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.first(), Some(&"/cfg.json gate"), "{out}");
        let mut got: Vec<i32> = lines[1..].iter().map(|l| l.parse().unwrap()).collect();
        // `ls`'s own handle on the directory: the lowest free number.
        let own = (0..).find(|n| !expected.contains(n)).unwrap();
        got.retain(|fd| *fd != own);
        expected.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, expected, "{out}");
        assert_eq!(std::fs::read_to_string(&err_path).unwrap(), "to stderr\n");
        // A request without its descriptors is refused, and the spawner goes on.
        send_with_fds(client.sock.as_raw_fd(), b"/cfg.json", &[]).unwrap();
        let mut buf = [0u8; 512];
        let (n, _) = recv_with_fds(client.sock.as_raw_fd(), &mut buf).unwrap();
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("err a spawn request carries"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        // Closing berthd's end ends it.
        drop(client);
        assert_eq!(served.join().unwrap(), 0);
    }

    /// This process's descriptors above 2 without close-on-exec.
    fn inherited_fds() -> Vec<i32> {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|fd| {
                // SAFETY: F_GETFD on a number; a closed one answers -1.
                let flags = unsafe { libc::fcntl(*fd, libc::F_GETFD) };
                *fd > 2 && flags >= 0 && flags & libc::FD_CLOEXEC == 0
            })
            .collect()
    }

    #[test]
    fn a_request_not_taken_and_one_not_answered_are_told_apart() {
        let null = || OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        let (a, b, c) = (null(), null(), null());
        // A spawner that is gone: the request never reaches it, another way is safe.
        let (ours, theirs) = pair();
        drop(theirs);
        let gone = Spawner {
            sock: ours,
            process: Command::new("true").spawn().unwrap(),
        };
        let e = gone.spawn(Path::new("/c.json"), [&a, &b, &c]).unwrap_err();
        assert!(matches!(e, SpawnError::NotSent(_)), "{e}");
        // One that takes the request and ends without a word: a monitor may exist.
        let (ours, theirs) = pair();
        let mute = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            let _ = recv_with_fds(theirs.as_raw_fd(), &mut buf);
        });
        let silent = Spawner {
            sock: ours,
            process: Command::new("true").spawn().unwrap(),
        };
        let e = silent
            .spawn(Path::new("/c.json"), [&a, &b, &c])
            .unwrap_err();
        assert!(matches!(e, SpawnError::NoAnswer(_)), "{e}");
        mute.join().unwrap();
    }

    #[test]
    fn only_the_spawner_flag_with_a_path_makes_a_spawner() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            monitor_from_args(&args(&["berth-monitor", "--spawner", "/bin/m"])),
            Some(PathBuf::from("/bin/m"))
        );
        assert_eq!(
            monitor_from_args(&args(&["berth-monitor", "/c.json"])),
            None
        );
        assert_eq!(
            monitor_from_args(&args(&["berth-monitor", "--spawner"])),
            None
        );
    }
}
