//! A simulated cluster, end to end without Raft or sockets: the leader's passes (reconcile,
//! reap, placement) commit to an in-memory `ClusterState`; each node's runner gets its
//! assignments as the dispatcher computes them and drives a fake executor; its reports go
//! back through the dispatcher's filter. Tokio's clock is paused, so restart delays pass by
//! `advance`, not by sleeping. These check what a user sees: replicas converge, a failed task
//! is replaced after its restart delay, an update pauses on failure, a drained node's tasks
//! move, global services follow the nodes, a failed update rolls back, a node that keeps
//! rejecting a service's tasks is passed over for five minutes.

use std::sync::Arc;
use std::time::Duration;

use berth_raft::{ClusterState, NodeRole, ObjectKind, Op};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::agent::{Report, Runner};
use crate::clock::{Clock, TokioClock};
use crate::dispatcher::{assignments, report_updates};
use crate::executor::fake::{ExecCall, FakeExecutor};
use crate::failure_log::FailureLog;
use crate::fixtures::{apply, cluster, commit, node, service_with, t0, template};
use crate::model::{DesiredState, SequentialIds, Service, Task, TaskState, UpdateState};
use crate::orchestrator::{reap, reconcile};
use crate::placement::place_with_new;

struct SimNode {
    id: String,
    exec: Arc<FakeExecutor>,
    runner: Arc<Runner>,
    reports: mpsc::UnboundedReceiver<Report>,
}

struct Sim {
    state: ClusterState,
    nodes: Vec<SimNode>,
    clock: TokioClock,
    ids: SequentialIds,
    /// The leader's memory of recent task failures.
    failures: FailureLog,
}

impl Sim {
    /// Ready, active nodes `n1..=n{count}` (n1 a manager) and the cluster object.
    fn new(count: usize) -> Sim {
        let clock = TokioClock::starting_at(t0());
        let mut state = ClusterState::default();
        let mut ops = vec![cluster(5)];
        let mut nodes = Vec::new();
        for i in 1..=count {
            let id = format!("n{i}");
            let role = if i == 1 {
                NodeRole::Manager
            } else {
                NodeRole::Worker
            };
            ops.push(node(&id, role, "active", "ready"));
            let exec = Arc::new(FakeExecutor::new(&id));
            let (tx, reports) = mpsc::unbounded_channel();
            let runner = Arc::new(Runner::new(exec.clone(), Arc::new(clock), tx));
            nodes.push(SimNode {
                id,
                exec,
                runner,
                reports,
            });
        }
        apply(&mut state, ops);
        Sim {
            state,
            nodes,
            clock,
            ids: SequentialIds::default(),
            failures: FailureLog::default(),
        }
    }

    /// One leader pass, one dispatch to every node, and their reports written back.
    async fn round(&mut self) {
        let now = self.clock.now();
        // As the leader's pass: placement reads the state the orchestrator read, and places
        // the tasks it creates in its plan.
        let mut plan = reconcile(&self.state, now, &mut self.ids);
        plan.extend(reap(&self.state));
        let placed = place_with_new(&self.state, now, &mut self.failures, &mut plan);
        commit(&mut self.state, &plan);
        commit(&mut self.state, &placed);
        for n in &self.nodes {
            let (_, tasks) = assignments(&self.state, &n.id);
            // Copies, as an agent decodes its own.
            let tasks: Vec<_> = tasks.iter().map(|t| t.as_ref().clone()).collect();
            n.runner.assign(Arc::new(tasks)).await;
        }
        // Paused clock: the sleep ends once the runners' spawned work is done.
        tokio::time::sleep(Duration::from_millis(1)).await;
        for n in &mut self.nodes {
            let mut updates = Vec::new();
            while let Ok(r) = n.reports.try_recv() {
                updates.push(r);
            }
            let plan = report_updates(&self.state, &n.id, &updates);
            commit(&mut self.state, &plan);
        }
    }

    async fn rounds(&mut self, n: usize) {
        for _ in 0..n {
            self.round().await;
        }
    }

