//! Registry routes: pull (`POST /images/create?fromImage=`), push (`POST /images/{name}/push`),
//! `GET /distribution/{name}/json` and `POST /auth`. Errors found before any progress (unknown
//! image, refused credentials) are plain JSON errors with a status code; later ones end the
//! JSON message stream with an `errorDetail` line, as dockerd does.

use std::future::Future;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::convert::image as conv;
use super::convert::image::PullTarget;
use super::convert::query::Query;
use super::error::ApiResult;
use super::AppState;
use crate::engine::image::registry::{Operation, Session};
use crate::engine::image::{ProgressSink, PullRequest, PushRequest, Reference};
use crate::error::{EngineError, Result};

const AUTH_HEADER: &str = "x-registry-auth";
/// Lines queued ahead of a slow client.
const QUEUED_LINES: usize = 64;

fn auth_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(AUTH_HEADER).and_then(|v| v.to_str().ok())
}

/// `POST /images/create?fromImage=&tag=&platform=`; without a tag, every tag of the
/// repository, one after the other, as Docker's.
pub async fn pull(engine: AppState, q: &Query, headers: &HeaderMap) -> ApiResult<Response> {
    let from = q.get("fromImage").unwrap_or_default();
    let target = conv::pull_target(from, q.get("tag"))?;
    let platform = conv::platform(q.get("platform"))?;
    let credentials = conv::registry_auth(auth_header(headers))?;
    let repo = match target {
        PullTarget::One(reference) => {
            let req = PullRequest {
                reference,
                platform,
                credentials,
            };
            let prepared = engine.images().prepare_pull(&req).await?;
            return Ok(progress_stream(move |sink| async move {
                prepared.run(&sink).await.map(drop)
            }));
        }
        PullTarget::EveryTag(repo) => repo,
    };
    let tags = engine.images().repository_tags(&repo, &credentials).await?;
    Ok(progress_stream(move |sink| async move {
        for tag in tags {
            let req = PullRequest {
                reference: repo.clone().with_tag(&tag)?,
                platform: platform.clone(),
                credentials: credentials.clone(),
            };
            engine.images().prepare_pull(&req).await?.run(&sink).await?;
        }
        Ok(())
    }))
}

/// `POST /images/{name}/push?tag=`
pub async fn push(
    engine: AppState,
    name: &str,
    q: &Query,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let req = PushRequest {
        reference: conv::push_reference(name, q.get("tag"))?,
        credentials: conv::registry_auth(auth_header(headers))?,
    };
    // API 1.46's `platform`: the image must be of it (berth's images have one platform).
    if let Some(want) = conv::oci_platform(q.get("platform"))? {
        crate::engine::image::check_platform(name, &engine.images().resolve(name)?, &want)?;
    }
    let targets = engine.images().push_targets(&req.reference)?;
    Ok(progress_stream(move |sink| async move {
        engine.images().push(&req, targets, &sink).await
    }))
}

/// `GET /distribution/{name}/json`
pub async fn distribution(
    engine: AppState,
    name: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let reference = Reference::parse(name)?;
    let creds = conv::registry_auth(auth_header(headers))?;
    let info = engine
        .images()
        .distribution_info(&reference, &creds)
        .await?;
    Ok(Json(conv::distribution(&info)).into_response())
}

/// `POST /auth`: checks credentials against the registry (`docker login` through berthd).
pub async fn login(engine: AppState, body: Bytes) -> ApiResult<Response> {
    let (server, creds) = conv::login_request(&body)?;
    // Any repository name will do: the check is the authentication itself.
    let probe = Reference::parse(&format!("{server}/berth-login-check"))?;
    let cfg = engine.images().registry_config()?;
    Session::connect(&cfg, &probe, &creds, Operation::Pull)
        .await?
        .check_credentials()
        .await?;
    Ok(Json(serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""})).into_response())
}

/// A response carrying Docker's JSON message stream of `op`'s progress; a failure becomes the
/// final `errorDetail` line. The operation runs to its end even when the client goes away.
pub(super) fn progress_stream<F, Fut>(op: F) -> Response
where
    F: FnOnce(ProgressSink) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let (body_tx, body_rx) = mpsc::channel::<std::io::Result<Bytes>>(QUEUED_LINES);
    let (sink, mut events) = ProgressSink::channel();
    let work = op(sink);
    tokio::spawn(async move {
        let line = |v: serde_json::Value| {
            let mut b = v.to_string().into_bytes();
            b.push(b'\n');
            Ok(Bytes::from(b))
        };
        let work = tokio::spawn(work);
        // The sink lives inside `work`: the channel closes when the operation ends.
        while let Some(event) = events.recv().await {
            let _ = body_tx.send(line(conv::progress_message(&event))).await;
        }
        let result = work
            .await
            .unwrap_or_else(|e| Err(EngineError::Internal(format!("registry task: {e}"))));
        if let Err(e) = result {
            tracing::warn!(error = %e, "registry operation failed");
            let _ = body_tx.send(line(conv::error_message(&e))).await;
        }
    });
    let stream = futures_util::stream::unfold(body_rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
