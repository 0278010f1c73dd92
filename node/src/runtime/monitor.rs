//! The monitor: one small process per running container. It mounts the rootfs, starts the
//! container through libcontainer, copies its output into the log, reaps it, records the exit and
//! cleans up. It outlives berthd (it is re-parented away from it), which makes live restore work.
//! It must stay single-threaded until libcontainer has forked, and must not start tokio.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::Path;

use chrono::{SecondsFormat, Utc};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::SigHandler;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, pipe2, setsid, ForkResult, Pid};

use super::files::write_json_atomic;
use super::logfile::{LogWriter, Stream};
use super::{ExitRecord, MonitorConfig, MonitorPids};

/// Runs the monitor for the config at `config_path`; `handshake` is the pipe to the daemon
/// (our stdout), which gets `ok` or `err <message>` once. Returns the process exit code.
pub fn run(config_path: &Path, handshake: File) -> i32 {
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
    let (pids, copiers) = match launch(&cfg) {
        Ok(started) => started,
        Err(e) => {
            cleanup(&cfg);
            return fail_handshake(handshake, &e);
        }
    };
    super::trim::release_startup_pages();
    let mut handshake = handshake;
    let _ = handshake.write_all(b"ok\n");
    drop(handshake);
    let exit_code = reap(pids.container);
    for copier in copiers {
        let _ = copier.join();
    }
    let oom_killed = oom_kills(&cfg) > 0;
    cleanup(&cfg);
    let record = ExitRecord {
        exit_code,
        oom_killed,
        finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
    };
    match write_json_atomic(&cfg.exit_path, &record) {
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

type Started = (MonitorPids, Vec<std::thread::JoinHandle<()>>);

fn launch(cfg: &MonitorConfig) -> Result<Started, String> {
    mount_rootfs(cfg).map_err(|e| format!("mount rootfs: {e}"))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&cfg.log_path)
        .map_err(|e| format!("open log {}: {e}", cfg.log_path.display()))?;
    let (out_r, out_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let (err_r, err_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let (stdin, stdin_feed) = if cfg.open_stdin {
        let (r, w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        let _ = std::fs::remove_file(&cfg.stdin_socket);
        let listener = UnixListener::bind(&cfg.stdin_socket)
            .map_err(|e| format!("stdin socket {}: {e}", cfg.stdin_socket.display()))?;
        (File::from(r), Some((listener, File::from(w))))
    } else {
        (
            File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?,
            None,
        )
    };
    // Rust ignores SIGPIPE and an ignored signal survives exec: let the container's processes
    // start with the default, as they would under Docker, and ignore it again ourselves after.
    set_sigpipe(SigHandler::SigDfl);
    let built = ContainerBuilder::new(cfg.id.clone(), SyscallType::Linux)
        .with_root_path(&cfg.runtime_root)
        .map_err(|e| format!("runtime root: {e}"))?
        .with_stdin(OwnedFd::from(stdin))
        .with_stdout(out_w)
        .with_stderr(err_w)
        .as_init(&cfg.bundle)
        .with_systemd(false)
        .with_detach(true)
        .build();
    set_sigpipe(SigHandler::SigIgn);
    let mut container = built.map_err(|e| format!("create container: {e}"))?;
    let pids = match start_created(cfg, &mut container) {
        Ok(p) => p,
        Err(e) => {
            // The init waits in its namespaces for a start that will not come: remove it.
            let _ = container.delete(true);
            return Err(e);
        }
    };
    // Threads only now: libcontainer has finished forking.
    let writer = std::sync::Arc::new(LogWriter::new(log));
    let copiers = [(Stream::Stdout, out_r), (Stream::Stderr, err_r)]
        .into_iter()
        .map(|(stream, fd)| {
            let w = writer.clone();
            std::thread::spawn(move || {
                let _ = w.copy_from(stream, File::from(fd));
            })
        })
        .collect();
    if let Some((listener, pipe)) = stdin_feed {
        let once = cfg.stdin_once;
        // Not joined: it may block in accept() after the container ended; process exit ends it.
        std::thread::spawn(move || feed_stdin(&listener, pipe, once));
    }
    Ok((pids, copiers))
}

fn start_created(cfg: &MonitorConfig, container: &mut Container) -> Result<MonitorPids, String> {
    let pid = container
        .pid()
        .map(|p| p.as_raw())
        .ok_or("container has no pid")?;
    super::loopback::up_in(pid).map_err(|e| format!("bring up loopback: {e}"))?;
    container
        .start()
        .map_err(|e| format!("start container: {e}"))?;
    let pids = MonitorPids {
        monitor: std::process::id().cast_signed(),
        container: pid,
    };
    write_json_atomic(&cfg.pids_path, &pids).map_err(|e| format!("record pids: {e}"))?;
    Ok(pids)
}

fn set_sigpipe(handler: SigHandler) {
    // SAFETY: only the default or ignore dispositions are installed, no handler function runs.
    let _ = unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, handler) };
}

fn mount_rootfs(cfg: &MonitorConfig) -> io::Result<()> {
    let target = cfg.bundle.join("rootfs");
    std::fs::create_dir_all(&target)?;
    let lower: Vec<String> = cfg
        .lower_dirs
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        cfg.upper_dir.display(),
        cfg.work_dir.display()
    );
    mount(
        Some("overlay"),
        &target,
        Some("overlay"),
        MsFlags::empty(),
        Some(opts.as_str()),
    )
    .map_err(io::Error::from)
}

/// Copies what attach clients send into the container's stdin; with `once`, the first
/// client's half-close closes stdin (`echo hi | docker run -i busybox cat` ends).
fn feed_stdin(listener: &UnixListener, mut pipe: File, once: bool) {
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        if io::copy(&mut conn, &mut pipe).is_err() {
            return; // the container closed its stdin
        }
        if once {
            return;
        }
    }
}

/// Waits for the container's init; its exit status the way Docker reports it.
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
    let _ = umount2(&cfg.bundle.join("rootfs"), MntFlags::MNT_DETACH);
    if cfg.open_stdin {
        let _ = std::fs::remove_file(&cfg.stdin_socket);
    }
}
