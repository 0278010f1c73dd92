//! The monitor: one small process per running container. It mounts the rootfs, starts the
//! container through libcontainer, hands over to the event loop (output, stdin, exec, reaping),
//! records the exit and cleans up. It outlives berthd (it is re-parented away from it), which makes live restore work.
//! It stays single-threaded (libcontainer forks for every exec) and must not start tokio.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::signal::SigHandler;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, pipe2, setsid, ForkResult, Pid};

use super::event_loop::Parts;
use super::files::write_json_replace;
use super::launch;
use super::logfile::{LogWriter, Stream};
use super::overlay::{mount_overlay, Writes};
use super::{ExitRecord, MonitorConfig, MonitorPids};

/// Runs the monitor for the config at `config_path`; `handshake` is the pipe to the daemon
/// (our stdout), which gets `ok` or `err <message>` once; `gate` (our stdin) says when the
/// created container may start (`runtime::launch`). Returns the process exit code.
pub fn run(config_path: &Path, handshake: File, gate: File) -> i32 {
    let cfg: MonitorConfig = match super::files::read_json(config_path) {
        Ok(Some(c)) => c,
        Ok(None) => return fail_handshake(handshake, "monitor config missing"),
        Err(e) => return fail_handshake(handshake, &format!("monitor config: {e}")),
    };
    // Leave berthd's session and become an orphan, so that neither a signal to berthd's process
    // group nor berthd's death reaches us.
    if let Err(e) = detach() {
        return fail_handshake(handshake, &format!("detach monitor: {e}"));
    }
    let (pids, parts) = match launch(&cfg, gate) {
        Ok(started) => started,
        Err(e) => {
            cleanup(&cfg);
            return fail_handshake(handshake, &e);
        }
    };
    let mut handshake = handshake;
    let _ = handshake.write_all(b"ok\n");
    drop(handshake);
    let exit_code = super::event_loop::run(parts).unwrap_or_else(|_| reap(pids.container));
    let oom_killed = oom_kills(&cfg) > 0;
    cleanup(&cfg);
    let record = ExitRecord {
        exit_code,
        oom_killed,
        finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
    };
    match write_json_replace(&cfg.exit_path, &record) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

fn fail_handshake(mut handshake: File, message: &str) -> i32 {
    let line = format!("err {}\n", message.replace('\n', " "));
    let _ = handshake.write_all(line.as_bytes());
    1
}

fn detach() -> io::Result<()> {
    setsid().map_err(io::Error::from)?;
    // SAFETY: the monitor is single-threaded here, so the child may run any code after fork.
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Parent { .. } => std::process::exit(0),
        ForkResult::Child => Ok(()),
    }
}

type Started = (MonitorPids, Parts);

