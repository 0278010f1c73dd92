//! Container routes: extract, convert, call the engine, convert back.

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bollard_stubs::models::{ContainerCreateBody, ContainerCreateResponse, ContainerWaitResponse};

use super::convert::container as conv;
use super::convert::docker_order::{self, InDockerOrder};
use super::convert::query::Query;
use super::error::{ApiError, ApiResult};
use super::json_body::JsonBody;
use super::{stream, AppState};
use crate::engine::container::logs::AttachRequest;
use crate::engine::container::start::StartOutcome;
use crate::engine::container::stop::StopOutcome;
use crate::engine::req::{ListContainers, ListFilters, LogsRequest, WaitCondition};

/// `POST /containers/create?name=&platform=`
pub async fn create(
    State(engine): State<AppState>,
    version: super::ApiVersion,
    RawQuery(q): RawQuery,
    body: JsonBody,
) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    let mut raw = body.parse_as::<ContainerCreateBody>()?;
    super::convert::network::migrate_mac_address(&mut raw)?;
    super::convert::support::check_create(&raw)?;
    let body: ContainerCreateBody = serde_json::from_value(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let mut req = conv::create_request(body, q.get("name").map(String::from), version)?;
    req.platform = super::convert::image::platform(q.get("platform"))?;
    let (id, warnings) = engine.create_container(req).await?;
    Ok((
        StatusCode::CREATED,
        Json(ContainerCreateResponse { id, warnings }),
    ))
}

/// `GET /containers/json?all=&limit=&size=&filters=`
pub async fn list(
    State(engine): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    let mut f = q.filters()?;
    let mut take = |k: &str| f.remove(k).unwrap_or_default();
    let filters = ListFilters {
        status: take("status"),
        name: take("name"),
        label: take("label"),
        id: take("id"),
        ancestor: take("ancestor"),
        exited: take("exited")
            .iter()
            .map(|e| {
                e.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid filter 'exited={e}'")))
            })
            .collect::<ApiResult<_>>()?,
        before: take("before").pop(),
        since: take("since").pop(),
        network: take("network"),
        volume: take("volume"),
        publish: take("publish"),
        expose: take("expose"),
        health: take("health"),
        isolation: take("isolation"),
        is_task: match take("is-task").pop().as_deref() {
            None => None,
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter 'is-task={other}'"
                )))
            }
        },
    };
    if let Some(k) = f.keys().next() {
        return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
    }
    let limit = q.int("limit")?.and_then(|l| usize::try_from(l).ok());
    let req = ListContainers {
        all: q.flag("all", false),
        limit,
        filters,
    };
    let with_size = q.flag("size", false);
    let recs = engine.list_containers(&req).await?;
    let volumes = engine.volumes_root();
    // The version first: what is read after it is at least as new.
    let version = engine.networks().version();
    let networks = engine.network_index()?;
    let now = chrono::Utc::now();
    let encode_error = |e: serde_json::Error| {
        ApiError::from(crate::error::EngineError::Internal(format!(
            "container list: {e}"
        )))
    };
    let mut rows = Vec::with_capacity(recs.len());
    for rec in &recs {
        // The summary without its status, which moves with the clock: kept from the last
        // list while the container and its networks are as they were.
        let row = engine.list_row(rec, version, &networks, |nets| {
            let mut s = conv::summary(rec, nets, &volumes);
            s.status = None;
            if rec.state.status.is_running() {
                s.ports = Some(conv::port_summaries(nets, &rec.config.exposed_ports));
            }
            let row = conv::summary_value(&s).map_err(encode_error)?;
            serde_json::to_vec(&row).map_err(encode_error)
        })?;
        let sizes = match with_size {
            true => Some(engine.container_size(rec).await),
            false => None,
        };
        rows.push((row, conv::status_text(rec, now), sizes));
    }
    let mut body = Vec::with_capacity(rows.iter().map(|(r, ..)| r.len() + 64).sum::<usize>() + 2);
    body.push(b'[');
    for (i, (row, status, sizes)) in rows.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        // A row is one JSON object (never empty: it has an Id); the status closes it, and
        // the sizes when asked for.
        body.extend_from_slice(row.strip_suffix(b"}").unwrap_or(row));
        body.extend_from_slice(b",\"Status\":");
        serde_json::to_writer(&mut body, status).map_err(encode_error)?;
        if let Some((rw, root)) = sizes {
            body.extend_from_slice(format!(",\"SizeRw\":{rw},\"SizeRootFs\":{root}").as_bytes());
        }
        body.push(b'}');
    }
    body.push(b']');
    Ok(super::json_body::json_response(body))
}

