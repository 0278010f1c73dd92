//! berth-test-support: what berth's integration tests, benchmarks and the multi-node harness
//! share, so each exists once: the test daemon (`TestDaemon`, and the pieces the harness
//! builds its namespaced nodes from), the unix-socket HTTP client, `require_root!`, the busybox
//! test image, and the clean-up of processes, mounts and cgroups berthd leaves behind.
//! A dev-dependency only: nothing here may reach a shipped binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support fails the test by panicking, naming what went wrong"
)]

pub mod cleanup;
pub mod client;
mod daemon;
pub mod fields;
mod host_mount;
mod hostile;
pub mod image;
mod objects;
pub mod registry;
pub mod swarm;

use std::time::{Duration, Instant};

pub use client::{demux, demux_stream, loopback_get, parse_response, urlencode, Response};
pub use daemon::{
    berthd_binary, berthd_command, bin_dir, DaemonConfig, DaemonOptions, NetNames, Roots,
    TestDaemon,
};
pub use fields::{assert_table_covers, struct_fields};
pub use host_mount::HostMount;
pub use image::busybox_tar;

/// Whether this process runs as root (integration tests need it).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Prints `SKIP (needs root): <module>` and returns from the test unless running as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::is_root() {
            eprintln!("SKIP (needs root): {}", module_path!());
            return;
        }
    };
}

/// Polls `cond` every 50 ms until it holds or `limit` passes; its last answer.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// The first value `f` gives within `limit`, polling as [`wait_until`] does.
pub fn eventually<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let mut got = None;
    wait_until(limit, || {
        got = f();
        got.is_some()
    });
    got
}
