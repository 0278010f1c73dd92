//! The orchestrator's decisions on hand-built states: slots filled and trimmed, restart
//! policies, nodes that go away, global services, rolling updates, their failure actions and
//! rollbacks, history, and objects that cannot be read.

use berth_raft::{ClusterState, NodeRole, Op};
use chrono::Duration;
use serde_json::{json, Value};

use super::{reap, reconcile};
use crate::fixtures::{
    apply, cluster, labelled_node, node, service, service_with, set_node_state, set_status,
    summary, t0, template, TaskFixture,
};
use crate::model::{DesiredState, SequentialIds, TaskState};
use crate::plan::Plan;

fn pass(s: &ClusterState) -> Plan {
    pass_at(s, 0)
}

/// A pass `secs` seconds after `t0`.
fn pass_at(s: &ClusterState, secs: i64) -> Plan {
    reconcile(
        s,
        t0() + Duration::seconds(secs),
        &mut SequentialIds::default(),
    )
}

fn with_service(replicas: u64, update: Value) -> ClusterState {
    let mut s = ClusterState::default();
    apply(
        &mut s,
        vec![
            node("n1", NodeRole::Manager, "active", "ready"),
            service(replicas, update),
        ],
    );
    s
}

fn add(s: &mut ClusterState, t: TaskFixture<'_>) {
    apply(s, vec![t.op()]);
}

fn task<'a>(id: &'a str, slot: u64, env: &'a str, state: TaskState, ago: i64) -> TaskFixture<'a> {
    TaskFixture {
        env,
        state,
        at: t0() - Duration::seconds(ago),
        ..TaskFixture::running(id, slot)
    }
}

/// Starts an update of `svc` to `V=2` with `update`, begun a minute before t0.
fn start_update(s: &mut ClusterState, update: Value) {
    let svc = s
        .get(berth_raft::ObjectKind::Service, "svc")
        .unwrap()
        .clone();
    let mut spec = svc.spec.clone();
    spec["TaskTemplate"] = template("V=2");
    spec["UpdateConfig"] = update;
    let started = (t0() - Duration::seconds(60)).to_rfc3339();
    apply(
        s,
        vec![Op::Update {
            id: "svc".into(),
            expected_version: None,
            attrs: svc.attrs.clone(),
            spec,
            status: json!({ "PreviousSpec": svc.spec,
                            "UpdateStatus": { "State": "updating", "StartedAt": started } }),
        }],
    );
}

/// The nodes of the tasks a plan creates.
fn created_on(plan: &Plan) -> Vec<Option<String>> {
    let ops = plan.commands.iter().flat_map(|c| &c.ops);
    ops.filter_map(|op| match op {
        Op::Create {
            attrs: berth_raft::Attrs::Task { node_id, .. },
            ..
        } => Some(node_id.clone()),
        _ => None,
    })
    .collect()
}

#[test]
fn empty_slots_get_pending_tasks_with_ids_from_the_id_source() {
    let s = with_service(2, json!({}));
    let out = summary(&pass(&s));
    let ids: Vec<&str> = out.creates.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(ids, ["id1", "id2"]);
    let (_, spec, status) = &out.creates[0];
    assert_eq!(spec["slot"], 1);
    assert_eq!(spec["service_name"], "web");
    assert_eq!(spec["template"], template("V=1"));
    assert_eq!(status["State"], "pending");
    assert_eq!(status["Message"], "pending task scheduling");
    assert_eq!(out.creates[1].1["slot"], 2);
}

#[test]
fn new_tasks_keep_the_swarms_default_log_driver_apart_from_their_template() {
    let mut s = with_service(1, json!({}));
    let mut defaults = cluster(5);
    if let Op::Create { spec, .. } = &mut defaults {
        spec["TaskDefaults"] =
            json!({ "LogDriver": { "Name": "local", "Options": { "max-file": "2" } } });
    }
    apply(&mut s, vec![defaults]);
    let out = summary(&pass(&s));
    let (_, spec, _) = &out.creates[0];
    assert_eq!(spec["log_driver"]["Name"], "local");
    assert_eq!(spec["log_driver"]["Options"]["max-file"], "2");
    // The template stays the service's: the task is not outdated by it.
    assert_eq!(spec["template"], template("V=1"));
    assert!(spec["template"].get("LogDriver").is_none());
}

