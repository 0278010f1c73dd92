//! The swarm facade's answers → Docker's JSON: `Swarm`, `Node`, `Service`, `Task`, and the
//! `Swarm` part of `/info`.

use berth_swarm::query::{
    ClusterInfo, Envelope, JoinTokens, NodeInfo, ServiceInfo, SwarmInfo, TaskInfo,
};
use serde_json::{json, Value};

pub fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn envelope(e: &Envelope) -> Value {
    json!({
        "ID": e.id,
        "Version": { "Index": e.version },
        "CreatedAt": time(&e.created_at),
        "UpdatedAt": time(&e.updated_at),
    })
}

/// The cluster part shared by `GET /swarm` and `/info`.
fn cluster_json(c: &ClusterInfo) -> Value {
    let mut v = envelope(&c.envelope);
    v["Spec"] = c.spec.clone();
    v["TLSInfo"] = match &c.tls {
        Some(tls) => json!(tls),
        None => json!({"TrustRoot": c.ca_cert, "CertIssuerSubject": "", "CertIssuerPublicKey": ""}),
    };
    v["RootRotationInProgress"] = json!(false);
    v["DefaultAddrPool"] = json!(c.default_addr_pool);
    v["SubnetSize"] = json!(c.subnet_size);
    v["DataPathPort"] = json!(c.data_path_port);
    v
}

/// `GET /swarm`.
pub fn swarm(cluster: &ClusterInfo, tokens: &JoinTokens) -> Value {
    let mut v = cluster_json(cluster);
    v["JoinTokens"] = json!({ "Worker": tokens.worker, "Manager": tokens.manager });
    v
}

/// A node, with its manager status (leader, reachability) when it is a manager.
pub fn node(n: &NodeInfo) -> Value {
    let mut v = envelope(&n.envelope);
    v["Spec"] = json!(n.spec);
    v["Description"] = json!(n.description);
    v["Status"] = json!(n.status);
    if let Some(m) = &n.manager {
        let mut ms = json!({
            "Reachability": if m.reachable { "reachable" } else { "unreachable" },
            "Addr": m.addr,
        });
        if m.leader {
            ms["Leader"] = json!(true);
        }
        v["ManagerStatus"] = ms;
    }
    v
}

/// A service; its task counts as `ServiceStatus` when it has them.
pub fn service(svc: &ServiceInfo) -> Value {
    let mut v = envelope(&svc.envelope);
    v["Spec"] = svc.spec.clone();
    super::service_defaults::with_shown_fields(&mut v["Spec"]);
    if let Some(previous) = &svc.previous_spec {
        v["PreviousSpec"] = previous.clone();
        super::service_defaults::with_shown_fields(&mut v["PreviousSpec"]);
    }
    // swarmkit's allocator gives a service its endpoint (a copy of the spec's) only when it
    // has something to allocate, virtual IPs or published ports; until then moby shows
    // `{"Spec":{}}`.
    let allocated = !svc.ports.is_empty() || !svc.virtual_ips.is_empty();
    let endpoint = svc
        .spec
        .get("EndpointSpec")
        .filter(|e| allocated && e.is_object());
    let mut endpoint_spec = endpoint.cloned().unwrap_or_else(|| json!({}));
    if endpoint.is_some() {
        super::service_defaults::shown_endpoint_spec(&mut endpoint_spec);
    }
    v["Endpoint"] = json!({ "Spec": endpoint_spec });
    if !svc.ports.is_empty() {
        v["Endpoint"]["Ports"] = json!(svc.ports);
    }
    if !svc.virtual_ips.is_empty() {
        v["Endpoint"]["VirtualIPs"] = json!(svc.virtual_ips);
    }
    if let Some(u) = &svc.update_status {
        v["UpdateStatus"] = json!(u);
    }
    if let Some(job) = &svc.job {
        v["JobStatus"] = json!(job);
    }
    if let Some(c) = svc.counts {
        v["ServiceStatus"] = json!({
            "RunningTasks": c.running,
            "DesiredTasks": c.desired,
            "CompletedTasks": c.completed,
        });
    }
    v
}

/// A task.
pub fn task(t: &TaskInfo) -> Value {
    let mut v = envelope(&t.envelope);
    v["Labels"] = json!({});
    v["Spec"] = t.spec.clone();
    // As moby converts a task's spec (which has no `Runtime`).
    if let Some(spec) = v["Spec"].as_object_mut() {
        super::service_defaults::shown_task_spec(spec);
    }
    v["ServiceID"] = json!(t.service_id);
    if t.slot > 0 {
        v["Slot"] = json!(t.slot);
    }
    if let Some(n) = &t.node_id {
        v["NodeID"] = json!(n);
    }
    v["Status"] = json!(t.status);
    v["DesiredState"] = json!(t.desired);
    if let Some(run) = t.job_iteration {
        // `{}` for a job's first run, as Docker's.
        v["JobIteration"] = json!(berth_swarm::model::JobIteration { index: run });
    }
    if !t.generic_resources.is_empty() {
        v["AssignedGenericResources"] = json!(t.generic_resources);
    }
    if !t.networks.is_empty() {
        v["NetworksAttachments"] = t
            .networks
            .iter()
            .map(|a| {
                let prefix = a.subnet.rsplit_once('/').map_or("32", |(_, p)| p);
                // The network as the swarm holds it; one removed since, as the task knew it.
                let network = t
                    .network_objects
                    .iter()
                    .find(|n| n.envelope.id == a.network_id)
                    .map_or_else(
                        || {
                            json!({ "ID": a.network_id, "Spec": { "Name": a.name,
                                   "DriverConfiguration": { "Name": "overlay" } } })
                        },
                        super::swarm_network::swarm_object,
                    );
                json!({
                    "Network": network,
                    "Addresses": [format!("{}/{prefix}", a.address)],
                })
            })
            .collect();
    }
    v
}

/// The `Swarm` field of `/info`; `locked` for an autolocked manager waiting for its key.
pub fn info(info: Option<&SwarmInfo>, locked: bool) -> Value {
    let Some(info) = info else {
        let state = if locked { "locked" } else { "inactive" };
        return json!({
            "NodeID": "", "NodeAddr": "", "LocalNodeState": state,
            "ControlAvailable": false, "Error": "", "RemoteManagers": null,
        });
    };
    let managers: Vec<Value> = info
        .remote_managers
        .iter()
        .map(|(id, addr)| json!({ "NodeID": id, "Addr": addr }))
        .collect();
    let mut v = json!({
        "NodeID": info.node_id,
        "NodeAddr": info.node_addr,
        "LocalNodeState": "active",
        "ControlAvailable": info.control_available,
        "Error": "",
        "RemoteManagers": managers,
    });
    if let Some((nodes, count, cluster)) = &info.managed {
        v["Nodes"] = json!(nodes);
        v["Managers"] = json!(count);
        if let Some(c) = cluster {
            v["Cluster"] = cluster_json(c);
        }
    }
    v
}
