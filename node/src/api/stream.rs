//! Output streams: Docker's 8-byte-header multiplexed frames (no TTY) or raw bytes (TTY), sent
//! either as a chunked body or over a connection upgraded with `101 UPGRADED`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

use crate::engine::container::logs::{LogChunk, Output};
use crate::runtime::logfile::Stream;

/// Content type of a multiplexed stream.
pub const MUX: &str = "application/vnd.docker.multiplexed-stream";
/// Content type of a raw (TTY) stream.
pub const RAW: &str = "application/vnd.docker.raw-stream";

/// One frame: `[stream, 0, 0, 0, len as big-endian u32]` then the bytes; raw when `tty`.
pub fn frame(chunk: &LogChunk, tty: bool) -> Bytes {
    if tty {
        return Bytes::copy_from_slice(&chunk.bytes);
    }
    let kind = match chunk.stream {
        Stream::Stdout => 1u8,
        Stream::Stderr => 2u8,
    };
    let len = u32::try_from(chunk.bytes.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(8 + chunk.bytes.len());
    out.extend_from_slice(&[kind, 0, 0, 0]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&chunk.bytes);
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

/// True when the client asked to upgrade the connection (docker attach does).
pub fn wants_upgrade(req: &Request) -> bool {
    req.headers().get(header::UPGRADE).is_some()
}

/// Answers `101 UPGRADED` and writes `output` to the raw connection until it ends.
pub fn upgrade_response(req: &mut Request, output: Output) -> Response {
    let on_upgrade = hyper::upgrade::on(req);
    let tty = output.tty;
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "attach upgrade failed");
                return;
            }
        };
        let (mut reader, mut io) = tokio::io::split(TokioIo::new(upgraded));
        if let Some(sink) = output.stdin {
            tokio::spawn(async move {
                if let Some(mut target) = sink.connect().await {
                    // The client's half-close ends the copy; shutting down our write side tells
                    // the monitor, which closes the container's stdin when it is `StdinOnce`.
                    let _ = tokio::io::copy(&mut reader, &mut target).await;
                    let _ = target.shutdown().await;
                }
            });
        }
        let mut rx = output.chunks;
        while let Some(chunk) = rx.recv().await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_stream_and_big_endian_length() {
        let c = LogChunk {
            stream: Stream::Stderr,
            bytes: b"hi\n".to_vec(),
        };
        assert_eq!(
            &frame(&c, false)[..],
            &[2, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n']
        );
        assert_eq!(&frame(&c, true)[..], b"hi\n");
    }
}