#[test]
fn the_same_state_gives_exactly_the_same_plan() {
    let mut s = with_service(3, json!({}));
    add(&mut s, TaskFixture::running("t1", 1));
    // Transactions carry the proposer's clock; what they do must be equal.
    let ops = |p: Plan| p.commands.into_iter().map(|c| c.ops).collect::<Vec<_>>();
    let (a, b) = (ops(pass(&s)), ops(pass(&s)));
    assert_eq!(a, b);
    assert_eq!(a.len(), 2);
}

#[test]
fn surplus_slots_are_removed_and_running_ones_kept() {
    let mut s = with_service(1, json!({}));
    for (i, id) in ["t1", "t2", "t3"].iter().enumerate() {
        add(&mut s, TaskFixture::running(id, i as u64 + 1));
    }
    let out = summary(&pass(&s));
    assert!(out.creates.is_empty());
    assert_eq!(
        out.desired,
        vec![
            ("t2".into(), DesiredState::Remove),
            ("t3".into(), DesiredState::Remove)
        ]
    );
}

#[test]
fn a_second_current_task_in_a_slot_is_shut_down() {
    let mut s = with_service(1, json!({}));
    add(&mut s, TaskFixture::running("t1", 1));
    add(&mut s, TaskFixture::running("t2", 1));
    let out = summary(&pass(&s));
    assert_eq!(out.desired, vec![("t2".into(), DesiredState::Shutdown)]);
    assert!(out.creates.is_empty());
}

#[test]
fn a_converged_service_needs_no_writes() {
    let mut s = with_service(2, json!({}));
    add(&mut s, TaskFixture::running("t1", 1));
    add(&mut s, TaskFixture::running("t2", 2));
    let plan = pass(&s);
    assert!(plan.commands.is_empty() && plan.problems.is_empty());
}

#[test]
fn a_failed_task_is_replaced_after_the_restart_delay_only() {
    let mut s = with_service(1, json!({}));
    add(&mut s, task("t1", 1, "V=1", TaskState::Failed, 1));
    let out = summary(&pass(&s));
    assert_eq!(out.desired, vec![("t1".into(), DesiredState::Shutdown)]);
    assert!(out.creates.is_empty(), "replaced before the 5 s delay");
    let later = pass_at(&s, 5);
    let out = summary(&later);
    assert_eq!(out.creates.len(), 1);
    assert_eq!(
        out.creates[0].1["slot"], 1,
        "the replacement takes the same slot"
    );
}

#[test]
fn a_task_stopped_on_purpose_is_replaced_at_once() {
    let mut s = with_service(1, json!({}));
    let mut t = task("t1", 1, "V=1", TaskState::Shutdown, 1);
    t.desired = DesiredState::Shutdown;
    add(&mut s, t);
    assert_eq!(summary(&pass(&s)).creates.len(), 1);
}

fn with_restart(condition: &str, attempts: u64, window_s: i64) -> ClusterState {
    let mut s = ClusterState::default();
    let mut t = template("V=1");
    t["RestartPolicy"] = json!({ "Condition": condition, "Delay": 0,
                                 "MaxAttempts": attempts, "Window": window_s * 1_000_000_000 });
    apply(
        &mut s,
        vec![
            node("n1", NodeRole::Manager, "active", "ready"),
            service_with(
                "svc",
                "web",
                t,
                json!({ "Replicated": { "Replicas": 1 } }),
                json!({}),
            ),
        ],
    );
    s
}

fn ended(s: &mut ClusterState, id: &str, state: TaskState, ago: i64) {
    let mut t = task(id, 1, "V=1", state, ago);
    t.desired = DesiredState::Shutdown;
    let mut op = t.op();
    // The task keeps the service's own template (its restart policy).
    if let Op::Create { spec, .. } = &mut op {
        let svc = s.get(berth_raft::ObjectKind::Service, "svc").unwrap();
        spec["template"] = svc.spec["TaskTemplate"].clone();
    }
    apply(s, vec![op]);
}

