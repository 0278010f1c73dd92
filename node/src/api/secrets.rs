//! Secret and config routes: `/secrets` and `/configs` (create, list, inspect, update,
//! remove). The two kinds share every handler; each route fixes the kind. A secret's data
//! never appears in an answer (the swarm facade does not hand it out).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_swarm::model::SecretKind;
use berth_swarm::query::SecretInfo;
use serde_json::{json, Value};

use super::convert::docker_order::InDockerOrder;
use super::convert::docker_order_swarm as order;
use super::convert::query::Query;
use super::error::ApiResult;
use super::json_body::JsonBody;
use super::swarm::SwarmState;

/// Docker's JSON of a secret or config.
fn info(s: &SecretInfo) -> Value {
    let e = &s.envelope;
    json!({
        "ID": e.id,
        "Version": { "Index": e.version },
        "CreatedAt": super::convert::swarm::time(&e.created_at),
        "UpdatedAt": super::convert::swarm::time(&e.updated_at),
        "Spec": s.spec,
    })
}

/// The body of a secret's or a config's create or update, its keys folded to the spec's.
fn spec_body(kind: SecretKind, body: &JsonBody) -> ApiResult<Value> {
    match kind {
        SecretKind::Secret => body.parse_as::<bollard_stubs::models::SecretSpec>(),
        SecretKind::Config => body.parse_as::<bollard_stubs::models::ConfigSpec>(),
    }
}

async fn create(swarm: SwarmState, kind: SecretKind, body: JsonBody) -> ApiResult<Response> {
    let raw = spec_body(kind, &body)?;
    let id = swarm.create_secret(kind, &raw).await?;
    Ok((StatusCode::CREATED, Json(json!({ "ID": id }))).into_response())
}

async fn list(swarm: SwarmState, kind: SecretKind, q: Option<String>) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let found = swarm.secrets(kind, &q.filters()?).await?;
    let found = Value::Array(found.iter().map(info).collect());
    Ok(Json(InDockerOrder(found, &order::SECRETS)).into_response())
}

async fn inspect(swarm: SwarmState, kind: SecretKind, id: String) -> ApiResult<Response> {
    let found = info(&swarm.secret(kind, &id).await?);
    Ok(Json(InDockerOrder(found, &order::SECRET)).into_response())
}

async fn update(
    swarm: SwarmState,
    kind: SecretKind,
    (id, q): (String, Option<String>),
    body: JsonBody,
) -> ApiResult<StatusCode> {
    let q = Query::parse(q.as_deref());
    let version = super::swarm::version(&q)?;
    let raw = spec_body(kind, &body)?;
    swarm.update_secret(kind, &id, version, &raw).await?;
    Ok(StatusCode::OK)
}

async fn remove(swarm: SwarmState, kind: SecretKind, id: String) -> ApiResult<StatusCode> {
    swarm.remove_secret(kind, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /secrets/create` → 201 `{"ID"}`.
pub async fn create_secret(State(s): State<SwarmState>, body: JsonBody) -> ApiResult<Response> {
    create(s, SecretKind::Secret, body).await
}

/// `POST /configs/create` → 201 `{"ID"}`.
pub async fn create_config(State(s): State<SwarmState>, body: JsonBody) -> ApiResult<Response> {
    create(s, SecretKind::Config, body).await
}

/// `GET /secrets?filters=`.
pub async fn list_secrets(
    State(s): State<SwarmState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    list(s, SecretKind::Secret, q).await
}

/// `GET /configs?filters=`.
pub async fn list_configs(
    State(s): State<SwarmState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    list(s, SecretKind::Config, q).await
}

/// `GET /secrets/{id}`.
pub async fn inspect_secret(
    State(s): State<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    inspect(s, SecretKind::Secret, id).await
}

/// `GET /configs/{id}`.
pub async fn inspect_config(
    State(s): State<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    inspect(s, SecretKind::Config, id).await
}

/// `POST /secrets/{id}/update?version=`.
pub async fn update_secret(
    State(s): State<SwarmState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: JsonBody,
) -> ApiResult<StatusCode> {
    update(s, SecretKind::Secret, (id, q), body).await
}

/// `POST /configs/{id}/update?version=`.
pub async fn update_config(
    State(s): State<SwarmState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: JsonBody,
) -> ApiResult<StatusCode> {
    update(s, SecretKind::Config, (id, q), body).await
}

/// `DELETE /secrets/{id}` → 204.
pub async fn remove_secret(
    State(s): State<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    remove(s, SecretKind::Secret, id).await
}

/// `DELETE /configs/{id}` → 204.
pub async fn remove_config(
    State(s): State<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    remove(s, SecretKind::Config, id).await
}

/// The `/secrets` and `/configs` routes.
pub fn routes() -> axum::Router<super::App> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/secrets", get(list_secrets))
        .route("/secrets/create", post(create_secret))
        .route("/secrets/{id}", get(inspect_secret).delete(remove_secret))
        .route("/secrets/{id}/update", post(update_secret))
        .route("/configs", get(list_configs))
        .route("/configs/create", post(create_config))
        .route("/configs/{id}", get(inspect_config).delete(remove_config))
        .route("/configs/{id}/update", post(update_config))
}
