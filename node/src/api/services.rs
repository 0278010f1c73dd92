//! Service and task routes: `/services` (create, list, inspect, update, remove) and `/tasks`.
//! Each handler parses, calls the swarm facade, and converts its answer.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::convert::query::Query;
use super::convert::swarm as conv;
use super::error::{ApiError, ApiResult};
use super::json_body::JsonBody;
use super::swarm::SwarmState;

/// Registry credentials for the nodes (`--with-registry-auth`) would have to reach every node
/// that pulls the image; berth does not carry them, so it refuses them rather than drop them.
fn refuse_registry_auth(headers: &HeaderMap) -> ApiResult<()> {
    let set = headers
        .get("x-registry-auth")
        .is_some_and(|v| !v.as_bytes().is_empty());
    if set {
        return Err(ApiError::bad_request(
            "X-Registry-Auth (--with-registry-auth) is not supported by berth: service images are pulled without the client's credentials",
        ));
    }
    Ok(())
}

/// `POST /services/create` → 201 `{"ID", "Warnings"}`.
pub async fn create(
    State(swarm): State<SwarmState>,
    headers: HeaderMap,
    body: JsonBody,
) -> ApiResult<Response> {
    refuse_registry_auth(&headers)?;
    let spec: Value = body.parse()?;
    let id = swarm.create_service(spec).await?;
    let created = Json(json!({ "ID": id, "Warnings": [] }));
    Ok((StatusCode::CREATED, created).into_response())
}

/// `GET /services?filters=&status=`.
pub async fn list(State(swarm): State<SwarmState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let services = swarm
        .services(&q.filters()?, q.flag("status", false))
        .await?;
    let services: Vec<Value> = services.iter().map(conv::service).collect();
    Ok(Json(services).into_response())
}

/// `GET /services/{id}`.
pub async fn inspect(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let svc = swarm.service(&id).await?;
    Ok(Json(conv::service(&svc)).into_response())
}

/// `POST /services/{id}/update?version=&rollback=`.
pub async fn update(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: JsonBody,
) -> ApiResult<Response> {
    refuse_registry_auth(&headers)?;
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
    swarm.update_service(&id, version, spec, rollback).await?;
    Ok(Json(json!({ "Warnings": [] })).into_response())
}

/// `DELETE /services/{id}`.
pub async fn remove(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    swarm.remove_service(&id).await?;
    Ok(StatusCode::OK)
}

/// `GET /tasks?filters=`.
pub async fn list_tasks(
    State(swarm): State<SwarmState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let tasks = swarm.tasks(&q.filters()?).await?;
    let tasks: Vec<Value> = tasks.iter().map(conv::task).collect();
    Ok(Json(tasks).into_response())
}

/// `GET /tasks/{id}`.
pub async fn inspect_task(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let task = swarm.task(&id).await?;
    Ok(Json(conv::task(&task)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_credentials_for_the_nodes_are_refused_and_their_absence_passes() {
        let mut h = HeaderMap::new();
        assert!(refuse_registry_auth(&h).is_ok());
        h.insert("x-registry-auth", "".parse().unwrap());
        assert!(
            refuse_registry_auth(&h).is_ok(),
            "an empty header is no credentials"
        );
        h.insert(
            "x-registry-auth",
            "eyJ1c2VybmFtZSI6InUifQ==".parse().unwrap(),
        );
        let e = refuse_registry_auth(&h).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("--with-registry-auth"), "{}", e.message);
    }
}
