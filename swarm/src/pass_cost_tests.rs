//! A probe, not a check (ignored; run by hand in an optimized build): the leader's pass over a
//! thousand nodes during a rolling update of 10,000 tasks, each part timed per round. Agents
//! are simulated by writing the states they would report. `cargo test --profile dev-release
//! -p berth-swarm --lib pass_cost -- --ignored --nocapture`.

use std::time::Instant;

use berth_raft::{Attrs, ClusterState, NodeRole, ObjectKind, Op};
use serde_json::json;

use crate::fixtures::{apply, cluster, commit, node, service_with, t0, template};
use crate::model::{DesiredState, SequentialIds, TaskState, TaskStatus};
use crate::orchestrator::{reap, reconcile};
use crate::placement::place_with_new;

const NODES: usize = 1_000;
const REPLICAS: u64 = 10_000;

/// What the agents would report: assigned tasks that should run now run, told-to-stop ones
/// have stopped.
fn agents_report(state: &mut ClusterState, now: chrono::DateTime<chrono::Utc>) -> usize {
    let mut ops = Vec::new();
    for t in state.each(ObjectKind::Task) {
        let Attrs::Task {
            node_id: Some(_),
            desired_state,
            ..
        } = &t.attrs
        else {
            continue;
        };
        let Ok(status) = serde_json::from_value::<TaskStatus>(t.status.clone()) else {
            continue;
        };
        let next = if *desired_state == DesiredState::Running && status.state < TaskState::Running {
            TaskState::Running
        } else if *desired_state > DesiredState::Running && status.state == TaskState::Running {
            TaskState::Shutdown
        } else {
            continue;
        };
        ops.push(Op::UpdateStatus {
            kind: ObjectKind::Task,
            id: t.id.clone(),
            expected_version: None,
            status: TaskStatus::new(next, "", None, now).to_value(),
        });
    }
    let n = ops.len();
    if n > 0 {
        apply(state, ops);
    }
    n
}

#[test]
#[ignore = "a probe of the pass's cost at scale, run by hand"]
fn pass_cost() {
    let mut state = ClusterState::default();
    let mut ops = vec![cluster(5)];
    for i in 1..=NODES {
        let role = if i <= 3 {
            NodeRole::Manager
        } else {
            NodeRole::Worker
        };
        ops.push(node(&format!("n{i}"), role, "active", "ready"));
    }
    ops.push(service_with(
        "svc",
        "web",
        template("V=1"),
        json!({ "Replicated": { "Replicas": REPLICAS } }),
        json!({ "Parallelism": 100, "Monitor": 0 }),
    ));
    apply(&mut state, ops);
    let mut ids = SequentialIds::default();
    let mut failures = crate::failure_log::FailureLog::default();
    let mut now = t0();
    // The pass's own time (reconcile, reap, place) summed over the update's rounds.
    let pass_time = std::cell::Cell::new(std::time::Duration::ZERO);
    let mut round = |state: &mut ClusterState, now, print: bool| {
        let t = Instant::now();
        let plan = reconcile(state, now, &mut ids);
        let r = t.elapsed();
        let mut plan = plan;
        let t = Instant::now();
        let reaped = reap(state);
        let rp = t.elapsed();
        let t = Instant::now();
        let placed = place_with_new(state, now, &mut failures, &mut plan);
        let p = t.elapsed();
        pass_time.set(pass_time.get() + r + rp + p);
        commit(state, &plan);
        commit(state, &reaped);
        commit(state, &placed);
        let reported = agents_report(state, now);
        if print {
            println!(
                "tasks {} reconcile {r:?} ({} cmds) reap {rp:?} place {p:?} ({} cmds) reported {reported}",
                state.each(ObjectKind::Task).count(),
                plan.commands.len(),
                placed.commands.len()
            );
        }
        plan.commands.len() + placed.commands.len() + reported
    };
    while round(&mut state, now, false) > 0 {}
    println!("created: {} tasks", state.each(ObjectKind::Task).count());
    let svc = state.get(ObjectKind::Service, "svc").cloned().unwrap();
    let mut spec = svc.spec.clone();
    spec["TaskTemplate"] = template("V=2");
    apply(
        &mut state,
        vec![Op::Update {
            id: "svc".into(),
            expected_version: Some(svc.meta.version),
            attrs: svc.attrs.clone(),
            spec,
            status: svc.status.clone(),
        }],
    );
    pass_time.set(std::time::Duration::ZERO);
    let started = Instant::now();
    let mut rounds = 0;
    loop {
        now += chrono::Duration::milliseconds(100);
        rounds += 1;
        if round(&mut state, now, rounds % 10 == 0) == 0 {
            break;
        }
    }
    println!(
        "the whole update: {rounds} rounds in {:?}, the passes {:?}",
        started.elapsed(),
        pass_time.get()
    );
}
