//! Output streams: Docker's 8-byte-header multiplexed frames (no TTY) or raw bytes (TTY), sent
//! either as a chunked body or over a connection upgraded with `101 UPGRADED`; and chunked
//! bodies written by blocking engine code (image archives).

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use std::io::{self, Write};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::engine::container::logs::{LogChunk, Output};
use crate::listen::UnixConnFd;
use crate::runtime::logfile::Stream;

/// Content type of a multiplexed stream.
pub const MUX: &str = "application/vnd.docker.multiplexed-stream";
/// Content type of a raw (TTY) stream.
pub const RAW: &str = "application/vnd.docker.raw-stream";

/// The chunk's frames, one per message it batches: `[stream, 0, 0, 0, len as big-endian u32]`
/// then the bytes; raw when `tty`.
pub fn frame(chunk: &LogChunk, tty: bool) -> Bytes {
    if tty {
        return Bytes::copy_from_slice(&chunk.bytes);
    }
    let kind = match chunk.stream {
        Stream::Stdout => 1u8,
        Stream::Stderr => 2u8,
    };
    let mut out = Vec::with_capacity(8 * (1 + chunk.starts.len()) + chunk.bytes.len());
    let ends = chunk.starts.iter().copied().chain([chunk.bytes.len()]);
    let mut start = 0;
    for end in ends {
        let piece = chunk.bytes.get(start..end).unwrap_or_default();
        let len = u32::try_from(piece.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&[kind, 0, 0, 0]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(piece);
        start = end;
    }
    Bytes::from(out)
}

/// A chunked response body carrying `output`.
pub fn body_response(output: Output) -> Response {
    let tty = output.tty;
    let stream = futures_util::stream::unfold(output.chunks, move |mut rx| async move {
        rx.recv()
            .await
            .map(|c| (Ok::<_, std::io::Error>(frame(&c, tty)), rx))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if tty { RAW } else { MUX }),
    );
    resp
}

/// Bytes per chunk of a [`blocking_body`].
const BODY_CHUNK: usize = 64 * 1024;
/// Chunks queued ahead of the client: a slow client slows the writer instead of filling memory.
const BODY_CHUNKS_QUEUED: usize = 8;

/// A chunked body filled by `write` on a blocking thread. An error from `write` aborts the body,
/// so the client sees a cut transfer rather than a clean end; a client that goes away makes the
/// next write fail, which ends `write`.
pub fn blocking_body<F>(write: F) -> Body
where
    F: FnOnce(&mut dyn Write) -> crate::Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(BODY_CHUNKS_QUEUED);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(BODY_CHUNK),
        };
        let result = write(&mut out).and_then(|()| {
            out.flush()
                .map_err(|e| crate::EngineError::io("send response", e))
        });
        match result {
            Ok(()) => {}
            Err(crate::EngineError::Io { source, .. })
                if source.kind() == io::ErrorKind::BrokenPipe =>
            {
                tracing::debug!("client went away during a streamed response");
            }
            Err(e) => {
                tracing::warn!(error = %e, "streamed response failed");
                let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Body::from_stream(stream)
}

/// Collects writes into chunks and hands them to the response body.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(BODY_CHUNK));
        self.tx
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(BODY_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == BODY_CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.send()
    }
}

/// True when the client asked to upgrade the connection (docker attach does).
pub fn wants_upgrade(req: &Request) -> bool {
    req.headers().get(header::UPGRADE).is_some()
}

/// Docker's default detach sequence, ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

