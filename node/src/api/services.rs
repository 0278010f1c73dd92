//! Service and task routes: `/services` (create, list, inspect, update, remove) and `/tasks`.
//! Each handler parses, calls the swarm facade, and converts its answer.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bollard_stubs::models::ServiceSpec;
use serde_json::{json, Value};

use super::convert::docker_order::InDockerOrder;
use super::convert::docker_order_swarm as order;
use super::convert::query::Query;
use super::convert::swarm as conv;
use super::error::{ApiError, ApiResult};
use super::json_body::JsonBody;
use super::swarm::SwarmState;
use berth_swarm::pull_auth::PullAuth;

/// The client's registry credentials for the nodes (`--with-registry-auth`): checked here (a
/// header that does not decode is Docker's 400) and kept encoded, as Docker keeps them.
fn registry_auth(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(raw) = headers
        .get("x-registry-auth")
        .map(|v| v.to_str().unwrap_or("\u{fffd}").trim().to_string())
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    super::convert::image::registry_auth(Some(&raw))?;
    Ok(Some(raw))
}

/// `POST /services/create` → 201 `{"ID", "Warnings"}`.
pub async fn create(
    State(swarm): State<SwarmState>,
    headers: HeaderMap,
    body: JsonBody,
) -> ApiResult<Response> {
    let auth = registry_auth(&headers)?;
    let mut spec = body.parse_as::<ServiceSpec>()?;
    super::convert::service_defaults::without_shown_fields(&mut spec);
    let warnings = berth_swarm::spec_warnings(&spec);
    let id = swarm.create_service(spec, auth).await?;
    let created = Json(json!({ "ID": id, "Warnings": warnings }));
    Ok((StatusCode::CREATED, created).into_response())
}

/// `GET /services?filters=&status=`.
pub async fn list(State(swarm): State<SwarmState>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let services = swarm
        .services(&q.filters()?, q.flag("status", false))
        .await?;
    let services: Vec<Value> = services.iter().map(conv::service).collect();
    Ok(Json(InDockerOrder(Value::Array(services), &order::SERVICES)).into_response())
}

/// `GET /services/{id}?insertDefaults=`: with it, the spec shows the swarm's defaults for what
/// it leaves unset, as `docker service inspect` asks.
pub async fn inspect(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let svc = swarm.service(&id).await?;
    let mut v = conv::service(&svc);
    if q.flag("insertDefaults", false) {
        v["Spec"] = super::convert::service_defaults::insert_defaults(&v["Spec"]);
    }
    Ok(Json(InDockerOrder(v, &order::SERVICE)).into_response())
}

/// `POST /services/{id}/update?version=&rollback=&registryAuthFrom=`.
pub async fn update(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: JsonBody,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let version = super::swarm::version(&q)?;
    let auth = match (registry_auth(&headers)?, q.get("registryAuthFrom")) {
        (Some(given), _) => PullAuth::Given(given),
        (None, None | Some("" | "spec")) => PullAuth::FromSpec,
        (None, Some("previous-spec")) => PullAuth::FromPreviousSpec,
        (None, Some(other)) => {
            return Err(ApiError::bad_request(format!(
                "invalid registryAuthFrom {other:?}: spec or previous-spec"
            )))
        }
    };
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
        let mut spec = body.parse_as::<ServiceSpec>()?;
        super::convert::service_defaults::without_shown_fields(&mut spec);
        Some(spec)
    };
    let warnings = spec
        .as_ref()
        .map(berth_swarm::spec_warnings)
        .unwrap_or_default();
    swarm
        .update_service(&id, version, spec, rollback, auth)
        .await?;
    Ok(Json(json!({ "Warnings": warnings })).into_response())
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
    Ok(Json(InDockerOrder(Value::Array(tasks), &order::TASKS)).into_response())
}

/// `GET /tasks/{id}`.
pub async fn inspect_task(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let task = swarm.task(&id).await?;
    Ok(Json(InDockerOrder(conv::task(&task), &order::TASK)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_credentials_are_checked_and_kept_encoded() {
        let mut h = HeaderMap::new();
        assert_eq!(registry_auth(&h).unwrap(), None);
        h.insert("x-registry-auth", "".parse().unwrap());
        assert_eq!(registry_auth(&h).unwrap(), None, "an empty header is none");
        h.insert(
            "x-registry-auth",
            "eyJ1c2VybmFtZSI6InUifQ==".parse().unwrap(),
        );
        assert_eq!(
            registry_auth(&h).unwrap().as_deref(),
            Some("eyJ1c2VybmFtZSI6InUifQ==")
        );
        h.insert("x-registry-auth", "not base64 json!".parse().unwrap());
        let e = registry_auth(&h).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("X-Registry-Auth"), "{}", e.message);
    }
}
