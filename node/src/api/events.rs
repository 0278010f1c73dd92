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
use super::error::{ApiError, ApiResult};
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
    if let (Some(since), Some(until)) = (since, until) {
        if until < since {
            return Err(ApiError::bad_request(format!(
                "`since` time ({}) cannot be after `until` time ({})",
                q.get("since").unwrap_or_default(),
                q.get("until").unwrap_or_default()
            )));
        }
    }
    let filter = EventFilter::new(q.filters()?)?;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    // Without `since`, only what happens from now on.
    let (past, rx) = engine.events().subscribe(since.unwrap_or(now + 1));
    let end = until.unwrap_or(i64::MAX);
    let replay: Vec<String> = past
        .iter()
        .filter(|e| e.time_nano <= end && filter.matches(e))
        .map(line)
        .collect();
    let live = async_stream(move |tx| forward(rx, tx, filter, end));
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

/// Sends the live events `filter` keeps as lines to `tx`, until `end` (ns) or until the
/// answer holding `tx`'s receiver is dropped.
async fn forward(
    mut rx: tokio::sync::broadcast::Receiver<crate::engine::events::Event>,
    tx: tokio::sync::mpsc::Sender<String>,
    filter: EventFilter,
    end: i64,
) {
    loop {
        let wait = if end == i64::MAX {
            Duration::MAX
        } else {
            let left = end.saturating_sub(chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0));
            Duration::from_nanos(u64::try_from(left).unwrap_or(0))
        };
        // Ends as soon as the answer is dropped (the client went away), not at the next
        // event's send: one event could be taken into the channel just before the drop, and
        // the subscription then lived on until a second one.
        let received = tokio::select! {
            r = tokio::time::timeout(wait, rx.recv()) => r,
            () = tx.closed() => return,
        };
        let next = match received {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dropped_answer_ends_its_subscription_without_another_event() {
        let (live, rx) = tokio::sync::broadcast::channel(8);
        let (tx, mut answer) = tokio::sync::mpsc::channel(8);
        let filter = EventFilter::new(Default::default()).unwrap_or_else(|e| panic!("{e:?}"));
        let task = tokio::spawn(forward(rx, tx, filter, i64::MAX));
        let event = crate::engine::events::Event {
            kind: "volume".into(),
            action: "create".into(),
            actor_id: "v".into(),
            attributes: Default::default(),
            time_nano: 1,
            swarm: false,
        };
        let _ = live.send(event);
        assert!(answer
            .recv()
            .await
            .is_some_and(|l| l.contains("\"create\"")));
        // The client goes away after that event: no other event comes.
        drop(answer);
        let ended = tokio::time::timeout(Duration::from_secs(10), task).await;
        assert!(ended.is_ok(), "the subscription outlived its answer");
        assert_eq!(live.receiver_count(), 0);
    }
}
