//! Image routes. Names may contain slashes (`docker.io/library/busybox`), so the by-name routes
//! take the rest of the path and split off the action at the end.

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::TryStreamExt;

use super::convert::docker_order::{self, InDockerOrder};
use super::convert::image as conv;
use super::convert::query::Query;
use super::error::{ApiError, ApiResult};
use super::{stream, ApiVersion, AppState};
use crate::error::EngineError;

/// `GET /images/json`
pub async fn list(
    State(engine): State<AppState>,
    version: ApiVersion,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    let mut filter = image_filter(&engine, &q)?;
    // Before API 1.25, `filter=` named images as the `reference` filter does (moby reads it
    // there unless a `reference` filter is given).
    if version < ApiVersion(1, 25) && filter.reference.is_empty() {
        if let Some(name) = q.get("filter").filter(|n| !n.is_empty()) {
            filter.reference = vec![name.to_string()];
        }
    }
    let mut imgs = engine.images().list()?;
    // As dockerd, the untagged images builds were made of are listed only with `all`.
    if !q.flag("all", false) {
        let children = engine.images().child_counts()?;
        imgs.retain(|i| !crate::engine::image::is_intermediate(i, &children));
    }
    imgs.retain(|i| filter.matches(i));
    for i in &mut imgs {
        i.repo_tags = filter.matching_tags(i);
    }
    imgs.sort_by_key(|i| std::cmp::Reverse(i.created));
    let mut rows: Vec<_> = imgs.iter().map(conv::summary).collect();
    if q.flag("shared-size", false) {
        // Sharing is among all images, not only the listed ones.
        let (shared, _) = engine.layer_sharing(&engine.images().list()?);
        for row in &mut rows {
            row.shared_size = shared.get(&row.id).copied().unwrap_or(0);
        }
    }
    let mut rows = serde_json::to_value(rows).unwrap_or_default();
    // Before API 1.44 moby's rows carry `VirtualSize`, the size again, which clients of that
    // age show (docker 20.10's `images` prints its SIZE column from it).
    if version < ApiVersion(1, 44) {
        for row in rows.as_array_mut().into_iter().flatten() {
            let size = row["Size"].clone();
            if let Some(m) = row.as_object_mut() {
                m.insert("VirtualSize".into(), size);
            }
        }
    }
    Ok(Json(rows))
}

/// `images ls --filter`: Docker's keys; `before`/`since` name images. (`all` shows the
/// intermediate images builds keep; digests are always listed.)
fn image_filter(
    engine: &AppState,
    q: &Query,
) -> Result<crate::engine::image::list_filter::ImageFilter, ApiError> {
    let mut f = crate::engine::image::list_filter::ImageFilter::default();
    let created_of =
        |key: &str| -> Result<i64, ApiError> { Ok(engine.images().resolve(key)?.created) };
    for (k, values) in q.filters()? {
        let last = values.last().cloned().unwrap_or_default();
        match k.as_str() {
            "dangling" => {
                f.dangling = Some(match last.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    v => {
                        return Err(ApiError::bad_request(format!(
                            "Invalid filter 'dangling=[{v}]'"
                        )))
                    }
                })
            }
            "reference" => f.reference = values,
            "label" => f.label = values,
            "before" => f.before = Some(created_of(&last)?),
            "since" => f.since = Some(created_of(&last)?),
            other => return Err(ApiError::bad_request(format!("invalid filter '{other}'"))),
        }
    }
    Ok(f)
}

/// Runs `f` on the request body as a blocking reader.
async fn with_body_reader<T: Send + 'static>(
    req: Request,
    f: impl FnOnce(&mut dyn std::io::Read) -> crate::Result<T> + Send + 'static,
) -> ApiResult<T> {
    read_body_blocking(req, f).await.map_err(ApiError::from)
}

/// `f` on a blocking thread, reading the request's body as it arrives.
async fn read_body_blocking<T: Send + 'static>(
    req: Request,
    f: impl FnOnce(&mut dyn std::io::Read) -> crate::Result<T> + Send + 'static,
) -> crate::Result<T> {
    let stream = req
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(stream);
    let mut bridge = tokio_util::io::SyncIoBridge::new(reader);
    tokio::task::spawn_blocking(move || f(&mut bridge))
        .await
        .map_err(|e| EngineError::Internal(format!("image task: {e}")))?
}