fn launch(cfg: &MonitorConfig, gate: File) -> Result<Started, String> {
    mount_rootfs(cfg).map_err(|e| format!("mount rootfs: {e}"))?;
    super::mount_ns::enter_private(
        &cfg.bundle,
        &cfg.rootfs,
        &cfg.berth_dirs,
        cfg.mount_template_fd,
    )
    .map_err(|e| format!("private mount namespace: {e}"))?;
    let log = super::log_rotate::open_log(&cfg.log_path)
        .map_err(|e| format!("open log {}: {e}", cfg.log_path.display()))?;
    let _ = std::fs::remove_file(&cfg.control_socket);
    let control = UnixListener::bind(&cfg.control_socket)
        .map_err(|e| format!("control socket {}: {e}", cfg.control_socket.display()))?;
    let mut io = if cfg.tty {
        Stdio::terminal(cfg)?
    } else {
        Stdio::pipes(cfg)?
    };
    let seccomp = super::seccomp_load::prepare_init(&cfg.bundle, &cfg.seccomp_cache)?;
    // Rust ignores SIGPIPE and an ignored signal survives exec: let the container's processes
    // start with the default, as they would under Docker, and ignore it again ourselves after.
    set_sigpipe(SigHandler::SigDfl);
    let mut builder = ContainerBuilder::new(cfg.id.clone(), SyscallType::Linux)
        .with_root_path(&cfg.runtime_root)
        .map_err(|e| format!("runtime root: {e}"))?;
    builder = match io.child.take() {
        Some(ChildIo::Console(path)) => builder.with_console_socket(Some(path)),
        Some(ChildIo::Fds([stdin, stdout, stderr])) => builder
            .with_stdin(stdin)
            .with_stdout(stdout)
            .with_stderr(stderr),
        None => builder,
    };
    let built = builder
        .with_executor(super::terminal_size::SizedTerminal {
            seccomp: seccomp.as_ref().map(|p| p.filter.clone()),
            restore_caps: seccomp.as_ref().and_then(|p| p.restore_caps.clone()),
        })
        .as_init(&cfg.bundle)
        .with_systemd(false)
        .with_detach(true)
        .build();
    set_sigpipe(SigHandler::SigIgn);
    let mut container = built.map_err(|e| format!("create container: {e}"))?;
    let started = io.finish(cfg).and_then(|(outputs, stdin, terminal)| {
        start_created(cfg, &mut container, gate).map(|pids| (pids, outputs, stdin, terminal))
    });
    let (pids, outputs, stdin, terminal) = match started {
        Ok(p) => p,
        Err(e) => {
            // The init waits in its namespaces for a start that will not come: remove it.
            let _ = container.delete(true);
            return Err(e);
        }
    };
    let parts = Parts {
        log: LogWriter::rotating(log, cfg.log_path.clone(), cfg.log_rotation)
            .with_attrs(cfg.log_attrs.clone()),
        init_pid: pids.container,
        outputs,
        stdin: stdin.filter(|_| cfg.open_stdin),
        stdin_once: cfg.stdin_once,
        terminal,
        control,
        runtime_root: cfg.runtime_root.clone(),
        id: cfg.id.clone(),
        seccomp: seccomp.map(|p| p.filter),
    };
    Ok((pids, parts))
}

/// What the container's init gets as stdio: a terminal made by libcontainer inside the
/// container (its master comes back over a console socket), or pipes.
enum ChildIo {
    Console(std::path::PathBuf),
    Fds([OwnedFd; 3]),
}

/// The monitor's ends, before and after the init is created.
struct Stdio {
    /// Taken when the init is built.
    child: Option<ChildIo>,
    console: Option<UnixListener>,
    outputs: Vec<(Stream, OwnedFd)>,
    stdin: Option<OwnedFd>,
}

type Ends = (Vec<(Stream, OwnedFd)>, Option<OwnedFd>, Option<OwnedFd>);

impl Stdio {
    fn pipes(cfg: &MonitorConfig) -> Result<Self, String> {
        let pipe = || pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"));
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (stdin_r, stdin_w) = if cfg.open_stdin {
            let (r, w) = pipe()?;
            (r, Some(w))
        } else {
            let null = File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
            (OwnedFd::from(null), None)
        };
        Ok(Stdio {
            child: Some(ChildIo::Fds([stdin_r, out_w, err_w])),
            console: None,
            outputs: vec![(Stream::Stdout, out_r), (Stream::Stderr, err_r)],
            stdin: stdin_w,
        })
    }

    fn terminal(cfg: &MonitorConfig) -> Result<Self, String> {
        let _ = std::fs::remove_file(&cfg.console_socket);
        let listener = UnixListener::bind(&cfg.console_socket)
            .map_err(|e| format!("console socket {}: {e}", cfg.console_socket.display()))?;
        Ok(Stdio {
            child: Some(ChildIo::Console(cfg.console_socket.clone())),
            console: Some(listener),
            outputs: Vec::new(),
            stdin: None,
        })
    }

    /// After create: the terminal master (sent during create) or the pipe ends kept.
    fn finish(self, cfg: &MonitorConfig) -> Result<Ends, String> {
        let Some(listener) = self.console else {
            return Ok((self.outputs, self.stdin, None));
        };
        let master = super::control::receive_console(&listener)
            .map_err(|e| format!("receive terminal: {e}"));
        let _ = std::fs::remove_file(&cfg.console_socket);
        let master = master?;
        if let Some([h, w]) = cfg.console_size {
            let _ = super::control::set_window_size(master.as_raw_fd(), h, w);
        }
        let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| format!("dup terminal: {e}"));
        let output = dup(&master)?;
        let stdin = dup(&master)?;
        Ok((vec![(Stream::Stdout, output)], Some(stdin), Some(master)))
    }
}

