//! The one HTTP/1.1 client of berth's tests, over a unix socket: one request per connection
//! (`Connection: close`), the answer read to the end, chunked bodies joined; plus Docker's
//! stream framing. Must not grow into a general client: streams and upgrades belong to the
//! tests that need them.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// One answer: status code, header block and (de-chunked) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The status line and headers, as sent.
    pub headers: String,
    /// The body, chunked framing removed.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON; panics naming the body when it is not (tests fail on it).
    pub fn json(&self) -> serde_json::Value {
        self.try_json()
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The body as JSON, or the parse error.
    pub fn try_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request with a JSON content type to the API on `socket`; waits at most
/// `timeout` for each read and write. Any status is `Ok`.
pub fn request(
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<Response> {
    request_with(
        socket,
        method,
        path,
        &[("Content-Type", "application/json")],
        body,
        timeout,
    )
}

/// Sends one request with `headers` (besides Host, Connection and Content-Length).
pub fn request_with(
    socket: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<Response> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// Parses a whole raw answer; an answer without a header end is an error.
pub fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let malformed = || std::io::Error::other(format!("malformed answer ({} bytes)", raw.len()));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(malformed)?;
    let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(malformed)?;
    let rest = &raw[split + 4..];
    let chunked = headers
        .to_ascii_lowercase()
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Joins the chunks of a chunked body (extensions after `;` ignored).
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = b.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&b[..pos]);
        let size = size.split(';').next().unwrap_or("").trim();
        let n = usize::from_str_radix(size, 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        let start = pos + 2;
        out.extend_from_slice(&b[start..(start + n).min(b.len())]);
        b = &b[(start + n + 2).min(b.len())..];
    }
    out
}

/// Joins the payloads of Docker's multiplexed frames (both streams).
pub fn demux(b: &[u8]) -> Vec<u8> {
    frames(b, None)
}

/// The payloads of the frames of one stream (1 stdout, 2 stderr).
pub fn demux_stream(b: &[u8], stream: u8) -> Vec<u8> {
    frames(b, Some(stream))
}

fn frames(mut b: &[u8], stream: Option<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        if stream.is_none_or(|s| s == b[0]) {
            out.extend_from_slice(&b[8..(8 + n).min(b.len())]);
        }
        b = &b[(8 + n).min(b.len())..];
    }
    out
}

/// Percent-encodes a query value (filters JSON).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /` of `127.0.0.1:port` over plain HTTP/1.0 (a published port, from the host): the
/// whole answer, or what failed, as text to assert on.
pub fn loopback_get(port: u16) -> String {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let get = || -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3))?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    };
    get().unwrap_or_else(|e| format!("failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_answer_is_parsed() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "OK");
        assert!(r.headers.contains("Content-Length"));
    }

    #[test]
    fn chunked_answer_is_joined() {
        let raw = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4;x=1\r\n\":1}\r\n0\r\n\r\n";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.json()["a"], 1);
    }

    #[test]
    fn headless_bytes_are_no_answer() {
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn frames_are_split_by_stream() {
        let raw = [
            &[1u8, 0, 0, 0, 0, 0, 0, 2][..],
            b"ou",
            &[2u8, 0, 0, 0, 0, 0, 0, 2][..],
            b"er",
        ]
        .concat();
        assert_eq!(demux(&raw), b"ouer");
        assert_eq!(demux_stream(&raw, 2), b"er");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(urlencode("{\"a\":[1]}"), "%7B%22a%22%3A%5B1%5D%7D");
    }
}
