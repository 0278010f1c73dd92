//! Build routes: `POST /build` (the classic builder's JSON message stream), `POST /commit`,
//! `POST /build/prune`, and BuildKit's `/session`, refused by name. As dockerd: an error before
//! any output is a plain HTTP error with its status; later ones end the stream with an
//! `errorDetail` line. With `q`, everything is held back and only the image id is sent (or,
//! on failure, what was held back and the error).

use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures_util::TryStreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::convert::build as conv;
use super::convert::query::Query;
use super::error::{ApiError, ApiResult};
use super::json_body::json_response;
use super::AppState;
use crate::engine::build::BuildOutput;
use crate::error::EngineError;

fn line(v: &Value) -> Bytes {
    let mut b = v.to_string().into_bytes();
    b.push(b'\n');
    Bytes::from(b)
}

/// `POST /build`
pub async fn build(State(engine): State<AppState>, req: Request) -> ApiResult<Response> {
    let q = Query::parse(req.uri().query());
    let checked = conv::build_options(&q).and_then(|opts| {
        let creds = conv::registry_config(
            req.headers()
                .get("x-registry-config")
                .and_then(|v| v.to_str().ok()),
        )?;
        Ok((opts, creds))
    });
    let (opts, creds) = match checked {
        Ok(c) => c,
        Err(e) => {
            drain(req.into_body()).await;
            return Err(e);
        }
    };
    let quiet = opts.quiet;
    let stream = req
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    // Read on the blocking pool (the context is unpacked there).
    let body = Box::new(tokio_util::io::SyncIoBridge::new(
        tokio_util::io::StreamReader::new(stream),
    ));
    let (out, mut events) = BuildOutput::channel();
    let task = tokio::spawn(async move { engine.build_image(body, opts, creds, out).await });
    let mut held = Vec::new();
    let first = if quiet {
        while let Some(e) = events.recv().await {
            held.push(line(&conv::event_message(&e)));
        }
        None
    } else {
        events.recv().await
    };
    let Some(first) = first else {
        // The build is over and nothing was sent yet.
        let result = task
            .await
            .map_err(|e| ApiError::from(EngineError::Internal(format!("build task: {e}"))))?;
        return match result {
            Ok(id) => {
                let v = serde_json::json!({ "stream": format!("{id}\n") });
                Ok(json_response(Body::from(line(&v))))
            }
            Err(e) if held.is_empty() => Err(ApiError::from(e)),
            Err(e) => {
                held.push(line(&conv::error_message(&e)));
                Ok(json_response(Body::from(held.concat())))
            }
        };
    };
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(64);
    tokio::spawn(async move {
        let _ = tx.send(Ok(line(&conv::event_message(&first)))).await;
        while let Some(e) = events.recv().await {
            let _ = tx.send(Ok(line(&conv::event_message(&e)))).await;
        }
        let result = task
            .await
            .unwrap_or_else(|e| Err(EngineError::Internal(format!("build task: {e}"))));
        if let Err(e) = result {
            tracing::info!(error = %e, "build failed");
            let _ = tx.send(Ok(line(&conv::error_message(&e)))).await;
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(json_response(Body::from_stream(body)))
}

/// `POST /commit`
pub async fn commit(
    State(engine): State<AppState>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let req = conv::commit_request(&Query::parse(q.as_deref()), &body)?;
    let id = engine.commit_container(req).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "Id": id }))).into_response())
}

/// `POST /build/prune?all=&filters=`
pub async fn prune(
    State(engine): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    let filter = cache_prune_filter(&q)?;
    for key in [
        "keep-storage",
        "reserved-space",
        "max-used-space",
        "min-free-space",
    ] {
        if q.int(key)?.unwrap_or(0) != 0 {
            return Err(ApiError::bad_request(format!(
                "{key} is not supported by berth's build cache"
            )));
        }
    }
    let (ids, freed) = engine
        .prune_build_cache(q.flag("all", false), &filter)
        .await?;
    let ids = if ids.is_empty() {
        Value::Null
    } else {
        serde_json::json!(ids)
    };
    Ok(Json(
        serde_json::json!({ "CachesDeleted": ids, "SpaceReclaimed": freed }),
    ))
}

/// The filters `/build/prune` applies: `until` (records made before it), as BuildKit's
/// keep-duration, and `label`/`label!` over the cached image's labels, which `system prune`
/// sends to every prune endpoint (BuildKit ignores labels; honouring them prunes no more than
/// asked). BuildKit's record filters (id, parent, type, …) have nothing to select here.
fn cache_prune_filter(q: &Query) -> ApiResult<crate::engine::prune::PruneFilter> {
    if let Some(k) = q
        .filters()?
        .keys()
        .find(|k| !matches!(k.as_str(), "until" | "label" | "label!"))
    {
        return Err(ApiError::bad_request(format!(
            "filter {k:?} is not supported by berth's build cache"
        )));
    }
    super::maintenance::prune_filter(q)
}

/// `/session`: BuildKit's session endpoint.
pub async fn session() -> ApiError {
    ApiError::bad_request(
        "BuildKit sessions (/session) are not supported by berth; build with the classic builder (DOCKER_BUILDKIT=0)",
    )
}

/// Reads (and drops) what is left of a refused request's body, up to a bound: the client is
/// still sending its build context, and a connection closed under it makes it report a broken
/// pipe instead of the refusal.
async fn drain(body: Body) {
    const LIMIT: usize = 64 << 20;
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    while let Ok(Some(chunk)) = stream.try_next().await {
        seen += chunk.len();
        if seen > LIMIT {
            break;
        }
    }
}
