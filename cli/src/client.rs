//! The connection to berthd: where it is (`Host`; `connect.rs` picks it), the
//! bollard client (plain, or HTTPS with the configuration of `tls.rs`), the raw connection for
//! calls bollard cannot make (here a wait whose registration we must see before `start`; raw
//! GETs in `stream.rs`), and how a failure reads to the user. No command logic here.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bollard::errors::Error as DockerError;
use bollard::{BollardRequest, ClientVersion, Docker};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

/// The daemon's socket when nothing else is configured.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// bollard times out waiting for response headers; attach, logs -f and wait legitimately take
/// as long as the container runs, so the limit is effectively off, as in docker.
const REQUEST_TIMEOUT_SECS: u64 = 10 * 365 * 24 * 3600;

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `unix://PATH`
    Unix(PathBuf),
    /// `tcp://HOST:PORT` (HTTPS when the client uses TLS)
    Tcp(String),
}

impl Host {
    /// Parses `unix://PATH`, `tcp://HOST:PORT`, `http://HOST:PORT` or a bare absolute socket path;
    /// a tcp address without a port gets docker's: 2376 with TLS, else 2375.
    pub fn parse(s: &str, tls: bool) -> Result<Self> {
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                bail!("invalid host {s:?}: empty socket path");
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
        {
            let addr = addr.trim_end_matches('/');
            if addr.is_empty() {
                bail!("invalid host {s:?}: empty address");
            }
            let has_port = match addr.rsplit_once(']') {
                Some((_, after)) => after.starts_with(':'),
                None => addr.contains(':'),
            };
            let addr = if has_port {
                addr.to_string()
            } else {
                format!("{addr}:{}", if tls { 2376 } else { 2375 })
            };
            return Ok(Self::Tcp(addr));
        }
        if s.starts_with('/') {
            return Ok(Self::Unix(PathBuf::from(s)));
        }
        bail!("invalid host {s:?}: use unix://PATH or tcp://HOST:PORT")
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "unix://{}", p.display()),
            Self::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// A handle on the daemon; connecting is deferred so `version` can print its client half.
#[derive(Debug, Clone)]
pub struct Client {
    /// Where the daemon is.
    pub host: Host,
    /// TLS for a tcp host (a unix socket ignores it, as in docker).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The context the host came from (`default`: flags and environment).
    pub context: String,
}

impl Client {
    /// A bollard client for the host (no request is made yet).
    pub fn docker(&self) -> Result<Docker> {
        let docker = match (&self.host, &self.tls) {
            (Host::Unix(p), _) => {
                let path = p.to_string_lossy();
                Docker::connect_with_unix(&path, REQUEST_TIMEOUT_SECS, &api_version())?
            }
            (Host::Tcp(a), Some(tls)) => https_docker(a, tls)?,
            (Host::Tcp(a), None) => Docker::connect_with_http(
                &format!("tcp://{a}"),
                REQUEST_TIMEOUT_SECS,
                &api_version(),
            )?,
        };
        Ok(docker)
    }

    /// `describe`, after finding out why a TLS daemon cut a request off when the error does
    /// not say: with TLS 1.3 a server refuses a client certificate only after the client's
    /// half of the handshake, so the refusal (an alert) may arrive after the request was sent
    /// and be lost with it. A second connection reads the alert.
    pub async fn explain(&self, err: &anyhow::Error) -> String {
        let cut_off = matches!(
            err.downcast_ref::<DockerError>(),
            Some(DockerError::HyperLegacyError { err }) if tls_failure(err).is_none() && !err.is_connect()
        );
        if self.tls.is_some() && cut_off {
            if let Some(reason) = self.tls_refusal().await {
                return format!("error during connect: {reason}");
            }
        }
        self.describe(err)
    }

