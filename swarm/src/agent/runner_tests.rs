//! The runner against the fake executor: what it starts (and with what), what it reports and
//! how often, how it stops and removes, and what it does when the executor fails.

use std::sync::Arc;
use std::time::Duration;

use berth_raft::{Attrs, Object};
use serde_json::json;
use tokio::sync::mpsc;

use super::{Report, Runner};
use crate::clock::TokioClock;
use crate::executor::fake::{ExecCall, FakeExecutor};
use crate::executor::ExecError;
use crate::fixtures::{object, t0, template};
use crate::model::{DesiredState, TaskDoc, TaskState, TaskStatus, LABEL_TASK_ID};

struct Rig {
    exec: Arc<FakeExecutor>,
    runner: Arc<Runner>,
    rx: mpsc::UnboundedReceiver<Report>,
}

fn rig() -> Rig {
    let exec = Arc::new(FakeExecutor::new("n1"));
    let (tx, rx) = mpsc::unbounded_channel();
    let clock = Arc::new(TokioClock::starting_at(t0()));
    let runner = Arc::new(Runner::new(exec.clone(), clock, tx));
    Rig { exec, runner, rx }
}

impl Rig {
    /// Applies `tasks` and lets the work it spawned finish.
    async fn apply(&self, tasks: &[Object]) {
        self.runner.apply(tasks).await;
        settle().await;
    }

    /// The reports sent so far: (task, state, error).
    fn reports(&mut self) -> Vec<(String, TaskState, Option<String>)> {
        let mut out = Vec::new();
        while let Ok((id, s)) = self.rx.try_recv() {
            out.push((id, s.state, s.err));
        }
        out
    }
}

/// With tokio's clock paused, a sleep returns only once every other task is idle.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

fn task(id: &str, desired: DesiredState, state: TaskState) -> Object {
    let doc = TaskDoc {
        slot: 1,
        service_name: "web".into(),
        template: template("V=1"),
        host_ports: json!(null),
        networks: json!(null),
        generic_resources: serde_json::Value::Null,
        job_iteration: None,
        log_driver: None,
    };
    let attrs = Attrs::Task {
        service_id: "svc".into(),
        node_id: Some("n1".into()),
        desired_state: desired,
    };
    let status = TaskStatus::new(state, "", None, t0()).to_value();
    object(id, attrs, doc.to_value(), status)
}

/// `task` after the store took the runner's report of `state`.
fn reported(id: &str, desired: DesiredState, state: TaskState) -> Object {
    task(id, desired, state)
}

#[tokio::test(start_paused = true)]
async fn an_assigned_task_is_started_once_and_reported_starting_then_running() {
    let mut r = rig();
    let t = task("t1", DesiredState::Running, TaskState::Assigned);
    r.apply(std::slice::from_ref(&t)).await;
    r.apply(&[t]).await;
    let started = r.exec.started();
    assert_eq!(started.len(), 1, "the second pass found the container");
    assert_eq!(started[0].name, "web.1.t1");
    assert_eq!(started[0].labels[LABEL_TASK_ID], "t1");
    assert_eq!(started[0].image, "busybox");
    let states: Vec<TaskState> = r.reports().into_iter().map(|r| r.1).collect();
    assert_eq!(states, [TaskState::Starting, TaskState::Running]);
}

#[tokio::test(start_paused = true)]
async fn a_running_task_is_reported_once_however_often_it_is_checked() {
    let mut r = rig();
    r.apply(&[task("t1", DesiredState::Running, TaskState::Assigned)])
        .await;
    r.reports();
    let running = reported("t1", DesiredState::Running, TaskState::Running);
    for _ in 0..3 {
        r.apply(std::slice::from_ref(&running)).await;
    }
    assert!(r.reports().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_exit_is_reported_as_failed_with_its_code_and_zero_as_complete() {
    let mut r = rig();
    let assigned = [
        task("t1", DesiredState::Running, TaskState::Assigned),
        task("t2", DesiredState::Running, TaskState::Assigned),
    ];
    r.apply(&assigned).await;
    r.reports();
    r.exec.exit("t1", 3);
    r.exec.exit("t2", 0);
    let running = [
        reported("t1", DesiredState::Running, TaskState::Running),
        reported("t2", DesiredState::Running, TaskState::Running),
    ];
    r.apply(&running).await;
    let mut got = r.reports();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "t1".into(),
                TaskState::Failed,
                Some("task: non-zero exit (3)".into())
            ),
            ("t2".into(), TaskState::Complete, None),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_container_removed_by_hand_fails_its_task_instead_of_starting_again() {
    let mut r = rig();
    r.apply(&[task("t1", DesiredState::Running, TaskState::Assigned)])
        .await;
    r.reports();
    r.exec.remove_by_hand("t1");
    r.apply(&[reported("t1", DesiredState::Running, TaskState::Running)])
        .await;
    let got = r.reports();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, TaskState::Failed);
    assert_eq!(got[0].2.as_deref(), Some("task: its container was removed"));
    assert_eq!(r.exec.started().len(), 1, "no second container");
}

/// The node's own reports send it no new list, so the one it holds still says `Assigned`:
/// what it reported since counts.
#[tokio::test(start_paused = true)]
async fn a_container_removed_by_hand_fails_its_task_though_the_list_predates_its_reports() {
    let mut r = rig();
    let assigned = task("t1", DesiredState::Running, TaskState::Assigned);
    r.apply(std::slice::from_ref(&assigned)).await;
    r.reports();
    r.exec.remove_by_hand("t1");
    r.apply(&[assigned]).await;
    let got = r.reports();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, TaskState::Failed);
    assert_eq!(got[0].2.as_deref(), Some("task: its container was removed"));
    assert_eq!(r.exec.started().len(), 1, "no second container");
}

