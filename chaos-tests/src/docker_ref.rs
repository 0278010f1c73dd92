//! The docker daemon the benchmarks compare against (`BENCH_DOCKER_HOST`): raw API calls, and
//! a one-node swarm with busybox, made when the daemon has none and left afterwards.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::client;

/// `method path` (under `/v1.41`) on the docker daemon at `socket`; its JSON answer (null when
/// empty), or what went wrong.
pub fn call(
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
    limit: Duration,
) -> Result<Value, String> {
    let path = format!("/v1.41{path}");
    let r = client::request(socket, method, &path, body, limit)
        .map_err(|e| format!("docker {method} {path} on {}: {e}", socket.display()))?;
    if !(200..300).contains(&r.status) {
        return Err(format!("docker {method} {path}: {} {}", r.status, r.text()));
    }
    if r.body.is_empty() {
        return Ok(Value::Null);
    }
    r.try_json()
        .map_err(|e| format!("docker {method} {path}: {e}"))
}

/// A docker daemon in swarm mode with busybox.
pub struct DockerSwarm {
    pub socket: PathBuf,
    /// Its `/info` when opened.
    pub info: Value,
    /// Whether this made the swarm (and `leave` ends it).
    created: bool,
    limit: Duration,
}

impl DockerSwarm {
    /// The daemon at `host` (`unix:///path`), in a one-node swarm on loopback (made when it
    /// has none), with busybox imported from the tarball `image` when missing.
    pub fn open(host: &str, image: &[u8], limit: Duration) -> Result<Self, String> {
        let socket = PathBuf::from(host.strip_prefix("unix://").unwrap_or(host));
        let info = call(&socket, "GET", "/info", b"", limit)?;
        let created = info["Swarm"]["LocalNodeState"] != "active";
        if created {
            let init = json!({ "ListenAddr": "127.0.0.1:2377", "AdvertiseAddr": "127.0.0.1" });
            call(
                &socket,
                "POST",
                "/swarm/init",
                init.to_string().as_bytes(),
                limit,
            )?;
        }
        let known = client::request(
            &socket,
            "GET",
            "/v1.41/images/busybox:latest/json",
            b"",
            limit,
        )
        .map_err(|e| format!("docker GET busybox:latest: {e}"))?;
        if known.status == 404 {
            let path = "/images/create?fromSrc=-&repo=busybox&tag=latest";
            call(&socket, "POST", path, image, limit)?;
        }
        Ok(DockerSwarm {
            socket,
            info,
            created,
            limit,
        })
    }

    /// `method path` on this daemon.
    pub fn call(&self, method: &str, path: &str, body: &[u8]) -> Result<Value, String> {
        call(&self.socket, method, path, body, self.limit)
    }

    /// The daemon's version, for the report.
    pub fn version(&self) -> &str {
        self.info["ServerVersion"].as_str().unwrap_or("?")
    }

    /// Leaves the swarm this made (nothing when it was there before).
    pub fn leave(&self) -> Result<(), String> {
        if self.created {
            self.call("POST", "/swarm/leave?force=1", b"")?;
        }
        Ok(())
    }
}
