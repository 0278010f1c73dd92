//! Routes on a live container: pause, unpause, rename, top, stats.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bollard_stubs::models::ContainerTopResponse;

use super::convert::query::Query;
use super::convert::stats::stats_json;
use super::error::{ApiError, ApiResult};
use super::AppState;

/// How often a streaming `stats` reads, as Docker.
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// `POST /containers/{id}/pause`
pub async fn pause(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    engine.pause_container(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/unpause`
pub async fn unpause(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    engine.unpause_container(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/rename?name=`
pub async fn rename(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    let name = q
        .get("name")
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    engine.rename_container(&id, name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /containers/{id}/top?ps_args=`
pub async fn top(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    let t = engine.top(&id, q.get("ps_args")).await?;
    Ok(Json(ContainerTopResponse {
        titles: Some(t.titles),
        processes: Some(t.processes),
    }))
}

/// `GET /containers/{id}/stats?stream=&one-shot=`
pub async fn stats(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let stream = q.flag("stream", true);
    let one_shot = q.flag("one-shot", false);
    let first = engine.stats(&id).await?;
    if !stream {
        let body = if one_shot {
            stats_json(&first, None)
        } else {
            // Docker waits for a second reading so CPU percentages can be computed.
            tokio::time::sleep(STATS_INTERVAL).await;
            stats_json(&engine.stats(&id).await?, Some(&first))
        };
        return Ok(Json(body).into_response());
    }
    let frames = futures_util::stream::unfold(
        (engine, id, None, Some(first)),
        |(engine, id, before, ready)| async move {
            let now = match ready {
                Some(s) => s,
                None => {
                    tokio::time::sleep(STATS_INTERVAL).await;
                    engine.stats(&id).await.ok()?
                }
            };
            let mut line = stats_json(&now, before.as_ref()).to_string();
            line.push('\n');
            Some((Ok::<_, std::io::Error>(line), (engine, id, Some(now), None)))
        },
    );
    let mut resp = Response::new(Body::from_stream(frames));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