#[tokio::test(start_paused = true)]
async fn a_final_state_is_never_overwritten() {
    let mut r = rig();
    r.apply(&[task("t1", DesiredState::Running, TaskState::Assigned)])
        .await;
    r.exec.exit("t1", 1);
    r.apply(&[reported("t1", DesiredState::Running, TaskState::Running)])
        .await;
    r.reports();
    // The orchestrator shuts the failed task down; its stopped container must not turn the
    // failure into a shutdown (which would skip the restart delay).
    r.apply(&[reported("t1", DesiredState::Shutdown, TaskState::Failed)])
        .await;
    assert!(r.reports().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_task_to_shut_down_is_stopped_with_its_grace_period_and_reported() {
    let mut r = rig();
    r.apply(&[task("t1", DesiredState::Running, TaskState::Assigned)])
        .await;
    r.reports();
    r.apply(&[reported("t1", DesiredState::Shutdown, TaskState::Running)])
        .await;
    let id = r.exec.container_of("t1").unwrap().id;
    assert!(r
        .exec
        .calls()
        .contains(&ExecCall::Stop(id, Duration::from_secs(10))));
    let got = r.reports();
    assert_eq!(got, [("t1".into(), TaskState::Shutdown, None)]);
    assert!(!r.exec.container_of("t1").unwrap().running, "stopped, kept");
}

#[tokio::test(start_paused = true)]
async fn a_task_to_remove_loses_its_container() {
    let r = rig();
    r.apply(&[task("t1", DesiredState::Running, TaskState::Assigned)])
        .await;
    r.apply(&[reported("t1", DesiredState::Remove, TaskState::Running)])
        .await;
    assert!(r.exec.container_of("t1").is_none());
}

#[tokio::test(start_paused = true)]
async fn containers_of_tasks_no_longer_assigned_are_removed() {
    let mut r = rig();
    r.apply(&[task("t1", DesiredState::Running, TaskState::Assigned)])
        .await;
    r.apply(&[]).await;
    assert!(r.exec.containers().is_empty());
    assert!(r.reports().iter().all(|r| r.0 == "t1"));
}

#[tokio::test(start_paused = true)]
async fn a_missing_image_rejects_the_task_and_starts_nothing() {
    let mut r = rig();
    r.exec.miss_image("busybox");
    r.apply(&[task("t1", DesiredState::Running, TaskState::Assigned)])
        .await;
    let got = r.reports();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, TaskState::Rejected);
    assert_eq!(got[0].2.as_deref(), Some("No such image: busybox"));
    assert!(r.exec.started().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_start_that_fails_fails_the_task_and_a_refused_create_rejects_it() {
    let mut r = rig();
    // Calls: 0 list, 1 ensure_image, 2 describe (for placeholders), 3 start_task.
    r.exec.fail_at(3, ExecError::Failed("no cgroup".into()));
    r.apply(&[task("t1", DesiredState::Running, TaskState::Assigned)])
        .await;
    let got = r.reports();
    assert_eq!(
        got.last().cloned(),
        Some(("t1".into(), TaskState::Failed, Some("no cgroup".into())))
    );
    let mut r = rig();
    r.exec
        .fail_at(3, ExecError::Rejected("invalid mount".into()));
    r.apply(&[task("t2", DesiredState::Running, TaskState::Assigned)])
        .await;
    assert_eq!(r.reports().last().map(|g| g.1), Some(TaskState::Rejected));
}

#[tokio::test(start_paused = true)]
async fn a_failed_listing_changes_nothing() {
    let mut r = rig();
    r.apply(&[task("t1", DesiredState::Running, TaskState::Assigned)])
        .await;
    r.reports();
    r.exec
        .fail_at(r.exec.calls().len(), ExecError::Other("engine busy".into()));
    r.apply(&[reported("t1", DesiredState::Running, TaskState::Running)])
        .await;
    assert!(r.reports().is_empty(), "not read as 'container removed'");
    assert_eq!(r.exec.containers().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_malformed_assignment_is_not_run() {
    let mut r = rig();
    let mut bad = task("t1", DesiredState::Running, TaskState::Assigned);
    bad.spec = json!({ "service_name": "web" });
    r.apply(&[bad]).await;
    assert!(r.exec.started().is_empty());
    assert!(r.reports().is_empty());
}

#[tokio::test(start_paused = true)]
async fn reports_are_stamped_by_the_clock() {
    let mut r = rig();
    r.apply(&[task("t1", DesiredState::Running, TaskState::Assigned)])
        .await;
    r.reports();
    tokio::time::advance(Duration::from_secs(7)).await;
    r.exec.exit("t1", 2);
    r.runner
        .apply(&[reported("t1", DesiredState::Running, TaskState::Running)])
        .await;
    let (_, status) = r.rx.try_recv().unwrap();
    assert_eq!(status.state, TaskState::Failed);
    // 7 s advanced, and the first apply's settle slept 1 ms.
    assert_eq!(
        status.timestamp,
        t0() + chrono::Duration::milliseconds(7001)
    );
}

/// A task whose template has a health check.
fn checked_task(id: &str, state: TaskState) -> Object {
    let mut t = task(id, DesiredState::Running, state);
    t.spec["template"]["ContainerSpec"]["HealthCheck"] = json!({ "Test": ["CMD", "true"] });
    t
}

#[tokio::test(start_paused = true)]
async fn a_task_with_a_health_check_runs_once_healthy_and_fails_when_unhealthy() {
    let mut r = rig();
    r.apply(&[checked_task("t1", TaskState::Assigned)]).await;
    let starting = checked_task("t1", TaskState::Starting);
    r.apply(std::slice::from_ref(&starting)).await;
    let states: Vec<TaskState> = r.reports().into_iter().map(|r| r.1).collect();
    assert_eq!(
        states,
        [TaskState::Starting],
        "not running before a probe passed"
    );
    r.exec
        .set_health("t1", crate::executor::ContainerHealth::Healthy);
    r.apply(std::slice::from_ref(&starting)).await;
    let states: Vec<TaskState> = r.reports().into_iter().map(|r| r.1).collect();
    assert_eq!(states, [TaskState::Running]);

    r.exec
        .set_health("t1", crate::executor::ContainerHealth::Unhealthy);
    r.apply(&[checked_task("t1", TaskState::Running)]).await;
    let got = r.reports();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, TaskState::Failed);
    assert_eq!(got[0].2.as_deref(), Some("task: unhealthy container"));
    assert!(
        !r.exec.container_of("t1").expect("kept").running,
        "an unhealthy task's container is stopped"
    );
}

#[tokio::test(start_paused = true)]
async fn a_task_whose_container_is_already_unhealthy_when_its_start_returns_fails() {
    // On a loaded host a 1 s probe can run before the start call returns.
    let mut r = rig();
    r.exec
        .probe_before_start_returns(crate::executor::ContainerHealth::Unhealthy);
    r.apply(&[checked_task("t1", TaskState::Assigned)]).await;
    let got = r.reports();
    let states: Vec<TaskState> = got.iter().map(|r| r.1).collect();
    assert_eq!(
        states,
        [TaskState::Starting, TaskState::Failed],
        "an unhealthy task never runs: {got:?}"
    );
    assert_eq!(got[1].2.as_deref(), Some("task: unhealthy container"));
    assert!(
        !r.exec.container_of("t1").expect("kept").running,
        "an unhealthy task's container is stopped"
    );

    let mut r = rig();
    r.exec
        .probe_before_start_returns(crate::executor::ContainerHealth::Healthy);
    r.apply(&[checked_task("t1", TaskState::Assigned)]).await;
    let states: Vec<TaskState> = r.reports().into_iter().map(|r| r.1).collect();
    assert_eq!(states, [TaskState::Starting, TaskState::Running]);
}

/// The periodic check and a new assignment list take turns, and the check applies the newest
/// list: a check that listed the containers after a newer list's start (its own list, older,
/// without that task) removed the container that start had just made, and the task then
/// failed as removed by hand (the scale bench's rolling update paused on it).
#[tokio::test(start_paused = true)]
async fn a_check_beside_a_new_assignment_leaves_the_new_task_running() {
    let mut r = rig();
    r.runner.assign(Arc::new(Vec::new())).await;
    let hold = r.exec.hold_next_listing();
    let runner = r.runner.clone();
    let check = tokio::spawn(async move { runner.recheck().await });
    settle().await;
    let runner = r.runner.clone();
    let t = task("t1", DesiredState::Running, TaskState::Assigned);
    let assign = tokio::spawn(async move { runner.assign(Arc::new(vec![t])).await });
    settle().await;
    hold.notify_one();
    check.await.expect("check");
    assign.await.expect("assign");
    settle().await;
    let running = reported("t1", DesiredState::Running, TaskState::Running);
    r.runner.assign(Arc::new(vec![running])).await;
    settle().await;
    assert!(
        r.exec.container_of("t1").is_some_and(|c| c.running),
        "the task's container was removed: {:?}",
        r.exec.calls()
    );
    let states: Vec<TaskState> = r.reports().into_iter().map(|r| r.1).collect();
    assert_eq!(states, [TaskState::Starting, TaskState::Running]);
}
