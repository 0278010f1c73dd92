//! Unit tests of `ClusterState::apply` and the indexes, without openraft.

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use super::*;
use crate::objects::Attrs;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap()
}

fn cmd(secs: i64, ops: Vec<Op>) -> ClusterCommand {
    ClusterCommand { at: at(secs), ops }
}

fn service(id: &str, name: &str) -> Op {
    Op::Create {
        id: id.into(),
        attrs: Attrs::Service { name: name.into() },
        spec: json!({"Name": name}),
        status: Value::Null,
    }
}

fn task(service: &str, node: Option<&str>, desired: TaskState) -> Attrs {
    Attrs::Task {
        service_id: service.into(),
        node_id: node.map(str::to_owned),
        desired_state: desired,
    }
}

fn create_task(id: &str, service: &str, node: Option<&str>) -> Op {
    Op::Create {
        id: id.into(),
        attrs: task(service, node, TaskState::Running),
        spec: json!({}),
        status: json!({"State": "new"}),
    }
}

fn applied_version(r: &ClusterResponse) -> u64 {
    match r {
        ClusterResponse::Applied { version, .. } => *version,
        other => panic!("not applied: {other:?}"),
    }
}

fn ids(objects: Vec<&Object>) -> Vec<&str> {
    objects.into_iter().map(|o| o.id.as_str()).collect()
}

#[test]
fn create_sets_version_and_times_from_the_command() {
    let mut s = ClusterState::default();
    let r = s.apply(&cmd(1, vec![service("s1", "web")]));
    assert_eq!(applied_version(&r), 1);
    let o = s.get(ObjectKind::Service, "s1").unwrap();
    assert_eq!(
        o.meta,
        Meta {
            version: 1,
            created_at: at(1),
            updated_at: at(1)
        }
    );
    assert_eq!(s.version(), 1);
}

#[test]
fn update_naming_an_old_version_is_a_conflict() {
    let mut s = ClusterState::default();
    s.apply(&cmd(1, vec![service("s1", "web")]));
    let update = |v| Op::Update {
        id: "s1".into(),
        expected_version: Some(v),
        attrs: Attrs::Service { name: "web".into() },
        spec: json!({"Replicas": 3}),
        status: Value::Null,
    };
    let r = s.apply(&cmd(2, vec![update(1)]));
    assert_eq!(applied_version(&r), 2);
    let o = s.get(ObjectKind::Service, "s1").unwrap();
    assert_eq!(
        (o.meta.version, o.meta.created_at, o.meta.updated_at),
        (2, at(1), at(2))
    );
    let r = s.apply(&cmd(3, vec![update(1)]));
    let expected = ApplyError::Conflict {
        kind: ObjectKind::Service,
        id: "s1".into(),
        expected: 1,
        current: 2,
    };
    assert_eq!(r, ClusterResponse::Rejected { error: expected });
    assert_eq!(s.version(), 2);
}

#[test]
fn a_failing_operation_rolls_back_the_whole_transaction() {
    let mut s = ClusterState::default();
    s.apply(&cmd(1, vec![service("s0", "db")]));
    let r = s.apply(&cmd(
        2,
        vec![
            service("s1", "web"),
            create_task("t1", "s1", Some("n1")),
            Op::Delete {
                kind: ObjectKind::Service,
                id: "s0".into(),
                expected_version: None,
            },
            create_task("t1", "s1", None),
        ],
    ));
    assert!(matches!(
        r,
        ClusterResponse::Rejected {
            error: ApplyError::AlreadyExists { .. }
        }
    ));
    assert!(s.get(ObjectKind::Service, "s1").is_none());
    assert!(s.get(ObjectKind::Task, "t1").is_none());
    assert!(s.get(ObjectKind::Service, "s0").is_some());
    assert!(s.service_by_name("web").is_none());
    assert_eq!(s.service_by_name("db").unwrap().id, "s0");
    assert!(s.tasks_by_node("n1").is_empty());
    assert_eq!(s.version(), 1);
}

