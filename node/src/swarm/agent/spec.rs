//! A task's container: Docker's `TaskSpec.ContainerSpec` (plus resources, host-mode ports and
//! the swarm labels) turned into the `ContainerCreateBody` the engine's create takes.

use berth_raft::Object;
use bollard_stubs::models::ContainerCreateBody;
use serde_json::{json, Map, Value};

use crate::swarm::model::{
    container_name, task_attrs, TaskDoc, LABEL_NODE_ID, LABEL_SERVICE_ID, LABEL_SERVICE_NAME,
    LABEL_TASK_ID, LABEL_TASK_NAME,
};

/// The image a task runs, without a digest the local store may not know it by.
pub fn image_of(template: &Value) -> String {
    template["ContainerSpec"]["Image"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// `name:tag@sha256:…` → `name:tag` (an image loaded locally has no repo digest).
pub fn without_digest(image: &str) -> &str {
    image.split_once('@').map_or(image, |(name, _)| name)
}

/// The stop timeout in whole seconds from `StopGracePeriod` (nanoseconds; Docker's default 10 s).
pub fn stop_timeout(template: &Value) -> i64 {
    template["ContainerSpec"]["StopGracePeriod"]
        .as_i64()
        .map_or(10, |ns| (ns + 999_999_999) / 1_000_000_000)
}

/// The container name and create body of a task.
pub fn container_body(task: &Object, image: &str) -> (String, Result<ContainerCreateBody, String>) {
    let doc = TaskDoc::of(task);
    let (service_id, node_id, _) = task_attrs(task);
    let spec = &doc.template["ContainerSpec"];
    let name = container_name(task);
    let mut labels: Map<String, Value> = spec["Labels"].as_object().cloned().unwrap_or_default();
    for (k, v) in [
        (LABEL_SERVICE_NAME, doc.service_name.as_str()),
        (LABEL_SERVICE_ID, service_id),
        (LABEL_TASK_ID, task.id.as_str()),
        (LABEL_TASK_NAME, name.as_str()),
        (LABEL_NODE_ID, node_id.unwrap_or("")),
    ] {
        labels.insert(k.to_string(), json!(v));
    }
    let limits = &doc.template["Resources"]["Limits"];
    let mut host = json!({
        "NetworkMode": "default",
        "Init": spec["Init"],
        "ReadonlyRootfs": spec["ReadOnly"],
        "Mounts": spec["Mounts"],
        "NanoCpus": limits["NanoCPUs"],
        "Memory": limits["MemoryBytes"],
        "PidsLimit": limits["Pids"],
        "CapAdd": spec["CapabilityAdd"],
        "CapDrop": spec["CapabilityDrop"],
        "ExtraHosts": spec["Hosts"],
        "Dns": spec["DNSConfig"]["Nameservers"],
    });
    let ports = ports(task);
    if !ports.is_empty() {
        host["PortBindings"] = Value::Object(ports);
    }
    let body = json!({
        "Image": image,
        "Entrypoint": spec["Command"],
        "Cmd": spec["Args"],
        "Env": spec["Env"],
        "WorkingDir": spec["Dir"],
        "User": spec["User"],
        "Hostname": spec["Hostname"],
        "Labels": labels,
        "Tty": spec["TTY"],
        "OpenStdin": spec["OpenStdin"],
        "StopSignal": spec["StopSignal"],
        "StopTimeout": stop_timeout(&doc.template),
        "Healthcheck": spec["HealthCheck"],
        "HostConfig": strip_nulls(host),
    });
    let body = serde_json::from_value(strip_nulls(body)).map_err(|e| e.to_string());
    (name, body)
}

/// The task's host-mode published ports as port bindings.
fn ports(task: &Object) -> Map<String, Value> {
    let mut out = Map::new();
    let doc = TaskDoc::of(task);
    let Some(list) = doc.host_ports.as_array() else {
        return out;
    };
    for p in list {
        let (Some(target), Some(published)) =
            (p["TargetPort"].as_u64(), p["PublishedPort"].as_u64())
        else {
            continue;
        };
        let proto = p["Protocol"].as_str().unwrap_or("tcp");
        out.insert(
            format!("{target}/{proto}"),
            json!([{ "HostIp": "", "HostPort": published.to_string() }]),
        );
    }
    out
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}