fn json_lines(lines: Vec<serde_json::Value>) -> Response {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l.to_string().as_bytes());
        out.push(b'\n');
    }
    super::json_body::json_response(out)
}

/// `POST /images/create?fromSrc=-&repo=&tag=&changes=&message=&platform=` (import) or
/// `?fromImage=` (pull).
pub async fn create(State(engine): State<AppState>, req: Request) -> ApiResult<Response> {
    let q = Query::parse(req.uri().query());
    if q.get("fromImage").is_some() {
        return super::registry::pull(engine, &q, req.headers()).await;
    }
    if q.get("fromSrc") != Some("-") {
        return Err(ApiError::bad_request(
            "only fromSrc=- (the request body) is supported for import",
        ));
    }
    let tag = match (
        q.get("repo").filter(|r| !r.is_empty()),
        q.get("tag").filter(|t| !t.is_empty()),
    ) {
        (Some(r), Some(t)) => Some(format!("{r}:{t}")),
        (Some(r), None) => Some(r.to_string()),
        _ => None,
    };
    let changes = q.all("changes");
    let meta = crate::engine::image::ImportMeta {
        message: q.get("message").unwrap_or_default().to_string(),
        platform: super::convert::image::platform(q.get("platform"))?,
    };
    let store = engine.images().clone();
    let name = tag.clone().unwrap_or_default();
    let rec = with_body_reader(req, move |r| {
        store.import_with(r, tag.as_deref(), &changes, &meta)
    })
    .await?;
    engine.image_event("import", &rec.id, &name);
    Ok(json_lines(vec![serde_json::json!({ "status": rec.id })]))
}

/// `POST /images/load?quiet=&platform=`. berth loads this machine's platform of a
/// multi-platform archive; another one asked for is refused by name.
pub async fn load(State(engine): State<AppState>, req: Request) -> ApiResult<Response> {
    let q = Query::parse(req.uri().query());
    if let Some(p) = conv::oci_platform(q.get("platform"))? {
        let host = crate::engine::image::registry::Platform::host();
        if (p.os.as_str(), p.architecture.as_str())
            != (host.os.as_str(), host.architecture.as_str())
        {
            return Err(ApiError::bad_request(format!(
                "loading platform {} is not supported by berth: it loads this machine's ({})",
                p.display(),
                host.display()
            )));
        }
    }
    let store = engine.images().clone();
    let loaded = move |engine: &AppState, lines: &[String]| {
        for l in lines {
            let name = l.rsplit(": ").next().unwrap_or(l);
            engine.image_event("load", name, name);
        }
    };
    // One stream, as Docker's: the result, and with `quiet=0` (the docker CLI at a terminal)
    // each layer's `Loading layer` progress before it. A failure, a broken archive too, is the
    // stream's last message (docker-py raises `ImageLoadError` for it).
    let quiet = q.flag("quiet", true);
    Ok(super::registry::progress_stream(move |sink| async move {
        let progress = if quiet {
            crate::engine::image::ProgressSink::discard()
        } else {
            sink.clone()
        };
        let lines = read_body_blocking(req, move |r| store.load(r, &progress)).await?;
        loaded(&engine, &lines);
        for l in lines {
            sink.stream(format!("{l}\n"));
        }
        Ok(())
    }))
}

/// `GET /images/get?names=a&names=b&platform=`: one `docker save` archive of every image named.
pub async fn save_many(
    State(engine): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    save(&engine, q.all("names"), q.get("platform")).await
}

/// Resolves every name first, so an unknown one (or one not of the `platform` asked for) is
/// still a JSON error, then streams the archive as it is written: an image can be far larger
/// than memory.
async fn save(
    engine: &AppState,
    names: Vec<String>,
    platform: Option<&str>,
) -> ApiResult<Response> {
    if let Some(want) = conv::oci_platform(platform)? {
        for name in &names {
            crate::engine::image::check_platform(name, &engine.images().resolve(name)?, &want)?;
        }
    }
    let store = engine.images().clone();
    let archive = tokio::task::spawn_blocking(move || store.prepare_save(&names))
        .await
        .map_err(|e| ApiError::from(EngineError::Internal(format!("image task: {e}"))))??;
    let mut r = Response::new(stream::blocking_body(move |out| archive.write_to(out)));
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-tar"),
    );
    Ok(r)
}

