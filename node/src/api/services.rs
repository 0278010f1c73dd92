//! Service and task routes: `/services` (create, list, inspect, update, remove) and `/tasks`.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_raft::{ClusterState, Object, ObjectKind};
use serde_json::{json, Value};

use super::convert::query::Query;
use super::convert::swarm as conv;
use super::error::{ApiError, ApiResult};
use super::json_body::JsonBody;
use super::swarm::{label_matches, SwarmState};
use crate::swarm::model::{desired_name, service_mode, task_attrs, Mode, TaskDoc};
use crate::swarm::ops;

/// `POST /services/create` → 201 `{"ID", "Warnings"}`.
pub async fn create(State(swarm): State<SwarmState>, body: JsonBody) -> ApiResult<Response> {
    let spec: Value = body.parse()?;
    let m = swarm.control().await?;
    let id = ops::create_service(&m, spec).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "ID": id, "Warnings": [] })),
    )
        .into_response())
}

/// `GET /services?filters=&status=`.
pub async fn list(State(swarm): State<SwarmState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let filters = q.filters()?;
    let with_status = q.flag("status", false);
    let m = swarm.control().await?;
    let services: Vec<Value> = m.read(|s| {
        let counts = with_status.then(|| conv::service_counts(s));
        crate::swarm::model::sorted(s.list(ObjectKind::Service))
            .into_iter()
            .filter(|svc| service_matches(svc, &filters))
            .map(|svc| conv::service(svc, counts.as_ref().and_then(|c| c.get(&svc.id).copied())))
            .collect()
    });
    Ok(Json(services).into_response())
}

fn service_matches(svc: &Object, filters: &BTreeMap<String, Vec<String>>) -> bool {
    let name = svc.spec["Name"].as_str().unwrap_or("");
    filters.iter().all(|(k, values)| {
        values.iter().any(|v| match k.as_str() {
            "id" => svc.id.starts_with(v.as_str()),
            "name" => name.starts_with(v.as_str()),
            "label" => label_matches(&svc.spec["Labels"], v),
            "mode" => match service_mode(&svc.spec) {
                Mode::Replicated(_) => v == "replicated",
                Mode::Global => v == "global",
            },
            _ => true,
        })
    })
}

/// `GET /services/{id}`.
pub async fn inspect(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let m = swarm.control().await?;
    let svc =
        m.read(|s| ops::find(s, ObjectKind::Service, &id).map(|svc| conv::service(svc, None)))?;
    Ok(Json(svc).into_response())
}

/// `POST /services/{id}/update?version=&rollback=`.
pub async fn update(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: JsonBody,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let version = super::swarm::version(&q)?;
    let rollback = match q.get("rollback") {
        None | Some("") => false,
        Some("previous") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unrecognized rollback option {other}"
            )))
        }
    };
    let spec: Option<Value> = if rollback && body.is_blank() {
        None
    } else {
        Some(body.parse()?)
    };
    let m = swarm.control().await?;
    ops::update_service(&m, &id, version, spec, rollback).await?;
    Ok(Json(json!({ "Warnings": [] })).into_response())
}

/// `DELETE /services/{id}`.
pub async fn remove(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let m = swarm.control().await?;
    ops::remove_service(&m, &id).await?;
    Ok(StatusCode::OK)
}

/// `GET /tasks?filters=`.
pub async fn list_tasks(
    State(swarm): State<SwarmState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let filters = q.filters()?;
    let m = swarm.control().await?;
    let tasks: Vec<Value> = m.read(|s| {
        let filters = resolve_task_filters(s, &filters);
        crate::swarm::model::sorted(s.list(ObjectKind::Task))
            .into_iter()
            .filter(|t| task_matches(t, &filters))
            .filter(|t| !wants_up_to_date(&filters) || up_to_date(s, t))
            .map(conv::task)
            .collect()
    });
    Ok(Json(tasks).into_response())
}

/// Service and node names in task filters become ids, as Docker resolves them.
fn resolve_task_filters(
    s: &ClusterState,
    filters: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, Vec<String>> {
    let mut out = filters.clone();
    for (key, kind) in [("service", ObjectKind::Service), ("node", ObjectKind::Node)] {
        if let Some(values) = out.get_mut(key) {
            *values = values
                .iter()
                .map(|v| ops::find(s, kind, v).map_or_else(|_| v.clone(), |o| o.id.clone()))
                .collect();
        }
    }
    out
}

/// Docker's `_up-to-date=true` task filter (what the CLI's progress display asks for).
fn wants_up_to_date(filters: &BTreeMap<String, Vec<String>>) -> bool {
    filters
        .get("_up-to-date")
        .is_some_and(|v| v.iter().any(|x| x == "true" || x == "1"))
}

/// Whether a task was made from its service's current task template.
fn up_to_date(s: &ClusterState, t: &Object) -> bool {
    let (service_id, _, _) = task_attrs(t);
    s.get(ObjectKind::Service, service_id).is_some_and(|svc| {
        crate::swarm::model::same_template(
            &svc.spec["TaskTemplate"],
            crate::swarm::model::template_of(t),
        )
    })
}

fn task_matches(t: &Object, filters: &BTreeMap<String, Vec<String>>) -> bool {
    let (service_id, node_id, desired) = task_attrs(t);
    let doc = TaskDoc::of(t);
    filters.iter().all(|(k, values)| {
        values.iter().any(|v| match k.as_str() {
            "id" => t.id.starts_with(v.as_str()),
            "service" => service_id == v,
            "node" => node_id == Some(v.as_str()),
            "desired-state" => {
                desired_name(desired) == v
                    || (v == "accepted" && desired_name(desired) == "running")
            }
            "name" => format!("{}.{}", doc.service_name, doc.slot).starts_with(v.as_str()),
            "label" => label_matches(&doc.template["ContainerSpec"]["Labels"], v),
            _ => true,
        })
    })
}

/// `GET /tasks/{id}`.
pub async fn inspect_task(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let m = swarm.control().await?;
    let task = m.read(|s| ops::find(s, ObjectKind::Task, &id).map(conv::task))?;
    Ok(Json(task).into_response())
}
