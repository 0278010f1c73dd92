//! Volume routes: create, list, inspect, remove, prune, in Docker's shapes.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::convert::query::Query;
use super::error::{ApiError, ApiResult};
use super::json_body::JsonBody;
use super::{ApiVersion, AppState};
use crate::engine::volume::{VolumeFilters, VolumeRecord};

/// A volume as inspect, the list and `system df` show it.
pub(super) fn volume_json(engine: &AppState, v: &VolumeRecord) -> Value {
    json!({
        "Name": v.name,
        "Driver": v.driver,
        "Mountpoint": engine.volume_mountpoint(&v.name),
        "CreatedAt": v.created_at,
        // Docker's `null` for none, as for the options.
        "Labels": if v.labels.is_empty() { Value::Null } else { json!(v.labels) },
        "Scope": "local",
        "Options": if v.options.is_empty() { Value::Null } else { json!(v.options) },
    })
}

/// `POST /volumes/create` — `{"Name", "Driver", "DriverOpts", "Labels"}`.
pub async fn create(
    State(engine): State<AppState>,
    body: JsonBody,
) -> ApiResult<impl IntoResponse> {
    let v = body.parse_as::<bollard_stubs::models::VolumeCreateRequest>()?;
    if v.get("ClusterVolumeSpec").is_some_and(|c| !c.is_null()) {
        return Err(ApiError::bad_request(
            "ClusterVolumeSpec: cluster volumes are not supported by berth (no CSI plugins)",
        ));
    }
    let name = v.get("Name").and_then(Value::as_str).unwrap_or("");
    let driver = v.get("Driver").and_then(Value::as_str).unwrap_or("");
    if !driver.is_empty() && driver != "local" {
        // Docker names the volume first (an anonymous one gets its random name there).
        let op = if name.is_empty() {
            String::new()
        } else {
            format!("create {name}: ")
        };
        return Err(ApiError::bad_request(format!(
            "{op}error looking up volume plugin {driver}: plugin \"{driver}\" not found"
        )));
    }
    // A map of strings, or nothing; anything else is Docker's 400, not an empty map.
    let map = |k: &str| -> ApiResult<BTreeMap<String, String>> {
        match v.get(k).filter(|m| !m.is_null()) {
            None => Ok(BTreeMap::new()),
            Some(m) => serde_json::from_value(m.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid JSON: {k}: {e}"))),
        }
    };
    // Without a name it is anonymous, as moby makes it: the default prune takes it.
    let rec = engine.create_volume(name, map("Labels")?, map("DriverOpts")?, name.is_empty())?;
    Ok((StatusCode::CREATED, Json(volume_json(&engine, &rec))))
}

/// `GET /volumes?filters=` — `dangling`, `name`, `label`, `driver`.
pub async fn list(
    State(engine): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    let mut f = VolumeFilters::default();
    for (k, values) in q.filters()? {
        match k.as_str() {
            "dangling" => {
                f.dangling = values.last().map(|v| matches!(v.as_str(), "true" | "1"));
            }
            "name" => f.name = values,
            "label" => f.label = values,
            "driver" if values.iter().all(|d| d == "local") => {}
            "driver" => f.name = vec!["\u{0}".into()], // no volume has another driver
            other => return Err(ApiError::bad_request(format!("invalid filter '{other}'"))),
        }
    }
    let vols: Vec<Value> = engine
        .list_volumes(&f)
        .await?
        .iter()
        .map(|v| volume_json(&engine, v))
        .collect();
    Ok(Json(json!({"Volumes": vols, "Warnings": Value::Null})))
}

/// `PUT /volumes/{name}` — Docker updates only cluster (CSI) volumes, which berth has none of.
pub async fn update(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    // Read whole before answering: a client still sending the spec would otherwise meet a
    // closed connection (a broken pipe) instead of the answer.
    _spec: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    engine.inspect_volume(&name)?;
    Err(ApiError::bad_request(format!(
        "volume {name}: volume update only valid for cluster volumes, and berth has none"
    )))
}

/// `GET /volumes/{name}`
pub async fn inspect(
    State(engine): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let v = engine.inspect_volume(&name)?;
    Ok(Json(volume_json(&engine, &v)))
}

/// `DELETE /volumes/{name}?force=`
pub async fn remove(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    engine.remove_volume(&name, q.flag("force", false)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /volumes/prune?filters=` — anonymous volumes; `all=true` every unused one.
pub async fn prune(
    State(engine): State<AppState>,
    version: ApiVersion,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    // Before API 1.42 a prune took named volumes too (moby adds `all` for older clients).
    let mut all = version < ApiVersion(1, 42);
    let mut f = VolumeFilters::default();
    for (k, values) in q.filters()? {
        match k.as_str() {
            "all" => all |= values.iter().any(|v| v == "true" || v == "1"),
            "label" => f.label = values,
            "label!" => f.label_not = values,
            other => return Err(ApiError::bad_request(format!("invalid filter '{other}'"))),
        }
    }
    let (gone, freed) = engine.prune_volumes(all, f).await?;
    // A list even when empty: moby's report starts from an empty slice (unlike its other
    // prunes, which say null).
    Ok(Json(
        json!({"VolumesDeleted": gone, "SpaceReclaimed": freed}),
    ))
}
