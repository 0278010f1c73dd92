//! Docker's list filters and the task counts `docker service ls` shows.

use std::collections::HashMap;

use berth_raft::{ClusterState, NodeRole, ObjectKind};
use serde_json::json;

use super::{label_matches, Filters};
use crate::fixtures::{apply, node, service, service_with, template, TaskFixture};
use crate::model::{DesiredState, Node, Service, Task, TaskState};

fn filters(pairs: &[(&str, &str)]) -> Filters {
    let mut f = Filters::new();
    for (k, v) in pairs {
        f.entry(k.to_string()).or_default().push(v.to_string());
    }
    f
}

fn state() -> ClusterState {
    let mut s = ClusterState::default();
    apply(
        &mut s,
        vec![
            node("n1", NodeRole::Manager, "active", "ready"),
            node("n2", NodeRole::Worker, "drain", "ready"),
            service(2, json!({})),
            service_with(
                "g",
                "agent",
                template("V=1"),
                json!({ "Global": {} }),
                json!({}),
            ),
        ],
    );
    let mut done = TaskFixture::running("t2", 2);
    done.state = TaskState::Complete;
    done.desired = DesiredState::Shutdown;
    apply(&mut s, vec![TaskFixture::running("t1", 1).op(), done.op()]);
    s
}

#[test]
fn labels_match_by_key_or_key_and_value() {
    let labels = HashMap::from([("tier".to_string(), "web".to_string())]);
    assert!(label_matches(&labels, "tier"));
    assert!(label_matches(&labels, "tier=web"));
    assert!(!label_matches(&labels, "tier=db"));
    assert!(!label_matches(&labels, "zone"));
}

#[test]
fn services_filter_by_name_prefix_mode_and_id() {
    let s = state();
    let svc = Service::parse(s.get(ObjectKind::Service, "svc").unwrap()).unwrap();
    let global = Service::parse(s.get(ObjectKind::Service, "g").unwrap()).unwrap();
    let m =
        |svc: &Service<'_>, f: &[(&str, &str)]| super::services::service_matches(svc, &filters(f));
    assert!(m(&svc, &[("name", "we")]));
    assert!(!m(&svc, &[("name", "eb")]));
    assert!(m(&global, &[("mode", "global")]) && !m(&svc, &[("mode", "global")]));
    assert!(
        m(&svc, &[("mode", "global"), ("mode", "replicated")]),
        "values of a key are or'ed"
    );
    assert!(!m(&svc, &[("name", "web"), ("id", "g")]), "keys are and'ed");
}

#[test]
fn tasks_filter_by_desired_state_name_and_resolved_service_names() {
    let s = state();
    let t1 = Task::parse(s.get(ObjectKind::Task, "t1").unwrap()).unwrap();
    let t2 = Task::parse(s.get(ObjectKind::Task, "t2").unwrap()).unwrap();
    let m = |t: &Task<'_>, f: &Filters| super::tasks::task_matches(t, f);
    let running = filters(&[("desired-state", "running")]);
    assert!(m(&t1, &running) && !m(&t2, &running));
    assert!(m(&t1, &filters(&[("desired-state", "accepted")])));
    assert!(m(&t2, &filters(&[("name", "web.2")])));
    let by_name = super::tasks::resolve(&s, &filters(&[("service", "web"), ("node", "host-n1")]));
    assert_eq!(by_name["service"], ["svc"]);
    assert_eq!(by_name["node"], ["n1"]);
    assert!(m(&t1, &by_name));
}

#[test]
fn up_to_date_tasks_are_those_made_from_their_services_current_template() {
    let mut s = state();
    let mut old = TaskFixture::running("t3", 1);
    old.env = "V=0";
    apply(&mut s, vec![old.op()]);
    let ids = |f: &Filters| -> Vec<String> {
        super::tasks::list(&s, f)
            .unwrap()
            .into_iter()
            .map(|t| t.envelope.id)
            .collect()
    };
    assert_eq!(ids(&filters(&[])), ["t1", "t2", "t3"]);
    assert_eq!(ids(&filters(&[("_up-to-date", "true")])), ["t1", "t2"]);
}

#[test]
fn nodes_filter_by_role_and_hostname() {
    let s = state();
    let n1 = Node::parse(s.get(ObjectKind::Node, "n1").unwrap()).unwrap();
    let n2 = Node::parse(s.get(ObjectKind::Node, "n2").unwrap()).unwrap();
    let m = |n: &Node<'_>, f: &[(&str, &str)]| super::nodes::node_matches(n, &filters(f));
    assert!(m(&n1, &[("role", "manager")]) && !m(&n2, &[("role", "manager")]));
    assert!(m(&n2, &[("name", "n2")]));
}

#[test]
fn counts_are_running_replicas_and_active_ready_nodes_for_global_services() {
    let s = state();
    let counts = super::services::task_counts(&s);
    let web = counts["svc"];
    assert_eq!((web.running, web.desired, web.completed), (1, 2, 1));
    assert_eq!(counts["g"].desired, 1, "n2 is drained");
}