/// `GET /containers/{id}/json?size=`
pub async fn inspect(
    State(engine): State<AppState>,
    version: super::ApiVersion,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    let rec = engine.inspect_container(&id).await?;
    let dir = engine.paths().container_dir(&rec.id);
    let mut inspect = conv::inspect(&rec, &dir);
    if q.flag("size", false) {
        let (rw, root) = engine.container_size(&rec).await;
        (inspect.size_rw, inspect.size_root_fs) = (Some(rw), Some(root));
    }
    let mut v = serde_json::to_value(inspect).unwrap_or_default();
    let sandbox = engine
        .netns_for(&rec)
        .ok()
        .flatten()
        .filter(|_| rec.state.status.is_running());
    let running = rec.state.status.is_running();
    let exposed: &[String] = if running {
        &rec.config.exposed_ports
    } else {
        &[]
    };
    let nets = super::convert::network::settings(
        &engine.container_networks(&rec),
        &conv::named(&rec),
        version,
        sandbox.map(|p| (rec.id.as_str(), p.display().to_string())),
        exposed,
    );
    if let Some(m) = v.as_object_mut() {
        m.insert("NetworkSettings".into(), nets);
    }
    let apparmor = crate::engine::container::security::apparmor_profile(
        &rec.host.security,
        engine.host_facts(),
    )
    .unwrap_or_default();
    super::convert::inspect_defaults::fill(&mut v, graph_driver(&engine, &rec), apparmor);
    Ok(Json(InDockerOrder(v, &docker_order::CONTAINER_INSPECT)))
}

/// Inspect's `GraphDriver`: the container's overlay directories, as Docker's overlay2 names
/// them (`LowerDir` top layer first; left out when the image's layers are gone).
fn graph_driver(
    engine: &AppState,
    rec: &crate::engine::container::types::ContainerRecord,
) -> serde_json::Value {
    let dir = engine.paths().container_dir(&rec.id);
    let mut data = serde_json::json!({
        "MergedDir": engine.paths().rootfs_dir(&rec.id),
        "UpperDir": dir.join("upper"),
        "WorkDir": dir.join("work"),
    });
    let lower = engine
        .images()
        .resolve(&rec.config.image_id)
        .and_then(|img| engine.images().layer_dirs(&img));
    if let (Ok(layers), Some(m)) = (lower, data.as_object_mut()) {
        let top_first: Vec<String> = layers
            .iter()
            .rev()
            .map(|l| l.display().to_string())
            .collect();
        m.insert("LowerDir".into(), top_first.join(":").into());
    }
    serde_json::json!({"Name": "overlay2", "Data": data})
}

/// `POST /containers/{id}/start` — 304 when it already runs. A body (a HostConfig, before API
/// 1.24) and checkpoints are refused, as Docker does.
pub async fn start(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    if let Some(k) = ["checkpoint", "checkpoint-dir"]
        .into_iter()
        .find(|k| q.get(k).is_some_and(|v| !v.is_empty()))
    {
        return Err(ApiError::bad_request(format!(
            "{k} is not supported by berth: checkpoint and restore are not supported"
        )));
    }
    // Read whole (a client still writing would see its connection reset instead of the
    // answer); Docker's test: a JSON object is at least 7 bytes, `{}` and `null` pass.
    if body.len() > 7 {
        return Err(ApiError::bad_request(
            "starting container with non-empty request body was deprecated since API v1.22 and \
             removed in v1.24",
        ));
    }
    Ok(match engine.start_container(&id).await? {
        StartOutcome::Started => StatusCode::NO_CONTENT,
        StartOutcome::AlreadyRunning => StatusCode::NOT_MODIFIED,
    })
}

/// `POST /containers/{id}/stop?t=&signal=` — 304 when it was not running.
pub async fn stop(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    let t = q.int("t")?;
    Ok(
        match engine
            .stop_container(&id, t, q.get("signal").filter(|s| !s.is_empty()))
            .await?
        {
            StopOutcome::Stopped => StatusCode::NO_CONTENT,
            StopOutcome::NotRunning => StatusCode::NOT_MODIFIED,
        },
    )
}

