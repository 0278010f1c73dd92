use berth_raft::{Attrs, ClusterState, ObjectKind, Op};
use serde_json::{json, Value};

use super::allocate;
use crate::fixtures::{apply, cluster, commit};
use crate::model::{Network, NetworkAllocation};

fn network(id: &str, name: &str, ipam: Value) -> Op {
    Op::Create {
        id: id.into(),
        attrs: Attrs::Network { name: name.into() },
        spec: json!({ "Name": name, "Driver": "overlay", "IPAM": ipam }),
        status: json!({}),
    }
}

fn allocation(s: &ClusterState, id: &str) -> Option<NetworkAllocation> {
    let o = s.get(ObjectKind::Network, id)?;
    Network::parse(o).ok()?.allocation
}

/// Allocates and commits, as the leader would.
fn pass(s: &mut ClusterState) {
    let plan = allocate(s, crate::fixtures::t0());
    commit(s, &plan);
}

fn state(ops: Vec<Op>) -> ClusterState {
    let mut s = ClusterState::default();
    apply(&mut s, vec![cluster(5)]);
    apply(&mut s, ops);
    s
}

#[test]
fn networks_get_the_lowest_free_vni_and_the_first_free_subnet_of_the_pool() {
    let mut s = state(vec![
        network("n1", "a", json!({})),
        network("n2", "b", json!({})),
    ]);
    let plan = allocate(&s, crate::fixtures::t0());
    assert_eq!(commit(&mut s, &plan), 2);
    let a = allocation(&s, "n1").expect("n1 allocated");
    let b = allocation(&s, "n2").expect("n2 allocated");
    assert_eq!(
        (a.vni, a.subnet.as_str(), a.gateway.to_string().as_str()),
        (4096, "10.0.0.0/24", "10.0.0.1")
    );
    assert_eq!((b.vni, b.subnet.as_str()), (4097, "10.0.1.0/24"));
    assert!(
        allocate(&s, crate::fixtures::t0()).commands.is_empty(),
        "nothing left to allocate"
    );
}

#[test]
fn an_asked_subnet_and_gateway_are_kept_and_the_pool_skips_them() {
    let mut s = state(vec![network(
        "n1",
        "a",
        json!({ "Config": [{ "Subnet": "10.0.0.0/24", "Gateway": "10.0.0.254" }] }),
    )]);
    pass(&mut s);
    apply(&mut s, vec![network("n2", "b", json!({}))]);
    pass(&mut s);
    let a = allocation(&s, "n1").expect("n1");
    assert_eq!(
        (a.subnet.as_str(), a.gateway.to_string().as_str()),
        ("10.0.0.0/24", "10.0.0.254")
    );
    assert_eq!(allocation(&s, "n2").expect("n2").subnet, "10.0.1.0/24");
}

#[test]
fn an_overlapping_subnet_is_left_unallocated_and_reported() {
    let mut s = state(vec![network("n1", "a", json!({}))]);
    pass(&mut s);
    apply(
        &mut s,
        vec![network(
            "n2",
            "b",
            json!({ "Config": [{ "Subnet": "10.0.0.128/25" }] }),
        )],
    );
    let plan = allocate(&s, crate::fixtures::t0());
    assert!(plan.commands.is_empty());
    assert_eq!(plan.problems.len(), 1);
    assert!(
        plan.problems[0].to_string().contains("overlaps"),
        "{}",
        plan.problems[0]
    );
}

#[test]
fn a_removed_networks_vni_and_subnet_are_free_again() {
    let mut s = state(vec![
        network("n1", "a", json!({})),
        network("n2", "b", json!({})),
    ]);
    pass(&mut s);
    apply(
        &mut s,
        vec![Op::Delete {
            kind: ObjectKind::Network,
            id: "n1".into(),
            expected_version: None,
        }],
    );
    apply(&mut s, vec![network("n3", "c", json!({}))]);
    pass(&mut s);
    let c = allocation(&s, "n3").expect("n3");
    assert_eq!((c.vni, c.subnet.as_str()), (4096, "10.0.0.0/24"));
}

#[test]
fn a_gateway_outside_the_subnet_is_refused_and_a_malformed_network_is_a_problem() {
    let mut s = state(vec![network(
        "n1",
        "a",
        json!({ "Config": [{ "Subnet": "10.9.0.0/24", "Gateway": "10.8.0.1" }] }),
    )]);
    apply(
        &mut s,
        vec![Op::Create {
            id: "n2".into(),
            attrs: Attrs::Network { name: "bad".into() },
            spec: json!({ "Name": 7 }),
            status: json!({}),
        }],
    );
    let plan = allocate(&s, crate::fixtures::t0());
    assert!(plan.commands.is_empty());
    assert_eq!(plan.problems.len(), 2, "{:?}", plan.problems);
}

