//! berth-monitor: one per running container; see `berth_node::runtime::monitor`. Started by
//! berthd with the monitor config path as its only argument and a handshake pipe as stdout.

use std::os::fd::{AsRawFd, FromRawFd};

fn main() {
    let Some(config) = std::env::args_os().nth(1) else {
        eprintln!("usage: berth-monitor MONITOR-CONFIG.json");
        std::process::exit(2);
    };
    // SAFETY: fd 1 is our stdout, which berthd set up as the handshake pipe; we take it over
    // and replace fd 1 with /dev/null so stray writes cannot reach the daemon.
    let handshake = unsafe { std::fs::File::from_raw_fd(libc::dup(1)) };
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto our own stdout; both fds are valid.
        unsafe { libc::dup2(null.as_raw_fd(), 1) };
    }
    std::process::exit(berth_node::runtime::monitor::run(
        std::path::Path::new(&config),
        handshake,
    ));
}
