//! Swarm requests the integration tests share: init, services, their tasks and containers.

use std::time::Duration;

use serde_json::{json, Value};

use crate::TestDaemon;

/// How long a swarm test waits for a service to converge.
pub const LONG: Duration = Duration::from_secs(60);

/// How long a one-node swarm's change may take to show here (an allocation, a task's start, a
/// name in its DNS).
pub const SETTLE: Duration = Duration::from_secs(20);

/// The first value `f` gives within [`SETTLE`].
pub fn settled<T>(f: impl FnMut() -> Option<T>) -> Option<T> {
    crate::eventually(SETTLE, f)
}

/// `swarm init` on loopback with an ephemeral port and a 1 s heartbeat; returns the node id.
pub fn init(d: &TestDaemon) -> String {
    let r = d.req(
        "POST",
        "/swarm/init",
        &json!({
            "ListenAddr": "127.0.0.1:0",
            "AdvertiseAddr": "127.0.0.1",
            "DataPathPort": d.net_names().vxlan_port,
            "Spec": { "Dispatcher": { "HeartbeatPeriod": 1_000_000_000u64 } },
        })
        .to_string(),
    );
    assert_eq!(r.status, 200, "init: {}", r.text());
    r.json().as_str().unwrap().to_string()
}

/// This daemon's swarm node id.
pub fn node_id(d: &TestDaemon) -> String {
    d.req("GET", "/info", "").json()["Swarm"]["NodeID"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `POST /services/create`; the new service's id.
pub fn create_service(d: &TestDaemon, spec: &Value) -> String {
    let r = d.req("POST", "/services/create", &spec.to_string());
    assert_eq!(r.status, 201, "service create: {}", r.text());
    r.json()["ID"].as_str().unwrap().to_string()
}

/// `GET /services/{id}`.
pub fn service(d: &TestDaemon, id: &str) -> Value {
    let r = d.req("GET", &format!("/services/{id}"), "");
    assert_eq!(r.status, 200, "service inspect: {}", r.text());
    r.json()
}

/// Updates service `id` with `change` applied to its current spec.
pub fn update_service(d: &TestDaemon, id: &str, change: impl FnOnce(&mut Value)) {
    let svc = service(d, id);
    let mut spec = svc["Spec"].clone();
    change(&mut spec);
    let version = svc["Version"]["Index"].as_u64().unwrap();
    let r = d.req(
        "POST",
        &format!("/services/{id}/update?version={version}"),
        &spec.to_string(),
    );
    assert_eq!(r.status, 200, "service update: {}", r.text());
}

/// Running containers of a service on this daemon.
pub fn running(d: &TestDaemon, service: &str) -> Vec<Value> {
    let filters = crate::urlencode(
        &json!({ "label": [format!("com.docker.swarm.service.name={service}")] }).to_string(),
    );
    let r = d.req("GET", &format!("/containers/json?filters={filters}"), "");
    assert_eq!(r.status, 200);
    r.json().as_array().unwrap().clone()
}

/// The tasks of `service`.
pub fn tasks(d: &TestDaemon, service: &str) -> Vec<Value> {
    let filters = crate::urlencode(&json!({ "service": [service] }).to_string());
    let r = d.req("GET", &format!("/tasks?filters={filters}"), "");
    assert_eq!(r.status, 200, "tasks: {}", r.text());
    r.json().as_array().unwrap().clone()
}