/// A pending task of `svc` in `slot`, unassigned, whose template asks for `networks`.
fn task(id: &str, slot: u64, networks: Value) -> Op {
    let doc = crate::model::TaskDoc {
        slot,
        service_name: "web".into(),
        template: json!({ "ContainerSpec": { "Image": "busybox" }, "Networks": networks }),
        host_ports: Value::Null,
        networks: Value::Null,
        generic_resources: serde_json::Value::Null,
        job_iteration: None,
        log_driver: None,
    };
    Op::Create {
        id: id.into(),
        attrs: Attrs::Task {
            service_id: "svc".into(),
            node_id: None,
            desired_state: crate::model::DesiredState::Running,
        },
        spec: doc.to_value(),
        status: crate::model::TaskStatus::new(
            crate::model::TaskState::Pending,
            "",
            None,
            crate::fixtures::t0(),
        )
        .to_value(),
    }
}

fn addresses(s: &ClusterState, id: &str) -> Vec<String> {
    let o = s.get(ObjectKind::Task, id).expect("task");
    let t = crate::model::Task::parse(o).expect("parse");
    t.attachments()
        .expect("attachments")
        .iter()
        .map(|a| format!("{}={}/{}", a.name, a.address, a.vni))
        .collect()
}

#[test]
fn tasks_wait_for_their_networks_then_get_distinct_addresses_on_each() {
    let mut s = state(vec![
        network("n1", "front", json!({})),
        network("n2", "back", json!({})),
        crate::fixtures::node("w1", berth_raft::NodeRole::Worker, "active", "ready"),
        task(
            "t1",
            1,
            json!([{ "Target": "front" }, { "Target": "n2", "Aliases": ["db"] }]),
        ),
        task("t2", 2, json!([{ "Target": "n1" }])),
    ]);
    let plan = allocate(&s, crate::fixtures::t0());
    commit(&mut s, &plan);
    assert!(
        addresses(&s, "t1").is_empty(),
        "no task is placed on a network before it has a subnet"
    );
    let placed = crate::placement::place(&s, crate::fixtures::t0(), &mut Default::default());
    assert!(
        crate::fixtures::summary(&placed).assigned.is_empty(),
        "placement waits for the allocator"
    );
    pass(&mut s);
    assert_eq!(
        addresses(&s, "t1"),
        vec!["front=10.0.0.2/4096", "back=10.0.1.2/4097"]
    );
    assert_eq!(addresses(&s, "t2"), vec!["front=10.0.0.3/4096"]);
    let o = s.get(ObjectKind::Task, "t1").expect("t1");
    let t = crate::model::Task::parse(o).expect("parse");
    assert_eq!(
        t.attachments().expect("a")[1].aliases,
        vec!["db".to_string()]
    );
    assert!(!t.awaits_allocation());
    assert!(
        allocate(&s, crate::fixtures::t0()).commands.is_empty(),
        "allocated once"
    );
    let placed = crate::placement::place(&s, crate::fixtures::t0(), &mut Default::default());
    assert_eq!(
        crate::fixtures::summary(&placed).assigned.len(),
        2,
        "allocated tasks are placed"
    );
}

#[test]
fn a_stopped_tasks_address_is_given_again_and_a_task_says_its_network_is_missing() {
    let mut s = state(vec![
        network("n1", "front", json!({})),
        task("t1", 1, json!([{ "Target": "front" }])),
    ]);
    pass(&mut s);
    pass(&mut s);
    assert_eq!(addresses(&s, "t1"), vec!["front=10.0.0.2/4096"]);
    let o = s.get(ObjectKind::Task, "t1").expect("t1").clone();
    apply(
        &mut s,
        vec![Op::Update {
            id: "t1".into(),
            expected_version: None,
            attrs: Attrs::Task {
                service_id: "svc".into(),
                node_id: None,
                desired_state: crate::model::DesiredState::Shutdown,
            },
            spec: o.spec,
            status: o.status,
        }],
    );
    apply(&mut s, vec![task("t2", 1, json!([{ "Target": "front" }]))]);
    apply(
        &mut s,
        vec![task("t3", 2, json!([{ "Target": "nowhere" }]))],
    );
    let plan = allocate(&s, crate::fixtures::t0());
    commit(&mut s, &plan);
    assert_eq!(addresses(&s, "t2"), vec!["front=10.0.0.2/4096"]);
    let o = s.get(ObjectKind::Task, "t3").expect("t3");
    let t3 = crate::model::Task::parse(o).expect("parse");
    assert_eq!(t3.status.err.as_deref(), Some("network nowhere not found"));
}

fn vips(s: &ClusterState, id: &str) -> Vec<String> {
    let o = s.get(ObjectKind::Service, id).expect("service");
    crate::model::Service::parse(o)
        .expect("parse")
        .status
        .virtual_ips
        .iter()
        .map(|v| v.addr.clone())
        .collect()
}

