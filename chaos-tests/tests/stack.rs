//! Stacks on three berthd nodes (one manager, two workers) in their own namespaces, driven
//! through the `berth` and `docker` clients as a user would: every file of `examples/`
//! deploys, its services reach their replicas, its networks carry the stack's name and label,
//! its published ports answer through the routing mesh on every node and the global agent runs
//! once per node, the rolling-update demo's version 2 replaces version 1 on every node; a
//! re-deploy after an edit of one service's command or image touches that service alone, as
//! `stack plan` said it would; `--prune` removes a service deleted from the file (and nothing
//! without it); `docker stack deploy` of the same file is what berth would deploy; a malformed
//! file is refused with its file, line and key and changes nothing; `stack rm` leaves nothing.
//! Each test's cluster (daemons, containers, namespaces, files) goes when the test ends, also
//! when it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod swarm_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use berth_chaos_tests::swarm::{per_node, urlencode};
use berth_chaos_tests::{require_root, CliOutput, Cluster, Node};
use serde_json::{json, Value};
use swarm_support::*;

/// One manager (node 0) and two workers, with busybox on each.
fn manager_and_two_workers() -> Cluster {
    three_node_swarm(1)
}

/// A copy of `examples/` in the cluster's directory (edited by the tests, gone with it).
fn examples(c: &Cluster) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let to = c.root().join("examples");
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
    to
}

/// `berth <args>` against the manager, in `dir`; must exit 0.
fn berth(c: &Cluster, dir: &Path, args: &[&str]) -> CliOutput {
    let out = c.node(0).berth(dir, args, &[]).unwrap();
    assert!(out.ok(), "berth {args:?}: {}", out.text());
    out
}

fn deploy(c: &Cluster, dir: &Path, file: &str, stack: &str, more: &[&str]) -> CliOutput {
    let mut args = vec!["stack", "deploy", "--resolve-image", "never", "-c", file];
    args.extend_from_slice(more);
    args.push(stack);
    berth(c, dir, &args)
}

fn plan(c: &Cluster, dir: &Path, file: &str, stack: &str, more: &[&str]) -> String {
    let mut args = vec!["stack", "plan", "-c", file];
    args.extend_from_slice(more);
    args.push(stack);
    berth(c, dir, &args).stdout
}

fn label_filter(stack: &str) -> String {
    let label = format!("com.docker.stack.namespace={stack}");
    urlencode(&json!({ "label": [label] }).to_string())
}

/// `kind` (services, networks, configs, secrets) of `stack`, by name.
fn objects(c: &Cluster, kind: &str, stack: &str) -> BTreeMap<String, Value> {
    let path = format!("/{kind}?filters={}", label_filter(stack));
    let list = c.node(0).list(&path).unwrap();
    list.into_iter()
        .map(|o| {
            let name = o["Spec"]["Name"].as_str().or(o["Name"].as_str());
            (name.unwrap_or_default().to_string(), o)
        })
        .collect()
}

/// Each service of `stack` by name → its `Version.Index`.
fn versions(c: &Cluster, stack: &str) -> BTreeMap<String, u64> {
    objects(c, "services", stack)
        .into_iter()
        .map(|(n, s)| (n, s["Version"]["Index"].as_u64().unwrap()))
        .collect()
}

/// Waits until `berth stack services` shows `want` (name → "running/desired") for `stack`.
fn replicas(c: &Cluster, dir: &Path, stack: &str, want: &[(&str, &str)]) {
    let want: BTreeMap<String, String> = want
        .iter()
        .map(|(n, r)| (format!("{stack}_{n}"), (*r).to_string()))
        .collect();
    let mut seen = BTreeMap::new();
    let shown = wait(|| {
        let args = [
            "stack",
            "services",
            "--format",
            "{{.Name}} {{.Replicas}}",
            stack,
        ];
        let out = c.node(0).berth(dir, &args, &[]).unwrap();
        seen = out
            .stdout
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(n, r)| (n.to_string(), r.trim().to_string()))
            .collect();
        seen == want
    });
    assert!(shown, "stack services {stack}: want {want:?}, saw {seen:?}");
}