#[test]
fn a_rolled_back_rename_gives_the_old_name_back() {
    let mut s = ClusterState::default();
    s.apply(&cmd(1, vec![service("s0", "db"), service("s1", "web")]));
    let r = s.apply(&cmd(
        2,
        vec![
            Op::Update {
                id: "s0".into(),
                expected_version: Some(1),
                attrs: Attrs::Service { name: "www".into() },
                spec: json!({"renamed": true}),
                status: Value::Null,
            },
            Op::UpdateStatus {
                kind: ObjectKind::Service,
                id: "s0".into(),
                expected_version: None,
                status: json!({"state": "changed"}),
            },
            service("s1", "other"),
        ],
    ));
    assert!(matches!(r, ClusterResponse::Rejected { .. }), "{r:?}");
    let s0 = s.service_by_name("db").unwrap();
    assert_eq!((s0.id.as_str(), s0.meta.version), ("s0", 1));
    assert_eq!(s0.spec, json!({ "Name": "db" }));
    assert_eq!(s0.status, Value::Null);
    assert!(s.service_by_name("www").is_none());
    assert_eq!(s.service_by_name("web").unwrap().id, "s1");
}

#[test]
fn a_service_and_its_tasks_are_created_in_one_transaction() {
    let mut s = ClusterState::default();
    let r = s.apply(&cmd(
        1,
        vec![
            service("s1", "web"),
            create_task("t1", "s1", None),
            create_task("t2", "s1", None),
        ],
    ));
    let ClusterResponse::Applied { version, changes } = r else {
        panic!("rejected")
    };
    assert_eq!(version, 1);
    assert_eq!(changes.len(), 3);
    assert!(changes
        .iter()
        .all(|c| c.action == Action::Create && c.object.meta.version == 1));
    assert_eq!(ids(s.tasks_by_service("s1")), ["t1", "t2"]);
}

#[test]
fn a_duplicate_service_name_is_refused() {
    let mut s = ClusterState::default();
    s.apply(&cmd(1, vec![service("s1", "web")]));
    let r = s.apply(&cmd(2, vec![service("s2", "web")]));
    let expected = ApplyError::NameInUse {
        kind: ObjectKind::Service,
        name: "web".into(),
        id: "s1".into(),
    };
    assert_eq!(r, ClusterResponse::Rejected { error: expected });
}

#[test]
fn renaming_a_service_frees_its_old_name() {
    let mut s = ClusterState::default();
    s.apply(&cmd(1, vec![service("s1", "web")]));
    s.apply(&cmd(
        2,
        vec![Op::Update {
            id: "s1".into(),
            expected_version: None,
            attrs: Attrs::Service { name: "www".into() },
            spec: json!({}),
            status: Value::Null,
        }],
    ));
    assert!(s.service_by_name("web").is_none());
    assert_eq!(s.service_by_name("www").unwrap().id, "s1");
    assert_eq!(
        applied_version(&s.apply(&cmd(3, vec![service("s2", "web")]))),
        3
    );
}

#[test]
fn task_indexes_follow_assignment_and_desired_state() {
    let mut s = ClusterState::default();
    s.apply(&cmd(
        1,
        vec![
            create_task("t1", "s1", None),
            create_task("t2", "s1", Some("n1")),
        ],
    ));
    assert_eq!(ids(s.tasks_by_node("n1")), ["t2"]);
    assert_eq!(
        ids(s.tasks_by_desired_state(TaskState::Running)),
        ["t1", "t2"]
    );
    s.apply(&cmd(
        2,
        vec![Op::Update {
            id: "t1".into(),
            expected_version: Some(1),
            attrs: task("s1", Some("n2"), TaskState::Shutdown),
            spec: json!({}),
            status: Value::Null,
        }],
    ));
    assert_eq!(ids(s.tasks_by_node("n2")), ["t1"]);
    assert_eq!(ids(s.tasks_by_desired_state(TaskState::Running)), ["t2"]);
    assert_eq!(ids(s.tasks_by_desired_state(TaskState::Shutdown)), ["t1"]);
    s.apply(&cmd(
        3,
        vec![Op::Delete {
            kind: ObjectKind::Task,
            id: "t2".into(),
            expected_version: Some(1),
        }],
    ));
    assert!(s.tasks_by_node("n1").is_empty());
    assert_eq!(ids(s.tasks_by_service("s1")), ["t1"]);
}

