//! `cp`'s routes: `HEAD`/`GET`/`PUT /containers/{id}/archive?path=`, with Docker's
//! `X-Docker-Container-Path-Stat` header (base64 of a JSON stat).

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::convert::query::Query;
use super::error::{ApiError, ApiResult};
use super::{stream, AppState};
use crate::engine::container::archive::{self, PathStat};

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn path_of(q: &Query) -> Result<String, ApiError> {
    q.get("path")
        .filter(|p| !p.is_empty())
        .map(String::from)
        .ok_or_else(|| ApiError::bad_request("path is required"))
}

/// Go's `os.ModeDir` and `os.ModeSymlink` in a `PathStat`'s mode.
const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;

/// Docker names the container in a missing-path error: `Could not find the file /x in container c`.
fn name_container(e: crate::EngineError, id: &str) -> crate::EngineError {
    match e {
        crate::EngineError::NotFound(m) if m.ends_with(" in container") => {
            crate::EngineError::NotFound(format!("{m} {id}"))
        }
        other => other,
    }
}

fn stat_header(s: &PathStat) -> HeaderValue {
    let json = serde_json::json!({
        "name": s.name, "size": s.size, "mode": s.mode, "mtime": s.mtime, "linkTarget": s.link_target,
    });
    let encoded = base64::engine::general_purpose::STANDARD.encode(json.to_string());
    HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Stats `path` on the blocking pool (the container's filesystem must not hold an API worker);
/// gives the rootfs back so a mount made for the call lives on.
async fn stat_off_worker(
    rootfs: archive::Rootfs,
    path: String,
    id: &str,
) -> ApiResult<(PathStat, archive::Rootfs)> {
    let (stat, rootfs) =
        tokio::task::spawn_blocking(move || (archive::stat(&rootfs.root, &path), rootfs))
            .await
            .map_err(|e| crate::EngineError::Internal(format!("stat task: {e}")))?;
    Ok((stat.map_err(|e| name_container(e, id))?, rootfs))
}

/// `HEAD /containers/{id}/archive?path=`
pub async fn head(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let path = path_of(&Query::parse(q.as_deref()))?;
    let rootfs = engine.cp_view(&id).await?;
    let (stat, _rootfs) = stat_off_worker(rootfs, path, &id).await?;
    let mut resp = Response::new(Body::empty());
    resp.headers_mut().insert(STAT_HEADER, stat_header(&stat));
    Ok(resp)
}

/// `GET /containers/{id}/archive?path=` — a tar of the path.
pub async fn get(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let path = path_of(&Query::parse(q.as_deref()))?;
    let rootfs = engine.cp_view(&id).await?;
    let (stat, rootfs) = stat_off_worker(rootfs, path.clone(), &id).await?;
    let rec = engine.lookup(&id)?.snapshot().await;
    engine.container_event(&rec, "archive-path", &[]);
    let body = stream::blocking_body(move |out| {
        // The rootfs stays mounted until the archive is written.
        let rootfs = rootfs;
        archive::write_tar(&rootfs.root, &path, out)
    });
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    h.insert(STAT_HEADER, stat_header(&stat));
    Ok(resp)
}

/// `PUT /containers/{id}/archive?path=&copyUIDGID=&noOverwriteDirNonDir=` — unpacks a tar
/// into a directory.
pub async fn put(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<StatusCode> {
    let q = Query::parse(req.uri().query());
    let path = path_of(&q)?;
    let options = archive::ExtractOptions {
        keep_owners: q.flag("copyUIDGID", false),
        no_overwrite_dir_non_dir: q.flag("noOverwriteDirNonDir", false),
    };
    let tmp_dir = engine.paths().data_root.join("tmp");
    tokio::fs::create_dir_all(&tmp_dir)
        .await
        .map_err(|e| crate::EngineError::io("create tmp", e))?;
    let upload = tmp_dir.join(format!("upload-{}", hex::encode(rand::random::<[u8; 8]>())));
    let result = receive_and_extract(&engine, &id, req, &upload, &path, options).await;
    let _ = tokio::fs::remove_file(&upload).await;
    result.map(|()| StatusCode::OK)
}

async fn receive_and_extract(
    engine: &AppState,
    id: &str,
    req: Request,
    upload: &std::path::Path,
    path: &str,
    options: archive::ExtractOptions,
) -> ApiResult<()> {
    // As Docker: a destination that is missing is a 404 and one in a read-only place a 500,
    // before the archive is read (one that is not a directory is the extraction's error).
    let rootfs = engine.cp_view(id).await?;
    let (stat, rootfs) = stat_off_worker(rootfs, path.to_string(), id).await?;
    let dir_or_link = stat.mode & (GO_MODE_DIR | GO_MODE_SYMLINK) != 0;
    let rec = engine.lookup(id)?.snapshot().await;
    if let Some(words) = dir_or_link
        .then(|| archive::read_only::refusal(&rec, path))
        .flatten()
    {
        return Err(crate::EngineError::Internal(words.into()).into());
    }
    let mut file = tokio::fs::File::create(upload)
        .await
        .map_err(|e| crate::EngineError::io("create upload file", e))?;
    let mut body = req.into_body().into_data_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("read body: {e}")))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| crate::EngineError::io("write upload", e))?;
    }
    file.flush()
        .await
        .map_err(|e| crate::EngineError::io("write upload", e))?;
    let (upload, path) = (upload.to_path_buf(), path.to_string());
    let extracted = tokio::task::spawn_blocking(move || {
        archive::extract_tar_with(&rootfs.root, &path, &upload, options)
    })
    .await
    .map_err(|e| crate::EngineError::Internal(format!("extract task: {e}")))?;
    match extracted {
        // Docker's words for a destination that cannot be written after all (a path through
        // a link into a read-only mount).
        Err(crate::EngineError::Io { source, .. })
            if source.raw_os_error() == Some(nix::libc::EROFS) =>
        {
            Err(crate::EngineError::Internal(
                if rec.host.read_only {
                    archive::read_only::ROOTFS_READ_ONLY
                } else {
                    archive::read_only::VOLUME_READ_ONLY
                }
                .into(),
            )
            .into())
        }
        other => {
            other?;
            engine.container_event(&rec, "extract-to-dir", &[]);
            Ok(())
        }
    }
}
