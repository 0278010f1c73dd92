//! Swarm mode on one daemon against the real thing: a one-node swarm running, scaling,
//! updating, restarting and removing a service; Docker's errors; a certificate from another
//! cluster refused on the swarm port; a session answer without changes; a killed manager
//! daemon restarting into its swarm. Several daemons: `swarm_cluster.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use std::time::Duration;

use berth_test_support::image::sleep_service_spec as service_spec;
use berth_test_support::swarm::{
    create_service, init, running, service, tasks, update_service, LONG,
};
use berth_test_support::{require_root, wait_until, TestDaemon};
use serde_json::{json, Value};

#[test]
fn one_node_swarm_runs_scales_updates_restarts_and_removes_a_service() {
    require_root!();
    let d = TestDaemon::with_busybox("swarm1");
    let node_id = init(&d);

    let ping = d.req("GET", "/_ping", "");
    assert!(
        ping.headers
            .to_ascii_lowercase()
            .contains("swarm: active/manager"),
        "{}",
        ping.headers
    );
    let info = d.req("GET", "/info", "").json();
    assert_eq!(info["Swarm"]["LocalNodeState"], "active");
    assert_eq!(info["Swarm"]["NodeID"], node_id.as_str());
    assert_eq!(info["Swarm"]["ControlAvailable"], true);
    let swarm = d.req("GET", "/swarm", "").json();
    let worker_token = swarm["JoinTokens"]["Worker"].as_str().unwrap();
    assert!(worker_token.starts_with("SWMTKN-1-"), "{worker_token}");
    assert_ne!(
        swarm["JoinTokens"]["Worker"],
        swarm["JoinTokens"]["Manager"]
    );
    let nodes = d.req("GET", "/nodes", "").json();
    assert_eq!(nodes.as_array().unwrap().len(), 1);
    // The CA's TLSInfo, with the issuer's subject and key as swarmkit gives them (berth gave
    // them empty, and no node carried one).
    let tls = &swarm["TLSInfo"];
    assert!(tls["TrustRoot"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(
        tls["CertIssuerSubject"]
            .as_str()
            .is_some_and(|s| s.len() > 8),
        "{tls}"
    );
    assert!(
        tls["CertIssuerPublicKey"]
            .as_str()
            .is_some_and(|s| s.len() > 40),
        "{tls}"
    );
    assert_eq!(&nodes[0]["Description"]["TLSInfo"], tls);
    let plugins = nodes[0]["Description"]["Engine"]["Plugins"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        plugins.contains(&json!({"Type": "Network", "Name": "overlay"})),
        "{plugins:?}"
    );
    assert!(
        plugins.contains(&json!({"Type": "Volume", "Name": "local"})),
        "{plugins:?}"
    );
    assert_eq!(nodes[0]["Status"]["State"], "ready");
    assert_eq!(nodes[0]["ManagerStatus"]["Leader"], true);

    let id = create_service(&d, &service_spec("web", 3));
    assert!(
        wait_until(LONG, || running(&d, "web").len() == 3),
        "3 replicas never ran"
    );
    let names: Vec<String> = running(&d, "web")
        .iter()
        .map(|c| c["Names"][0].as_str().unwrap().to_string())
        .collect();
    assert!(names.iter().all(|n| n.starts_with("/web.")), "{names:?}");
    let listed = d.req("GET", "/services?status=true", "").json();
    assert_eq!(listed[0]["ServiceStatus"]["DesiredTasks"], 3);
    // `docker service inspect` asks for the swarm's defaults (berth ignored the parameter);
    // what the spec sets stays, and the stored spec stays as sent.
    let filled = d
        .req("GET", &format!("/services/{id}?insertDefaults=true"), "")
        .json()["Spec"]
        .clone();
    assert_eq!(filled["UpdateConfig"]["Monitor"], 5_000_000_000i64);
    assert_eq!(filled["RollbackConfig"]["Order"], "stop-first");
    assert_eq!(
        filled["TaskTemplate"]["RestartPolicy"]["Delay"],
        100_000_000
    );
    assert_eq!(
        filled["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"],
        1_000_000_000
    );
    assert_eq!(filled["TaskTemplate"]["Placement"], json!({}));
    let stored = service(&d, &id)["Spec"].clone();
    assert!(stored.get("UpdateConfig").is_none(), "{stored}");
    // Nothing to allocate (no network, no published port): swarmkit gives the service no
    // endpoint, and moby shows `{"Spec":{}}` whatever the spec's EndpointSpec (the docker CLI
    // always sends one).
    let mut plain = service_spec("plain", 0);
    plain["EndpointSpec"] = json!({"Mode": "vip"});
    let plain_id = create_service(&d, &plain);
    let shown = service(&d, &plain_id);
    assert_eq!(shown["Endpoint"], json!({"Spec": {}}), "{shown}");
    assert_eq!(shown["Spec"]["EndpointSpec"], json!({"Mode": "vip"}));
    let r = d.req("DELETE", &format!("/services/{plain_id}"), "");
    assert_eq!(r.status, 200, "{}", r.text());
    // Every container service's and task's spec shows moby's runtime and isolation.
    assert_eq!(stored["TaskTemplate"]["Runtime"], "container");
    assert_eq!(
        stored["TaskTemplate"]["ContainerSpec"]["Isolation"],
        "default"
    );
    let task = &tasks(&d, "web")[0];
    assert_eq!(
        task["Spec"]["ContainerSpec"]["Isolation"], "default",
        "{task}"
    );

    update_service(&d, &id, |s| s["Mode"]["Replicated"]["Replicas"] = json!(5));
    assert!(
        wait_until(LONG, || running(&d, "web").len() == 5),
        "never scaled to 5"
    );
    // The manager's swarm events (berth logged none): the service made, then scaled.
    let service_events = || {
        let until = chrono::Utc::now().timestamp() + 1;
        let r = d.req(
            "GET",
            &format!(
                "/events?since=0&until={until}&filters=%7B%22type%22%3A%5B%22service%22%5D%7D"
            ),
            "",
        );
        r.text()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let scaled = |evs: &[Value]| {
        evs.iter()
            .any(|e| e["Action"] == "update" && e["Actor"]["Attributes"]["replicas.new"] == "5")
    };
    assert!(
        wait_until(LONG, || scaled(&service_events())),
        "{:?}",
        service_events()
    );
    let evs = service_events();
    assert_eq!(evs[0]["Action"], "create", "{evs:?}");
    assert_eq!(evs[0]["Actor"]["ID"], id.as_str());
    assert_eq!(evs[0]["Actor"]["Attributes"]["name"], "web");
    assert!(evs.iter().all(|e| e["scope"] == "swarm"), "{evs:?}");
    let scale = evs
        .iter()
        .find(|e| scaled(std::slice::from_ref(e)))
        .unwrap();
    assert_eq!(scale["Actor"]["Attributes"]["replicas.old"], "3");
    update_service(&d, &id, |s| s["Mode"]["Replicated"]["Replicas"] = json!(2));
    assert!(
        wait_until(LONG, || running(&d, "web").len() == 2),
        "never scaled to 2"
    );

    update_service(&d, &id, |s| {
        s["TaskTemplate"]["ContainerSpec"]["Env"] = json!(["BERTH_UPDATE=2"])
    });
    let updated = |d: &TestDaemon| {
        let cs = running(d, "web");
        cs.len() == 2
            && cs.iter().all(|c| {
                // null (Docker's) while a container has no variables.
                let env = d.inspect(c["Id"].as_str().unwrap())["Config"]["Env"].clone();
                env.as_array()
                    .is_some_and(|env| env.iter().any(|e| e == "BERTH_UPDATE=2"))
            })
    };
    assert!(
        wait_until(LONG, || updated(&d)),
        "rolling update never finished"
    );
    assert!(
        wait_until(LONG, || service(&d, &id)["UpdateStatus"]["State"]
            == "completed"),
        "update status never completed: {}",
        service(&d, &id)["UpdateStatus"]
    );

    // A killed task container is replaced by a new task in the same slot.
    let victim = running(&d, "web")[0]["Id"].as_str().unwrap().to_string();
    let r = d.req("POST", &format!("/containers/{victim}/kill"), "");
    assert_eq!(r.status, 204);
    assert!(
        wait_until(LONG, || {
            let cs = running(&d, "web");
            cs.len() == 2 && cs.iter().all(|c| c["Id"] != victim.as_str())
        }),
        "the killed task was not replaced"
    );
    assert!(tasks(&d, "web")
        .iter()
        .any(|t| t["Status"]["State"] == "failed" && t["DesiredState"] == "shutdown"));

    // A task container removed by hand: its task fails and a new task takes the slot.
    let victim = running(&d, "web")[0]["Id"].as_str().unwrap().to_string();
    let r = d.req("DELETE", &format!("/containers/{victim}?force=1"), "");
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(
        wait_until(LONG, || {
            let cs = running(&d, "web");
            cs.len() == 2 && cs.iter().all(|c| c["Id"] != victim.as_str())
        }),
        "the removed container's task was not replaced"
    );

    // Host-mode published ports are published on the task's container, one without a number
    // on a port the node picks; the task's status shows both (`docker service ps`' PORTS).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut published = service_spec("published", 1);
    published["EndpointSpec"] = json!({ "Ports": [
        { "Protocol": "tcp", "TargetPort": 80, "PublishedPort": port, "PublishMode": "host" },
        { "TargetPort": 81, "PublishMode": "host" },
    ] });
    create_service(&d, &published);
    assert!(wait_until(LONG, || running(&d, "published").len() == 1));
    let c = d.inspect(running(&d, "published")[0]["Id"].as_str().unwrap());
    let bound = &c["NetworkSettings"]["Ports"];
    assert_eq!(bound["80/tcp"][0]["HostPort"], port.to_string(), "{bound}");
    let picked: u16 = bound["81/tcp"][0]["HostPort"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    assert_ne!(picked, 0, "{bound}");
    let mut status = Value::Null;
    let shown = wait_until(LONG, || {
        status = tasks(&d, "published")
            .into_iter()
            .find(|t| t["Status"]["State"] == "running")
            .map(|t| t["Status"]["PortStatus"].clone())
            .unwrap_or_default();
        !status.is_null()
    });
    assert!(shown, "no running task");
    assert_eq!(
        status,
        json!({ "Ports": [
            { "Protocol": "tcp", "TargetPort": 80, "PublishedPort": port, "PublishMode": "host" },
            { "Protocol": "tcp", "TargetPort": 81, "PublishedPort": picked, "PublishMode": "host" },
        ] })
    );

    let r = d.req("DELETE", &format!("/services/{id}"), "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        wait_until(LONG, || running(&d, "web").is_empty()),
        "containers outlived the service"
    );
    let r = d.req("POST", "/swarm/leave?force=1", "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(d.req("GET", "/swarm", "").status, 503);
}

#[test]
fn swarm_requests_fail_with_dockers_codes_and_messages() {
    require_root!();
    let d = TestDaemon::start("swarm2");
    let r = d.req("GET", "/services", "");
    assert_eq!(r.status, 503);
    assert!(r.text().contains("docker swarm init"), "{}", r.text());
    assert_eq!(d.req("POST", "/swarm/leave", "").status, 503);
    let r = d.req(
        "POST",
        "/swarm/join",
        &json!({ "RemoteAddrs": ["127.0.0.1:1"], "JoinToken": "SWMTKN-1-nope" }).to_string(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("invalid join token"), "{}", r.text());

    init(&d);
    let r = d.req(
        "POST",
        "/swarm/init",
        &json!({ "ListenAddr": "127.0.0.1:0", "AdvertiseAddr": "127.0.0.1" }).to_string(),
    );
    assert_eq!(r.status, 503);
    assert!(r.text().contains("already part of a swarm"), "{}", r.text());
    assert_eq!(d.req("POST", "/services/create", "{not json").status, 400);
    let r = d.req(
        "POST",
        "/services/create",
        &json!({ "Name": "x" }).to_string(),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("image reference must be provided"),
        "{}",
        r.text()
    );
    let mut bad = service_spec("bad", 1);
    bad["TaskTemplate"]["Placement"] = json!({ "Constraints": ["node.labels.zone=a"] });
    assert_eq!(
        d.req("POST", "/services/create", &bad.to_string()).status,
        400
    );

    let id = create_service(&d, &service_spec("dup", 0));
    let r = d.req(
        "POST",
        "/services/create",
        &service_spec("dup", 0).to_string(),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    let v = service(&d, &id)["Version"]["Index"].as_u64().unwrap();
    let r = d.req(
        "POST",
        &format!("/services/{id}/update?version={}", v + 1000),
        &service_spec("dup", 1).to_string(),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("update out of sequence"), "{}", r.text());
    assert_eq!(d.req("GET", "/services/nosuchservice", "").status, 404);
    assert_eq!(d.req("DELETE", "/services/nosuchservice", "").status, 404);
    assert_eq!(d.req("GET", "/nodes/nosuchnode", "").status, 404);
    let r = d.req("POST", "/swarm/leave", "");
    assert_eq!(
        r.status, 503,
        "Docker refuses a manager's leave as not available"
    );
    assert!(
        r.text().contains("Removing the last manager"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("--force"), "{}", r.text());
    assert_eq!(
        d.req("GET", "/swarm", "").status,
        200,
        "a refused leave left"
    );
}

#[test]
fn the_swarm_port_refuses_nodes_without_a_certificate_of_the_cluster() {
    use berth_swarm::ca::{client_tls, pinned_channel, CertRole, NodeKey, RootCa};
    use berth_swarm::rpc::{call, Method, SessionReply, SessionRequest};
    require_root!();
    let a = TestDaemon::start("swarm7");
    let node_id = init(&a);
    let addr = a.req("GET", "/info", "").json()["Swarm"]["RemoteManagers"][0]["Addr"]
        .as_str()
        .unwrap()
        .to_string();
    let token = a.req("GET", "/swarm", "").json()["JoinTokens"]["Worker"]
        .as_str()
        .unwrap()
        .to_string();
    let digest = token.split('-').nth(2).unwrap().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let session = SessionRequest {
        node_id: node_id.clone(),
        known: 0,
        description: Default::default(),
        addr: "127.0.0.1".into(),
        advertise: String::new(),
        takes_unchanged: false,
    };
    rt.block_on(async {
        // A certificate for the same node id from another CA: the TLS handshake fails.
        let other = RootCa::generate().unwrap();
        let key = NodeKey::generate().unwrap();
        let cert = other
            .issue(
                &node_id,
                CertRole::Manager,
                &key.public_key_der(),
                "othercluster",
                Duration::from_secs(3600),
            )
            .unwrap();
        let tls = client_tls(&cert, &key.key_pem(), other.cert_pem());
        let channel = tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect_lazy();
        let r: Result<SessionReply, _> =
            call(channel, Method::Session, &session, Duration::from_secs(5)).await;
        assert!(r.is_err(), "a foreign certificate was accepted");
        // Through the pinned join channel (no client certificate): only Join is open.
        let (channel, _) = pinned_channel(&addr, &digest).await.unwrap();
        let r: Result<SessionReply, _> =
            call(channel, Method::Session, &session, Duration::from_secs(5)).await;
        let status = r.expect_err("a session without a certificate was accepted");
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    });
}

/// A heartbeat's answer to a node holding the current list carries no list (it kept the
/// leader encoding every node's whole list twice a heartbeat); a node that does not say it
/// keeps its list (an earlier release) still gets the whole list each time.
#[test]
fn a_session_answer_without_changes_carries_no_list_to_a_node_that_keeps_its_own() {
    use berth_swarm::ca::client_tls;
    use berth_swarm::rpc::{call, Method, SessionReply, SessionRequest};
    require_root!();
    let d = TestDaemon::with_busybox("swarm9");
    let node_id = init(&d);
    create_service(&d, &service_spec("listed", 2));
    assert!(
        wait_until(LONG, || running(&d, "listed").len() == 2),
        "2 replicas never ran"
    );
    let addr = d.req("GET", "/info", "").json()["Swarm"]["RemoteManagers"][0]["Addr"]
        .as_str()
        .unwrap()
        .to_string();
    let certs = d.data_root().join("swarm/certificates");
    let read = |f: &str| std::fs::read_to_string(certs.join(f)).unwrap();
    let tls = client_tls(&read("node.crt"), &read("node.key"), &read("ca.crt"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let session = |known: u64, takes_unchanged: bool| -> SessionReply {
        let req = SessionRequest {
            node_id: node_id.clone(),
            known,
            description: Default::default(),
            addr: "127.0.0.1".into(),
            advertise: String::new(),
            takes_unchanged,
        };
        rt.block_on(async {
            let channel = tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
                .unwrap()
                .tls_config(tls.clone())
                .unwrap()
                .connect_lazy();
            call(channel, Method::Session, &req, Duration::from_secs(10))
                .await
                .expect("session")
        })
    };
    let first = session(0, true);
    assert!(!first.unchanged);
    assert_eq!(first.tasks.len(), 2, "{:?}", first.tasks);
    // The tasks run and their reports are in: the list's version stays until a change.
    let quiet = session(first.version, true);
    assert_eq!(quiet.version, first.version);
    assert!(
        quiet.unchanged,
        "a heartbeat's answer carried the list again"
    );
    assert!(quiet.tasks.is_empty() && quiet.peers.is_empty() && quiet.secrets.is_empty());
    assert!(quiet.node.is_some() && !quiet.managers.is_empty());
    let old = session(first.version, false);
    assert!(!old.unchanged);
    assert_eq!(
        old.tasks.len(),
        2,
        "a node of an earlier release lost its list"
    );
}

#[test]
fn a_killed_manager_daemon_restarts_into_its_swarm_and_keeps_its_tasks() {
    require_root!();
    let mut d = TestDaemon::with_busybox("swarm8");
    let node_id = init(&d);
    create_service(&d, &service_spec("kept", 3));
    assert!(
        wait_until(LONG, || running(&d, "kept").len() == 3),
        "3 replicas never ran"
    );
    let mut before: Vec<String> = running(&d, "kept")
        .iter()
        .map(|c| c["Id"].as_str().unwrap().to_string())
        .collect();
    before.sort();
    d.kill9();
    d.spawn();
    assert!(
        wait_until(LONG, || d.req("GET", "/services/kept", "").status == 200),
        "the restarted daemon did not rejoin its swarm: {}",
        d.req("GET", "/services/kept", "").text()
    );
    assert_eq!(
        d.req("GET", "/info", "").json()["Swarm"]["NodeID"],
        node_id.as_str()
    );
    // Several heartbeats later the node is still ready and runs exactly the same containers.
    std::thread::sleep(Duration::from_secs(4));
    let node = d.req("GET", &format!("/nodes/{node_id}"), "").json();
    assert_eq!(node["Status"]["State"], "ready");
    let mut after: Vec<String> = running(&d, "kept")
        .iter()
        .map(|c| c["Id"].as_str().unwrap().to_string())
        .collect();
    after.sort();
    assert_eq!(
        before, after,
        "tasks were restarted across a daemon restart"
    );
    let live = tasks(&d, "kept")
        .into_iter()
        .filter(|t| t["DesiredState"] == "running" && t["Status"]["State"] == "running")
        .count();
    assert_eq!(live, 3);
}

#[test]
fn jobs_run_to_completion_again_on_update_and_their_mode_cannot_change() {
    require_root!();
    let d = TestDaemon::with_busybox("swarmjob");
    init(&d);
    let mut spec = service_spec("job", 1);
    spec["TaskTemplate"]["ContainerSpec"]["Args"] = json!(["true"]);
    spec["Mode"] = json!({ "ReplicatedJob": { "MaxConcurrent": 2, "TotalCompletions": 3 } });
    let id = create_service(&d, &spec);
    let done = |run: Option<u64>| {
        let all = tasks(&d, "job");
        let of_run: Vec<&Value> = all
            .iter()
            .filter(|t| t["JobIteration"]["Index"].as_u64() == run)
            .collect();
        of_run.len() == 3
            && of_run
                .iter()
                .all(|t| t["Status"]["State"] == "complete" && t["DesiredState"] == "complete")
    };
    assert!(wait_until(LONG, || done(None)), "{:#?}", tasks(&d, "job"));
    // Docker's first run: `JobIteration` `{}`, slots from 0 (the first one's task shown by
    // node), and the counts docker 20.10 gives a finished job.
    let svc = service(&d, &id);
    assert_eq!(svc["JobStatus"]["JobIteration"], json!({}), "{svc}");
    let mut slots: Vec<u64> = tasks(&d, "job")
        .iter()
        .map(|t| t["Slot"].as_u64().unwrap_or(0))
        .collect();
    slots.sort_unstable();
    assert_eq!(slots, [0, 1, 2]);
    let listed = d.req("GET", "/services?status=true", "").json();
    assert_eq!(
        listed[0]["ServiceStatus"],
        json!({ "RunningTasks": 0, "DesiredTasks": 2, "CompletedTasks": 3 })
    );
    assert!(
        running(&d, "job").is_empty(),
        "a completed job is not run again"
    );

    // An update runs it again, as a new run; the first run's tasks stay as they ended.
    update_service(&d, &id, |s| s["TaskTemplate"]["ForceUpdate"] = json!(1));
    assert!(
        wait_until(LONG, || done(Some(1))),
        "{:#?}",
        tasks(&d, "job")
    );
    assert_eq!(tasks(&d, "job").len(), 6);
    assert_eq!(
        service(&d, &id)["JobStatus"]["JobIteration"],
        json!({ "Index": 1 })
    );

    // A service stays in its mode, as Docker's.
    let svc = service(&d, &id);
    let version = svc["Version"]["Index"].as_u64().unwrap();
    let mut replicated = svc["Spec"].clone();
    replicated["Mode"] = json!({ "Replicated": { "Replicas": 1 } });
    let r = d.req(
        "POST",
        &format!("/services/{id}/update?version={version}"),
        &replicated.to_string(),
    );
    // docker 20.10: 501 for both, swarmkit's Unimplemented.
    assert_eq!(r.status, 501, "{}", r.text());
    assert!(
        r.text().contains("service mode change is not allowed"),
        "{}",
        r.text()
    );
    let mut renamed = svc["Spec"].clone();
    renamed["Name"] = json!("other");
    let r = d.req(
        "POST",
        &format!("/services/{id}/update?version={version}"),
        &renamed.to_string(),
    );
    assert_eq!(r.status, 501, "{}", r.text());
    assert!(
        r.text().contains("renaming services is not supported"),
        "{}",
        r.text()
    );

    // A global job completes once on the node.
    let mut global = service_spec("gjob", 0);
    global["TaskTemplate"]["ContainerSpec"]["Args"] = json!(["true"]);
    global["Mode"] = json!({ "GlobalJob": {} });
    create_service(&d, &global);
    let completed = || {
        let t = tasks(&d, "gjob");
        t.len() == 1 && t[0]["Status"]["State"] == "complete"
    };
    assert!(wait_until(LONG, completed), "{:#?}", tasks(&d, "gjob"));
    d.remove_all();
    let r = d.req("POST", "/swarm/leave?force=1", "");
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn the_docker_cli_and_berths_wait_for_a_job_until_it_completes() {
    require_root!();
    let d = TestDaemon::with_busybox("swarmjobcli");
    init(&d);
    let create = |name: &str| {
        vec![
            "service".to_string(),
            "create".into(),
            "--name".into(),
            name.to_string(),
            "--mode".into(),
            "replicated-job".into(),
            "--replicas".into(),
            "3".into(),
            "--max-concurrent".into(),
            "2".into(),
            "busybox".into(),
            "true".into(),
        ]
    };
    // docker's progress reads a job's slots from 0: with others it waits for ever.
    let args = create("dockerjob");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out) = d.cli(&args);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("job complete"), "{out}");
    let list = ["service", "ls", "--format", "{{.Name}} {{.Replicas}}"];
    for (client, (_, rows)) in [("docker", d.cli(&list)), ("berth", d.berth(&list))] {
        assert!(
            rows.contains("dockerjob 0/2 (3/3 completed)"),
            "{client}: {rows}"
        );
    }
    let args = create("berthjob");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out) = d.berth(&args);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("job complete"), "{out}");
    d.remove_all();
    let r = d.req("POST", "/swarm/leave?force=1", "");
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn service_logs_carry_the_task_details_and_the_drivers_attributes_on_every_line() {
    require_root!();
    let d = TestDaemon::with_busybox("swarmlogs");
    let node_id = init(&d);
    let mut spec = service_spec("chatty", 1);
    spec["TaskTemplate"]["ContainerSpec"]["Args"] =
        json!(["sh", "-c", "echo one; echo two; echo three; sleep 600"]);
    spec["TaskTemplate"]["ContainerSpec"]["Env"] = json!(["REGION=north"]);
    spec["TaskTemplate"]["LogDriver"] =
        json!({ "Name": "json-file", "Options": { "env": "REGION" } });
    let id = create_service(&d, &spec);
    let lines = || {
        let r = d.req(
            "GET",
            &format!("/services/{id}/logs?stdout=1&details=1"),
            "",
        );
        String::from_utf8_lossy(&berth_test_support::demux(&r.body)).into_owned()
    };
    assert!(
        wait_until(LONG, || lines().lines().count() == 3),
        "{}",
        lines()
    );
    let task = tasks(&d, "chatty")[0]["ID"].as_str().unwrap().to_string();
    // Neither stream asked for is Docker's refusal, as for a container (berth gave both).
    for path in [
        format!("/services/{id}/logs"),
        format!("/tasks/{task}/logs?details=1"),
    ] {
        let r = d.req("GET", &path, "");
        assert_eq!(
            (r.status, r.json()["message"].clone()),
            (
                400,
                json!("Bad parameters: you must choose at least one stream")
            ),
            "{path}"
        );
    }
    // Docker's `attrsByteSlice`: the driver's and the swarm's attributes, sorted by key.
    let details = format!(
        "REGION=north,com.docker.swarm.node.id={node_id},com.docker.swarm.service.id={id},\
         com.docker.swarm.task.id={task}"
    );
    let want: Vec<String> = ["one", "two", "three"]
        .iter()
        .map(|l| format!("{details} {l}"))
        .collect();
    assert_eq!(lines().lines().collect::<Vec<_>>(), want);
    // The docker CLI's `service logs` parses those details on every line.
    let (code, out) = d.cli(&["service", "logs", "--raw", "chatty"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["one", "two", "three"],
        "{out}"
    );
    d.remove_all();
    let r = d.req("POST", "/swarm/leave?force=1", "");
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn the_swarms_default_log_driver_applies_to_tasks_whose_template_names_none() {
    require_root!();
    let d = TestDaemon::with_busybox("swarmlogdef");
    init(&d);
    let swarm = d.req("GET", "/swarm", "").json();
    let version = swarm["Version"]["Index"].as_u64().unwrap();
    let mut spec = swarm["Spec"].clone();
    spec["TaskDefaults"] = json!({ "LogDriver": { "Name": "json-file",
        "Options": { "max-size": "1m", "max-file": "2" } } });
    let r = d.req(
        "POST",
        &format!("/swarm/update?version={version}"),
        &spec.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    create_service(&d, &service_spec("defaulted", 1));
    let mut own = service_spec("own", 1);
    own["TaskTemplate"]["LogDriver"] = json!({ "Name": "local" });
    create_service(&d, &own);
    assert!(
        wait_until(LONG, || running(&d, "defaulted").len() == 1
            && running(&d, "own").len() == 1),
        "both run"
    );
    let log_config = |service: &str| {
        let id = running(&d, service)[0]["Id"].as_str().unwrap().to_string();
        d.inspect(&id)["HostConfig"]["LogConfig"].clone()
    };
    let defaulted = log_config("defaulted");
    assert_eq!(defaulted["Type"], "json-file");
    assert_eq!(defaulted["Config"]["max-size"], "1m");
    assert_eq!(defaulted["Config"]["max-file"], "2");
    assert_eq!(log_config("own")["Type"], "local");
    // The service's own spec is unchanged, and a task is not outdated by the default.
    assert!(tasks(&d, "defaulted")[0]["Spec"].get("LogDriver").is_none());
    d.remove_all();
    let r = d.req("POST", "/swarm/leave?force=1", "");
    assert_eq!(r.status, 200, "{}", r.text());
}

/// What docker-py sends and reads: keys in any case (Go's decoder folds them, `Healthcheck`
/// too), networks by name (stored and shown by id, as moby does), `ForceUpdate` always shown
/// and the health check as moby's `Healthcheck`; the spec sent back as read is the same spec
/// and restarts nothing, and berth's CLI keeps the check when it sends one back.
#[test]
fn a_service_spec_reads_and_shows_as_dockers_go_structs_do() {
    require_root!();
    let d = TestDaemon::with_busybox("svcspell");
    init(&d);
    let net = format!("{}-net", d.prefix);
    let r = d.req(
        "POST",
        "/networks/create",
        &json!({"name": net, "driver": "overlay"}).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let net_id = r.json()["Id"].as_str().unwrap().to_string();
    let id = create_service(
        &d,
        &json!({"name": "spell", "mode": {"replicated": {"replicas": 1}},
            "TaskTemplate": {"containerspec": {"image": "busybox:latest", "args": ["sleep", "600"],
                "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1_000_000_000u64}},
                "networks": [{"target": net, "aliases": ["sp"]}]},
            "UpdateConfig": {"order": "start-first"}, "labels": {"order": "kept"},
            "EndpointSpec": {"Ports": [{"TargetPort": 80, "PublishedPort": 18462}]}}),
    );
    let svc = service(&d, &id);
    // swarmkit's first enum values where the client sent none, in the spec and the endpoint.
    let shown = json!({"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 80,
        "PublishedPort": 18462, "PublishMode": "ingress"}]});
    assert_eq!(svc["Spec"]["EndpointSpec"], shown);
    assert_eq!(svc["Endpoint"]["Spec"], shown);
    let spec = svc["Spec"].clone();
    assert_eq!(spec["Name"], "spell");
    assert_eq!(spec["Mode"], json!({"Replicated": {"Replicas": 1}}));
    assert_eq!(spec["UpdateConfig"], json!({"Order": "start-first"}));
    assert_eq!(spec["Labels"], json!({"order": "kept"}));
    let template = &spec["TaskTemplate"];
    assert_eq!(
        template["Networks"],
        json!([{"Target": net_id, "Aliases": ["sp"]}])
    );
    assert_eq!(template["ForceUpdate"], 0);
    let container = &template["ContainerSpec"];
    // Shown under moby's Go field name, as docker-py reads it.
    assert_eq!(container["Healthcheck"]["Test"], json!(["CMD", "true"]));
    assert!(container.get("HealthCheck").is_none(), "{container}");
    assert_eq!(container["Args"], json!(["sleep", "600"]));
    assert!(
        wait_until(LONG, || running(&d, "spell").len() == 1),
        "the task never ran"
    );
    let task = tasks(&d, "spell")[0].clone();
    assert_eq!(task["Spec"]["ForceUpdate"], 0);
    assert_eq!(
        task["Spec"]["ContainerSpec"]["Healthcheck"]["Test"],
        json!(["CMD", "true"])
    );
    update_service(&d, &id, |_| {});
    std::thread::sleep(Duration::from_secs(2));
    let now = tasks(&d, "spell");
    assert_eq!(
        now.len(),
        1,
        "the spec sent back restarted the task: {now:?}"
    );
    assert_eq!(now[0]["ID"], task["ID"]);
    // Stored by id, a network is still removed by its name.
    d.cli_ok(&[
        "service",
        "update",
        "--detach",
        "--network-rm",
        &net,
        "spell",
    ]);
    let spec = service(&d, &id)["Spec"].clone();
    assert!(
        spec["TaskTemplate"]["Networks"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{spec}"
    );
    assert_eq!(
        spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"]["Test"],
        json!(["CMD", "true"]),
        "{spec}"
    );
    // berth's CLI reads the spec it sends back as Go does: the health check stays.
    assert!(
        wait_until(LONG, || service(&d, &id)["UpdateStatus"]["State"]
            != "updating"),
        "the update never ended"
    );
    let (code, out) = d.berth(&["service", "scale", "--detach", "spell=2"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = d.berth(&["service", "update", "--detach", "--env-add", "X=1", "spell"]);
    assert_eq!(code, 0, "{out}");
    let spec = service(&d, &id)["Spec"].clone();
    assert_eq!(spec["Mode"], json!({"Replicated": {"Replicas": 2}}));
    assert_eq!(spec["TaskTemplate"]["ContainerSpec"]["Env"], json!(["X=1"]));
    assert_eq!(
        spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"]["Test"],
        json!(["CMD", "true"]),
        "{spec}"
    );
}
