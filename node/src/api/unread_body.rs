//! What a handler leaves of a request's body is read before the answer goes out, up to 256 KiB
//! (dockerd's `maxPostHandlerReadBytes`): an answer given before the body was read (an unknown
//! path, a method the path lacks, a missing container) otherwise closes the connection under a
//! client still sending, which gets a broken pipe or a reset instead of the answer. Past the
//! limit, or if the client stalls, the answer says `Connection: close`, as dockerd's does.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header::{HeaderValue, CONNECTION};
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