#[test]
fn restart_condition_none_never_replaces_and_on_failure_skips_completed_tasks() {
    let mut s = with_restart("none", 0, 0);
    ended(&mut s, "t1", TaskState::Failed, 10);
    assert!(summary(&pass(&s)).creates.is_empty());
    let mut s = with_restart("on-failure", 0, 0);
    ended(&mut s, "t1", TaskState::Complete, 10);
    assert!(
        summary(&pass(&s)).creates.is_empty(),
        "completed, not failed"
    );
    let mut s = with_restart("on-failure", 0, 0);
    ended(&mut s, "t1", TaskState::Failed, 10);
    assert_eq!(summary(&pass(&s)).creates.len(), 1);
}

#[test]
fn max_attempts_stop_restarts_within_the_window_only() {
    let mut s = with_restart("any", 2, 60);
    ended(&mut s, "t1", TaskState::Failed, 30);
    ended(&mut s, "t2", TaskState::Failed, 20);
    ended(&mut s, "t3", TaskState::Failed, 10);
    assert!(
        summary(&pass(&s)).creates.is_empty(),
        "3 failures > 2 attempts"
    );
    let later = pass_at(&s, 45);
    assert_eq!(
        summary(&later).creates.len(),
        1,
        "two fell out of the window"
    );
}

#[test]
fn tasks_on_a_down_node_are_replaced_at_once() {
    let mut s = with_service(1, json!({}));
    add(&mut s, TaskFixture::running("t1", 1));
    set_node_state(&mut s, "n1", "down");
    let out = summary(&pass(&s));
    assert_eq!(out.desired, vec![("t1".into(), DesiredState::Shutdown)]);
    assert_eq!(out.creates.len(), 1);
}

#[test]
fn a_drained_nodes_tasks_move() {
    let mut s = with_service(1, json!({}));
    apply(&mut s, vec![node("n2", NodeRole::Worker, "drain", "ready")]);
    let mut t = TaskFixture::running("t1", 1);
    t.node = Some("n2");
    add(&mut s, t);
    let out = summary(&pass(&s));
    assert_eq!(out.desired, vec![("t1".into(), DesiredState::Shutdown)]);
    assert_eq!(out.creates.len(), 1, "a replacement for the slot");
}

#[test]
fn a_task_on_a_node_that_was_removed_is_replaced() {
    let mut s = with_service(1, json!({}));
    let mut t = TaskFixture::running("t1", 1);
    t.node = Some("gone");
    add(&mut s, t);
    let out = summary(&pass(&s));
    assert_eq!(out.desired, vec![("t1".into(), DesiredState::Shutdown)]);
    assert_eq!(out.creates.len(), 1);
}

fn global(constraints: Value) -> ClusterState {
    let mut s = ClusterState::default();
    let mut t = template("V=1");
    t["Placement"] = json!({ "Constraints": constraints });
    apply(
        &mut s,
        vec![
            node("n1", NodeRole::Manager, "active", "ready"),
            node("n2", NodeRole::Worker, "active", "ready"),
            node("n3", NodeRole::Worker, "drain", "ready"),
            node("n4", NodeRole::Worker, "active", "down"),
            service_with("svc", "web", t, json!({ "Global": {} }), json!({})),
        ],
    );
    s
}

