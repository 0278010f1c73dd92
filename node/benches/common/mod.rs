//! What the benchmark programs share: a throwaway work directory with the busybox rootfs
//! tarball, a release berthd on it (berth-test-support's `TestDaemon`, logging warnings only,
//! nowhere), percentiles, and a request that must succeed.
#![allow(dead_code, reason = "each bench uses part of this module")]

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_test_support::{bin_dir, busybox_tar, client, DaemonOptions, Response, TestDaemon};

/// The built binaries, a temp work dir and the busybox rootfs tarball in it.
pub struct Setup {
    pub bins: PathBuf,
    pub work: tempfile::TempDir,
    pub tar: PathBuf,
}

impl Setup {
    /// Makes the work dir and the tarball (needs busybox-static).
    pub fn new() -> Self {
        let work = tempfile::Builder::new()
            .prefix("berth-bench-")
            .tempdir()
            .unwrap();
        let tar = busybox_tar(work.path());
        Setup {
            bins: bin_dir(),
            work,
            tar,
        }
    }

    /// Starts berthd in the work dir; it stops and cleans up on drop.
    pub fn daemon(&self) -> TestDaemon {
        TestDaemon::launch(
            "bench",
            DaemonOptions {
                log_level: "warn".into(),
                root: Some(self.work.path().join("daemon")),
                keep_log: false,
                ..DaemonOptions::default()
            },
        )
    }
}

/// The `p`-th percentile (nearest rank) of sorted samples.
pub fn pct(v: &[f64], p: usize) -> f64 {
    let i = (v.len().saturating_sub(1) * p + 50) / 100;
    v[i.min(v.len() - 1)]
}

/// One HTTP request over a unix socket; panics unless the answer is 2xx.
pub fn request(sock: &Path, method: &str, path: &str, body: &[u8]) -> Response {
    let r = client::request(sock, method, path, body, Duration::from_secs(300))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    assert!(
        (200..300).contains(&r.status),
        "{method} {path}: {} {}",
        r.status,
        r.text()
    );
    r
}

/// The socket of the dockerd named by `BENCH_DOCKER_HOST` (`unix://…`), when it answers.
pub fn docker_socket() -> Option<PathBuf> {
    let host = std::env::var("BENCH_DOCKER_HOST").ok()?;
    let path = PathBuf::from(host.strip_prefix("unix://")?);
    UnixStream::connect(&path).is_ok().then_some(path)
}
