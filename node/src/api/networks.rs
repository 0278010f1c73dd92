//! `/networks`: list, inspect, create, remove, connect, disconnect, prune. Extract, convert,
//! call the engine (local networks) or the swarm (overlay networks, on managers), convert
//! back; Docker's shapes are in `convert::network` and `convert::swarm_network`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use bollard_stubs::models::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};
use serde_json::{json, Value};

use super::convert::docker_order::{self, InDockerOrder};
use super::convert::network as conv;
use super::convert::query::Query;
use super::convert::swarm_network as swarm_conv;
use super::error::{ApiError, ApiResult};
use super::json_body::JsonBody;
use super::swarm::SwarmState;
use super::AppState;

fn matches(
    n: &crate::network::NetworkRecord,
    filters: &std::collections::BTreeMap<String, Vec<String>>,
) -> bool {
    filters.iter().all(|(k, vals)| {
        vals.iter().any(|v| match k.as_str() {
            "name" => n.name.contains(v.as_str()),
            "id" => n.id.starts_with(v.as_str()),
            "driver" => n.driver == *v,
            "type" => (v == "builtin") == n.builtin,
            "label" => match v.split_once('=') {
                Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
                None => n.labels.contains_key(v.as_str()),
            },
            // Standalone networks are all local.
            "scope" => v == "local",
            _ => false,
        })
    })
}

/// moby's predefined network names, always in use.
const PREDEFINED: [&str; 4] = ["bridge", "host", "none", "default"];

/// `dangling=`: one value, `true`/`1` or `false`/`0`, as moby's network filter takes it.
fn dangling_filter(values: &[String]) -> Result<bool, ApiError> {
    match values {
        [v] => match v.as_str() {
            "1" | "true" => Ok(true),
            "0" | "false" => Ok(false),
            _ => Err(ApiError::bad_request(
                "invalid value for filter 'dangling', must be \"true\" (or \"1\"), or \"false\" (or \"0\")",
            )),
        },
        _ => Err(ApiError::bad_request(
            "got more than one value for filter key \"dangling\"",
        )),
    }
}

/// `GET /networks?filters=`
pub async fn list(
    State(engine): State<AppState>,
    State(swarm): State<SwarmState>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let mut filters = Query::parse(q.as_deref()).filters()?;
    const KNOWN: [&str; 6] = ["name", "id", "driver", "type", "label", "scope"];
    let dangling = filters
        .remove("dangling")
        .map(|v| dangling_filter(&v))
        .transpose()?;
    if let Some(k) = filters.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
    }
    let in_use = match dangling {
        Some(_) => engine.networks_in_use().await?,
        None => Default::default(),
    };
    // moby's `matchesUse`: a network is in use when predefined or a running container is on
    // it; swarmkit tracks no attachments, so a manager's swarm networks count as unused.
    let use_matches = |name: &str, attached: bool| {
        dangling.is_none_or(|only_dangling| {
            let used = PREDEFINED.contains(&name) || attached;
            used != only_dangling
        })
    };
    let mut nets: Vec<Value> = engine
        .networks()
        .list()?
        .iter()
        .filter(|n| matches(n, &filters) && use_matches(&n.name, in_use.contains(&n.id)))
        .map(|n| conv::network(n, None))
        .collect();
    // A manager lists the swarm's networks; its copies of them are listed once, as those.
    let cluster = swarm.networks().await;
    nets.retain(|n| !cluster.iter().any(|c| n["Id"] == c.envelope.id.as_str()));
    nets.extend(
        cluster
            .iter()
            .filter(|n| swarm_conv::matches(n, &filters) && use_matches(&n.spec.name, false))
            .map(swarm_conv::network),
    );
    Ok(Json(InDockerOrder(
        Value::Array(nets),
        &docker_order::NETWORKS,
    )))
}

/// `GET /networks/{id}?verbose=&scope=`; `verbose` adds a swarm network's services, tasks and
/// peers across the cluster (on a manager), with this node's view of each peer's health.
pub async fn inspect(
    State(engine): State<AppState>,
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let q = Query::parse(q.as_deref());
    // `scope=`: a network of another scope is not found, as Docker's.
    let scope = q.get("scope").filter(|s| !s.is_empty());
    if let Some(s) = scope.filter(|s| !matches!(*s, "local" | "swarm" | "global")) {
        return Err(ApiError::bad_request(format!("invalid scope: {s}")));
    }
    let v = view(&engine, &swarm, &id, q.flag("verbose", false)).await?;
    if scope.is_some_and(|s| v["Scope"] != s) {
        return Err(crate::EngineError::NotFound(format!("network {id} not found")).into());
    }
    Ok(Json(InDockerOrder(v, &docker_order::NETWORK)))
}

