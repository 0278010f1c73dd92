//! `berth build`: docker's legacy builder flags; `POST /build` with the context tar, the
//! daemon's messages printed as they come (pull progress one line per layer).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use base64::Engine as _;
use clap::Args;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::build_context::{self, BuildContext};
use crate::client::Client;
use crate::stream::{escape, ChunkDecoder};

/// `berth build`
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the 'name:tag' format
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (Default is 'PATH/Dockerfile')
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Set metadata for an image
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Remove intermediate containers after a successful build
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_hosts: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_parser = crate::parse::ram_in_bytes)]
    pub shm_size: Option<i64>,
    /// Memory limit
    #[arg(short = 'm', long, value_parser = crate::parse::ram_in_bytes)]
    pub memory: Option<i64>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_parser = crate::parse::memory_swap)]
    pub memory_swap: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// PATH | -
    pub context: String,
}

fn json_map<'a>(pairs: impl Iterator<Item = (String, Value)> + 'a) -> String {
    serde_json::to_string(&pairs.collect::<BTreeMap<String, Value>>()).unwrap_or_default()
}

/// The query string of `POST /build`.
pub fn build_query(a: &BuildArgs, dockerfile: &str) -> String {
    let mut q: Vec<(String, String)> = a
        .tags
        .iter()
        .map(|t| ("t".to_string(), t.clone()))
        .collect();
    // `--build-arg KEY` takes KEY's value from this environment, as docker does.
    let args = a.build_args.iter().map(|kv| match kv.split_once('=') {
        Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
        None => (
            kv.clone(),
            std::env::var(kv).map(Value::String).unwrap_or(Value::Null),
        ),
    });
    let labels = a.labels.iter().map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k.to_string(), Value::String(v.to_string()))
    });
    for (k, v) in [
        ("dockerfile", dockerfile.to_string()),
        ("buildargs", json_map(args)),
        ("labels", json_map(labels)),
        ("target", a.target.clone().unwrap_or_default()),
        ("networkmode", a.network.clone()),
        ("rm", if a.rm { "1" } else { "0" }.into()),
    ] {
        q.push((k.into(), v));
    }
    for (k, on) in [
        ("nocache", a.no_cache),
        ("pull", a.pull),
        ("forcerm", a.force_rm),
        ("q", a.quiet),
    ] {
        if on {
            q.push((k.into(), "1".into()));
        }
    }
    for (k, v) in [
        ("shmsize", a.shm_size),
        ("memory", a.memory),
        ("memswap", a.memory_swap),
        ("cpushares", a.cpu_shares),
        ("cpuperiod", a.cpu_period),
        ("cpuquota", a.cpu_quota),
    ] {
        if let Some(v) = v {
            q.push((k.into(), v.to_string()));
        }
    }
    if let Some(p) = &a.platform {
        q.push(("platform".into(), p.clone()));
    }
    q.extend(
        a.add_hosts
            .iter()
            .map(|h| ("extrahosts".to_string(), h.clone())),
    );
    q.iter()
        .map(|(k, v)| format!("{k}={}", escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `berth build`: prints what the daemon says; exits with a failed RUN's code.
pub async fn build(client: &Client, a: BuildArgs) -> Result<i32> {
    let ctx: BuildContext = if a.context == "-" {
        let mut input = Vec::new();
        std::io::stdin().read_to_end(&mut input)?;
        build_context::from_stdin(input, a.file.as_deref().and_then(|f| f.to_str()))?
    } else {
        build_context::from_dir(&PathBuf::from(&a.context), a.file.as_deref())?
    };
    if !a.quiet {
        println!(
            "Sending build context to Docker daemon  {}",
            human_size(ctx.tar.len())
        );
    }
    let path = format!("/build?{}", build_query(&a, &ctx.dockerfile));
    // Every saved login, as docker's CLI sends them: a private `FROM` pulls with its own.
    let logins = base64::engine::general_purpose::URL_SAFE
        .encode(crate::credentials::all_saved(&crate::credentials::config_path()).to_string());
    let mut conn = client.connect_raw().await?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Type: application/x-tar\r\nX-Registry-Config: {logins}\r\nContent-Length: {}\r\n\r\n",
        ctx.tar.len()
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(&ctx.tar).await?;
    let mut reader = Messages::new(conn).await?;
    let mut out = std::io::stdout();
    let mut image_id = None;
    while let Some(msg) = reader.next().await? {
        if let Some(err) = msg.get("errorDetail") {
            let text = err["message"]
                .as_str()
                .or(msg["error"].as_str())
                .unwrap_or("build failed");
            let _ = out.flush();
            eprintln!("{text}");
            let code = err["code"].as_i64().filter(|c| *c > 0).unwrap_or(1);
            return Ok(i32::try_from(code).unwrap_or(1));
        }
        if let Some(id) = msg.pointer("/aux/ID").and_then(Value::as_str) {
            image_id = Some(id.to_string());
        }
        if let Some(text) = msg["stream"].as_str() {
            if a.quiet {
                image_id = image_id.or_else(|| Some(text.trim().to_string()));
            }
            print!("{text}");
        } else if let Some(status) = msg["status"].as_str() {
            match msg["id"].as_str() {
                Some(id) => println!("{id}: {status}"),
                None => println!("{status}"),
            }
        }
        let _ = out.flush();
    }
    if let (Some(file), Some(id)) = (&a.iidfile, &image_id) {
        std::fs::write(file, id)?;
    }
    Ok(0)
}

/// Docker's short sizes (`4.608kB`).
#[allow(
    clippy::cast_precision_loss,
    reason = "a size shown with 4 significant digits"
)]
fn human_size(n: usize) -> String {
    crate::output::units::human_size(n as f64, 4)
}

