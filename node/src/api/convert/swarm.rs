//! Swarm objects from the store → Docker's JSON: `Swarm`, `Node`, `Service`, `Task`, and the
//! `Swarm` part of `/info`.

use std::collections::HashMap;

use berth_raft::{ClusterState, NodeRole, Object, ObjectKind};
use serde_json::{json, Value};

use crate::swarm::model::{
    desired_name, is_live, observed, service_mode, task_attrs, Mode, TaskDoc,
};
use crate::swarm::ops::join_tokens;
use crate::swarm::{node_role, Member};

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn envelope(o: &Object) -> Value {
    json!({
        "ID": o.id,
        "Version": { "Index": o.meta.version },
        "CreatedAt": time(&o.meta.created_at),
        "UpdatedAt": time(&o.meta.updated_at),
    })
}

fn tls_info(cluster: &Object) -> Value {
    json!({
        "TrustRoot": cluster.status["RootCa"]["Cert"],
        "CertIssuerSubject": "",
        "CertIssuerPublicKey": "",
    })
}

/// The cluster part shared by `GET /swarm` and `/info`.
fn cluster_json(cluster: &Object) -> Value {
    let mut v = envelope(cluster);
    v["Spec"] = cluster.spec.clone();
    v["TLSInfo"] = tls_info(cluster);
    v["RootRotationInProgress"] = json!(false);
    v["DefaultAddrPool"] = cluster.status["DefaultAddrPool"].clone();
    v["SubnetSize"] = cluster.status["SubnetSize"].clone();
    v["DataPathPort"] = cluster.status["DataPathPort"].clone();
    v
}

/// `GET /swarm`.
pub fn swarm(cluster: &Object) -> Value {
    let mut v = cluster_json(cluster);
    let (worker, manager) = join_tokens(cluster);
    v["JoinTokens"] = json!({ "Worker": worker, "Manager": manager });
    v
}

/// A node, with its manager status (leader, reachability) when it is a manager.
pub fn node(n: &Object, leader_raft_id: Option<u64>) -> Value {
    let mut v = envelope(n);
    let mut spec = n.spec.clone();
    spec["Role"] = json!(match node_role(n) {
        NodeRole::Manager => "manager",
        NodeRole::Worker => "worker",
    });
    v["Spec"] = spec;
    v["Description"] = n.status["Description"].clone();
    let mut status = n.status["Status"].clone();
    if status.is_null() {
        status = json!({ "State": "unknown" });
    }
    v["Status"] = status;
    if node_role(n) == NodeRole::Manager {
        let raft_id = n.status["RaftId"].as_u64();
        let ready = n.status["Status"]["State"].as_str() == Some("ready");
        let mut ms = json!({
            "Reachability": if ready { "reachable" } else { "unreachable" },
            "Addr": n.status["ManagerAddr"],
        });
        if raft_id.is_some() && raft_id == leader_raft_id {
            ms["Leader"] = json!(true);
        }
        v["ManagerStatus"] = ms;
    }
    v
}

/// Running and desired task counts per service.
pub fn service_counts(state: &ClusterState) -> HashMap<String, (u64, u64, u64)> {
    let ready_nodes: Vec<&Object> = state
        .list(ObjectKind::Node)
        .filter(|n| n.status["Status"]["State"].as_str() == Some("ready"))
        .collect();
    let mut out = HashMap::new();
    for svc in state.list(ObjectKind::Service) {
        let tasks = state.tasks_by_service(&svc.id);
        let running = tasks
            .iter()
            .filter(|t| is_live(t) && observed(t) == "running")
            .count() as u64;
        let completed = tasks.iter().filter(|t| observed(t) == "complete").count() as u64;
        let desired = match service_mode(&svc.spec) {
            Mode::Replicated(n) => n,
            Mode::Global => ready_nodes
                .iter()
                .filter(|n| n.spec["Availability"].as_str().unwrap_or("active") == "active")
                .count() as u64,
        };
        out.insert(svc.id.clone(), (running, desired, completed));
    }
    out
}

/// A service; `counts` adds `ServiceStatus`.
pub fn service(svc: &Object, counts: Option<(u64, u64, u64)>) -> Value {
    let mut v = envelope(svc);
    v["Spec"] = svc.spec.clone();
    if !svc.status["PreviousSpec"].is_null() {
        v["PreviousSpec"] = svc.status["PreviousSpec"].clone();
    }
    let ports = svc.spec["EndpointSpec"]["Ports"].clone();
    v["Endpoint"] = json!({
        "Spec": svc.spec["EndpointSpec"].as_object().map_or(json!({}), |_| svc.spec["EndpointSpec"].clone()),
    });
    if ports.is_array() {
        v["Endpoint"]["Ports"] = ports;
    }
    if !svc.status["UpdateStatus"].is_null() {
        v["UpdateStatus"] = svc.status["UpdateStatus"].clone();
    }
    if let Some((running, desired, completed)) = counts {
        v["ServiceStatus"] = json!({
            "RunningTasks": running,
            "DesiredTasks": desired,
            "CompletedTasks": completed,
        });
    }
    v
}

/// A task.
pub fn task(t: &Object) -> Value {
    let doc = TaskDoc::of(t);
    let (service_id, node_id, desired) = task_attrs(t);
    let mut v = envelope(t);
    v["Labels"] = json!({});
    v["Spec"] = doc.template;
    v["ServiceID"] = json!(service_id);
    if doc.slot > 0 {
        v["Slot"] = json!(doc.slot);
    }
    if let Some(n) = node_id {
        v["NodeID"] = json!(n);
    }
    v["Status"] = t.status.clone();
    v["DesiredState"] = json!(desired_name(desired));
    v
}

/// The `Swarm` field of `/info`.
pub fn info(member: Option<&Member>) -> Value {
    let Some(member) = member else {
        return json!({
            "NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
            "ControlAvailable": false, "Error": "", "RemoteManagers": null,
        });
    };
    let local = member.local();
    let mut v = json!({
        "NodeID": local.node_id,
        "NodeAddr": crate::swarm::host_of(&local.advertise_addr),
        "LocalNodeState": "active",
        "ControlAvailable": member.manager.is_some(),
        "Error": "",
    });
    let Some(m) = &member.manager else {
        v["RemoteManagers"] = json!(local
            .managers
            .iter()
            .map(|a| json!({ "NodeID": "", "Addr": a }))
            .collect::<Vec<_>>());
        return v;
    };
    m.read(|s| {
        let managers = s.nodes_by_role(NodeRole::Manager);
        v["RemoteManagers"] = json!(managers
            .iter()
            .map(|n| json!({ "NodeID": n.id, "Addr": n.status["ManagerAddr"] }))
            .collect::<Vec<_>>());
        v["Nodes"] = json!(s.list(ObjectKind::Node).count());
        v["Managers"] = json!(managers.len());
        if let Some(c) = s.list(ObjectKind::Cluster).next() {
            v["Cluster"] = cluster_json(c);
        }
    });
    v
}