#[test]
fn a_global_service_gets_one_assigned_task_per_ready_active_node() {
    let s = global(json!([]));
    let out = summary(&pass(&s));
    let slots: Vec<(u64, &str)> = out
        .creates
        .iter()
        .map(|c| {
            (
                c.1["slot"].as_u64().unwrap(),
                c.2["State"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(slots, [(0, "assigned"), (0, "assigned")]);
    let plan = pass(&s);
    let nodes = created_on(&plan);
    assert_eq!(nodes, [Some("n1".into()), Some("n2".into())]);
}

#[test]
fn a_global_service_honours_constraints() {
    let s = global(json!(["node.role==manager"]));
    assert_eq!(summary(&pass(&s)).creates.len(), 1);
}

#[test]
fn a_global_task_on_a_paused_node_stays_and_on_a_drained_node_goes() {
    let mut s = global(json!([]));
    apply(&mut s, vec![node("n5", NodeRole::Worker, "pause", "ready")]);
    for (id, n) in [("t1", "n1"), ("t2", "n2"), ("t3", "n3"), ("t5", "n5")] {
        let mut t = TaskFixture::running(id, 0);
        t.node = Some(n);
        add(&mut s, t);
    }
    let out = summary(&pass(&s));
    assert_eq!(out.desired, vec![("t3".into(), DesiredState::Remove)]);
    assert!(out.creates.is_empty());
}

#[test]
fn an_invalid_global_constraint_places_nothing_and_says_so() {
    let s = global(json!(["node.role=~manager"]));
    let plan = pass(&s);
    assert!(summary(&plan).creates.is_empty());
    assert_eq!(plan.problems.len(), 1);
    assert_eq!(plan.problems[0].id, "svc");
}

#[test]
fn a_rolling_update_replaces_parallelism_tasks_at_a_time() {
    let mut s = with_service(4, json!({}));
    for i in 1..=4 {
        add(&mut s, TaskFixture::running(&format!("t{i}"), i));
    }
    start_update(&mut s, json!({ "Parallelism": 2 }));
    let out = summary(&pass(&s));
    assert_eq!(out.creates.len(), 2);
    assert_eq!(out.creates[0].1["template"], template("V=2"));
    assert_eq!(
        out.desired,
        vec![
            ("t1".into(), DesiredState::Shutdown),
            ("t2".into(), DesiredState::Shutdown)
        ]
    );
    assert_eq!(out.status[0]["UpdateStatus"]["State"], "updating");
    assert_eq!(
        out.status[0]["UpdateLast"],
        "2026-03-01T12:00:00.000000000Z"
    );
}

#[test]
fn the_next_batch_waits_for_the_update_delay() {
    let mut s = with_service(2, json!({}));
    add(&mut s, TaskFixture::running("t1", 1));
    add(&mut s, TaskFixture::running("t2", 2));
    start_update(
        &mut s,
        json!({ "Parallelism": 1, "Delay": 10_000_000_000u64 }),
    );
    let mut status = s
        .get(berth_raft::ObjectKind::Service, "svc")
        .unwrap()
        .status
        .clone();
    status["UpdateLast"] = json!((t0() - Duration::seconds(5)).to_rfc3339());
    set_status(&mut s, berth_raft::ObjectKind::Service, "svc", status);
    assert!(
        summary(&pass(&s)).creates.is_empty(),
        "5 s into a 10 s delay"
    );
    let later = pass_at(&s, 6);
    assert_eq!(summary(&later).creates.len(), 1);
}

#[test]
fn start_first_starts_the_new_task_before_stopping_the_old() {
    let mut s = with_service(1, json!({}));
    add(&mut s, TaskFixture::running("t1", 1));
    start_update(&mut s, json!({ "Order": "start-first" }));
    let out = summary(&pass(&s));
    assert_eq!(out.creates.len(), 1);
    assert!(
        out.desired.is_empty(),
        "the old task runs until the new one does"
    );
    let new = out.creates[0].0.clone();
    let plan = pass(&s);
    crate::fixtures::commit(&mut s, &plan);
    let mut fresh = TaskFixture::running(&new, 1);
    fresh.env = "V=2";
    // The new task runs now: the old one stops.
    apply(
        &mut s,
        vec![Op::Delete {
            kind: berth_raft::ObjectKind::Task,
            id: new.clone(),
            expected_version: None,
        }],
    );
    add(&mut s, fresh);
    let out = summary(&pass(&s));
    assert_eq!(out.desired, vec![("t1".into(), DesiredState::Shutdown)]);
}

fn failing_update(action: &str, ratio: f64) -> ClusterState {
    let mut s = with_service(2, json!({}));
    add(&mut s, TaskFixture::running("t1", 1));
    add(&mut s, TaskFixture::running("t2", 2));
    start_update(
        &mut s,
        json!({ "Parallelism": 1, "FailureAction": action, "MaxFailureRatio": ratio }),
    );
    let mut failed = task("t3", 1, "V=2", TaskState::Failed, 1);
    failed.desired = DesiredState::Shutdown;
    add(&mut s, failed);
    s
}

#[test]
fn an_update_stops_on_failure_with_failure_action_pause() {
    let s = failing_update("pause", 0.0);
    let out = summary(&pass(&s));
    assert!(out.creates.is_empty(), "the update went on after a failure");
    let update = &out.status[0]["UpdateStatus"];
    assert_eq!(update["State"], "paused");
    assert_eq!(
        update["Message"],
        "update paused due to failure or early termination of task t3"
    );
}

#[test]
fn a_paused_update_stays_paused() {
    let mut s = failing_update("pause", 0.0);
    let plan = pass(&s);
    crate::fixtures::commit(&mut s, &plan);
    let out = summary(&pass(&s));
    assert!(out.status.is_empty() && out.creates.is_empty());
}

#[test]
fn failure_action_continue_goes_on_and_a_tolerated_ratio_too() {
    for s in [
        failing_update("continue", 0.0),
        failing_update("pause", 1.0),
    ] {
        let out = summary(&pass(&s));
        assert_eq!(out.creates.len(), 1, "the next task is replaced");
        assert_eq!(out.status[0]["UpdateStatus"]["State"], "updating");
    }
}

#[test]
fn failure_action_rollback_returns_to_the_previous_spec() {
    let s = failing_update("rollback", 0.0);
    let plan = pass(&s);
    let update = plan
        .commands
        .iter()
        .flat_map(|c| &c.ops)
        .find_map(|op| match op {
            Op::Update {
                id, spec, status, ..
            } if id == "svc" => Some((spec, status)),
            _ => None,
        })
        .expect("the service is rolled back");
    assert_eq!(update.0["TaskTemplate"], template("V=1"));
    assert_eq!(update.1["UpdateStatus"]["State"], "rollback_started");
    assert_eq!(update.1["PreviousSpec"]["TaskTemplate"], template("V=2"));
}

#[test]
fn an_update_completes_once_every_task_runs_the_new_spec() {
    let mut s = with_service(1, json!({}));
    start_update(&mut s, json!({}));
    let mut t = TaskFixture::running("t9", 1);
    t.env = "V=2";
    add(&mut s, t);
    let out = summary(&pass(&s));
    let update = &out.status[0]["UpdateStatus"];
    assert_eq!(update["State"], "completed");
    assert_eq!(update["Message"], "update completed");
    assert!(update["CompletedAt"].is_string());
}

#[test]
fn a_rollback_replaces_tasks_and_completes() {
    let mut s = failing_update("rollback", 0.0);
    let plan = pass(&s);
    crate::fixtures::commit(&mut s, &plan);
    let out = summary(&pass(&s));
    assert!(out.creates.is_empty(), "t1 and t2 run the old spec");
    assert_eq!(out.status[0]["UpdateStatus"]["State"], "rollback_completed");
    assert_eq!(
        out.status[0]["UpdateStatus"]["Message"],
        "rollback completed"
    );
    let mut s = with_service(1, json!({}));
    add(&mut s, TaskFixture::running("t1", 1));
    let mut status = json!({ "UpdateStatus": { "State": "rollback_started",
                                               "StartedAt": t0().to_rfc3339() } });
    status["PreviousSpec"] = json!({});
    set_status(&mut s, berth_raft::ObjectKind::Service, "svc", status);
    let out = summary(&pass(&s));
    assert_eq!(out.status[0]["UpdateStatus"]["State"], "rollback_completed");
}

#[test]
fn task_history_beyond_the_limit_is_deleted_oldest_first() {
    let mut s = with_service(1, json!({}));
    apply(&mut s, vec![cluster(3)]);
    add(&mut s, TaskFixture::running("t9", 1));
    for i in 1..=4 {
        let id = format!("old{i}");
        let mut t = task(&id, 1, "V=1", TaskState::Failed, 100 - i);
        t.desired = DesiredState::Shutdown;
        add(&mut s, t);
    }
    let out = summary(&pass(&s));
    assert_eq!(
        out.deleted,
        ["old1", "old2"],
        "3 kept: the running one and two ended"
    );
}

#[test]
fn tasks_of_a_removed_service_are_deleted() {
    let mut s = with_service(1, json!({}));
    let mut t = TaskFixture::running("t1", 1);
    t.service = "gone";
    add(&mut s, t);
    assert_eq!(summary(&pass(&s)).deleted, ["t1"]);
}

#[test]
fn a_malformed_task_is_reported_and_left_alone_never_read_as_slot_zero() {
    let mut s = with_service(1, json!({}));
    apply(
        &mut s,
        vec![Op::Create {
            id: "bad".into(),
            attrs: berth_raft::Attrs::Task {
                service_id: "svc".into(),
                node_id: Some("n1".into()),
                desired_state: DesiredState::Running,
            },
            spec: json!({ "service_name": "web" }),
            status: json!({}),
        }],
    );
    let plan = pass(&s);
    assert_eq!(plan.problems.len(), 1);
    assert_eq!(plan.problems[0].id, "bad");
    let out = summary(&plan);
    assert!(
        out.desired.is_empty() && out.deleted.is_empty(),
        "bad is not touched"
    );
    assert_eq!(out.creates.len(), 1, "slot 1 is still filled");
}

#[test]
fn a_malformed_service_keeps_its_tasks_and_gets_no_new_ones() {
    let mut s = ClusterState::default();
    apply(
        &mut s,
        vec![
            node("n1", NodeRole::Manager, "active", "ready"),
            Op::Create {
                id: "svc".into(),
                attrs: berth_raft::Attrs::Service { name: "web".into() },
                spec: json!({ "Name": "web", "Mode": { "Replicated": { "Replicas": "two" } } }),
                status: json!({}),
            },
        ],
    );
    add(&mut s, TaskFixture::running("t1", 1));
    let plan = pass(&s);
    assert_eq!(plan.problems.len(), 1);
    assert!(plan.commands.is_empty(), "{:?}", plan.commands);
}

#[test]
fn removed_tasks_are_reaped_once_stopped_or_unreachable() {
    let mut s = with_service(1, json!({}));
    apply(&mut s, vec![node("n2", NodeRole::Worker, "active", "down")]);
    let mut stopped = task("a", 1, "V=1", TaskState::Shutdown, 1);
    stopped.desired = DesiredState::Remove;
    let mut running = TaskFixture::running("b", 2);
    running.desired = DesiredState::Remove;
    let mut on_down = TaskFixture::running("c", 3);
    on_down.desired = DesiredState::Remove;
    on_down.node = Some("n2");
    let mut unassigned = TaskFixture::running("d", 4);
    unassigned.desired = DesiredState::Remove;
    unassigned.node = None;
    for t in [stopped, running, on_down, unassigned] {
        add(&mut s, t);
    }
    let mut deleted = summary(&reap(&s)).deleted;
    deleted.sort();
    assert_eq!(deleted, ["a", "c", "d"], "b still runs on a ready node");
}

#[test]
fn labelled_nodes_serve_global_constraints_on_labels() {
    let mut s = ClusterState::default();
    let mut t = template("V=1");
    t["Placement"] = json!({ "Constraints": ["node.labels.zone==a"] });
    apply(
        &mut s,
        vec![
            labelled_node("za", json!({ "zone": "a" })),
            labelled_node("zb", json!({ "zone": "b" })),
            service_with("svc", "web", t, json!({ "Global": {} }), json!({})),
        ],
    );
    let plan = pass(&s);
    let nodes = created_on(&plan);
    assert_eq!(nodes, [Some("za".into())]);
}