#[test]
fn a_vip_service_gets_an_address_per_network_before_its_tasks_and_dnsrr_gets_none() {
    let tpl =
        json!({ "ContainerSpec": { "Image": "busybox" }, "Networks": [{ "Target": "front" }] });
    let mode = json!({ "Replicated": { "Replicas": 1 } });
    let mut s = state(vec![
        network("n1", "front", json!({})),
        crate::fixtures::service_with("svc", "web", tpl.clone(), mode.clone(), json!({})),
        task("t1", 1, json!([{ "Target": "front" }])),
    ]);
    apply(
        &mut s,
        vec![Op::Create {
            id: "rr".into(),
            attrs: Attrs::Service { name: "rr".into() },
            spec: json!({ "Name": "rr", "TaskTemplate": tpl, "Mode": mode,
                          "EndpointSpec": { "Mode": "dnsrr" } }),
            status: json!({}),
        }],
    );
    pass(&mut s);
    pass(&mut s);
    assert_eq!(vips(&s, "svc"), vec!["10.0.0.2/24"]);
    assert!(vips(&s, "rr").is_empty(), "dnsrr services have no VIP");
    assert_eq!(addresses(&s, "t1"), vec!["front=10.0.0.3/4096"]);
    assert!(
        allocate(&s, crate::fixtures::t0()).commands.is_empty(),
        "stable"
    );
}

/// A global service's task is created already on its node: it must get its addresses too,
/// and the node must not be sent it before (it would start without its networks).
#[test]
fn a_global_task_created_on_its_node_is_held_back_until_allocated() {
    let mut global = task(
        "g1",
        0,
        json!([{ "Target": "front", "Aliases": ["agent"] }]),
    );
    if let Op::Create { attrs, status, .. } = &mut global {
        *attrs = Attrs::Task {
            service_id: "svc".into(),
            node_id: Some("w1".into()),
            desired_state: crate::model::DesiredState::Running,
        };
        *status = crate::model::TaskStatus::new(
            crate::model::TaskState::Assigned,
            "scheduler assigned task to node",
            None,
            crate::fixtures::t0(),
        )
        .to_value();
    }
    let mut s = state(vec![
        network("n1", "front", json!({})),
        crate::fixtures::node("w1", berth_raft::NodeRole::Worker, "active", "ready"),
        global,
    ]);
    pass(&mut s);
    let (_, sent) = crate::dispatcher::assignments(&s, "w1");
    assert!(sent.is_empty(), "not sent before its network has a subnet");
    pass(&mut s);
    assert_eq!(addresses(&s, "g1"), vec!["front=10.0.0.2/4096"]);
    let (_, sent) = crate::dispatcher::assignments(&s, "w1");
    assert_eq!(sent.len(), 1, "sent once allocated");
}

/// A rolling update tells the old task to stop and makes its replacement at once: the old
/// container keeps its address until its node reports it ended.
#[test]
fn a_stopping_tasks_address_is_not_given_to_its_replacement_until_it_ends() {
    let mut s = state(vec![
        network("n1", "front", json!({})),
        crate::fixtures::node("w1", berth_raft::NodeRole::Worker, "active", "ready"),
        task("old", 1, json!([{ "Target": "front" }])),
    ]);
    pass(&mut s);
    pass(&mut s);
    assert_eq!(addresses(&s, "old"), vec!["front=10.0.0.2/4096"]);
    let running = crate::model::TaskStatus::new(
        crate::model::TaskState::Running,
        "",
        None,
        crate::fixtures::t0(),
    );
    let o = s.get(ObjectKind::Task, "old").expect("old").clone();
    apply(
        &mut s,
        vec![Op::Update {
            id: "old".into(),
            expected_version: None,
            attrs: Attrs::Task {
                service_id: "svc".into(),
                node_id: Some("w1".into()),
                desired_state: crate::model::DesiredState::Shutdown,
            },
            spec: o.spec,
            status: running.to_value(),
        }],
    );
    apply(&mut s, vec![task("new", 1, json!([{ "Target": "front" }]))]);
    pass(&mut s);
    assert_eq!(addresses(&s, "new"), vec!["front=10.0.0.3/4096"]);
    let shutdown = crate::model::TaskStatus::new(
        crate::model::TaskState::Shutdown,
        "",
        None,
        crate::fixtures::t0(),
    );
    apply(
        &mut s,
        vec![Op::UpdateStatus {
            kind: ObjectKind::Task,
            id: "old".into(),
            expected_version: None,
            status: shutdown.to_value(),
        }],
    );
    apply(
        &mut s,
        vec![task("next", 2, json!([{ "Target": "front" }]))],
    );
    pass(&mut s);
    assert_eq!(
        addresses(&s, "next"),
        vec!["front=10.0.0.2/4096"],
        "free again once the old task ended"
    );
}

