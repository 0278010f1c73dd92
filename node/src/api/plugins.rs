//! Managed plugins (`/plugins`): berth has no plugin runtime, so it has none to list (`docker
//! plugin ls` shows an empty list, as a dockerd without plugins does), a plugin asked for by
//! name is not found, with Docker's words, and installing or making one is refused by name.
//! Names may hold `/` and `:` (`vieux/sshfs:latest`), so one wildcard route takes the rest.

use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::convert::query::Query;
use super::error::{ApiError, ApiResult};

/// `GET /plugins?filters=` (`capability`, `enabled`, as moby accepts them).
pub async fn list(RawQuery(q): RawQuery) -> ApiResult<Response> {
    let filters = Query::parse(q.as_deref()).filters()?;
    for (key, values) in &filters {
        match key.as_str() {
            "capability" => {}
            // moby's: taken when one value says true or false, else its words, the values as
            // Go prints a list.
            "enabled" if !values.iter().any(|v| v == "true" || v == "false") => {
                return Err(ApiError::bad_request(format!(
                    "Invalid filter 'enabled=[{}]'",
                    values.join(" ")
                )));
            }
            "enabled" => {}
            other => return Err(ApiError::bad_request(format!("invalid filter '{other}'"))),
        }
    }
    Ok(Json(serde_json::json!([])).into_response())
}

/// `GET /plugins/privileges`, `GET /plugins/{name}/json`.
pub async fn get(Path(rest): Path<String>) -> ApiResult<Response> {
    match rest.as_str() {
        "privileges" => Err(unsupported()),
        _ => Err(not_found(rest.strip_suffix("/json").unwrap_or(&rest))),
    }
}

/// `POST /plugins/pull`, `/plugins/create`, `/plugins/{name}/{enable,disable,upgrade,push,set}`.
pub async fn post(Path(rest): Path<String>) -> ApiResult<Response> {
    match rest.as_str() {
        "pull" | "create" => Err(unsupported()),
        _ => {
            let name = rest.rsplit_once('/').map_or(rest.as_str(), |(n, _)| n);
            Err(not_found(name))
        }
    }
}

/// `DELETE /plugins/{name}`.
pub async fn remove(Path(name): Path<String>) -> ApiResult<Response> {
    Err(not_found(&name))
}

fn not_found(name: &str) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("plugin {name:?} not found"),
    }
}

fn unsupported() -> ApiError {
    ApiError {
        status: StatusCode::NOT_IMPLEMENTED,
        message: "managed plugins are not supported by berth: it has no plugin runtime".into(),
    }
}