    /// The TLS error a fresh connection to the daemon ends with, if any: handshake, one
    /// request, and a read of the answer (where a late alert shows).
    async fn tls_refusal(&self) -> Option<String> {
        let probe = async {
            let mut conn = match self.connect_raw().await {
                Ok(c) => c,
                Err(e) => {
                    return match e.downcast_ref::<DockerError>() {
                        Some(DockerError::IOError { err }) => tls_failure(err),
                        _ => None,
                    }
                }
            };
            let sent = conn
                .write_all(b"GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
                .await;
            let mut buf = [0u8; 64];
            let read = match sent {
                Ok(()) => conn.read(&mut buf).await.map(|_| ()),
                Err(e) => Err(e),
            };
            read.err().and_then(|e| tls_failure(&e))
        };
        tokio::time::timeout(Duration::from_secs(10), probe)
            .await
            .ok()
            .flatten()
    }

    /// The one-line message docker would print for `err`.
    pub fn describe(&self, err: &anyhow::Error) -> String {
        let cannot_connect = || {
            format!(
                "Cannot connect to the berth daemon at {}. Is the berth daemon running?",
                self.host
            )
        };
        match err.downcast_ref::<DockerError>() {
            Some(DockerError::DockerResponseServerError { message, .. }) => {
                format!("Error response from daemon: {message}")
            }
            Some(DockerError::DockerStreamError { error }) => error.clone(),
            Some(DockerError::SocketNotFoundError(_)) => cannot_connect(),
            Some(DockerError::HyperLegacyError { err }) => match tls_failure(err) {
                Some(reason) => format!("error during connect: {reason}"),
                None if err.is_connect() => cannot_connect(),
                // No answer came over TLS and no TLS error is in hand (`explain` looks for
                // one first): still a failure to connect, as docker reports it.
                None if self.tls.is_some() => format!("error during connect: {err:#}"),
                None => format!("{err:#}"),
            },
            Some(DockerError::IOError { err: io }) => match tls_failure(io) {
                Some(reason) => format!("error during connect: {reason}"),
                None if matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
                ) =>
                {
                    cannot_connect()
                }
                None => format!("{err:#}"),
            },
            _ => format!("{err:#}"),
        }
    }

    /// Sends `POST /containers/{id}/wait?condition=…` and returns once the daemon has answered
    /// with headers, which it does after registering the wait (dockerd flushes them at once).
    /// `run` and `start -a` need that ordering: a wait registered after a fast container has
    /// exited would never return. The handle yields the exit code.
    pub async fn wait_registered(
        &self,
        id: &str,
        condition: &str,
    ) -> Result<JoinHandle<Result<i64>>> {
        let mut conn = self.connect_raw().await?;
        let request = format!(
            "POST /containers/{id}/wait?condition={condition} HTTP/1.1\r\nHost: berth\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        conn.write_all(request.as_bytes()).await?;
        let mut buf = Vec::new();
        let header_end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            let mut chunk = [0u8; 1024];
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                bail!("daemon closed the connection during wait");
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let mut body = buf[header_end..].to_vec();
        if status != 200 {
            conn.read_to_end(&mut body).await?;
            return Err(server_error(status, &decode_body(&body, chunked)?).into());
        }
        Ok(tokio::spawn(async move {
            conn.read_to_end(&mut body).await?;
            let body = decode_body(&body, chunked)?;
            let value: serde_json::Value = serde_json::from_slice(&body).with_context(|| {
                format!("bad wait response: {}", String::from_utf8_lossy(&body))
            })?;
            if let Some(msg) = value.pointer("/Error/Message").and_then(|m| m.as_str()) {
                if !msg.is_empty() {
                    bail!("Error waiting for container: {msg}");
                }
            }
            value["StatusCode"]
                .as_i64()
                .ok_or_else(|| anyhow!("bad wait response: {value}"))
        }))
    }

    /// `GET path` answered with JSON, for endpoints whose shape bollard's models do not match
    /// (`/system/df` in the pre-1.52 layout berthd serves).
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value> {
        let body = self.get_raw(path).await?;
        serde_json::from_slice(&body).with_context(|| format!("bad response to GET {path}"))
    }

    /// A raw connection to the daemon's socket (for the requests bollard cannot make).
    pub(crate) async fn connect_raw(&self) -> Result<Box<dyn Conn>> {
        let connect = async {
            Ok::<Box<dyn Conn>, std::io::Error>(match (&self.host, &self.tls) {
                (Host::Unix(p), _) => Box::new(tokio::net::UnixStream::connect(p).await?),
                (Host::Tcp(a), None) => Box::new(tokio::net::TcpStream::connect(a).await?),
                (Host::Tcp(a), Some(tls)) => {
                    let name = crate::tls::server_name(a).map_err(std::io::Error::other)?;
                    let tcp = tokio::net::TcpStream::connect(a).await?;
                    let tls = tokio_rustls::TlsConnector::from(tls.clone());
                    Box::new(tls.connect(name, tcp).await?)
                }
            })
        };
        match tokio::time::timeout(Duration::from_secs(30), connect).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(anyhow::Error::new(DockerError::IOError { err: e })),
            Err(_) => bail!("timed out connecting to {}", self.host),
        }
    }
}

/// bollard over HTTPS with our rustls configuration. bollard's own `connect_with_ssl` always
/// verifies the daemon against the system roots plus the CA and cannot do `--tls` without
/// `--tlsverify`, so it gets a hyper client over hyper-rustls as a custom transport.
fn https_docker(addr: &str, tls: &Arc<rustls::ClientConfig>) -> Result<Docker> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((**tls).clone())
        .https_only()
        .enable_http1()
        .build();
    let client = Arc::new(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https),
    );
    let transport = move |req: BollardRequest| {
        let client = client.clone();
        async move { Ok(client.request(req).await?) }
    };
    Ok(Docker::connect_with_custom_transport(
        transport,
        Some(format!("https://{addr}")),
        REQUEST_TIMEOUT_SECS,
        &api_version(),
    )?)
}

