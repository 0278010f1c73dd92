//! `GET`s bollard cannot make (service and task logs with `details=true`, inspect bodies kept as
//! the daemon sent them): the raw HTTP/1.1 exchange over the daemon socket, an incremental chunked-body decoder and a decoder
//! for docker's multiplexed stdout/stderr frames. The decoders are pure and tested here.

use anyhow::{bail, Result};
use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{decode_body, server_error, Client};

/// Incremental HTTP/1.1 chunked transfer decoding.
#[derive(Debug, Default)]
pub struct ChunkDecoder {
    pending: Vec<u8>,
    /// Bytes left in the current chunk; `None` while a size line is expected.
    left: Option<usize>,
    done: bool,
}

impl ChunkDecoder {
    /// Feeds raw body bytes; returns the payload decoded so far.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        self.pending.extend_from_slice(data);
        let mut out = Vec::new();
        while !self.done {
            match self.left {
                None => {
                    let Some(end) = self.pending.windows(2).position(|w| w == b"\r\n") else {
                        break;
                    };
                    let line = String::from_utf8_lossy(&self.pending[..end]).to_string();
                    let size_text = line.split(';').next().unwrap_or("").trim();
                    let Ok(size) = usize::from_str_radix(size_text, 16) else {
                        bail!("bad chunk size {size_text:?}");
                    };
                    self.pending.drain(..end + 2);
                    self.done = size == 0;
                    self.left = Some(size);
                }
                Some(0) => {
                    if self.pending.len() < 2 {
                        break;
                    }
                    self.pending.drain(..2);
                    self.left = None;
                }
                Some(n) => {
                    if self.pending.is_empty() {
                        break;
                    }
                    let take = n.min(self.pending.len());
                    out.extend(self.pending.drain(..take));
                    self.left = Some(n - take);
                }
            }
        }
        Ok(out)
    }
}

/// Docker's stdcopy framing: 8-byte headers (stream, 0, 0, 0, big-endian length), then payload.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    pending: Vec<u8>,
}

impl FrameDecoder {
    /// Feeds bytes; returns the complete frames as (stream: 1 stdout, 2 stderr, payload).
    pub fn push(&mut self, data: &[u8]) -> Vec<(u8, Vec<u8>)> {
        self.pending.extend_from_slice(data);
        let mut frames = Vec::new();
        while self.pending.len() >= 8 {
            let len = u32::from_be_bytes([
                self.pending[4],
                self.pending[5],
                self.pending[6],
                self.pending[7],
            ]);
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if self.pending.len() - 8 < len {
                break;
            }
            let stream = self.pending[0];
            let payload = self.pending[8..8 + len].to_vec();
            self.pending.drain(..8 + len);
            frames.push((stream, payload));
        }
        frames
    }
}

impl Client {
    /// `GET path`: the whole body of a 200 answer, or the daemon's error (as bollard reports
    /// one). For answers bollard's models would reshape (`inspect` prints the daemon's JSON).
    pub async fn get_raw(&self, path: &str) -> Result<Vec<u8>> {
        self.get_raw_with(path, &[]).await
    }

    /// [`Client::get_raw`] with more request headers (`X-Registry-Auth` for a search).
    pub async fn get_raw_with(&self, path: &str, headers: &[(&str, &str)]) -> Result<Vec<u8>> {
        self.request_raw("GET", path, headers, None).await
    }

    /// `POST path` with a JSON body, for calls bollard lacks (`/swarm/unlock`); the body of a
    /// 200 answer or the daemon's error.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<Vec<u8>> {
        let body = serde_json::to_vec(body)?;
        self.request_raw(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            Some(&body),
        )
        .await
    }

    async fn request_raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Vec<u8>> {
        let mut conn = self.connect_raw().await?;
        let mut extra: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        if let Some(b) = body {
            extra.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        let request =
            format!("{method} {path} HTTP/1.1\r\nHost: berth\r\n{extra}Connection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await?;
        if let Some(b) = body {
            conn.write_all(b).await?;
        }
        let mut raw = Vec::new();
        conn.read_to_end(&mut raw).await?;
        let Some(header_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            bail!("daemon closed the connection");
        };
        let head = String::from_utf8_lossy(&raw[..header_end]).to_ascii_lowercase();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = decode_body(
            &raw[header_end + 4..],
            head.contains("transfer-encoding: chunked"),
        )?;
        if status != 200 {
            return Err(server_error(status, &body).into());
        }
        Ok(body)
    }

    /// `GET path`, returning the decoded body as a stream once the daemon answered 200, or the
    /// daemon's error (as bollard reports one, so `describe` prints it like docker).
    pub async fn get_stream(
        &self,
        path: &str,
    ) -> Result<impl Stream<Item = Result<Bytes>> + Unpin> {
        let mut conn = self.connect_raw().await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await?;
        let mut buf = Vec::new();
        let header_end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                bail!("daemon closed the connection");
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let chunked = head.contains("transfer-encoding: chunked");
        let mut rest = buf[header_end..].to_vec();
        if status != 200 {
            conn.read_to_end(&mut rest).await?;
            return Err(server_error(status, &decode_body(&rest, chunked)?).into());
        }
        let decoder = chunked.then(ChunkDecoder::default);
        let state = (conn, decoder, Some(rest));
        Ok(Box::pin(futures_util::stream::unfold(
            state,
            |(mut conn, mut decoder, first)| async move {
                let data = match first {
                    Some(d) if !d.is_empty() => d,
                    _ => {
                        let mut chunk = vec![0u8; 16 * 1024];
                        match conn.read(&mut chunk).await {
                            Ok(0) => return None,
                            Ok(n) => chunk[..n].to_vec(),
                            Err(e) => return Some((Err(e.into()), (conn, decoder, None))),
                        }
                    }
                };
                let decoded = match decoder.as_mut() {
                    Some(d) => d.push(&data),
                    None => Ok(data),
                };
                Some((decoded.map(Bytes::from), (conn, decoder, None)))
            },
        )))
    }
}

/// Escapes a path segment or query value (RFC 3986 unreserved characters kept).
pub fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_decode_across_pushes() {
        let mut d = ChunkDecoder::default();
        let mut out = d.push(b"5\r\nhel").unwrap();
        out.extend(d.push(b"lo\r\n3;x=1\r\n wo\r").unwrap());
        out.extend(d.push(b"\n0\r\n\r\n").unwrap());
        assert_eq!(out, b"hello wo");
        assert!(d.done);
        assert!(ChunkDecoder::default().push(b"zz\r\n").is_err());
    }

    #[test]
    fn frames_split_by_header_length() {
        let mut d = FrameDecoder::default();
        let mut bytes = vec![1, 0, 0, 0, 0, 0, 0, 3];
        bytes.extend(b"abc");
        bytes.extend([2, 0, 0, 0, 0, 0, 0, 2, b'e']);
        let frames = d.push(&bytes);
        assert_eq!(frames, vec![(1, b"abc".to_vec())]);
        assert_eq!(d.push(b"r"), vec![(2, b"er".to_vec())]);
        assert!(d.push(&[1, 0, 0]).is_empty());
    }
}
