//! Watching a process that is not our child: Linux pidfds. The daemon learns that a monitor
//! ended (so the container did) by its pidfd becoming readable, including after a daemon restart.

use std::io;
use std::os::fd::OwnedFd;

/// Opens a pidfd for `pid`; fails with ESRCH when the process is gone.
pub fn open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is shared.
    super::syscall_fd::fd_of(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
}

/// Waits until the process behind `fd` has exited.
pub async fn exited(fd: OwnedFd) -> io::Result<()> {
    // SAFETY: `fd` is an OwnedFd moved into the AsyncFd, so it stays open and the same for
    // the AsyncFd's whole life.
    let afd = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
    }
    .map_err(|e| e.into_parts().1)?;
    let _ready = afd.readable().await?;
    Ok(())
}

/// True when `pid` is alive and its command line mentions `needle` (guards against pid reuse).
pub fn is_alive_with(pid: i32, needle: &str) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmd) => String::from_utf8_lossy(&cmd).contains(needle),
        Err(_) => false,
    }
}
