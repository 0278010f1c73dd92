//! Exec routes: create, start (upgraded or streamed), inspect, resize.

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bollard_stubs::models::{ExecConfig, ExecStartConfig};

use super::convert::exec as conv;
use super::convert::query::Query;
use super::error::{ApiError, ApiResult};
use super::json_body::JsonBody;
use super::{stream, AppState};

/// `POST /containers/{id}/exec`
pub async fn create(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<impl IntoResponse> {
    let body: ExecConfig = body.parse()?;
    let exec_id = engine.create_exec(&id, conv::exec_config(body)).await?;
    // bollard's IdResponse serializes a lowercase `id`; clients read `Id`.
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "Id": exec_id })),
    ))
}

/// `POST /exec/{id}/start` — body `{"Detach":…,"Tty":…,"ConsoleSize":[h,w]}`.
pub async fn start(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("read body: {e}")))?;
    let body = JsonBody::check(&parts.headers, bytes)?;
    let cfg: ExecStartConfig = if body.is_blank() {
        ExecStartConfig::default()
    } else {
        body.parse()?
    };
    let detach = cfg.detach.unwrap_or(false);
    // Docker frames the output by the start request's `Tty`, not the exec's: docker-py starts a
    // TTY exec with `Tty: false` unless told otherwise, and reads frames.
    let raw = cfg.tty.unwrap_or(false);
    let size = super::convert::container::console_size(cfg.console_size.as_deref());
    let mut req = Request::from_parts(parts, axum::body::Body::empty());
    if !detach && stream::wants_upgrade(&req) {
        // Docker's order: refusals as answers, then the 101, then the process.
        let info = engine.check_exec_start(&id).await?;
        let keys =
            stream::parse_detach_keys(&info.config.detach_keys).map_err(ApiError::bad_request)?;
        let start = async move {
            let output = engine
                .start_exec(&id, false)
                .await
                .map_err(|e| e.to_string())?;
            if let Some([h, w]) = size {
                engine.resize_exec(&id, h, w).map_err(|e| e.to_string())?;
            }
            output.ok_or_else(|| "the exec was detached".to_string())
        };
        return Ok(stream::upgrade_response(&mut req, raw, start, keys));
    }
    let output = engine.start_exec(&id, detach).await?;
    if let Some([h, w]) = size {
        engine.resize_exec(&id, h, w)?;
    }
    match output {
        Some(mut output) => {
            output.tty = raw;
            Ok(stream::body_response(output))
        }
        None => Ok(StatusCode::OK.into_response()),
    }
}

/// `GET /exec/{id}/json`
pub async fn inspect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(conv::inspect(engine.inspect_exec(&id)?)))
}

/// `POST /exec/{id}/resize?h=&w=`
pub async fn resize(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let (h, w) = size(&Query::parse(q.as_deref()))?;
    engine.resize_exec(&id, h, w)?;
    Ok(StatusCode::OK)
}

/// `POST /containers/{id}/resize?h=&w=`
pub async fn resize_container(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let (h, w) = size(&Query::parse(q.as_deref()))?;
    engine.resize_container(&id, h, w).await?;
    Ok(StatusCode::OK)
}

fn size(q: &Query) -> Result<(u16, u16), ApiError> {
    let dim = |k: &str| -> Result<u16, ApiError> {
        let v = q.int(k)?.unwrap_or(0);
        u16::try_from(v).map_err(|_| ApiError::bad_request(format!("invalid {k}: {v}")))
    };
    Ok((dim("h")?, dim("w")?))
}