/// `--oom-kill-disable` (cgroup v1's `memory.oom_control`), between create and start:
/// libcontainer 0.7 ignores the spec's `disableOOMKiller` and writes 0 at create.
fn disable_oom_killer(memory_dirs: &[PathBuf]) -> Result<(), String> {
    for dir in memory_dirs {
        let file = dir.join("memory.oom_control");
        if file.exists() {
            std::fs::write(&file, "1").map_err(|e| format!("disable the OOM killer: {e}"))?;
        }
    }
    Ok(())
}

fn start_created(
    cfg: &MonitorConfig,
    container: &mut Container,
    gate: File,
) -> Result<MonitorPids, String> {
    let pid = container
        .pid()
        .map(|p| p.as_raw())
        .ok_or("container has no pid")?;
    super::loopback::up_in(pid).map_err(|e| format!("bring up loopback: {e}"))?;
    if cfg.oom_kill_disable {
        disable_oom_killer(&cfg.oom_cgroup_dirs)?;
    }
    super::mount_attrs::apply_in(pid, cfg.cgroups_read_only, &cfg.bind_propagation)
        .map_err(|e| format!("set the cgroup mounts read-only and the binds' propagation: {e}"))?;
    wait_for_go(gate)?;
    container
        .start()
        .map_err(|e| format!("start container: {e}"))?;
    let pids = MonitorPids {
        monitor: std::process::id().cast_signed(),
        container: pid,
    };
    write_json_replace(&cfg.pids_path, &pids).map_err(|e| format!("record pids: {e}"))?;
    Ok(pids)
}

/// Blocks until berthd opens the gate: `g` when the container's network is set up; anything
/// else, or berthd closing it (a failed set-up, berthd gone), cancels the start.
fn wait_for_go(mut gate: File) -> Result<(), String> {
    let mut byte = [0u8; 1];
    loop {
        return match gate.read(&mut byte) {
            Ok(1) if byte[0] == launch::GO => Ok(()),
            Ok(_) => Err("start cancelled by berthd".into()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(format!("read the start gate: {e}")),
        };
    }
}

pub(super) fn set_sigpipe(handler: SigHandler) {
    // SAFETY: only the default or ignore dispositions are installed, no handler function runs.
    let _ = unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, handler) };
}

fn mount_rootfs(cfg: &MonitorConfig) -> io::Result<()> {
    let writes = Writes::To {
        upper: &cfg.upper_dir,
        work: &cfg.work_dir,
    };
    mount_overlay(&cfg.rootfs, &cfg.lower_dirs, writes)
}

/// Waits for the container's init (when the event loop could not); its exit status the way
/// Docker reports it.
fn reap(pid: i32) -> i64 {
    loop {
        // __WALL: libcontainer clones the init without SIGCHLD as its exit signal.
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Exited(_, code)) => return i64::from(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i64,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 255,
        }
    }
}

/// OOM kills recorded by the container's memory cgroup (v1 `memory.oom_control`, v2 `memory.events`).
fn oom_kills(cfg: &MonitorConfig) -> u64 {
    cfg.oom_cgroup_dirs
        .iter()
        .flat_map(|dir| ["memory.oom_control", "memory.events"].map(|f| dir.join(f)))
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                })
                .collect::<Vec<_>>()
        })
        .sum()
}

/// After the init was reaped: its cgroups, libcontainer's state, the mount. libcontainer's
/// delete would do the same, but costs tens of milliseconds on a v1 host.
fn cleanup(cfg: &MonitorConfig) {
    let _ = super::cgroups::remove_dirs(&cfg.cgroup_dirs, std::time::Duration::from_millis(500));
    let _ = std::fs::remove_dir_all(cfg.runtime_root.join(&cfg.id));
    super::mount_ns::unmount_in_host(&cfg.rootfs);
    let _ = std::fs::remove_file(&cfg.control_socket);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate_with(bytes: &[u8]) -> File {
        let (r, w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut w = File::from(w);
        w.write_all(bytes).unwrap();
        drop(w);
        File::from(r)
    }

    #[test]
    fn only_berthds_go_starts_the_container() {
        assert_eq!(wait_for_go(gate_with(&[launch::GO])), Ok(()));
        for cancelled in [&b""[..], b"x"] {
            let e = wait_for_go(gate_with(cancelled)).unwrap_err();
            assert!(e.contains("cancelled"), "{e}");
        }
    }
}