/// The daemon's JSON messages, one at a time, from a raw HTTP response.
struct Messages {
    conn: Box<dyn crate::client::Conn>,
    decoder: Option<ChunkDecoder>,
    buf: Vec<u8>,
    done: bool,
}

impl Messages {
    async fn new(mut conn: Box<dyn crate::client::Conn>) -> Result<Self> {
        let mut buf = Vec::new();
        let end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                bail!("daemon closed the connection");
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut decoder = head
            .contains("transfer-encoding: chunked")
            .then(ChunkDecoder::default);
        let rest = buf[end..].to_vec();
        let mut first = match decoder.as_mut() {
            Some(d) => d.push(&rest)?,
            None => rest,
        };
        if !(200..300).contains(&status) {
            let mut more = Vec::new();
            conn.read_to_end(&mut more).await?;
            first.extend(match decoder.as_mut() {
                Some(d) => d.push(&more)?,
                None => more,
            });
            let v: Value = serde_json::from_slice(&first).unwrap_or_default();
            let msg = v["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(&first).into_owned());
            return Err(anyhow!("Error response from daemon: {msg}"));
        }
        Ok(Messages {
            conn,
            decoder,
            buf: first,
            done: false,
        })
    }

    /// Everything left, as one JSON value.
    async fn rest(mut self) -> Result<Value> {
        while !self.done {
            let mut chunk = vec![0u8; 16 * 1024];
            let n = self.conn.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            let data = match self.decoder.as_mut() {
                Some(d) => d.push(&chunk[..n])?,
                None => chunk[..n].to_vec(),
            };
            self.buf.extend(data);
        }
        Ok(serde_json::from_slice(&self.buf)?)
    }

    async fn next(&mut self) -> Result<Option<Value>> {
        loop {
            if let Some(p) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=p).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some(serde_json::from_slice(&line)?));
            }
            if self.done {
                return Ok(None);
            }
            let mut chunk = vec![0u8; 16 * 1024];
            let n = self.conn.read(&mut chunk).await?;
            if n == 0 {
                self.done = true;
                continue;
            }
            let data = match self.decoder.as_mut() {
                Some(d) => d.push(&chunk[..n])?,
                None => chunk[..n].to_vec(),
            };
            self.buf.extend(data);
        }
    }
}

/// `POST path` with a JSON body; the JSON answer of a 2xx, else the daemon's error.
pub(crate) async fn post_json(client: &Client, path: &str, body: &[u8]) -> Result<Value> {
    let mut conn = client.connect_raw().await?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body).await?;
    Messages::new(conn).await?.rest().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_docker_prints_them() {
        assert_eq!(human_size(4608), "4.608kB");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(2_000_000), "2MB");
    }
}
