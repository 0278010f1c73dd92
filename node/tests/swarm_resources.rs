//! Generic resources on a one-node swarm through the docker CLI: berthd advertises what
//! `--node-generic-resource` names, a service reserving some gets tasks only while some are
//! free (the rest wait, saying why), each task's container learns what it was given from
//! `DOCKER_RESOURCE_<KIND>`, and a task reserving a named resource is stored, as Docker
//! stores it, and waits saying why.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::time::Duration;

use berth_test_support::{require_root, wait_until, TestDaemon};
use serde_json::{json, Value};

fn running_containers(d: &TestDaemon, service: &str) -> Vec<String> {
    let out = d.cli_ok(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.swarm.service.name={service}"),
    ]);
    out.lines().map(String::from).collect()
}

#[test]
fn named_and_counted_resources_are_reserved_and_told_to_the_container() {
    require_root!();
    let flags: Vec<String> = ["gpu=GPU-a", "gpu=GPU-b", "ssd=3"]
        .iter()
        .flat_map(|r| ["--node-generic-resource".to_string(), r.to_string()])
        .collect();
    let d = TestDaemon::start_with("swgres", &flags);
    d.import_busybox();
    d.swarm_init_local(&[]);
    let node: Value = serde_json::from_str(&d.cli_ok(&[
        "node",
        "inspect",
        "self",
        "--format",
        "{{json .Description.Resources.GenericResources}}",
    ]))
    .unwrap();
    let advertised = node.as_array().map_or(0, Vec::len);
    assert_eq!(advertised, 3, "{node}");

    let gpu = format!("{}-gpu", d.prefix);
    d.cli_ok(&[
        "service",
        "create",
        "-d",
        "--no-resolve-image",
        "--name",
        &gpu,
        "--replicas",
        "3",
        "--generic-resource",
        "gpu=1",
        "busybox",
        "sleep",
        "600",
    ]);
    let two = wait_until(Duration::from_secs(60), || {
        running_containers(&d, &gpu).len() == 2
    });
    assert!(
        two,
        "two tasks run: {}",
        d.cli_ok(&["service", "ps", &gpu, "--no-trunc"])
    );
    let mut given: Vec<String> = running_containers(&d, &gpu)
        .iter()
        .map(|c| d.cli_ok(&["exec", c, "sh", "-c", "echo $DOCKER_RESOURCE_GPU"]))
        .collect();
    given.sort();
    assert_eq!(given, ["GPU-a", "GPU-b"], "each task has its own gpu");
    let third = wait_until(Duration::from_secs(30), || {
        d.cli_ok(&[
            "service",
            "ps",
            &gpu,
            "--no-trunc",
            "--format",
            "{{.Error}}",
        ])
        .contains("insufficient generic resource gpu")
    });
    assert!(
        third,
        "{}",
        d.cli_ok(&["service", "ps", &gpu, "--no-trunc"])
    );
    assert_eq!(running_containers(&d, &gpu).len(), 2, "never a third");

    let ssd = format!("{}-ssd", d.prefix);
    d.cli_ok(&[
        "service",
        "create",
        "-d",
        "--no-resolve-image",
        "--name",
        &ssd,
        "--generic-resource",
        "ssd=2",
        "busybox",
        "sleep",
        "600",
    ]);
    let up = wait_until(Duration::from_secs(60), || {
        running_containers(&d, &ssd).len() == 1
    });
    assert!(up, "{}", d.cli_ok(&["service", "ps", &ssd, "--no-trunc"]));
    let c = &running_containers(&d, &ssd)[0];
    assert_eq!(
        d.cli_ok(&["exec", c, "sh", "-c", "echo $DOCKER_RESOURCE_SSD"]),
        "2"
    );
    let task: Value =
        serde_json::from_str(&d.cli_ok(&["inspect", "--format", "{{json .Config.Labels}}", c]))
            .unwrap();
    let task_id = task["com.docker.swarm.task.id"].as_str().unwrap();
    let assigned = d.req("GET", &format!("/tasks/{task_id}"), "").json();
    assert_eq!(
        assigned["AssignedGenericResources"],
        json!([{ "DiscreteResourceSpec": { "Kind": "ssd", "Value": 2 } }])
    );

    // Docker stores a spec reserving a kind by name (swarmkit's check discards its own
    // error) and its tasks wait; berth's say why, even with the name advertised.
    let named_name = format!("{}-named", d.prefix);
    let reservations = json!({ "GenericResources": [
        { "NamedResourceSpec": { "Kind": "gpu", "Value": "GPU-a" } },
        { "DiscreteResourceSpec": { "Kind": "ssd", "Value": 1 } } ] });
    let named = json!({ "Name": named_name, "TaskTemplate": {
        "ContainerSpec": { "Image": "busybox" },
        "Resources": { "Reservations": reservations } } });
    let r = d.req("POST", "/services/create", &named.to_string());
    assert_eq!(r.status, 201, "{}", r.text());
    let stored = d.req("GET", &format!("/services/{named_name}"), "").json();
    assert_eq!(
        stored["Spec"]["TaskTemplate"]["Resources"]["Reservations"],
        reservations
    );
    let waits = wait_until(Duration::from_secs(30), || {
        let row = d.cli_ok(&[
            "service",
            "ps",
            &named_name,
            "--no-trunc",
            "--format",
            "{{.CurrentState}} {{.Error}}",
        ]);
        row.starts_with("Pending") && row.contains("generic resource gpu reserved by name")
    });
    assert!(
        waits,
        "{}",
        d.cli_ok(&["service", "ps", &named_name, "--no-trunc"])
    );
    assert!(running_containers(&d, &named_name).is_empty());
    d.cli_ok(&["service", "rm", &named_name]);
    for s in [&gpu, &ssd] {
        d.cli_ok(&["service", "rm", s]);
    }
}
