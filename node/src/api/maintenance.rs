//! Routes that change or measure what a container or the daemon holds: update, export,
//! changes, container and image prune, `system df`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::convert::query::Query;
use super::convert::{host_extra, support};
use super::error::{ApiError, ApiResult};
use super::json_body::JsonBody;
use super::{stream, AppState};
use crate::engine::container::changes::ChangeKind;
use crate::engine::container::types::RestartPolicy;
use crate::engine::container::update::UpdateContainer;
use crate::engine::prune::PruneFilter;

/// `POST /containers/{id}/update`
pub async fn update(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<impl IntoResponse> {
    let v = body.parse_as::<bollard_stubs::models::ContainerUpdateBody>()?;
    support::check_update(&v)?;
    let num = |k: &str| v.get(k).and_then(Value::as_i64);
    let cpus = |k: &str, what: &str| -> ApiResult<Option<String>> {
        match v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()) {
            Some(s) => Ok(Some(host_extra::cpu_list(s, what)?)),
            None => Ok(None),
        }
    };
    let restart_policy = match v["RestartPolicy"]["Name"].as_str() {
        None | Some("") => None,
        Some(name) => {
            let p = match name {
                "no" => RestartPolicy::No,
                "always" => RestartPolicy::Always,
                "unless-stopped" => RestartPolicy::UnlessStopped,
                "on-failure" => RestartPolicy::OnFailure,
                // `check_update` refused any other name.
                _ => RestartPolicy::No,
            };
            let max = v["RestartPolicy"]["MaximumRetryCount"]
                .as_i64()
                .unwrap_or(0);
            Some((p, max))
        }
    };
    let typed: bollard_stubs::models::ContainerUpdateBody = serde_json::from_value(v.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid update: {e}")))?;
    let req = UpdateContainer {
        memory: num("Memory").filter(|m| *m != 0),
        memory_swap: num("MemorySwap").filter(|m| *m != 0),
        memory_reservation: num("MemoryReservation").filter(|m| *m != 0),
        nano_cpus: num("NanoCpus").filter(|m| *m != 0),
        cpu_shares: num("CpuShares").filter(|m| *m != 0),
        cpu_period: num("CpuPeriod").filter(|m| *m != 0),
        cpu_quota: num("CpuQuota").filter(|m| *m != 0),
        cpuset_cpus: cpus("CpusetCpus", "cpuset.cpus")?,
        cpuset_mems: cpus("CpusetMems", "cpuset.mems")?,
        pids_limit: num("PidsLimit").filter(|m| *m != 0),
        blkio_weight: typed.blkio_weight.filter(|w| *w != 0),
        blkio_weight_device: host_extra::weight_devices(typed.blkio_weight_device.as_deref())?,
        restart_policy,
    };
    let warnings = engine.update_container(&id, req).await?;
    Ok(Json(json!({ "Warnings": warnings })))
}

/// `GET /containers/{id}/export` — the whole root filesystem as a tar.
pub async fn export(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let rootfs = engine.rootfs(&id).await?;
    let rec = engine.lookup(&id)?.snapshot().await;
    engine.container_event(&rec, "export", &[]);
    let body = stream::blocking_body(move |out| {
        let rootfs = rootfs;
        crate::engine::container::archive::write_export(&rootfs.root, out)
    });
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

/// `GET /containers/{id}/changes`
pub async fn changes(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let list: Vec<Value> = engine
        .changes(&id)
        .await?
        .into_iter()
        .map(|(path, kind)| {
            let k = match kind {
                ChangeKind::Modified => 0,
                ChangeKind::Added => 1,
                ChangeKind::Deleted => 2,
            };
            json!({"Path": path, "Kind": k})
        })
        .collect();
    Ok(Json(list))
}

/// The filters of a container, network or build-cache prune: `until` and the labels.
pub fn prune_filter(q: &Query) -> Result<PruneFilter, ApiError> {
    parse_prune_filter(q, false)
}

/// An image prune's filters: those and `dangling`.
fn image_prune_filter(q: &Query) -> Result<PruneFilter, ApiError> {
    parse_prune_filter(q, true)
}

fn parse_prune_filter(q: &Query, images: bool) -> Result<PruneFilter, ApiError> {
    let mut f = PruneFilter::default();
    for (k, values) in q.filters()? {
        match k.as_str() {
            "until" => {
                // Docker's client sends the value as typed: `24h`, a date, Unix seconds.
                let v = values.last().map(String::as_str).unwrap_or("");
                let now = chrono::Utc::now().timestamp();
                let local = *chrono::Local::now().offset();
                let (secs, _) =
                    berth_gotime::timestamp_at(v, now, local).map_err(ApiError::bad_request)?;
                f.until = Some(secs);
            }
            "label" => f.label = values,
            "label!" => f.label_not = values,
            "dangling" if images => {
                f.all_images = values.iter().any(|v| v == "false" || v == "0");
            }
            // Docker also spells it `label!=key` inside the `label` key's values.
            other => return Err(ApiError::bad_request(format!("invalid filter '{other}'"))),
        }
    }
    Ok(f)
}

/// `POST /containers/prune?filters=`
pub async fn prune_containers(
    State(engine): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let f = prune_filter(&Query::parse(q.as_deref()))?;
    let (ids, freed) = engine.prune_containers(&f).await?;
    // Docker sends null, not [], when nothing went.
    let ids = if ids.is_empty() {
        Value::Null
    } else {
        json!(ids)
    };
    Ok(Json(
        json!({"ContainersDeleted": ids, "SpaceReclaimed": freed}),
    ))
}

/// `POST /images/prune?filters=`
pub async fn prune_images(
    State(engine): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let f = image_prune_filter(&Query::parse(q.as_deref()))?;
    let (items, freed) = engine.prune_images(&f).await?;
    let deleted = if items.is_empty() {
        Value::Null
    } else {
        json!(super::convert::image::removed(&items))
    };
    Ok(Json(
        json!({"ImagesDeleted": deleted, "SpaceReclaimed": freed}),
    ))
}

/// `GET /system/df`
pub async fn df(
    State(engine): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    // `type=` (API 1.42): only those kinds are shown (and containers' sizes only walked when
    // asked), the others are null, as Docker's.
    let kinds = Query::parse(q.as_deref()).all("type");
    if let Some(bad) = kinds
        .iter()
        .find(|k| !matches!(k.as_str(), "container" | "image" | "volume" | "build-cache"))
    {
        return Err(ApiError::bad_request(format!("unknown object type: {bad}")));
    }
    let wants = |k: &str| kinds.is_empty() || kinds.iter().any(|w| w == k);
    let usage = engine.disk_usage(wants("container")).await?;
    // The images builds keep without a name are the build cache, counted there.
    let cache = engine.build_cache().await?;
    let cached: std::collections::HashSet<&str> = cache.iter().map(|c| c.id.as_str()).collect();
    let build_cache: Vec<Value> = cache
        .iter()
        .map(|c| {
            let at = chrono::DateTime::from_timestamp(c.created, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            json!({
                "ID": c.id, "Parent": c.parent.clone().unwrap_or_default(),
                "Parents": c.parent.iter().collect::<Vec<_>>(), "Type": "regular",
                "Description": c.description, "InUse": c.in_use, "Shared": c.shared,
                "Size": c.size, "CreatedAt": at, "LastUsedAt": at, "UsageCount": 0,
            })
        })
        .collect();
    let images: Vec<Value> = usage
        .images
        .iter()
        .filter(|i| !cached.contains(i.id.as_str()))
        .map(|i| {
            json!({
                "Id": i.id, "ParentId": "", "RepoTags": i.tags, "RepoDigests": [], "Created": i.created,
                "Size": i.size, "SharedSize": i.shared_size, "VirtualSize": i.size, "Labels": {},
                "Containers": i.containers,
            })
        })
        .collect();
    let mut containers = Vec::new();
    let (networks, volumes_root) = (engine.network_index()?, engine.volumes_root());
    for (id, size_rw) in &usage.containers {
        if let Ok(rec) = engine.inspect_container(id).await {
            let nets = engine.container_networks_in(&rec, &networks);
            let mut summary = super::convert::container::summary(&rec, &nets, &volumes_root);
            // As the list's rows: a running container's ports.
            if rec.state.status.is_running() {
                summary.ports = Some(super::convert::container::port_summaries(
                    &nets,
                    &rec.config.exposed_ports,
                ));
            }
            let mut summary =
                super::convert::container::summary_value(&summary).unwrap_or(Value::Null);
            // As the list's `size=1` rows (moby's df lists them so): the image's files too.
            let image = engine
                .images()
                .resolve(&rec.config.image_id)
                .map_or(0, |i| i64::try_from(i.size).unwrap_or(i64::MAX));
            summary["SizeRw"] = json!(size_rw);
            summary["SizeRootFs"] = json!(size_rw.saturating_add(image));
            containers.push(summary);
        }
    }
    let mut volumes = Vec::new();
    for v in engine.list_volumes(&Default::default()).await? {
        let (size, refs) = engine.volume_usage(&v.name).await;
        let mut row = super::volumes::volume_json(&engine, &v);
        row["UsageData"] = json!({"Size": size, "RefCount": refs});
        volumes.push(row);
    }
    let pick = |k: &str, v: Vec<Value>| if wants(k) { json!(v) } else { Value::Null };
    Ok(Json(json!({
        "LayersSize": if wants("image") { usage.layers_size } else { 0 },
        "Images": pick("image", images),
        "Containers": pick("container", containers),
        "Volumes": pick("volume", volumes),
        "BuildCache": pick("build-cache", build_cache),
    })))
}
