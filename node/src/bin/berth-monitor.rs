//! berth-monitor: one per running container; see `berth_node::runtime::monitor`. Started by
//! berthd with the monitor config path as its only argument, a handshake pipe as stdout and
//! the start gate (`runtime::launch`) as stdin.

use std::os::fd::{AsRawFd, FromRawFd};

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(monitor) = berth_node::runtime::spawner::monitor_from_args(&args) {
        // berthd's spawner: its socket is our stdin.
        let Some(sock) = take_over(0) else {
            std::process::exit(2);
        };
        if let Ok(null) = std::fs::File::open("/dev/null") {
            // SAFETY: dup2 onto our own stdin; both fds are valid.
            unsafe { libc::dup2(null.as_raw_fd(), 0) };
        }
        std::process::exit(berth_node::runtime::spawner::serve(&sock.into(), &monitor));
    }
    let Some(config) = std::env::args_os().nth(1) else {
        eprintln!("usage: berth-monitor MONITOR-CONFIG.json");
        std::process::exit(2);
    };
    // fds 0 and 1 are the gate and the handshake pipe berthd set up; we take them over
    // (close-on-exec, so no container process inherits them) and put /dev/null in their place
    // so stray reads and writes cannot reach the daemon.
    let (Some(gate), Some(handshake)) = (take_over(0), take_over(1)) else {
        eprintln!("berth-monitor: no gate or handshake pipe");
        std::process::exit(2);
    };
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        // SAFETY: dup2 onto our own stdin and stdout; all fds are valid.
        unsafe {
            libc::dup2(null.as_raw_fd(), 0);
            libc::dup2(null.as_raw_fd(), 1);
        }
    }
    std::process::exit(berth_node::runtime::monitor::run(
        std::path::Path::new(&config),
        handshake,
        gate,
    ));
}

/// A close-on-exec copy of `fd`, ours to own.
fn take_over(fd: i32) -> Option<std::fs::File> {
    // SAFETY: fcntl on a plain fd number; a failure is a negative return, checked below.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    // SAFETY: `copy` is a fresh descriptor nothing else owns.
    (copy >= 0).then(|| unsafe { std::fs::File::from_raw_fd(copy) })
}
