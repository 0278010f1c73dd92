//! What a handler leaves of a request's body is read before the answer goes out, up to 256 KiB
//! (Go's `maxPostHandlerReadBytes`, which dockerd's server applies): an answer given before the body was read (an unknown
//! path, a method the path lacks, a missing container) otherwise closes the connection under a
//! client still sending, which gets a broken pipe or a reset instead of the answer. Past the
//! limit, or if the client stalls, the answer says `Connection: close`, as dockerd's does.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header::{HeaderValue, CONNECTION, EXPECT};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

/// How much of an unread body is read before answering.
const LIMIT: u64 = 256 << 10;

/// How long the reading may take: a client that stalls gets the answer and a closed connection.
const PATIENCE: Duration = Duration::from_secs(5);

/// Hands the body to the handler and reads what it left before the answer is sent.
pub async fn drain(req: Request, next: Next) -> Response {
    // A client that waits for `100 Continue` has sent nothing yet: reading would ask it for
    // the body only to throw it away. It gets the answer instead, and sends nothing.
    let expects = req
        .headers()
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let left = Arc::new(Mutex::new(None));
    let body = Body::new(Returned {
        inner: Some(body),
        left: left.clone(),
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    let unread = left.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(unread) = unread {
        let read_all = tokio::time::timeout(PATIENCE, read_up_to(unread, LIMIT)).await;
        if read_all != Ok(true) {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
    }
    response
}

/// Reads `body` to its end if it holds no more than `limit` bytes; whether it ended.
async fn read_up_to(mut body: Body, limit: u64) -> bool {
    if body.size_hint().lower() > limit {
        return false;
    }
    let mut read = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return false };
        if let Some(data) = frame.data_ref() {
            read = read.saturating_add(data.len() as u64);
            if read > limit {
                return false;
            }
        }
    }
    true
}

/// A request body that, dropped before its end, gives itself back to `drain`.
struct Returned {
    inner: Option<Body>,
    left: Arc<Mutex<Option<Body>>>,
}

impl HttpBody for Returned {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.inner.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        if let Some(body) = self.inner.take().filter(|b| !b.is_end_stream()) {
            *self.left.lock().unwrap_or_else(PoisonError::into_inner) = Some(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt;

    /// What an unknown path's answer read of a 100 KiB body, with and without
    /// `Expect: 100-continue`.
    async fn read_by_a_404(expect: bool) -> (axum::http::StatusCode, usize) {
        let read = Arc::new(AtomicUsize::new(0));
        let counted = read.clone();
        let chunks = futures_util::stream::iter((0..100).map(move |_| {
            counted.fetch_add(1024, Ordering::SeqCst);
            Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 1024]))
        }));
        let app = axum::Router::new()
            .fallback(|| async { axum::http::StatusCode::NOT_FOUND })
            .layer(axum::middleware::from_fn(drain));
        let mut req = Request::builder().method("POST").uri("/nowhere");
        if expect {
            req = req.header(EXPECT, "100-continue");
        }
        let req = req.body(Body::from_stream(chunks)).unwrap_or_default();
        let status = match app.oneshot(req).await {
            Ok(r) => r.status(),
            Err(never) => match never {},
        };
        (status, read.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn an_unread_body_is_read_before_the_answer_unless_the_client_waits_to_send_it() {
        use axum::http::StatusCode;
        assert_eq!(
            read_by_a_404(false).await,
            (StatusCode::NOT_FOUND, 100 << 10)
        );
        assert_eq!(read_by_a_404(true).await, (StatusCode::NOT_FOUND, 0));
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_read_to_its_end_and_a_longer_one_is_not() {
        assert!(read_up_to(Body::from(vec![b'x'; 1000]), 1000).await);
        assert!(!read_up_to(Body::from(vec![b'x'; 1001]), 1000).await);
        let chunks = futures_util::stream::iter(
            (0..3).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 400]))),
        );
        // Chunked, so its length is known only as it is read.
        assert!(!read_up_to(Body::from_stream(chunks), 1000).await);
        assert!(read_up_to(Body::empty(), 0).await);
    }
}
