//! Swarm routes: `/swarm` (init, join, leave, update, unlock key) and `/nodes`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_raft::{NodeRole, ObjectKind};
use bollard_stubs::models::{SwarmInitRequest, SwarmJoinRequest};
use serde_json::{json, Value};

use super::convert::query::Query;
use super::convert::swarm as conv;
use super::error::{ApiError, ApiResult};
use super::json_body::JsonBody;
use crate::swarm::ops;
use crate::swarm::Swarm;

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
    let req: SwarmInitRequest = body.parse()?;
    let id = swarm.init(req).await?;
    Ok(Json(id).into_response())
}

/// `POST /swarm/join`.
pub async fn join(State(swarm): State<SwarmState>, body: JsonBody) -> ApiResult<StatusCode> {
    let req: SwarmJoinRequest = body.parse()?;
    swarm.join(req).await?;
    Ok(StatusCode::OK)
}

/// `POST /swarm/leave?force=`.
pub async fn leave(
    State(swarm): State<SwarmState>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    swarm.leave(q.flag("force", false)).await?;
    Ok(StatusCode::OK)
}

/// `GET /swarm`.
pub async fn inspect(State(swarm): State<SwarmState>) -> ApiResult<Response> {
    let m = swarm.control().await?;
    let cluster = m
        .cluster()
        .ok_or_else(|| ApiError::from(crate::swarm::error::SwarmError::NotInSwarm))?;
    Ok(Json(conv::swarm(&cluster)).into_response())
}

/// `POST /swarm/update?version=&rotateWorkerToken=&rotateManagerToken=`.
pub async fn update(
    State(swarm): State<SwarmState>,
    RawQuery(q): RawQuery,
    body: JsonBody,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    let m = swarm.control().await?;
    ops::update_swarm(
        &m,
        version(&q)?,
        body.parse()?,
        q.flag("rotateWorkerToken", false),
        q.flag("rotateManagerToken", false),
    )
    .await?;
    Ok(StatusCode::OK)
}

/// `GET /swarm/unlockkey`: autolock is not supported, so the key is always empty.
pub async fn unlock_key(State(swarm): State<SwarmState>) -> ApiResult<Response> {
    swarm.control().await?;
    Ok(Json(json!({ "UnlockKey": "" })).into_response())
}

/// `GET /nodes?filters=`.
pub async fn list_nodes(
    State(swarm): State<SwarmState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let filters = q.filters()?;
    let m = swarm.control().await?;
    let leader = leader_raft_id(&m);
    let nodes: Vec<Value> = m.read(|s| {
        crate::swarm::model::sorted(s.list(ObjectKind::Node))
            .into_iter()
            .filter(|n| node_matches(n, &filters))
            .map(|n| conv::node(n, leader))
            .collect()
    });
    Ok(Json(nodes).into_response())
}

fn leader_raft_id(m: &crate::swarm::manager::Manager) -> Option<u64> {
    m.raft.leader()
}

fn node_matches(
    n: &berth_raft::Object,
    filters: &std::collections::BTreeMap<String, Vec<String>>,
) -> bool {
    filters.iter().all(|(k, values)| {
        values.iter().any(|v| match k.as_str() {
            "id" => n.id.starts_with(v.as_str()),
            "name" => n.status["Description"]["Hostname"]
                .as_str()
                .is_some_and(|h| h.contains(v.as_str())),
            "role" => {
                let role = crate::swarm::node_role(n);
                (v == "manager" && role == NodeRole::Manager)
                    || (v == "worker" && role == NodeRole::Worker)
            }
            "membership" => v == "accepted",
            "label" | "node.label" => label_matches(&n.spec["Labels"], v),
            _ => true,
        })
    })
}

/// `key` or `key=value` against a labels object.
pub fn label_matches(labels: &Value, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels[k].as_str() == Some(v),
        None => labels.get(filter).is_some(),
    }
}

/// `GET /nodes/{id}`.
pub async fn inspect_node(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let m = swarm.control().await?;
    let leader = leader_raft_id(&m);
    let node = m.read(|s| ops::find(s, ObjectKind::Node, &id).map(|n| conv::node(n, leader)))?;
    Ok(Json(node).into_response())
}

/// `POST /nodes/{id}/update?version=`.
pub async fn update_node(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: JsonBody,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    let m = swarm.control().await?;
    ops::update_node(&m, &id, version(&q)?, body.parse()?).await?;
    Ok(StatusCode::OK)
}

/// `DELETE /nodes/{id}?force=`.
pub async fn remove_node(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    let m = swarm.control().await?;
    ops::remove_node(&m, &id, q.flag("force", false)).await?;
    Ok(StatusCode::OK)
}
