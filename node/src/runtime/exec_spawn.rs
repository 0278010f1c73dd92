//! Starting an exec inside a running container, in the monitor: libcontainer's tenant builder
//! joins the init's namespaces and cgroup and runs the process the daemon described. The
//! process becomes the monitor's child (libcontainer clones it as a sibling of its helper), so
//! the monitor reaps it whether or not the daemon is still there.

use std::os::fd::OwnedFd;
use std::path::Path;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::signal::SigHandler;

/// Starts the OCI process in `process` inside container `id`; returns its pid. With a console
/// socket the process gets a terminal (its master goes to that socket); otherwise `fds` are its
/// stdin, stdout and stderr.
pub fn spawn(
    runtime_root: &Path,
    id: &str,
    seccomp: Option<super::seccomp_bpf::Filter>,
    process: &Path,
    console_socket: Option<&Path>,
    fds: Vec<OwnedFd>,
) -> Result<i32, String> {
    let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::Linux)
        .with_root_path(runtime_root)
        .map_err(|e| format!("runtime root: {e}"))?;
    match (console_socket, <[OwnedFd; 3]>::try_from(fds)) {
        (Some(socket), _) => builder = builder.with_console_socket(Some(socket)),
        (None, Ok([stdin, stdout, stderr])) => {
            builder = builder
                .with_stdin(stdin)
                .with_stdout(stdout)
                .with_stderr(stderr);
        }
        (None, Err(fds)) => {
            return Err(format!(
                "exec needs stdin, stdout and stderr, got {} descriptors",
                fds.len()
            ))
        }
    }
    let restore_caps = match &seccomp {
        Some(_) => super::seccomp_load::lend_for_exec(process)?,
        None => None,
    };
    // As for the init: the exec starts with SIGPIPE at its default, not inherited as ignored.
    super::monitor::set_sigpipe(SigHandler::SigDfl);
    let built = builder
        .with_executor(super::terminal_size::SizedTerminal {
            seccomp,
            restore_caps,
        })
        .as_tenant()
        .with_process(Some(process))
        .with_detach(true)
        .build();
    super::monitor::set_sigpipe(SigHandler::SigIgn);
    built
        .map(|pid| pid.as_raw())
        .map_err(|e| format!("exec in container: {e}"))
}