/// Parses Docker's `detachKeys` (`ctrl-p,ctrl-q`, `a,ctrl-b`); empty means the default.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    if spec.is_empty() {
        return Ok(DEFAULT_DETACH_KEYS.to_vec());
    }
    spec.split(',')
        .map(|key| match key.strip_prefix("ctrl-") {
            Some(c) if c.len() == 1 => {
                let b = c.as_bytes()[0];
                match b {
                    b'a'..=b'z' => Ok(b - b'a' + 1),
                    b'@' => Ok(0),
                    b'[' | b'\\' | b']' | b'^' | b'_' => Ok(b - b'@'),
                    _ => Err(format!("Unknown character: '{c}'")),
                }
            }
            None if key.len() == 1 => Ok(key.as_bytes()[0]),
            _ => Err(format!("Unknown character: '{key}'")),
        })
        .collect()
}

/// Answers `101 UPGRADED` and writes the output `start` gives to the raw connection until it
/// ends; `start` runs once the answer is on its way, as Docker starts an exec only after it has
/// written the 101. A client that reads the answer through a buffer (docker-py's `http.client`)
/// and then takes the raw socket loses what came with the answer, so on a unix connection the
/// first output waits until the client has read the answer (`until_read_by_peer`): docker-py's
/// `attach(logs=True)` of a stopped container got nothing in 19 tries of 100 (dockerd 20.10's
/// in 52). A failed `start` is written to the stream, as Docker does. Typing `detach_keys` on
/// stdin ends the attach (the container keeps running), as in Docker.
pub fn upgrade_response<F>(req: &mut Request, tty: bool, start: F, detach_keys: Vec<u8>) -> Response
where
    F: std::future::Future<Output = Result<Output, String>> + Send + 'static,
{
    let mut peer_fd = req
        .extensions()
        .get::<ConnectInfo<UnixConnFd>>()
        .map(|info| info.0 .0);
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "attach upgrade failed");
                return;
            }
        };
        let (reader, mut io) = tokio::io::split(TokioIo::new(upgraded));
        let output = match start.await {
            Ok(output) => output,
            Err(message) => {
                let chunk = LogChunk {
                    stream: Stream::Stdout,
                    bytes: format!("{message}\r\n").into_bytes(),
                    starts: Vec::new(),
                };
                if let Some(fd) = peer_fd {
                    until_read_by_peer(fd).await;
                }
                let _ = io.write_all(&frame(&chunk, tty)).await;
                let _ = io.shutdown().await;
                return;
            }
        };
        let (detached_tx, detached) = tokio::sync::oneshot::channel::<()>();
        // Fused: once the stdin side ended without a detach, the receiver stays pending instead
        // of being polled after completion (which panics).
        let mut detached = futures_util::FutureExt::fuse(detached);
        if let Some(sink) = output.stdin {
            tokio::spawn(async move {
                if let Some(mut target) = sink.connect().await {
                    // The client's half-close ends the copy; shutting down our write side tells
                    // the monitor, which closes the container's stdin when it is `StdinOnce`.
                    if copy_until_detach(reader, &mut target, &detach_keys).await {
                        let _ = detached_tx.send(());
                    }
                    let _ = target.shutdown().await;
                }
            });
        }
        let mut rx = output.chunks;
        loop {
            let chunk = tokio::select! {
                c = rx.recv() => c,
                Ok(()) = &mut detached => None,
            };
            let Some(chunk) = chunk else { break };
            if let Some(fd) = peer_fd.take() {
                until_read_by_peer(fd).await;
            }
            if io.write_all(&frame(&chunk, tty)).await.is_err() {
                return;
            }
        }
        let _ = io.flush().await;
        let _ = io.shutdown().await;
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if tty { RAW } else { MUX }),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    resp
}

/// How long the first output waits for the client to read the `101` before it goes anyway
/// (a client that reads nothing until it has written its input).
const PEER_READ_WAIT: Duration = Duration::from_secs(1);

