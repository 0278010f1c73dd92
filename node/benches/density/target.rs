//! One engine under test, berthd or dockerd, driven through the Docker API on its unix socket:
//! the container operations the density bench times, each returning how long it took. Every
//! container it makes carries the run's label, so the sweep can find them all again.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_test_support::client;

/// Label every container of this run carries (value: the bench's pid).
pub const LABEL: &str = "berth-density";

/// How long one request may take before the bench gives up on the engine.
const LIMIT: Duration = Duration::from_secs(300);

/// An engine reached through its API socket.
#[derive(Clone)]
pub struct Target {
    /// `berth` or `docker`, for the report.
    pub name: &'static str,
    pub socket: PathBuf,
    /// The API version prefix, `/v1.47` (berth) or `/v1.41` (docker 20.10).
    pub prefix: &'static str,
    /// The label value of this run.
    pub run: String,
    /// The default bridge the containers are on, where the bench knows it (berth's).
    pub bridge: Option<String>,
}

impl Target {
    /// `method path` under the version prefix; `Err` unless it answers 2xx (or 304).
    pub fn call(&self, method: &str, path: &str, body: &[u8]) -> Result<client::Response, String> {
        let full = format!("{}{path}", self.prefix);
        let r = client::request(&self.socket, method, &full, body, LIMIT)
            .map_err(|e| format!("{} {method} {path}: {e}", self.name))?;
        if (200..300).contains(&r.status) || r.status == 304 {
            Ok(r)
        } else {
            Err(format!(
                "{} {method} {path}: {} {}",
                self.name,
                r.status,
                r.text()
            ))
        }
    }

    /// Like `call`, timed in milliseconds.
    fn timed(&self, method: &str, path: &str, body: &[u8]) -> Result<f64, String> {
        let t = Instant::now();
        self.call(method, path, body)?;
        Ok(ms(t))
    }

    /// Imports busybox from the rootfs tarball unless the engine has it.
    pub fn ensure_busybox(&self, tar: &[u8]) -> Result<(), String> {
        if self.call("GET", "/images/busybox:latest/json", b"").is_ok() {
            return Ok(());
        }
        let path = "/images/create?fromSrc=-&repo=busybox&tag=latest&changes=CMD%20sh";
        self.call("POST", path, tar).map(|_| ())
    }

    /// Creates and starts one `busybox sleep` container; its id and the time both took.
    /// `--init` so that stop's SIGTERM ends it at once (a bare `sleep` as PID 1 ignores it).
    pub fn create_start(&self, network: &str) -> Result<(String, f64), String> {
        let body = serde_json::json!({
            "Image": "busybox",
            "Cmd": ["sleep", "1000000"],
            "Labels": { LABEL: self.run },
            "HostConfig": { "Init": true, "NetworkMode": network },
        });
        let t = Instant::now();
        let r = self.call("POST", "/containers/create", body.to_string().as_bytes())?;
        let id = r.try_json().map_err(|e| e.to_string())?["Id"]
            .as_str()
            .ok_or("create answered no Id")?
            .to_string();
        self.call("POST", &format!("/containers/{id}/start"), b"")?;
        Ok((id, ms(t)))
    }

    /// `GET /containers/json?all=1`, timed; also how many containers it listed.
    pub fn list(&self) -> Result<(f64, usize), String> {
        let t = Instant::now();
        let r = self.call("GET", "/containers/json?all=1", b"")?;
        let took = ms(t);
        let n = r
            .try_json()
            .map_err(|e| e.to_string())?
            .as_array()
            .map_or(0, Vec::len);
        Ok((took, n))
    }

    /// `GET /containers/{id}/json`, timed.
    pub fn inspect(&self, id: &str) -> Result<f64, String> {
        self.timed("GET", &format!("/containers/{id}/json"), b"")
    }

    /// `GET /containers/{id}/stats?stream=false` (two readings a second apart, as Docker).
    pub fn stats_once(&self, id: &str) -> Result<f64, String> {
        self.timed("GET", &format!("/containers/{id}/stats?stream=false"), b"")
    }

    /// A streamed `stats`: the time until its first frame arrives; the stream is then closed.
    pub fn stats_stream_first(&self, id: &str) -> Result<f64, String> {
        let t = Instant::now();
        let first = first_line(
            &self.socket,
            &format!("{}/containers/{id}/stats", self.prefix),
        )
        .map_err(|e| format!("{} stats stream: {e}", self.name))?;
        let took = ms(t);
        serde_json::from_str::<serde_json::Value>(&first)
            .map_err(|e| format!("{} stats frame {first:?}: {e}", self.name))?;
        Ok(took)
    }

    /// `POST /containers/{id}/stop`, timed.
    pub fn stop(&self, id: &str) -> Result<f64, String> {
        self.timed("POST", &format!("/containers/{id}/stop"), b"")
    }

    /// `DELETE /containers/{id}` (`force` kills a running one first), timed.
    pub fn remove(&self, id: &str, force: bool) -> Result<f64, String> {
        self.timed("DELETE", &format!("/containers/{id}?force={force}"), b"")
    }

    /// Ids of every container of this run, running or not.
    pub fn ours(&self) -> Result<Vec<String>, String> {
        let filter = client::urlencode(&format!(r#"{{"label":["{LABEL}={}"]}}"#, self.run));
        let r = self.call(
            "GET",
            &format!("/containers/json?all=1&filters={filter}"),
            b"",
        )?;
        Ok(r.try_json()
            .map_err(|e| e.to_string())?
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["Id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// How many ports the default bridge has (the kernel allows 1,023 per bridge).
    pub fn bridge_ports(&self) -> Option<usize> {
        let dir = format!("/sys/class/net/{}/brif", self.bridge.as_ref()?);
        Some(std::fs::read_dir(dir).ok()?.count())
    }

    /// The pid of the daemon serving the socket (its peer credentials).
    pub fn daemon_pid(&self) -> Option<u32> {
        let s = UnixStream::connect(&self.socket).ok()?;
        let cred =
            nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::PeerCredentials).ok()?;
        u32::try_from(cred.pid()).ok()
    }
}

/// Milliseconds since `t`.
pub fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Sends `GET path` and reads the answer up to the end of the body's first line (a stats
/// frame), skipping the headers and a chunk-size line.
fn first_line(socket: &Path, path: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(LIMIT))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: density\r\n\r\n")?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let mut in_body = false;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("stream ended before a frame"));
        }
        let l = line.trim_end();
        if !in_body {
            in_body = l.is_empty();
            continue;
        }
        // Chunked framing: a hex size line precedes the frame.
        if l.starts_with('{') {
            return Ok(l.to_string());
        }
    }
}
