//! The Docker Engine API over HTTP: routes, version prefixes, and the handlers that turn
//! requests into typed engine calls and results into Docker's JSON. No engine logic here.

pub mod archive;
pub mod build;
pub mod containers;
pub mod containers_live;
pub mod convert;
pub mod error;
pub mod events;
pub mod exec;
pub mod images;
pub mod json_body;
pub mod maintenance;
pub mod networks;
pub mod plugins;
pub mod registry;
pub mod search;
pub mod secrets;
pub mod service_logs;
pub mod services;
pub mod stream;
pub mod swarm;
pub mod system;
mod system_info;
pub mod unread_body;
pub mod volumes;

use std::sync::Arc;

use axum::extract::{FromRef, Path, RawQuery, Request, State};
use axum::routing::{get, post};
use axum::Router;

use crate::engine::Engine;

/// The API version berthd speaks (`/_ping`'s `Api-Version`).
pub const API_VERSION: &str = "1.47";
/// The oldest API version accepted.
pub const MIN_API_VERSION: &str = "1.24";

/// The API version a request asked for (`/v1.NN/…`); the newest when it named none. Handlers
/// take it where Docker's answer depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

impl ApiVersion {
    /// `API_VERSION`.
    pub const CURRENT: ApiVersion = ApiVersion(1, 47);

    /// `1.NN`; `None` for anything else.
    pub fn parse(text: &str) -> Option<ApiVersion> {
        let (major, minor) = text.split_once('.')?;
        Some(ApiVersion(major.parse().ok()?, minor.parse().ok()?))
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ApiVersion {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ApiVersion>()
            .copied()
            .unwrap_or(ApiVersion::CURRENT))
    }
}

/// The engine, as most handlers take it.
pub type AppState = Arc<Engine>;

/// Shared state of every handler: the engine and the swarm handle.
#[derive(Clone)]
pub struct App {
    /// The container engine.
    pub engine: Arc<Engine>,
    /// Swarm mode.
    pub swarm: Arc<berth_swarm::Swarm>,
}

impl FromRef<App> for Arc<Engine> {
    fn from_ref(app: &App) -> Self {
        app.engine.clone()
    }
}

impl FromRef<App> for Arc<berth_swarm::Swarm> {
    fn from_ref(app: &App) -> Self {
        app.swarm.clone()
    }
}

/// All routes, over unversioned paths; see [`strip_version`] for `/v1.NN/…`.
pub fn router(engine: Arc<Engine>, swarm: Arc<berth_swarm::Swarm>) -> Router {
    Router::new()
        .route("/swarm", get(swarm::inspect))
        .route("/swarm/init", post(swarm::init))
        .route("/swarm/join", post(swarm::join))
        .route("/swarm/leave", post(swarm::leave))
        .route("/swarm/update", post(swarm::update))
        .route("/swarm/unlockkey", get(swarm::unlock_key))
        .route("/swarm/unlock", post(swarm::unlock))
        .route("/nodes", get(swarm::list_nodes))
        .route(
            "/nodes/{id}",
            get(swarm::inspect_node).delete(swarm::remove_node),
        )
        .route("/nodes/{id}/update", post(swarm::update_node))
        .route("/services", get(services::list))
        .route("/services/create", post(services::create))
        .route(
            "/services/{id}",
            get(services::inspect).delete(services::remove),
        )
        .route("/services/{id}/update", post(services::update))
        .route("/services/{id}/logs", get(service_logs::service))
        .route("/tasks/{id}/logs", get(service_logs::task))
        .route("/tasks", get(services::list_tasks))
        .route("/tasks/{id}", get(services::inspect_task))
        .route("/plugins", get(plugins::list))
        .route(
            "/plugins/{*rest}",
            get(plugins::get)
                .post(plugins::post)
                .delete(plugins::remove),
        )
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(events::events))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/attach", post(containers::attach))
        .route("/containers/{id}/resize", post(exec::resize_container))
        .route("/containers/{id}/pause", post(containers_live::pause))
        .route("/containers/{id}/unpause", post(containers_live::unpause))
        .route("/containers/{id}/rename", post(containers_live::rename))
        .route("/containers/{id}/top", get(containers_live::top))
        .route("/containers/{id}/update", post(maintenance::update))
        .route("/containers/{id}/export", get(maintenance::export))
        .route("/containers/{id}/changes", get(maintenance::changes))
        .route("/containers/prune", post(maintenance::prune_containers))
        .route("/images/prune", post(maintenance::prune_images))
        .route("/system/df", get(maintenance::df))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect)
                .put(volumes::update)
                .delete(volumes::remove),
        )
        .route(
            "/containers/{id}/archive",
            get(archive::get).head(archive::head).put(archive::put),
        )
        .route("/containers/{id}/stats", get(containers_live::stats))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route(
            "/containers/{id}",
            axum::routing::delete(containers::remove),
        )
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route("/session", get(build::session).post(build::session))
        .route("/commit", post(build::commit))
        .route("/auth", post(images::auth))
        .route("/distribution/{*rest}", get(images::distribution))
        .route("/images/json", get(images::list))
        .route("/images/create", post(images::create))
        .route("/images/load", post(images::load))
        // Static, so it wins over `/images/{*rest}`. A matched path answers other methods
        // with a 404 rather than falling through, so removing an image named `get` is routed
        // here.
        .route(
            "/images/get",
            get(images::save_many).delete(|state: State<AppState>, query: RawQuery| {
                images::remove(state, Path("get".to_string()), query)
            }),
        )
        // Static too: `DELETE /images/search` removes an image named `search`.
        .route(
            "/images/search",
            get(search::search).delete(|state: State<AppState>, query: RawQuery| {
                images::remove(state, Path("search".to_string()), query)
            }),
        )
        .route(
            "/images/{*rest}",
            get(images::get_by_name)
                .post(images::post_by_name)
                .delete(images::remove),
        )
        .merge(secrets::routes())
        .fallback(containers::fallback)
        // dockerd answers a method a path lacks as it answers an unknown path.
        .method_not_allowed_fallback(error::not_found)
        .layer(axum::middleware::from_fn(refuse_unserved_version))
        .layer(axum::middleware::from_fn(unread_body::drain))
        .with_state(App { engine, swarm })
}