/// The API version the client asks for: berthd's (1.47, which Docker 27 and later serve as
/// well; bollard's default is newer than any berthd or most dockerds answer), or
/// `DOCKER_API_VERSION` (`1.41`) as docker's client takes it.
fn api_version() -> ClientVersion {
    parse_api_version(std::env::var("DOCKER_API_VERSION").ok().as_deref()).unwrap_or(
        ClientVersion {
            major_version: 1,
            minor_version: 47,
        },
    )
}

fn parse_api_version(v: Option<&str>) -> Option<ClientVersion> {
    let (major, minor) = v?.trim().split_once('.')?;
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

/// The TLS reason a connection failed, if that was why (a refused or missing certificate
/// reads better than "cannot connect").
fn tls_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(format!("tls: {tls}"));
        }
        // An io::Error's `source` skips the error it wraps, which is where tokio-rustls puts it.
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        cur = inner.or_else(|| e.source());
    }
    None
}

/// A byte stream to the daemon (unix or TCP socket).
pub(crate) trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

/// The daemon's non-2xx answer as bollard reports one (`describe` prints its message).
pub(crate) fn server_error(status: u16, body: &[u8]) -> DockerError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    DockerError::DockerResponseServerError {
        status_code: status,
        message,
    }
}

/// The body as sent, or de-chunked when the answer was chunked.
pub(crate) fn decode_body(body: &[u8], chunked: bool) -> Result<Vec<u8>> {
    if chunked {
        dechunk(body)
    } else {
        Ok(body.to_vec())
    }
}

/// Decodes an HTTP/1.1 chunked body (trailers ignored).
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("truncated chunked body"))?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).context("bad chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size {
            bail!("truncated chunked body");
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_version_is_berths_or_docker_api_version() {
        let v = |s| parse_api_version(s).map(|v| (v.major_version, v.minor_version));
        assert_eq!(v(Some("1.41")), Some((1, 41)));
        assert_eq!(v(Some(" 1.47 ")), Some((1, 47)));
        assert_eq!(v(Some("latest")), None);
        assert_eq!(v(None), None);
    }

    #[test]
    fn hosts_parse_unix_and_tcp() {
        assert_eq!(
            Host::parse("unix:///run/x.sock", false).unwrap(),
            Host::Unix("/run/x.sock".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2375", true).unwrap(),
            Host::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            Host::parse("tcp://localhost", false).unwrap(),
            Host::Tcp("localhost:2375".into())
        );
        assert_eq!(
            Host::parse("tcp://localhost", true).unwrap(),
            Host::Tcp("localhost:2376".into())
        );
        assert_eq!(
            Host::parse("tcp://[::1]", true).unwrap(),
            Host::Tcp("[::1]:2376".into())
        );
        assert!(Host::parse("ssh://x", false).is_err());
        assert!(Host::parse("unix://", false).is_err());
    }

    #[test]
    fn chunked_bodies_decode() {
        let body = b"19\r\n{\"StatusCode\":3,\"Error\":n\r\n5\r\null}\n\r\n0\r\n\r\n";
        assert_eq!(
            dechunk(body).unwrap(),
            b"{\"StatusCode\":3,\"Error\":null}\n"
        );
        assert!(dechunk(b"5\r\nab").is_err());
    }
}