/// `POST /containers/{id}/restart?t=&signal=`
pub async fn restart(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    let t = q.int("t")?;
    let signal = q.get("signal").filter(|s| !s.is_empty());
    engine.restart_container(&id, t, signal).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/kill?signal=`
pub async fn kill(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    engine.kill_container(&id, q.get("signal")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /containers/{id}?force=&v=&link=` (with `link`, `id` is a link's `/parent/alias`).
pub async fn remove(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    if q.flag("link", false) {
        engine.remove_link(&id).await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    engine
        .remove_container_with(&id, q.flag("force", false), q.flag("v", false))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Paths no route matches: `DELETE /containers/<parent>/<alias>?link=1` (`docker rm --link
/// /web/db`, a link's name has a slash) removes that link; the rest are dockerd's 404.
pub async fn fallback(
    State(engine): State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> ApiResult<StatusCode> {
    let q = Query::parse(uri.query());
    let link = uri
        .path()
        .strip_prefix("/containers/")
        .filter(|l| method == axum::http::Method::DELETE && l.contains('/'))
        .filter(|_| q.flag("link", false));
    match link {
        Some(name) => {
            engine.remove_link(name).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(super::error::page_not_found()),
    }
}

/// `POST /containers/{id}/wait?condition=` — headers go out at once, the body at the exit.
pub async fn wait(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let cond = match q.get("condition").unwrap_or("") {
        "" | "not-running" => WaitCondition::NotRunning,
        "next-exit" => WaitCondition::NextExit,
        "removed" => WaitCondition::Removed,
        other => return Err(ApiError::bad_request(format!("invalid condition: {other}"))),
    };
    let done = engine.wait_container(&id, cond).await?;
    let body = futures_util::stream::once(async move {
        let code = done.await;
        let mut json = serde_json::to_vec(&ContainerWaitResponse {
            status_code: code,
            error: None,
        })
        .unwrap_or_default();
        json.push(b'\n');
        Ok::<_, std::io::Error>(Bytes::from(json))
    });
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// `GET /containers/{id}/logs?stdout=&stderr=&follow=&tail=&since=&until=&timestamps=&details=`
pub async fn logs(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let req = logs_request(&q)?;
    let out = engine.logs(&id, req).await?;
    Ok(stream::body_response(out))
}

/// The logs request of a query (`stdout`, `stderr`, `follow`, `tail`, `since`, `until`,
/// `timestamps`, `details`); neither stream is Docker's 400.
pub fn logs_request(q: &Query) -> ApiResult<LogsRequest> {
    let tail = match q.get("tail") {
        None | Some("all") | Some("") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid tail: {n}")))?,
        ),
    };
    let time = |k: &str| -> ApiResult<Option<f64>> {
        match q.get(k).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse::<f64>().map(Some).or_else(|_| {
                chrono::DateTime::parse_from_rfc3339(v)
                    .map(|t| Some(t.timestamp() as f64))
                    .map_err(|_| ApiError::bad_request(format!("invalid {k}: {v}")))
            }),
        }
    };
    let (stdout, stderr) = (q.flag("stdout", false), q.flag("stderr", false));
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    Ok(LogsRequest {
        stdout,
        stderr,
        follow: q.flag("follow", false),
        tail,
        since: time("since")?,
        until: time("until")?,
        timestamps: q.flag("timestamps", false),
        details: q.flag("details", false),
        extra_details: Default::default(),
    })
}

/// `POST /containers/{id}/attach?stream=&logs=&stdin=&stdout=&stderr=&detachKeys=` — upgrades
/// the connection.
pub async fn attach(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let q = Query::parse(req.uri().query());
    let a = AttachRequest {
        stdout: q.flag("stdout", false),
        stderr: q.flag("stderr", false),
        stdin: q.flag("stdin", false),
        logs: q.flag("logs", false),
        stream: q.flag("stream", false),
    };
    let out = engine.attach(&id, a).await?;
    let keys = stream::parse_detach_keys(q.get("detachKeys").unwrap_or(""))
        .map_err(super::error::ApiError::bad_request)?;
    if stream::wants_upgrade(&req) {
        let tty = out.tty;
        Ok(stream::upgrade_response(
            &mut req,
            tty,
            async move { Ok(out) },
            keys,
        ))
    } else {
        Ok(stream::body_response(out))
    }
}