/// `GET /images/{name}/json`, `GET /images/{name}/get?platform=`
pub async fn get_by_name(
    State(engine): State<AppState>,
    Path(rest): Path<String>,
    RawQuery(q): RawQuery,
    version: super::ApiVersion,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    match rest.rsplit_once('/') {
        Some((name, "json")) => {
            let img = engine.images().resolve(name)?;
            let mut v = conv::inspect_for(&img, version);
            // Docker's overlay2 names the image's layers: the top one's tree, then the rest,
            // top first (berth keeps no merged or work directory for an image).
            if let (Ok(dirs), Some(m)) = (engine.images().layer_dirs(&img), v.as_object_mut()) {
                let mut top_first = dirs.iter().rev().map(|d| d.display().to_string());
                let mut data = serde_json::Map::new();
                if let Some(top) = top_first.next() {
                    data.insert("UpperDir".into(), top.into());
                }
                let lower: Vec<String> = top_first.collect();
                if !lower.is_empty() {
                    data.insert("LowerDir".into(), lower.join(":").into());
                }
                m.insert(
                    "GraphDriver".into(),
                    serde_json::json!({"Name": "overlay2", "Data": data}),
                );
            }
            Ok(Json(InDockerOrder(v, &docker_order::IMAGE_INSPECT)).into_response())
        }
        Some((name, "get")) => save(&engine, vec![name.to_string()], q.get("platform")).await,
        Some((name, "history")) => {
            let img = engine.images().resolve(name)?;
            let sizes: Vec<u64> = img
                .config
                .rootfs
                .diff_ids
                .iter()
                .map(|d| engine.images().layer_size(d))
                .collect();
            let mut entries = conv::history(&img, &sizes);
            // Each build step is an image of its own: its id and tags, down the parents.
            let mut chain = img.parent.clone();
            for entry in entries.iter_mut().skip(1) {
                let Some(rec) = chain.and_then(|p| engine.images().resolve(&p).ok()) else {
                    break;
                };
                entry["Id"] = serde_json::json!(rec.id);
                entry["Tags"] = serde_json::json!(rec.repo_tags);
                chain = rec.parent;
            }
            Ok(Json(entries).into_response())
        }
        _ => Err(super::error::page_not_found()),
    }
}

/// `POST /images/{name}/tag?repo=&tag=`, `POST /images/{name}/push?tag=`
pub async fn post_by_name(
    State(engine): State<AppState>,
    Path(rest): Path<String>,
    RawQuery(q): RawQuery,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    match rest.rsplit_once('/') {
        Some((name, "push")) => super::registry::push(engine, name, &q, &headers).await,
        Some((name, "tag")) => {
            let repo = q.get("repo").filter(|r| !r.is_empty()).ok_or_else(|| {
                ApiError::bad_request("repository name must have at least one component")
            })?;
            let tag = q.get("tag").filter(|t| !t.is_empty());
            engine.images().tag(name, repo, tag)?;
            let id = engine
                .images()
                .resolve(name)
                .map(|i| i.id)
                .unwrap_or_default();
            engine.tag_event(&id, &format!("{repo}:{}", tag.unwrap_or("latest")));
            Ok(StatusCode::CREATED.into_response())
        }
        _ => Err(super::error::page_not_found()),
    }
}

/// `DELETE /images/{name}?force=`
pub async fn remove(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    let items = engine
        .remove_image_pruning(&name, q.flag("force", false), !q.flag("noprune", false))
        .await?;
    Ok(Json(conv::removed(&items)))
}

/// `GET /distribution/{name}/json`
pub async fn distribution(
    State(engine): State<AppState>,
    Path(rest): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    match rest.rsplit_once('/') {
        Some((name, "json")) => super::registry::distribution(engine, name, &headers).await,
        _ => Err(super::error::page_not_found()),
    }
}

/// `POST /auth`
pub async fn auth(State(engine): State<AppState>, body: bytes::Bytes) -> ApiResult<Response> {
    super::registry::login(engine, body).await
}