/// The network as inspect shows it.
async fn view(engine: &AppState, swarm: &SwarmState, id: &str, verbose: bool) -> ApiResult<Value> {
    let n = match engine.networks().get(id) {
        Ok(n) => n,
        Err(e) => match swarm.network(id).await {
            Ok(info) => {
                let mut v = swarm_conv::network(&info);
                if verbose {
                    add_detail(&mut v, swarm, engine, &info.envelope.id, None, true).await;
                }
                return Ok(v);
            }
            Err(_) => return Err(e.into()),
        },
    };
    let eps = engine.networks().endpoints_on(&n.id)?;
    let local = conv::network(&n, Some(&eps));
    if let Some(vni) = n.vni {
        // This node's copy of a swarm network: the swarm's view, with the containers here and
        // the network's peers (always, as moby's; its services only when verbose).
        if let Ok(info) = swarm.network(&n.id).await {
            let mut v = swarm_conv::network(&info);
            v["Containers"] = local["Containers"].clone();
            add_detail(&mut v, swarm, engine, &n.id, Some(vni), verbose).await;
            return Ok(v);
        }
        // A worker has no store: its peers are those its health view follows.
        let mut v = local;
        let health = engine.networks().peer_health(vni);
        let detail = berth_swarm::query::NetworkDetail {
            peers: health.keys().map(|ip| (ip.to_string(), *ip)).collect(),
            ..Default::default()
        };
        let (_, peers) = swarm_conv::detail(&detail, &health);
        v["Peers"] = peers;
        return Ok(v);
    }
    Ok(local)
}

/// Docker's `Peers` and, with `services`, its verbose `Services`, each peer with whether its
/// VXLAN endpoint answers this node (`vni`: this node's copy of the network, which the health
/// view is kept for).
async fn add_detail(
    v: &mut Value,
    swarm: &SwarmState,
    engine: &AppState,
    id: &str,
    vni: Option<u32>,
    services: bool,
) {
    let Ok(detail) = swarm.network_detail(id).await else {
        return;
    };
    let health = vni
        .map(|vni| engine.networks().peer_health(vni))
        .unwrap_or_default();
    let (listed, peers) = swarm_conv::detail(&detail, &health);
    if services {
        v["Services"] = listed;
    }
    v["Peers"] = peers;
}

/// `POST /networks/create`
pub async fn create(
    State(engine): State<AppState>,
    State(swarm): State<SwarmState>,
    body: JsonBody,
) -> ApiResult<impl IntoResponse> {
    let raw = body.parse_as::<bollard_stubs::models::NetworkCreateRequest>()?;
    if let Some(name) = raw.get("Name").and_then(Value::as_str) {
        crate::network::manager::refuse_predefined(name)?;
    }
    if raw.get("Driver").and_then(Value::as_str) == Some("overlay") {
        let id = swarm.create_network(&raw).await?;
        return Ok((StatusCode::CREATED, Json(json!({"Id": id, "Warning": ""}))));
    }
    super::convert::support::check_network_create(&raw)?;
    let body: NetworkCreateRequest = serde_json::from_value(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let req = super::convert::network_create::create_request(body)?;
    let n = engine.networks().create(req).await?;
    engine.network_event("create", &n);
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": n.id, "Warning": ""})),
    ))
}

/// `DELETE /networks/{id}`
pub async fn remove(
    State(engine): State<AppState>,
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let n = match engine.networks().get(&id) {
        Ok(n) => n,
        Err(e) => {
            if swarm.network(&id).await.is_ok() {
                swarm.remove_network(&id).await?;
                return Ok(StatusCode::NO_CONTENT);
            }
            return Err(e.into());
        }
    };
    if n.vni.is_some() {
        // This node's copy of a swarm network: remove the network from the swarm, then the
        // copy (kept while a container here still uses it).
        swarm.remove_network(&n.id).await?;
        let _ = engine.remove_network(&n.id).await;
        return Ok(StatusCode::NO_CONTENT);
    }
    engine.remove_network(&id).await?;
    engine.network_event("destroy", &n);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /networks/{id}/connect`
pub async fn connect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<StatusCode> {
    let raw = body.parse_as::<bollard_stubs::models::NetworkConnectRequest>()?;
    super::convert::support::check_endpoint(&raw["EndpointConfig"], "EndpointConfig.")?;
    let body: NetworkConnectRequest = serde_json::from_value(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let req = match &body.endpoint_config {
        Some(e) => conv::endpoint_request(e)?,
        None => Default::default(),
    };
    engine.connect_network(&id, &body.container, req).await?;
    Ok(StatusCode::OK)
}

/// `POST /networks/{id}/disconnect`
pub async fn disconnect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<StatusCode> {
    let body: NetworkDisconnectRequest = body.parse()?;
    let force = body.force.unwrap_or(false);
    engine
        .disconnect_network(&id, &body.container, force)
        .await?;
    Ok(StatusCode::OK)
}

/// `POST /networks/prune`
pub async fn prune(
    State(engine): State<AppState>,
    State(swarm): State<SwarmState>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let f = super::maintenance::prune_filter(&Query::parse(q.as_deref()))?;
    // As moby's: on a manager the swarm's networks first, each that nothing uses (the removal
    // refuses the others; the ingress only goes when asked for by name), then local ones.
    let mut names = Vec::new();
    for n in swarm.networks().await {
        let labels = n
            .spec
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        if n.spec.ingress == Some(true) || f.keeps(n.envelope.created_at.timestamp(), &labels) {
            continue;
        }
        if swarm.remove_network(&n.envelope.id).await.is_ok() {
            // This node's copy, as a removal by name takes it.
            let _ = engine.remove_network(&n.envelope.id).await;
            names.push(n.spec.name);
        }
    }
    names.extend(engine.prune_networks(&f).await?);
    let names = if names.is_empty() {
        Value::Null
    } else {
        json!(names)
    };
    Ok(Json(json!({"NetworksDeleted": names})))
}