#[test]
fn an_exhausted_subnet_leaves_the_task_waiting_with_the_reason_and_nothing_half_given() {
    // A /29: six addresses, the gateway takes one, five for tasks.
    let mut s = state(vec![
        network(
            "n1",
            "small",
            json!({ "Config": [{ "Subnet": "10.9.9.0/29" }] }),
        ),
        network("n2", "big", json!({})),
    ]);
    pass(&mut s);
    let mut ops = Vec::new();
    for slot in 1..=6 {
        ops.push(task(
            &format!("t{slot}"),
            slot,
            json!([{ "Target": "big" }, { "Target": "small" }]),
        ));
    }
    apply(&mut s, ops);
    pass(&mut s);
    let placed: Vec<usize> = (1..=6)
        .map(|i| addresses(&s, &format!("t{i}")).len())
        .collect();
    assert_eq!(
        placed,
        [2, 2, 2, 2, 2, 0],
        "the sixth gets nothing, not half"
    );
    let o = s.get(ObjectKind::Task, "t6").expect("t6");
    let t = crate::model::Task::parse(o).expect("parse");
    assert_eq!(
        t.status.err.as_deref(),
        Some("no available IPv4 addresses on network small")
    );
    let again = allocate(&s, crate::fixtures::t0());
    assert!(again.commands.is_empty(), "the reason is written once");
}

#[test]
fn mesh_ports_without_a_number_get_one_in_the_pass_with_or_without_networks() {
    let service = |id: &str, ports: Value| Op::Create {
        id: id.into(),
        attrs: Attrs::Service { name: id.into() },
        spec: json!({ "Name": id, "TaskTemplate": { "ContainerSpec": { "Image": "busybox" } },
                      "EndpointSpec": { "Ports": ports } }),
        status: json!({}),
    };
    let published = |s: &ClusterState, id: &str| -> Vec<Option<i64>> {
        let o = s.get(ObjectKind::Service, id).expect("service");
        let svc = crate::model::Service::parse(o).expect("parse");
        svc.status.ports.iter().map(|p| p.published_port).collect()
    };
    let mut s = state(vec![service("a", json!([{ "TargetPort": 80 }]))]);
    pass(&mut s);
    assert_eq!(published(&s, "a"), vec![Some(30000)]);
    apply(
        &mut s,
        vec![
            network("n1", "front", json!({})),
            service(
                "b",
                json!([{ "TargetPort": 80 }, { "TargetPort": 81, "PublishMode": "host" }]),
            ),
        ],
    );
    pass(&mut s);
    assert_eq!(published(&s, "a"), vec![Some(30000)], "kept");
    assert_eq!(published(&s, "b"), vec![Some(30001), None]);
    assert!(
        allocate(&s, crate::fixtures::t0()).commands.is_empty(),
        "stable"
    );
}

fn ready_node(id: &str) -> Op {
    crate::fixtures::node(id, berth_raft::NodeRole::Worker, "active", "ready")
}

fn publishing(id: &str) -> Op {
    Op::Create {
        id: id.into(),
        attrs: Attrs::Service { name: id.into() },
        spec: json!({ "Name": id, "TaskTemplate": { "ContainerSpec": { "Image": "busybox" } },
                      "EndpointSpec": { "Ports": [{ "TargetPort": 80, "PublishedPort": 8080 }] } }),
        status: json!({}),
    }
}

fn node_endpoints(s: &ClusterState) -> Vec<String> {
    let a = allocation(s, "ing").expect("ingress allocated");
    a.attachments.iter().map(|c| c.node_id.clone()).collect()
}

#[test]
fn nodes_take_ingress_addresses_only_while_a_service_publishes_and_a_full_subnet_keeps_some() {
    // A /29: six addresses, the gateway takes one, five for nodes.
    let mut ingress = network(
        "ing",
        "ingress",
        json!({ "Config": [{ "Subnet": "10.9.9.0/29" }] }),
    );
    if let Op::Create { spec, .. } = &mut ingress {
        spec["Ingress"] = json!(true);
    }
    let mut ops = vec![ingress];
    ops.extend((1..=7).map(|i| ready_node(&format!("n{i}"))));
    let mut s = state(ops);
    pass(&mut s);
    assert!(node_endpoints(&s).is_empty(), "no service publishes yet");
    apply(&mut s, vec![publishing("web")]);
    pass(&mut s);
    assert_eq!(
        node_endpoints(&s),
        ["n1", "n2", "n3", "n4", "n5"],
        "the subnet's five go to the first nodes; the others go without"
    );
    let again = allocate(&s, crate::fixtures::t0());
    assert!(again.commands.is_empty());
    assert!(!again.problems.is_empty(), "the shortage is reported");
}
