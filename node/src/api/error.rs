//! The only place a status code is chosen for an engine error. Bodies are `{"message": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use berth_swarm::SwarmError;

use crate::error::{EngineError, ErrorKind};

/// An API error: a status code and Docker's one-line message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

/// The status code for an error kind.
pub fn status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::NotInSwarm | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl ApiError {
    /// A 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let status = status(e.kind());
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "request failed");
        }
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

/// The kind of a swarm error (its variants are kinds already).
fn swarm_kind(e: &SwarmError) -> ErrorKind {
    match e {
        SwarmError::NotInSwarm
        | SwarmError::NotManager
        | SwarmError::AlreadyInSwarm
        | SwarmError::NotInSwarmToLeave => ErrorKind::NotInSwarm,
        SwarmError::InvalidArgument(_) => ErrorKind::InvalidArgument,
        SwarmError::NotFound(_) => ErrorKind::NotFound,
        SwarmError::Conflict(_) => ErrorKind::Conflict,
        SwarmError::Unimplemented(_) => ErrorKind::NotImplemented,
        SwarmError::Unavailable(_) | SwarmError::Locked => ErrorKind::Unavailable,
        SwarmError::Internal(_) => ErrorKind::Internal,
    }
}

impl From<SwarmError> for ApiError {
    fn from(e: SwarmError) -> Self {
        let status = status(swarm_kind(&e));
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "swarm request failed");
        }
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "message": self.message })),
        )
            .into_response()
    }
}

/// Unknown paths, as dockerd answers them (without the path).
pub fn page_not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: "page not found".into(),
    }
}

/// The router's fallback for unknown paths and methods.
pub async fn not_found() -> ApiError {
    page_not_found()
}

/// Handler results.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_dockers_codes() {
        assert_eq!(
            ApiError::from(EngineError::NoSuchContainer("x".into())).status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::from(EngineError::Conflict("x".into())).status,
            StatusCode::CONFLICT
        );
        assert_eq!(
            ApiError::from(EngineError::InvalidArgument("x".into())).status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(ErrorKind::NotInSwarm),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn swarm_errors_get_dockers_codes() {
        let code = |e: SwarmError| ApiError::from(e).status;
        assert_eq!(
            code(SwarmError::NotInSwarm),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            code(SwarmError::AlreadyInSwarm),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            code(SwarmError::NotFound("x".into())),
            StatusCode::NOT_FOUND
        );
        assert_eq!(code(SwarmError::Conflict("x".into())), StatusCode::CONFLICT);
        assert_eq!(
            code(SwarmError::InvalidArgument("x".into())),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            code(SwarmError::Unavailable("x".into())),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let internal = ApiError::from(SwarmError::Internal("broken".into()));
        assert_eq!(internal.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(internal.message, "broken");
    }
}
