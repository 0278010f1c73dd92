//! `GET /events`: past events from the ring (from `since`), then live ones until `until` or
//! until the client goes away.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::Response;
use futures_util::StreamExt;
use tokio::sync::broadcast::error::RecvError;

use super::convert::events::{event_json, parse_time, EventFilter};
use super::convert::query::Query;
use super::error::ApiResult;
use super::AppState;

/// `GET /events?since=&until=&filters=`
pub async fn events(State(engine): State<AppState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let since = q
        .get("since")
        .filter(|s| !s.is_empty())
        .map(parse_time)
        .transpose()?;
    let until = q
        .get("until")
        .filter(|s| !s.is_empty())
        .map(parse_time)
        .transpose()?;
    let filter = EventFilter::new(q.filters()?)?;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    // Without `since`, only what happens from now on.
    let (past, mut rx) = engine.events().subscribe(since.unwrap_or(now + 1));
    let end = until.unwrap_or(i64::MAX);
    let replay: Vec<String> = past
        .iter()
        .filter(|e| e.time_nano <= end && filter.matches(e))
        .map(line)
        .collect();
    let live = async_stream(move |tx| async move {
        loop {
            let wait = if end == i64::MAX {
                Duration::MAX
            } else {
                let left =
                    end.saturating_sub(chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0));
                Duration::from_nanos(u64::try_from(left).unwrap_or(0))
            };
            let next = match tokio::time::timeout(wait, rx.recv()).await {
                Err(_) => return, // `until` reached
                Ok(Ok(e)) => e,
                Ok(Err(RecvError::Lagged(_))) => continue,
                Ok(Err(RecvError::Closed)) => return,
            };
            if next.time_nano > end {
                return;
            }
            if filter.matches(&next) && tx.send(line(&next)).await.is_err() {
                return;
            }
        }
    });
    let body = futures_util::stream::iter(replay)
        .chain(live)
        .map(Ok::<_, std::io::Error>);
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

fn line(e: &crate::engine::events::Event) -> String {
    let mut s = event_json(e).to_string();
    s.push('\n');
    s
}

/// A stream fed by a task; the task ends when the stream is dropped (its sends fail).
fn async_stream<F, Fut>(f: F) -> impl futures_util::Stream<Item = String>
where
    F: FnOnce(tokio::sync::mpsc::Sender<String>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|s| (s, rx)) })
}