/// Returns once the client has read everything written to its unix connection `fd` so far
/// (the kernel's count of unread bytes, `SIOCOUTQ`, is zero), or after `PEER_READ_WAIT`. `fd`
/// must stay open meanwhile: the caller holds the upgraded connection.
async fn until_read_by_peer(fd: RawFd) {
    let deadline = Instant::now() + PEER_READ_WAIT;
    loop {
        let mut unread: libc::c_int = 0;
        // SAFETY: SIOCOUTQ (TIOCOUTQ's number) writes one c_int to the pointer we pass; `fd`
        // is the open connection the caller holds.
        let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut unread) };
        if r != 0 || unread == 0 || Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Copies the client's input to `target` until EOF (false) or the detach sequence (true);
/// the sequence itself is not forwarded, a partial match that breaks off is.
async fn copy_until_detach(
    mut reader: impl tokio::io::AsyncRead + Unpin,
    target: &mut (impl tokio::io::AsyncWrite + Unpin + ?Sized),
    keys: &[u8],
) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 32 * 1024];
    let mut matched = 0usize;
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n);
        for &b in &buf[..n] {
            if !keys.is_empty() && b == keys[matched] {
                matched += 1;
                if matched == keys.len() {
                    let _ = target.write_all(&out).await;
                    return true;
                }
                continue;
            }
            out.extend_from_slice(&keys[..matched]);
            matched = 0;
            if !keys.is_empty() && b == keys[0] {
                matched = 1;
                continue;
            }
            out.push(b);
        }
        if target.write_all(&out).await.is_err() {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_batched_message_gets_its_own_frame() {
        let chunk = LogChunk {
            stream: Stream::Stderr,
            bytes: b"hello\nworld\n".to_vec(),
            starts: vec![6],
        };
        assert_eq!(
            frame(&chunk, false).as_ref(),
            b"\x02\0\0\0\0\0\0\x06hello\n\x02\0\0\0\0\0\0\x06world\n"
        );
        assert_eq!(frame(&chunk, true).as_ref(), b"hello\nworld\n");
    }

    #[test]
    fn detach_keys_parse_like_dockers() {
        assert_eq!(parse_detach_keys("").unwrap(), vec![0x10, 0x11]);
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse_detach_keys("ctrl-[").unwrap(), vec![27]);
        assert!(parse_detach_keys("ctrl-ab").is_err());
    }

    #[tokio::test]
    async fn the_detach_sequence_ends_the_copy_and_is_not_forwarded() {
        let mut out = Vec::new();
        let input: &[u8] = &[b'a', 0x10, b'b', 0x10, 0x11, b'c'];
        assert!(copy_until_detach(input, &mut out, &[0x10, 0x11]).await);
        assert_eq!(out, vec![b'a', 0x10, b'b']);
        let mut out = Vec::new();
        assert!(!copy_until_detach(&b"plain"[..], &mut out, &[0x10, 0x11]).await);
        assert_eq!(out, b"plain");
    }

    #[test]
    fn frames_carry_stream_and_big_endian_length() {
        let c = LogChunk {
            stream: Stream::Stderr,
            bytes: b"hi\n".to_vec(),
            starts: Vec::new(),
        };
        assert_eq!(
            &frame(&c, false)[..],
            &[2, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n']
        );
        assert_eq!(&frame(&c, true)[..], b"hi\n");
    }

    #[tokio::test]
    async fn a_blocking_body_carries_everything_written() {
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        let expected = data.clone();
        let body = blocking_body(move |out| {
            out.write_all(&data)
                .map_err(|e| crate::EngineError::io("write", e))
        });
        let got = http_body_util::BodyExt::collect(body).await.unwrap();
        assert_eq!(got.to_bytes(), expected);
    }

    #[tokio::test]
    async fn a_failing_writer_aborts_the_body() {
        let body = blocking_body(|out| {
            out.write_all(&[7; BODY_CHUNK + 1])
                .map_err(|e| crate::EngineError::io("write", e))?;
            Err(crate::EngineError::Internal("disk on fire".into()))
        });
        let err = http_body_util::BodyExt::collect(body).await.unwrap_err();
        assert!(err.to_string().contains("disk on fire"), "{err}");
    }
}