#[test]
fn nodes_are_indexed_by_role() {
    let mut s = ClusterState::default();
    let node = |id: &str, role| Op::Create {
        id: id.into(),
        attrs: Attrs::Node { role },
        spec: json!({}),
        status: json!({"State": "ready"}),
    };
    s.apply(&cmd(
        1,
        vec![
            node("m1", NodeRole::Manager),
            node("w1", NodeRole::Worker),
            node("w2", NodeRole::Worker),
        ],
    ));
    assert_eq!(ids(s.nodes_by_role(NodeRole::Manager)), ["m1"]);
    assert_eq!(ids(s.nodes_by_role(NodeRole::Worker)), ["w1", "w2"]);
}

#[test]
fn a_status_update_keeps_the_spec_and_bumps_the_version() {
    let mut s = ClusterState::default();
    s.apply(&cmd(1, vec![create_task("t1", "s1", Some("n1"))]));
    let r = s.apply(&cmd(
        2,
        vec![Op::UpdateStatus {
            kind: ObjectKind::Task,
            id: "t1".into(),
            expected_version: None,
            status: json!({"State": "running"}),
        }],
    ));
    assert_eq!(applied_version(&r), 2);
    let t = s.get(ObjectKind::Task, "t1").unwrap();
    assert_eq!(
        (t.meta.version, &t.status, &t.spec),
        (2, &json!({"State": "running"}), &json!({}))
    );
}

#[test]
fn a_reading_of_a_stored_object_is_made_once_and_a_changed_object_is_read_afresh() {
    let mut s = ClusterState::default();
    s.apply(&cmd(1, vec![create_task("t1", "s1", Some("n1"))]));
    let read = |s: &ClusterState| {
        let t = s.get(ObjectKind::Task, "t1").unwrap();
        let made = std::cell::Cell::new(false);
        let state = t
            .memo
            .get_or_init(|| {
                made.set(true);
                t.status["State"].as_str().unwrap_or("").to_string()
            })
            .cloned();
        (state, made.get())
    };
    assert_eq!(read(&s), (Some("new".to_string()), true));
    assert_eq!(read(&s), (Some("new".to_string()), false), "made once");
    // A copy of the state shares the reading; a clone of the object does not carry it.
    assert_eq!(read(&s.clone()), (Some("new".to_string()), false));
    let copy = s.get(ObjectKind::Task, "t1").unwrap().clone();
    assert!(
        copy.memo.get_or_init(|| 7u8).is_some(),
        "a clone starts empty"
    );
    s.apply(&cmd(
        2,
        vec![Op::UpdateStatus {
            kind: ObjectKind::Task,
            id: "t1".into(),
            expected_version: None,
            status: json!({"State": "running"}),
        }],
    ));
    assert_eq!(read(&s), (Some("running".to_string()), true), "read afresh");
    // A reading of another type is not mistaken for this one.
    let t = s.get(ObjectKind::Task, "t1").unwrap();
    assert!(t.memo.get_or_init(|| 1u32).is_none());
}

#[test]
fn deleting_a_missing_object_is_not_found() {
    let mut s = ClusterState::default();
    let r = s.apply(&cmd(
        1,
        vec![Op::Delete {
            kind: ObjectKind::Secret,
            id: "x".into(),
            expected_version: None,
        }],
    ));
    let expected = ApplyError::NotFound {
        kind: ObjectKind::Secret,
        id: "x".into(),
    };
    assert_eq!(r, ClusterResponse::Rejected { error: expected });
}