/// A request for an API version berthd does not serve: Docker's 400 before any handler (moby's
/// version middleware), not an answer that drops what the newer version's client sent.
#[derive(Clone, Debug)]
struct UnservedVersion(String);

async fn refuse_unserved_version(
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match req.extensions().get::<UnservedVersion>() {
        Some(UnservedVersion(message)) => {
            axum::response::IntoResponse::into_response(error::ApiError::bad_request(message))
        }
        None => next.run(req).await,
    }
}

/// Docker's words for a version outside `MIN_API_VERSION..=API_VERSION`.
fn unserved(asked: ApiVersion, text: &str) -> Option<UnservedVersion> {
    let min = ApiVersion::parse(MIN_API_VERSION)?;
    if asked > ApiVersion::CURRENT {
        return Some(UnservedVersion(format!(
            "client version {text} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    (asked < min).then(|| {
        UnservedVersion(format!(
            "client version {text} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        ))
    })
}

/// Rewrites `/v1.NN/path` to `/path`, so one set of routes serves every version, and keeps
/// the version asked for in the request's extensions (`ApiVersion`).
pub fn strip_version(mut req: Request) -> Request {
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix("/v") {
        if let Some(idx) = rest.find('/') {
            let (ver, tail) = rest.split_at(idx);
            if !ver.is_empty() && ver.chars().all(|c| c.is_ascii_digit() || c == '.') {
                let asked = ApiVersion::parse(ver);
                let refusal = asked.and_then(|v| unserved(v, ver));
                let pq = match req.uri().query() {
                    Some(q) => format!("{tail}?{q}"),
                    None => tail.to_string(),
                };
                if let Ok(uri) = pq.parse() {
                    *req.uri_mut() = uri;
                    if let Some(v) = asked {
                        req.extensions_mut().insert(v);
                    }
                    if let Some(r) = refusal {
                        req.extensions_mut().insert(r);
                    }
                }
            }
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `uri` through `strip_version`.
    fn stripped_request(uri: &str) -> Request {
        let req = Request::builder()
            .uri(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        strip_version(req)
    }

    fn stripped(uri: &str) -> String {
        stripped_request(uri).uri().to_string()
    }

    #[test]
    fn version_prefixes_are_stripped_and_queries_kept() {
        assert_eq!(
            stripped("/v1.47/containers/json?all=1"),
            "/containers/json?all=1"
        );
        assert_eq!(stripped("/_ping"), "/_ping");
        assert_eq!(stripped("/volumes/x"), "/volumes/x");
        assert_eq!(stripped("/vx/y"), "/vx/y");
    }

    #[test]
    fn the_version_asked_for_is_kept_and_none_asked_reads_as_the_newest() {
        let asked = |uri: &str| {
            stripped_request(uri)
                .extensions()
                .get::<ApiVersion>()
                .copied()
        };
        assert_eq!(asked("/v1.44/containers/x/json"), Some(ApiVersion(1, 44)));
        assert_eq!(asked("/v1.9/info"), Some(ApiVersion(1, 9)));
        assert_eq!(asked("/containers/x/json"), None);
        assert_eq!(ApiVersion::parse(API_VERSION), Some(ApiVersion::CURRENT));
        assert!(ApiVersion(1, 9) < ApiVersion(1, 45));
        assert_eq!(ApiVersion::parse("1"), None);
    }

    #[test]
    fn versions_berthd_does_not_serve_are_marked_for_dockers_refusal() {
        let refusal = |uri: &str| {
            stripped_request(uri)
                .extensions()
                .get::<UnservedVersion>()
                .map(|r| r.0.clone())
        };
        assert_eq!(
            refusal("/v1.53/containers/json").as_deref(),
            Some("client version 1.53 is too new. Maximum supported API version is 1.47")
        );
        assert_eq!(
            refusal("/v1.9/info").as_deref(),
            Some("client version 1.9 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version")
        );
        for served in ["/v1.24/info", "/v1.47/info", "/v1.41/info", "/info"] {
            assert_eq!(refusal(served), None, "{served}");
        }
    }
}