    fn create(&mut self, id: &str, template: Value, mode: Value, update: Value) {
        apply(
            &mut self.state,
            vec![service_with(id, id, template, mode, update)],
        );
    }

    /// Tasks of `service` that should run and do: (task id, node id, template env).
    fn running(&self, service: &str) -> Vec<(String, String, Value)> {
        let mut out: Vec<_> = self
            .state
            .tasks_by_service(service)
            .into_iter()
            .filter_map(|o| Task::parse(o).ok())
            .filter(|t| t.desired == DesiredState::Running && t.state() == TaskState::Running)
            .map(|t| {
                let env = t.template()["ContainerSpec"]["Env"].clone();
                (t.id().to_string(), t.node_id.unwrap_or("").to_string(), env)
            })
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    /// Containers running on the fake executors, across nodes.
    fn containers_running(&self) -> usize {
        let all = self.nodes.iter().flat_map(|n| n.exec.containers());
        all.filter(|c| c.running).count()
    }

    fn node(&self, id: &str) -> &SimNode {
        self.nodes.iter().find(|n| n.id == id).unwrap()
    }

    fn update_service(&mut self, id: &str, change: impl FnOnce(&mut Value)) {
        let o = self.state.get(ObjectKind::Service, id).unwrap().clone();
        let mut spec = o.spec.clone();
        change(&mut spec);
        let svc = Service::parse(&o).unwrap();
        let mut status = svc.status.clone();
        status.previous_spec = Some(o.spec.clone());
        status.update_status = Some(crate::model::UpdateStatus {
            state: UpdateState::Updating,
            started_at: Some(self.clock.now()),
            completed_at: None,
            message: "update in progress".into(),
        });
        let op = Op::Update {
            id: id.into(),
            expected_version: None,
            attrs: o.attrs.clone(),
            spec,
            status: status.to_value(),
        };
        apply(&mut self.state, vec![op]);
    }

    /// Tasks node `id` was asked to run with `image` (each asks for its image once).
    fn attempts(&self, id: &str, image: &str) -> usize {
        let calls = self.node(id).exec.calls();
        let asks = |c: &&ExecCall| matches!(c, ExecCall::EnsureImage(i) if i == image);
        calls.iter().filter(asks).count()
    }

    /// Waits out a restart delay, then lets the cluster settle.
    async fn after_restart_delay(&mut self) {
        tokio::time::advance(Duration::from_secs(5)).await;
        self.rounds(3).await;
    }

    fn update_state(&self, id: &str) -> Option<UpdateState> {
        let o = self.state.get(ObjectKind::Service, id).unwrap();
        Service::parse(o).unwrap().status.update_state()
    }
}

fn replicated(n: u64) -> Value {
    json!({ "Replicated": { "Replicas": n } })
}

#[tokio::test(start_paused = true)]
async fn replicas_converge_and_spread_over_the_nodes() {
    let mut sim = Sim::new(3);
    sim.create("web", template("V=1"), replicated(6), json!({}));
    sim.rounds(3).await;
    let running = sim.running("web");
    assert_eq!(running.len(), 6);
    for n in ["n1", "n2", "n3"] {
        assert_eq!(
            running.iter().filter(|r| r.1 == n).count(),
            2,
            "{running:?}"
        );
    }
    assert_eq!(sim.containers_running(), 6);
    sim.rounds(2).await;
    assert_eq!(
        sim.running("web"),
        running,
        "a converged service stays as it is"
    );
}

#[tokio::test(start_paused = true)]
async fn scaling_down_removes_tasks_and_their_containers() {
    let mut sim = Sim::new(2);
    sim.create("web", template("V=1"), replicated(4), json!({}));
    sim.rounds(3).await;
    sim.update_service("web", |s| s["Mode"] = replicated(1));
    sim.rounds(4).await;
    assert_eq!(sim.running("web").len(), 1);
    assert_eq!(sim.containers_running(), 1);
    let left = sim.state.tasks_by_service("web").len();
    assert_eq!(left, 1, "removed tasks are reaped once stopped");
}

#[tokio::test(start_paused = true)]
async fn a_failed_task_is_replaced_after_its_restart_delay() {
    let mut sim = Sim::new(1);
    sim.create("web", template("V=1"), replicated(1), json!({}));
    sim.rounds(3).await;
    let (first, _, _) = sim.running("web")[0].clone();
    sim.node("n1").exec.exit(&first, 1);
    sim.rounds(3).await;
    assert!(
        sim.running("web").is_empty(),
        "replaced before the 5 s delay"
    );
    let failed = sim.state.get(ObjectKind::Task, &first).unwrap();
    assert_eq!(Task::parse(failed).unwrap().state(), TaskState::Failed);
    tokio::time::advance(Duration::from_secs(5)).await;
    sim.rounds(3).await;
    let running = sim.running("web");
    assert_eq!(running.len(), 1);
    assert_ne!(running[0].0, first, "a new task took the slot");
}

#[tokio::test(start_paused = true)]
async fn an_update_stops_on_failure_with_failure_action_pause() {
    let mut sim = Sim::new(1);
    let update = json!({ "Parallelism": 1, "FailureAction": "pause" });
    sim.create("web", template("V=1"), replicated(3), update);
    sim.rounds(3).await;
    // The new image is missing: every updated task is rejected.
    let mut broken = template("V=2");
    broken["ContainerSpec"]["Image"] = json!("nope");
    sim.node("n1").exec.miss_image("nope");
    sim.update_service("web", |s| s["TaskTemplate"] = broken);
    sim.rounds(6).await;
    assert_eq!(sim.update_state("web"), Some(UpdateState::Paused));
    let running = sim.running("web");
    assert_eq!(
        running.len(),
        2,
        "one slot was tried and paused: {running:?}"
    );
    assert!(running.iter().all(|r| r.2 == json!(["V=1"])));
    let o = sim.state.get(ObjectKind::Service, "web").unwrap();
    let message = Service::parse(o)
        .unwrap()
        .status
        .update_status
        .unwrap()
        .message;
    assert!(
        message.starts_with("update paused due to failure"),
        "{message}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rolling_update_replaces_every_task_and_completes() {
    let mut sim = Sim::new(2);
    sim.create(
        "web",
        template("V=1"),
        replicated(4),
        json!({ "Parallelism": 2 }),
    );
    sim.rounds(3).await;
    sim.update_service("web", |s| s["TaskTemplate"] = template("V=2"));
    sim.rounds(8).await;
    let running = sim.running("web");
    assert_eq!(running.len(), 4);
    assert!(running.iter().all(|r| r.2 == json!(["V=2"])), "{running:?}");
    assert_eq!(
        sim.update_state("web"),
        Some(UpdateState::Updating),
        "the last batch is watched for Monitor (5 s) first"
    );
    tokio::time::advance(Duration::from_secs(5)).await;
    sim.rounds(1).await;
    assert_eq!(sim.update_state("web"), Some(UpdateState::Completed));
    assert_eq!(sim.containers_running(), 4, "old containers stopped");
}

#[tokio::test(start_paused = true)]
async fn a_failed_update_with_failure_action_rollback_returns_to_the_old_spec() {
    let mut sim = Sim::new(1);
    let update = json!({ "Parallelism": 1, "FailureAction": "rollback" });
    sim.create("web", template("V=1"), replicated(2), update);
    sim.rounds(3).await;
    let mut broken = template("V=2");
    broken["ContainerSpec"]["Image"] = json!("nope");
    sim.node("n1").exec.miss_image("nope");
    sim.update_service("web", |s| s["TaskTemplate"] = broken);
    sim.rounds(8).await;
    assert_eq!(
        sim.update_state("web"),
        Some(UpdateState::RollbackCompleted)
    );
    // The slot the failed task left waits out its restart delay like any failure.
    tokio::time::advance(Duration::from_secs(5)).await;
    sim.rounds(3).await;
    let running = sim.running("web");
    assert_eq!(running.len(), 2);
    assert!(running.iter().all(|r| r.2 == json!(["V=1"])));
}

#[tokio::test(start_paused = true)]
async fn a_drained_nodes_tasks_move_to_the_other_nodes() {
    let mut sim = Sim::new(2);
    sim.create("web", template("V=1"), replicated(4), json!({}));
    sim.rounds(3).await;
    let o = sim.state.get(ObjectKind::Node, "n2").unwrap().clone();
    let mut spec = o.spec.clone();
    spec["Availability"] = json!("drain");
    let op = Op::Update {
        id: "n2".into(),
        expected_version: None,
        attrs: o.attrs.clone(),
        spec,
        status: o.status.clone(),
    };
    apply(&mut sim.state, vec![op]);
    sim.rounds(4).await;
    let running = sim.running("web");
    assert_eq!(running.len(), 4);
    assert!(running.iter().all(|r| r.1 == "n1"), "{running:?}");
    let on_n2 = sim.node("n2").exec.containers();
    assert!(on_n2.iter().all(|c| !c.running), "n2's containers stopped");
}

#[tokio::test(start_paused = true)]
async fn a_global_service_runs_once_on_every_node_and_follows_a_new_one() {
    let mut sim = Sim::new(2);
    sim.create("agent", template("V=1"), json!({ "Global": {} }), json!({}));
    sim.rounds(3).await;
    let nodes: Vec<String> = sim.running("agent").into_iter().map(|r| r.1).collect();
    assert_eq!(nodes, ["n1", "n2"]);
    crate::fixtures::set_node_state(&mut sim.state, "n2", "down");
    sim.rounds(3).await;
    let nodes: Vec<String> = sim.running("agent").into_iter().map(|r| r.1).collect();
    assert_eq!(
        nodes,
        ["n1"],
        "a down node's global task is not replaced elsewhere"
    );
}

#[tokio::test(start_paused = true)]
async fn a_service_removed_from_the_store_takes_its_containers() {
    let mut sim = Sim::new(2);
    sim.create("web", template("V=1"), replicated(2), json!({}));
    sim.rounds(3).await;
    let ids: Vec<String> = sim
        .state
        .tasks_by_service("web")
        .iter()
        .map(|t| t.id.clone())
        .collect();
    let mut ops = vec![Op::Delete {
        kind: ObjectKind::Service,
        id: "web".into(),
        expected_version: None,
    }];
    ops.extend(ids.into_iter().map(|id| Op::Delete {
        kind: ObjectKind::Task,
        id,
        expected_version: None,
    }));
    apply(&mut sim.state, ops);
    sim.rounds(2).await;
    assert_eq!(sim.containers_running(), 0);
    assert!(sim.nodes.iter().all(|n| n.exec.containers().is_empty()));
}

/// `template("V=1")` with an image the nodes told to miss it reject.
fn missing_image() -> Value {
    let mut t = template("V=1");
    t["ContainerSpec"]["Image"] = json!("nope");
    t
}

#[tokio::test(start_paused = true)]
async fn a_node_rejecting_a_services_tasks_is_passed_over_for_five_minutes() {
    let mut sim = Sim::new(3);
    sim.node("n3").exec.miss_image("nope");
    sim.create("web", missing_image(), replicated(3), json!({}));
    sim.rounds(3).await;
    assert_eq!(
        sim.attempts("n3", "nope"),
        1,
        "spread puts one task on each node"
    );
    // n3 has none of the service's tasks running, so spreading alone sends the slot's
    // replacement back to it after every restart delay.
    for _ in 0..20 {
        sim.after_restart_delay().await;
    }
    assert_eq!(
        sim.attempts("n3", "nope"),
        5,
        "no attempt after the fifth failure"
    );
    let running = sim.running("web");
    assert_eq!(running.len(), 3);
    assert!(running.iter().all(|r| r.1 != "n3"), "{running:?}");
    // A new task within the five minutes goes elsewhere too.
    sim.update_service("web", |s| s["Mode"] = replicated(4));
    sim.rounds(3).await;
    assert_eq!(sim.attempts("n3", "nope"), 5);
    assert_eq!(sim.running("web").len(), 4);
    // Once the failures are older than five minutes, n3 (no tasks of web) is first again.
    tokio::time::advance(Duration::from_secs(5 * 60)).await;
    sim.update_service("web", |s| s["Mode"] = replicated(5));
    sim.rounds(3).await;
    assert_eq!(sim.attempts("n3", "nope"), 6);
}

#[tokio::test(start_paused = true)]
async fn the_only_node_keeps_getting_the_task_after_five_failures() {
    let mut sim = Sim::new(1);
    sim.node("n1").exec.miss_image("nope");
    sim.create("web", missing_image(), replicated(1), json!({}));
    sim.rounds(3).await;
    for _ in 0..7 {
        sim.after_restart_delay().await;
    }
    assert_eq!(
        sim.attempts("n1", "nope"),
        8,
        "one attempt per restart delay"
    );
    assert!(sim.running("web").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_new_leader_counts_the_failures_the_task_history_still_holds() {
    let mut sim = Sim::new(2);
    sim.node("n2").exec.miss_image("nope");
    sim.create("web", missing_image(), replicated(2), json!({}));
    sim.rounds(3).await;
    for _ in 0..10 {
        sim.after_restart_delay().await;
    }
    assert_eq!(sim.attempts("n2", "nope"), 5);
    // The history limit (5) keeps 4 of the slot's failed tasks: a new leader sees 4, so n2
    // gets one more attempt, not five.
    sim.failures = FailureLog::default();
    sim.update_service("web", |s| s["Mode"] = replicated(3));
    for _ in 0..10 {
        sim.after_restart_delay().await;
    }
    assert_eq!(sim.attempts("n2", "nope"), 6);
    assert_eq!(sim.running("web").len(), 3);
}

#[tokio::test(start_paused = true)]
async fn host_mode_ports_are_in_the_tasks_status_and_one_without_a_number_is_the_nodes_pick() {
    let mut sim = Sim::new(1);
    let with_ports = |id: &str, replicas: u64, ports: Value| {
        let mut op = service_with(id, id, template("V=1"), replicated(replicas), json!({}));
        if let Op::Create { spec, .. } = &mut op {
            spec["EndpointSpec"] = json!({ "Ports": ports });
        }
        op
    };
    apply(
        &mut sim.state,
        vec![
            with_ports(
                "web",
                2,
                json!([{ "TargetPort": 80, "PublishMode": "host" }]),
            ),
            with_ports(
                "dns",
                1,
                json!([{ "TargetPort": 53, "PublishedPort": 5353, "Protocol": "udp",
                         "PublishMode": "host" }]),
            ),
        ],
    );
    sim.rounds(3).await;
    let port_status = |service: &str| -> Vec<Value> {
        sim.running(service)
            .iter()
            .map(|(id, _, _)| {
                sim.state.get(ObjectKind::Task, id).unwrap().status["PortStatus"].clone()
            })
            .collect()
    };
    // Two tasks on one node: a port the node picks clashes with no other.
    let web = port_status("web");
    assert_eq!(web.len(), 2, "{web:?}");
    let picked: Vec<u64> = web
        .iter()
        .map(|s| {
            assert_eq!(s["Ports"][0]["TargetPort"], 80, "{s}");
            assert_eq!(s["Ports"][0]["PublishMode"], "host", "{s}");
            s["Ports"][0]["PublishedPort"].as_u64().unwrap()
        })
        .collect();
    assert!(
        picked.iter().all(|p| *p >= 32768) && picked[0] != picked[1],
        "{picked:?}"
    );
    assert_eq!(
        port_status("dns"),
        vec![json!({ "Ports": [
            { "Protocol": "udp", "TargetPort": 53, "PublishedPort": 5353, "PublishMode": "host" }
        ] })]
    );
}

/// Every task of `service` and its state.
fn states(sim: &Sim, service: &str) -> Vec<(String, TaskState, Option<u64>)> {
    sim.state
        .tasks_by_service(service)
        .into_iter()
        .filter_map(|o| Task::parse(o).ok())
        .map(|t| (t.id().to_string(), t.state(), t.job_iteration()))
        .collect()
}

/// Ends every running task of `service` with `code`.
fn finish_running(sim: &Sim, service: &str, code: i64) -> usize {
    let running = sim.running(service);
    for (id, node, _) in &running {
        sim.node(node).exec.exit(id, code);
    }
    running.len()
}

#[tokio::test(start_paused = true)]
async fn a_replicated_job_runs_to_its_completions_never_more_than_max_concurrent_at_once() {
    let mut sim = Sim::new(2);
    let job = json!({ "ReplicatedJob": { "MaxConcurrent": 2, "TotalCompletions": 5 } });
    sim.create("job", template("V=1"), job, json!({}));
    let mut ran = 0;
    for _ in 0..6 {
        sim.rounds(2).await;
        let running = sim.running("job");
        assert!(running.len() <= 2, "{running:?}");
        ran += finish_running(&sim, "job", 0);
    }
    sim.rounds(3).await;
    let done = states(&sim, "job");
    let complete = done.iter().filter(|t| t.1 == TaskState::Complete).count();
    assert_eq!((complete, done.len(), ran), (5, 5, 5), "{done:?}");
    assert_eq!(sim.containers_running(), 0);
    // Done is done: more passes start nothing.
    sim.rounds(3).await;
    assert_eq!(states(&sim, "job").len(), 5);

    // An update runs it again: five more, of the new run; the first run's stay as they were.
    let o = sim.state.get(ObjectKind::Service, "job").unwrap().clone();
    let mut status = Service::parse(&o).unwrap().status.clone();
    status.job = Some(crate::model::JobStatus {
        iteration: crate::model::JobIteration { index: 2 },
        last_execution: None,
    });
    apply(
        &mut sim.state,
        vec![Op::UpdateStatus {
            kind: ObjectKind::Service,
            id: "job".into(),
            expected_version: None,
            status: status.to_value(),
        }],
    );
    for _ in 0..6 {
        sim.rounds(2).await;
        finish_running(&sim, "job", 0);
    }
    sim.rounds(2).await;
    let all = states(&sim, "job");
    let of_run = |n: u64| {
        all.iter()
            .filter(|t| t.2 == Some(n) && t.1 == TaskState::Complete)
            .count()
    };
    assert_eq!((of_run(0), of_run(2)), (5, 5), "{all:?}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_job_task_is_run_again_in_its_slot_after_its_restart_delay() {
    let mut sim = Sim::new(1);
    let job = json!({ "ReplicatedJob": { "MaxConcurrent": 1, "TotalCompletions": 1 } });
    sim.create("job", template("V=1"), job, json!({}));
    sim.rounds(3).await;
    assert_eq!(finish_running(&sim, "job", 3), 1);
    sim.rounds(3).await;
    assert!(
        sim.running("job").is_empty(),
        "not before the restart delay"
    );
    tokio::time::advance(Duration::from_secs(5)).await;
    sim.rounds(3).await;
    assert_eq!(finish_running(&sim, "job", 0), 1, "run again");
    sim.rounds(3).await;
    let all = states(&sim, "job");
    let count = |s: TaskState| all.iter().filter(|t| t.1 == s).count();
    assert_eq!(
        (count(TaskState::Failed), count(TaskState::Complete)),
        (1, 1),
        "{all:?}"
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    sim.rounds(3).await;
    assert_eq!(
        states(&sim, "job").len(),
        2,
        "a completed job is not run again"
    );
}

#[tokio::test(start_paused = true)]
async fn a_global_job_completes_once_on_every_node() {
    let mut sim = Sim::new(3);
    sim.create(
        "job",
        template("V=1"),
        json!({ "GlobalJob": {} }),
        json!({}),
    );
    sim.rounds(3).await;
    let running = sim.running("job");
    let nodes: std::collections::BTreeSet<&str> = running.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(nodes.len(), 3, "{running:?}");
    finish_running(&sim, "job", 0);
    sim.rounds(4).await;
    let all = states(&sim, "job");
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all.iter().all(|t| t.1 == TaskState::Complete), "{all:?}");
}