#[test]
fn retired_member_ids_are_remembered_and_rolled_back_with_their_transaction() {
    let mut s = ClusterState::default();
    s.apply(&cmd(1, vec![Op::RetireMember { id: 4 }]));
    assert!(s.is_member_retired(4));
    s.apply(&cmd(
        2,
        vec![
            Op::RetireMember { id: 5 },
            service("s1", "a"),
            service("s2", "a"),
        ],
    ));
    assert!(!s.is_member_retired(5));
    assert_eq!(s.max_retired_member(), Some(4));
}

#[test]
fn an_image_round_trip_keeps_objects_and_rebuilds_indexes() {
    let mut s = ClusterState::default();
    s.apply(&cmd(
        1,
        vec![service("s1", "web"), create_task("t1", "s1", Some("n1"))],
    ));
    s.apply(&cmd(2, vec![Op::RetireMember { id: 9 }]));
    let bytes = serde_json::to_vec(&s.image()).unwrap();
    let back = ClusterState::from_image(serde_json::from_slice(&bytes).unwrap());
    assert_eq!(back.version(), 2);
    assert_eq!(back.len(), 2);
    assert_eq!(back.service_by_name("web").unwrap().id, "s1");
    assert_eq!(ids(back.tasks_by_node("n1")), ["t1"]);
    assert!(back.is_member_retired(9));
}

#[test]
fn the_same_commands_give_the_same_state_on_every_replica() {
    let cmds = [
        cmd(1, vec![service("s1", "web"), create_task("t1", "s1", None)]),
        cmd(2, vec![service("s2", "web")]),
        cmd(
            3,
            vec![Op::Delete {
                kind: ObjectKind::Task,
                id: "t1".into(),
                expected_version: None,
            }],
        ),
    ];
    let run = || {
        let mut s = ClusterState::default();
        let responses: Vec<_> = cmds.iter().map(|c| s.apply(c)).collect();
        (serde_json::to_string(&s.image()).unwrap(), responses)
    };
    assert_eq!(run(), run());
}

#[test]
fn a_copy_of_the_state_keeps_what_it_saw_while_the_original_changes() {
    let mut s = ClusterState::default();
    s.apply(&cmd(
        0,
        vec![service("s1", "web"), create_task("t1", "s1", Some("n1"))],
    ));
    let copy = s.clone();
    s.apply(&cmd(
        1,
        vec![
            create_task("t2", "s1", Some("n1")),
            Op::Delete {
                kind: ObjectKind::Task,
                id: "t1".into(),
                expected_version: None,
            },
        ],
    ));
    assert_eq!(ids(copy.tasks_by_node("n1")), ["t1"]);
    assert!(copy.get(ObjectKind::Task, "t2").is_none());
    assert_eq!(copy.version() + 1, s.version());
    assert_eq!(ids(s.tasks_by_node("n1")), ["t2"]);
    assert!(s.get(ObjectKind::Task, "t1").is_none());
}

#[test]
fn unassigned_tasks_are_indexed_until_they_get_a_node() {
    let mut s = ClusterState::default();
    s.apply(&cmd(
        0,
        vec![
            service("s1", "web"),
            create_task("t1", "s1", None),
            create_task("t2", "s1", Some("n1")),
        ],
    ));
    assert_eq!(ids(s.unassigned_tasks()), ["t1"]);
    let assigned = Op::Update {
        id: "t1".into(),
        expected_version: None,
        attrs: task("s1", Some("n2"), TaskState::Running),
        spec: json!({}),
        status: json!({"State": "assigned"}),
    };
    s.apply(&cmd(1, vec![assigned]));
    assert!(s.unassigned_tasks().is_empty());
    assert_eq!(ids(s.tasks_by_node("n2")), ["t1"]);
    let mut every: Vec<&str> = s.each(ObjectKind::Task).map(|o| o.id.as_str()).collect();
    every.sort_unstable();
    assert_eq!(every, ["t1", "t2"]);
}
