//! The failure log on its own: which tasks count, from when, for how long, and only once.

use berth_raft::Object;
use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::fixtures::{t0, TaskFixture};
use crate::model::DesiredState;

/// A task of `svc` on `n1` in `state`, last changed at `t0` (store version `version`).
fn task_object(id: &str, state: TaskState, version: u64) -> Object {
    let fixture = TaskFixture {
        desired: DesiredState::Shutdown,
        state,
        ..TaskFixture::running(id, 1)
    };
    let berth_raft::Op::Create {
        attrs,
        spec,
        status,
        ..
    } = fixture.op()
    else {
        unreachable!("a fixture's op creates")
    };
    let mut o = crate::fixtures::object(id, attrs, spec, status);
    o.meta.version = version;
    o
}

fn observe(log: &mut FailureLog, o: &Object, now: DateTime<Utc>) {
    let task = Task::parse(o).unwrap();
    if log.is_new(o.meta.version) {
        log.observe(&task, now, || 7);
    }
}

fn counts(log: &FailureLog) -> Vec<(String, String, u64, u32)> {
    let mut v: Vec<_> = log
        .counts()
        .map(|(n, s, v, c)| (n.to_string(), s.to_string(), v, c))
        .collect();
    v.sort();
    v
}

#[test]
fn failed_and_rejected_tasks_count_once_each_for_five_minutes() {
    let mut log = FailureLog::default();
    log.walked(1, t0());
    let now = t0() + Duration::seconds(10);
    let failed = task_object("a", TaskState::Failed, 2);
    let rejected = task_object("b", TaskState::Rejected, 3);
    let shut = task_object("c", TaskState::Shutdown, 3);
    for o in [&failed, &rejected, &shut] {
        observe(&mut log, o, now);
    }
    // `a` changes again (told to shut down): still one failure.
    let again = task_object("a", TaskState::Failed, 4);
    observe(&mut log, &again, now);
    log.walked(4, now);
    assert_eq!(counts(&log), [("n1".into(), "svc".into(), 7, 2)]);
    // Unchanged since the walk: not looked at again.
    assert!(!log.is_new(4));
    log.walked(4, now + FAILURE_WINDOW - Duration::seconds(1));
    assert_eq!(counts(&log).len(), 1, "still inside the window");
    log.walked(4, now + FAILURE_WINDOW);
    assert!(counts(&log).is_empty(), "expired");
}

#[test]
fn a_new_log_dates_what_the_store_holds_by_its_last_change() {
    // Changed at t0 (the store's clock): counted from then, not from the first walk.
    let o = task_object("a", TaskState::Failed, 2);
    let mut log = FailureLog::default();
    observe(&mut log, &o, t0() + Duration::minutes(4));
    log.walked(2, t0() + Duration::minutes(4));
    assert_eq!(counts(&log).len(), 1);
    log.walked(2, t0() + Duration::minutes(5));
    assert!(counts(&log).is_empty(), "five minutes after its change");
    // Older than the window when first seen: never counted.
    let mut log = FailureLog::default();
    observe(&mut log, &o, t0() + Duration::minutes(6));
    log.walked(2, t0() + Duration::minutes(6));
    assert!(counts(&log).is_empty());
}

#[test]
fn a_reset_log_reads_the_store_afresh() {
    let mut log = FailureLog::default();
    log.walked(9, t0());
    assert!(!log.is_new(5));
    log.reset();
    assert!(log.is_new(5));
}
