//! Swarm routes: `/swarm` (init, join, leave, update, unlock key) and `/nodes`. Each handler
//! parses, calls the swarm facade, and converts its answer (`convert/swarm.rs`).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_swarm::Swarm;
use bollard_stubs::models::{NodeSpecAvailabilityEnum, SwarmInitRequest, SwarmJoinRequest};
use serde::Deserialize;
use serde_json::{json, Value};

use super::convert::docker_order::InDockerOrder;
use super::convert::docker_order_swarm as order;
use super::convert::query::Query;
use super::convert::swarm as conv;
use super::error::{ApiError, ApiResult};
use super::json_body::JsonBody;

/// The swarm handle of every swarm route.
pub type SwarmState = Arc<Swarm>;

/// The `version` query parameter of an update (optimistic concurrency).
pub fn version(q: &Query) -> ApiResult<u64> {
    q.get("version")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad_request("invalid or missing version: a number is required"))
}

/// `POST /swarm/init` → the node id, as a JSON string.
pub async fn init(State(swarm): State<SwarmState>, body: JsonBody) -> ApiResult<Response> {
    let raw = body.parse_as::<bollard_stubs::models::SwarmInitRequest>()?;
    let mut req = SwarmInitRequest::deserialize(&raw)
        .map_err(|e| ApiError::bad_request(format!("invalid swarm init request: {e}")))?;
    // Docker's request carries autolock beside the spec (swagger's model lacks the field).
    if let Some(lock) = raw.get("AutoLockManagers").and_then(Value::as_bool) {
        let spec = req.spec.get_or_insert_with(Default::default);
        spec.encryption_config
            .get_or_insert_with(Default::default)
            .auto_lock_managers = Some(lock);
    }
    let id = swarm.init(req, availability(&raw)?).await?;
    Ok(Json(id).into_response())
}

/// `POST /swarm/join`.
pub async fn join(State(swarm): State<SwarmState>, body: JsonBody) -> ApiResult<StatusCode> {
    let raw = body.parse_as::<bollard_stubs::models::SwarmJoinRequest>()?;
    let req = SwarmJoinRequest::deserialize(&raw)
        .map_err(|e| ApiError::bad_request(format!("invalid swarm join request: {e}")))?;
    swarm.join(req, availability(&raw)?).await?;
    Ok(StatusCode::OK)
}

/// The request's `Availability` (`--availability`; swagger's models lack the field): active
/// when absent.
fn availability(raw: &Value) -> ApiResult<NodeSpecAvailabilityEnum> {
    match raw
        .get("Availability")
        .and_then(Value::as_str)
        .unwrap_or("")
    {
        "" | "active" => Ok(NodeSpecAvailabilityEnum::ACTIVE),
        "pause" => Ok(NodeSpecAvailabilityEnum::PAUSE),
        "drain" => Ok(NodeSpecAvailabilityEnum::DRAIN),
        other => Err(ApiError::bad_request(format!(
            "invalid availability {other:?}: active, pause or drain"
        ))),
    }
}

/// `POST /swarm/leave?force=`.
pub async fn leave(
    State(swarm): State<SwarmState>,
    State(engine): State<super::AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    swarm.leave(q.flag("force", false)).await?;
    // The swarm's networks leave with it (their task containers went with the agent).
    engine.networks().mesh.clear();
    engine.networks().remove_overlay_copies(|_| true).await;
    Ok(StatusCode::OK)
}

/// `GET /swarm`.
pub async fn inspect(State(swarm): State<SwarmState>) -> ApiResult<Response> {
    let (cluster, tokens) = swarm.inspect().await?;
    Ok(Json(InDockerOrder(conv::swarm(&cluster, &tokens), &order::SWARM)).into_response())
}

/// `POST /swarm/update?version=&rotateWorkerToken=&rotateManagerToken=&rotateManagerUnlockKey=`.
pub async fn update(
    State(swarm): State<SwarmState>,
    RawQuery(q): RawQuery,
    body: JsonBody,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    let spec = body.parse_as::<bollard_stubs::models::SwarmSpec>()?;
    let rotate = (
        q.flag("rotateWorkerToken", false),
        q.flag("rotateManagerToken", false),
        q.flag("rotateManagerUnlockKey", false),
    );
    swarm.update(version(&q)?, spec, rotate).await?;
    Ok(StatusCode::OK)
}

/// `POST /swarm/unlock` with `{"UnlockKey": "SWMKEY-1-…"}`.
pub async fn unlock(State(swarm): State<SwarmState>, body: JsonBody) -> ApiResult<StatusCode> {
    let raw = body.parse_as::<bollard_stubs::models::SwarmUnlockRequest>()?;
    let key = raw.get("UnlockKey").and_then(Value::as_str).unwrap_or("");
    swarm.unlock(key).await?;
    Ok(StatusCode::OK)
}

/// `GET /swarm/unlockkey`.
pub async fn unlock_key(State(swarm): State<SwarmState>) -> ApiResult<Response> {
    let key = swarm.unlock_key().await?;
    Ok(Json(json!({ "UnlockKey": key })).into_response())
}

/// `GET /nodes?filters=`.
pub async fn list_nodes(
    State(swarm): State<SwarmState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let nodes = swarm.nodes(&q.filters()?).await?;
    let nodes: Vec<Value> = nodes.iter().map(conv::node).collect();
    Ok(Json(InDockerOrder(Value::Array(nodes), &order::NODES)).into_response())
}

/// `GET /nodes/{id}`.
pub async fn inspect_node(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let node = swarm.node(&id).await?;
    Ok(Json(InDockerOrder(conv::node(&node), &order::NODE)).into_response())
}

/// `POST /nodes/{id}/update?version=`.
pub async fn update_node(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: JsonBody,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    let spec = body.parse_as::<bollard_stubs::models::NodeSpec>()?;
    swarm.update_node(&id, version(&q)?, spec).await?;
    Ok(StatusCode::OK)
}

/// `DELETE /nodes/{id}?force=`.
pub async fn remove_node(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    swarm.remove_node(&id, q.flag("force", false)).await?;
    Ok(StatusCode::OK)
}