/// What `port` on node `node`'s loopback serves to an HTTP GET (the host's busybox `nc` in
/// the node's namespace; its `wget` crashes on some hosts).
fn page(node: &Node, port: u16) -> String {
    let get = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 127.0.0.1 {port}");
    let out = node.exec_in_netns(&["sh", "-c", &get]).unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until every node serves a page containing `text` on `port`.
fn mesh_serves(c: &Cluster, port: u16, text: &str) {
    for node in c.nodes() {
        let served = wait(|| page(node, port).contains(text));
        let last = page(node, port);
        assert!(served, "node {} port {port}: {last:?}", node.index());
    }
}

/// Waits until service `name`'s update is complete.
fn update_completed(c: &Cluster, name: &str) {
    let done = wait(|| {
        c.node(0)
            .service(name)
            .is_ok_and(|s| s["UpdateStatus"]["State"] == "completed")
    });
    assert!(done, "{:#?}", c.node(0).service(name));
}

/// The service lines of a plan (`create service x`, …) and of a deploy's output, put in the
/// plan's words, to compare what was planned with what was done.
fn service_steps(text: &str) -> BTreeSet<String> {
    let words = [
        ("create service ", "create"),
        ("update service ", "update"),
        ("remove service ", "remove"),
        ("Creating service ", "create"),
        ("Updating service ", "update"),
        ("Removing service ", "remove"),
    ];
    let mut out = BTreeSet::new();
    for line in text.lines() {
        for (head, verb) in words {
            if let Some(rest) = line.strip_prefix(head) {
                let name = rest.split_whitespace().next().unwrap_or_default();
                out.insert(format!("{verb} {name}"));
            }
        }
    }
    out
}

fn steps(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

/// `file` with the first `from` replaced by `to` (which must be there), written to `to_file`.
fn edited(dir: &Path, file: &str, from: &str, to: &str, to_file: &str) {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(dir.join(to_file), text.replacen(from, to, 1)).unwrap();
}

#[test]
fn every_example_deploys_across_three_nodes_and_stack_rm_leaves_nothing() {
    require_root!();
    let c = manager_and_two_workers();
    let _logs = LogsOnFailure::new(&c);
    let dir = examples(&c);
    deploy(&c, &dir, "web-cache-worker.yml", "demo", &[]);
    deploy(&c, &dir, "monitoring-agent.yml", "mon", &[]);
    deploy(&c, &dir, "rolling-update.yml", "roll", &[]);

    let ls = berth(
        &c,
        &dir,
        &["stack", "ls", "--format", "{{.Name}} {{.Services}}"],
    );
    let ls: BTreeSet<&str> = ls.stdout.lines().map(str::trim).collect();
    assert_eq!(ls, BTreeSet::from(["demo 3", "mon 2", "roll 1"]));
    replicas(
        &c,
        &dir,
        "demo",
        &[("web", "3/3"), ("cache", "1/1"), ("worker", "2/2")],
    );
    replicas(&c, &dir, "mon", &[("agent", "3/3"), ("collector", "1/1")]);
    replicas(&c, &dir, "roll", &[("app", "6/6")]);

    // Networks: `<stack>_<name>`, overlay, labelled; a service without networks gets the
    // stack's `default`.
    for (stack, want) in [
        ("demo", vec!["demo_back", "demo_front"]),
        ("mon", vec!["mon_metrics"]),
        ("roll", vec!["roll_default"]),
    ] {
        let nets = objects(&c, "networks", stack);
        let names: Vec<&str> = nets.keys().map(String::as_str).collect();
        assert_eq!(names, want, "networks of {stack}");
        for (name, n) in &nets {
            assert_eq!(n["Driver"], "overlay", "{name}: {n}");
            assert_eq!(n["Scope"], "swarm", "{name}: {n}");
            assert_eq!(n["Labels"]["com.docker.stack.namespace"], stack, "{name}");
        }
    }
    assert_eq!(
        objects(&c, "networks", "demo")["demo_back"]["Attachable"],
        true
    );
    let configs = objects(&c, "configs", "demo");
    assert_eq!(configs.keys().collect::<Vec<_>>(), ["demo_index"]);
    let web = &objects(&c, "services", "demo")["demo_web"];
    assert_eq!(web["Spec"]["Labels"]["tier"], "web", "{web}");
    assert_eq!(web["Spec"]["Labels"]["com.docker.stack.namespace"], "demo");

    // The file's health check reaches the web tier's containers.
    let checked = c.nodes().iter().find_map(|n| {
        let id = n.service_containers("demo_web").ok()?.first()?["Id"].clone();
        let path = format!("/containers/{}/json", id.as_str()?);
        Some(n.call("GET", &path, &Value::Null, 200).unwrap())
    });
    let checked = checked.expect("a web container");
    assert_eq!(
        checked["Config"]["Healthcheck"]["Test"],
        json!([
            "CMD",
            "wget",
            "-q",
            "-O",
            "/dev/null",
            "http://127.0.0.1:8080/"
        ]),
        "{checked}"
    );

    // The global agent: one running task on each of the three nodes.
    let agents = per_node(&c.node(0).running_tasks("mon_agent").unwrap());
    assert_eq!(agents.len(), 3, "agent tasks per node: {agents:?}");
    assert!(agents.values().all(|n| *n == 1), "{agents:?}");
    // The collector is placed on a manager: node 0.
    let manager = c.node(0).swarm_node_id().unwrap();
    let collector = per_node(&c.node(0).running_tasks("mon_collector").unwrap());
    assert_eq!(collector.keys().collect::<Vec<_>>(), [&manager]);

    // Published ports answer on every node, with or without a task there.
    mesh_serves(&c, 18090, "hello from a berth stack");
    mesh_serves(&c, 18091, "version 1");

    // The rolling-update demo as its comment runs it: version 2 replaces version 1 on every
    // node's published port, and only the app is updated.
    let args = [
        "stack",
        "deploy",
        "--resolve-image",
        "never",
        "-c",
        "rolling-update.yml",
        "roll",
    ];
    let out = c
        .node(0)
        .berth(&dir, &args, &[("APP_VERSION", "2")])
        .unwrap();
    assert!(out.ok(), "{}", out.text());
    assert_eq!(
        service_steps(&out.stdout),
        steps(&["update roll_app"]),
        "{}",
        out.text()
    );
    update_completed(&c, "roll_app");
    replicas(&c, &dir, "roll", &[("app", "6/6")]);
    // Once the update is complete, no node's port reaches an old task.
    for node in c.nodes() {
        for _ in 0..6 {
            let got = page(node, 18091);
            assert!(got.contains("version 2"), "node {}: {got:?}", node.index());
        }
    }

    // `stack rm` waits: when it returns, the stacks' objects are gone.
    let out = berth(&c, &dir, &["stack", "rm", "demo", "mon", "roll"]);
    for stack in ["demo", "mon", "roll"] {
        for kind in ["services", "networks", "configs", "secrets"] {
            let left = objects(&c, kind, stack);
            assert!(
                left.is_empty(),
                "{kind} of {stack} left: {left:?}\n{}",
                out.text()
            );
        }
        let filters = urlencode(
            &json!({ "label": [format!("com.docker.stack.namespace={stack}")] }).to_string(),
        );
        let tasks = c
            .node(0)
            .list(&format!("/tasks?filters={filters}"))
            .unwrap();
        assert!(tasks.is_empty(), "tasks of {stack} left: {tasks:?}");
    }
    let ls = berth(&c, &dir, &["stack", "ls", "--format", "{{.Name}}"]);
    assert_eq!(ls.stdout.trim(), "", "stack ls after rm");
    // Each node then removes its containers of the stacks' tasks.
    for node in c.nodes() {
        let gone = wait(|| {
            node.list("/containers/json?all=1")
                .is_ok_and(|cs| cs.is_empty())
        });
        assert!(gone, "containers left on node {}", node.index());
    }
}

#[test]
fn a_redeploy_changes_only_the_edited_service_as_planned_and_prune_removes_a_deleted_one() {
    require_root!();
    let c = manager_and_two_workers();
    let _logs = LogsOnFailure::new(&c);
    let dir = examples(&c);
    let file = "web-cache-worker.yml";
    deploy(&c, &dir, file, "app", &[]);
    replicas(
        &c,
        &dir,
        "app",
        &[("web", "3/3"), ("cache", "1/1"), ("worker", "2/2")],
    );
    let before = versions(&c, "app");

    // The same file again: nothing to do, and nothing done.
    let p = plan(&c, &dir, file, "app", &[]);
    assert!(
        p.starts_with("Stack app: 0 to create, 0 to update, 3 unchanged, 0 to remove\n"),
        "{p}"
    );
    let out = deploy(&c, &dir, file, "app", &[]);
    assert_eq!(service_steps(&out.stdout), steps(&[]), "{}", out.text());
    assert_eq!(versions(&c, "app"), before);

    // The worker's command edited in a copy: the plan names that service and field alone.
    edited(&dir, file, "sleep 5", "sleep 7", "edited.yml");
    let p = plan(&c, &dir, "edited.yml", "app", &[]);
    assert!(
        p.starts_with("Stack app: 0 to create, 1 to update, 2 unchanged, 0 to remove\n"),
        "{p}"
    );
    assert_eq!(service_steps(&p), steps(&["update app_worker"]), "{p}");
    let diff: Vec<&str> = p.lines().filter(|l| l.starts_with("    ")).collect();
    assert_eq!(diff.len(), 1, "{p}");
    assert!(
        diff[0]
            .trim_start()
            .starts_with("TaskTemplate.ContainerSpec.Args: ")
            && diff[0].contains("sleep 5")
            && diff[0].contains("sleep 7"),
        "{p}"
    );
    let out = deploy(&c, &dir, "edited.yml", "app", &[]);
    assert_eq!(
        service_steps(&out.stdout),
        service_steps(&p),
        "{}",
        out.text()
    );
    let after = versions(&c, "app");
    assert_eq!(after["app_web"], before["app_web"], "web was touched");
    assert_eq!(after["app_cache"], before["app_cache"], "cache was touched");
    assert!(after["app_worker"] > before["app_worker"], "{after:?}");
    // The worker's tasks are replaced by ones running the new command.
    let replaced = wait(|| {
        let tasks = c.node(0).running_tasks("app_worker").unwrap_or_default();
        tasks.len() == 2
            && tasks.iter().all(|t| {
                t["Spec"]["ContainerSpec"]["Args"]
                    .to_string()
                    .contains("sleep 7")
            })
    });
    assert!(replaced, "{:#?}", c.node(0).running_tasks("app_worker"));
    // The update's completion is written to the service too (its version moves once more).
    update_completed(&c, "app_worker");
    let before = versions(&c, "app");

    // The cache's image edited (busybox under a second tag on every node): the plan names
    // the image and the stack's image label, deploy touches the cache alone.
    for node in c.nodes() {
        let tag = "/images/busybox:latest/tag?repo=busybox&tag=v2";
        node.call("POST", tag, &Value::Null, 201).unwrap();
    }
    edited(
        &dir,
        "edited.yml",
        "  cache:\n    <<: *busybox\n",
        "  cache:\n    <<: *busybox\n    image: busybox:v2\n",
        "image.yml",
    );
    let p = plan(&c, &dir, "image.yml", "app", &[]);
    assert_eq!(service_steps(&p), steps(&["update app_cache"]), "{p}");
    let diff: Vec<&str> = p.lines().filter(|l| l.starts_with("    ")).collect();
    assert_eq!(
        diff,
        [
            "    Labels.com.docker.stack.image: \"busybox:latest\" -> \"busybox:v2\"",
            "    TaskTemplate.ContainerSpec.Image: \"busybox:latest\" -> \"busybox:v2\"",
        ],
        "{p}"
    );
    let out = deploy(&c, &dir, "image.yml", "app", &[]);
    assert_eq!(
        service_steps(&out.stdout),
        service_steps(&p),
        "{}",
        out.text()
    );
    let after = versions(&c, "app");
    assert_eq!(after["app_web"], before["app_web"], "web was touched");
    assert_eq!(
        after["app_worker"], before["app_worker"],
        "worker was touched"
    );
    assert!(after["app_cache"] > before["app_cache"], "{after:?}");
    let replaced = wait(|| {
        let tasks = c.node(0).running_tasks("app_cache").unwrap_or_default();
        tasks.len() == 1
            && tasks
                .iter()
                .all(|t| t["Spec"]["ContainerSpec"]["Image"] == "busybox:v2")
    });
    assert!(replaced, "{:#?}", c.node(0).running_tasks("app_cache"));
    // The update's completion is written to the service too (its version moves once more).
    update_completed(&c, "app_cache");
    let before = versions(&c, "app");

    // The cache deleted from the file: kept without --prune, removed with it.
    let text = std::fs::read_to_string(dir.join("image.yml")).unwrap();
    let (head, rest) = text.split_once("  cache:\n").unwrap();
    let (_, tail) = rest.split_once("  worker:\n").unwrap();
    std::fs::write(dir.join("pruned.yml"), format!("{head}  worker:\n{tail}")).unwrap();
    let p = plan(&c, &dir, "pruned.yml", "app", &[]);
    assert_eq!(service_steps(&p), steps(&[]), "{p}");
    let out = deploy(&c, &dir, "pruned.yml", "app", &[]);
    assert_eq!(service_steps(&out.stdout), steps(&[]), "{}", out.text());
    assert_eq!(
        versions(&c, "app"),
        before,
        "without --prune nothing changes"
    );
    let p = plan(&c, &dir, "pruned.yml", "app", &["--prune"]);
    assert_eq!(service_steps(&p), steps(&["remove app_cache"]), "{p}");
    let out = deploy(&c, &dir, "pruned.yml", "app", &["--prune"]);
    assert_eq!(
        service_steps(&out.stdout),
        service_steps(&p),
        "{}",
        out.text()
    );
    let mut left = before.clone();
    left.remove("app_cache");
    assert_eq!(versions(&c, "app"), left, "only the cache went");
    let gone = wait(|| c.node(0).tasks("app_cache").is_ok_and(|t| t.is_empty()));
    assert!(
        gone,
        "the cache's tasks stay: {:?}",
        c.node(0).tasks("app_cache")
    );

    // Malformed files: refused with file, line and key; the stack is untouched.
    let before = versions(&c, "app");
    edited(
        &dir,
        "pruned.yml",
        "replicas: 3",
        "replicas: many",
        "bad.yml",
    );
    let text = std::fs::read_to_string(dir.join("bad.yml")).unwrap();
    let line = 1 + text
        .lines()
        .position(|l| l.contains("replicas: many"))
        .unwrap();
    edited(
        &dir,
        "pruned.yml",
        "networks: [back]",
        "networks: [back",
        "broken.yml",
    );
    let text = std::fs::read_to_string(dir.join("broken.yml")).unwrap();
    let broken_line = 1 + text.lines().position(|l| l.ends_with("[back")).unwrap();
    for (verb, name) in [
        ("deploy", "bad.yml"),
        ("plan", "bad.yml"),
        ("deploy", "broken.yml"),
    ] {
        let args = ["stack", verb, "--resolve-image", "never", "-c", name, "app"];
        let out = c.node(0).berth(&dir, &args, &[]).unwrap();
        assert!(!out.ok(), "{verb} {name} succeeded: {}", out.text());
        if name == "bad.yml" {
            let want = format!("bad.yml:{line}: services.web.deploy.replicas");
            assert!(out.stderr.contains(&want), "want {want:?}: {}", out.text());
        } else {
            // A syntax error is found on the next line; the message names where it began.
            let want = format!("broken.yml:{}: ", broken_line + 1);
            assert!(out.stderr.contains(&want), "want {want:?}: {}", out.text());
            let began = format!("flow sequence at line {broken_line}");
            assert!(out.stderr.contains(&began), "{}", out.text());
        }
        assert!(
            out.stdout.is_empty(),
            "{verb} {name} did something: {}",
            out.text()
        );
    }
    assert_eq!(
        versions(&c, "app"),
        before,
        "a malformed file changed the stack"
    );
}

#[test]
fn docker_stack_deploy_of_an_example_is_what_berth_would_deploy() {
    require_root!();
    let c = manager_and_two_workers();
    let _logs = LogsOnFailure::new(&c);
    let dir = examples(&c);
    let file = "web-cache-worker.yml";
    let args = [
        "stack",
        "deploy",
        "--resolve-image",
        "never",
        "-c",
        file,
        "dk",
    ];
    let out = c.node(0).docker(&dir, &args, &[]).unwrap();
    assert!(out.ok(), "docker stack deploy: {}", out.text());
    replicas(
        &c,
        &dir,
        "dk",
        &[("web", "3/3"), ("cache", "1/1"), ("worker", "2/2")],
    );
    mesh_serves(&c, 18090, "hello from a berth stack");

    // berth reads the file to the very specs docker's client sent.
    let p = plan(&c, &dir, file, "dk", &[]);
    assert!(
        p.starts_with("Stack dk: 0 to create, 0 to update, 3 unchanged, 0 to remove\n"),
        "{p}"
    );
    let before = versions(&c, "dk");
    let out = deploy(&c, &dir, file, "dk", &[]);
    assert_eq!(service_steps(&out.stdout), steps(&[]), "{}", out.text());
    assert_eq!(versions(&c, "dk"), before);

    // And docker's client sees berth's stack as its own, and removes it.
    let out = c
        .node(0)
        .docker(
            &dir,
            &["stack", "services", "--format", "{{.Name}}", "dk"],
            &[],
        )
        .unwrap();
    let names: BTreeSet<&str> = out.stdout.lines().collect();
    assert_eq!(
        names,
        BTreeSet::from(["dk_cache", "dk_web", "dk_worker"]),
        "{}",
        out.text()
    );
    let out = c.node(0).docker(&dir, &["stack", "rm", "dk"], &[]).unwrap();
    assert!(out.ok(), "docker stack rm: {}", out.text());
    let gone = wait(|| {
        ["services", "networks", "configs"]
            .iter()
            .all(|k| objects(&c, k, "dk").is_empty())
    });
    assert!(gone, "docker stack rm left objects");
}
