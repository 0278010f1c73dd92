//! The test image: a busybox root filesystem tarball built from the host's busybox-static by
//! `scripts/busybox-rootfs.sh`, and the busybox service the swarm tests run.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The script that builds the tarball.
pub fn busybox_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/busybox-rootfs.sh")
}

/// Builds the tarball as `<dir>/busybox.tar` (once) and returns its path; panics naming the
/// missing package when the script fails.
pub fn busybox_tar(dir: &Path) -> PathBuf {
    let out = dir.join("busybox.tar");
    if out.exists() {
        return out;
    }
    let st = Command::new("bash")
        .arg(busybox_script())
        .arg(&out)
        .status()
        .expect("run busybox-rootfs.sh");
    assert!(
        st.success(),
        "busybox-rootfs.sh failed (is busybox-static installed?)"
    );
    out
}

/// A replicated busybox service sleeping 600 s, restarted 100 ms after it exits, stopped
/// within 1 s: the service the swarm tests and benchmarks run.
pub fn sleep_service_spec(name: &str, replicas: u64) -> serde_json::Value {
    serde_json::json!({
        "Name": name,
        "TaskTemplate": {
            "ContainerSpec": { "Image": "busybox:latest", "Args": ["sleep", "600"],
                               "StopGracePeriod": 1_000_000_000u64 },
            "RestartPolicy": { "Condition": "any", "Delay": 100_000_000u64 },
        },
        "Mode": { "Replicated": { "Replicas": replicas } },
    })
}
