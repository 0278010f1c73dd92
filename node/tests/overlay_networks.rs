//! Overlay networks as cluster objects, through the docker CLI against a real one-node swarm:
//! `network create -d overlay` on a manager is stored in Raft and allocated a VXLAN id and a
//! subnet by the leader; ls and inspect show it as Docker does (driver overlay, scope swarm);
//! a duplicate name, an overlapping subnet and options berth cannot honour are refused and
//! leave nothing behind; outside a swarm Docker's error; tasks of a service on the network get
//! the allocated addresses and reach each other, find the service's VIP and tasks by name, and
//! connections to the VIP spread over the tasks; removal frees the VNI and subnet; the swarm's
//! unused networks go with a prune. The ingress network: `ingress_network.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::swarm::settled;
use berth_test_support::{require_root, TestDaemon};

#[test]
fn overlay_networks_live_in_the_swarm_and_get_a_vni_and_a_subnet() {
    require_root!();
    let d = TestDaemon::start("ovnet");
    let net = format!("{}-ov", d.prefix);

    let (code, out) = d.cli(&["network", "create", "-d", "overlay", &net]);
    assert_ne!(code, 0);
    assert!(out.contains("not a swarm manager"), "{out}");

    // Not Docker's 4789: another daemon on this host (the conformance test) may have a VXLAN
    // device with the same id on that port.
    d.swarm_init_local(&["--data-path-port", "4790"]);
    let id = d.cli_ok(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--attachable",
        "--label",
        "k=v",
        &net,
    ]);
    assert_eq!(
        d.network_inspect(&net, "{{.Driver}} {{.Scope}} {{.Attachable}} {{.Id}}"),
        format!("overlay swarm true {id}")
    );
    let allocated = || {
        let s = d.network_inspect(
            &net,
            "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
        );
        (!s.is_empty()).then_some(s)
    };
    let ipam = settled(allocated).expect("allocated");
    // The swarm's ingress network, made at init, has the first subnet and VNI.
    assert_eq!(ipam, "10.0.1.0/24 10.0.1.1");
    assert_eq!(
        d.network_inspect(
            &net,
            "{{index .Options \"com.docker.network.driver.overlay.vxlanid_list\"}} {{.Labels.k}}"
        ),
        "4097 v"
    );
    let listed = d.cli_ok(&[
        "network",
        "ls",
        "--filter",
        "driver=overlay",
        "--format",
        "{{.Name}} {{.Scope}}",
    ]);
    assert_eq!(listed, format!("{net} swarm\ningress swarm"));
    let local = d.cli_ok(&[
        "network",
        "ls",
        "--filter",
        "scope=local",
        "--format",
        "{{.Name}}",
    ]);
    assert!(!local.contains(&net), "{local}");

    let (code, out) = d.cli(&["network", "create", "-d", "overlay", &net]);
    assert_ne!(code, 0);
    assert!(out.contains("already exists"), "{out}");
    let second = format!("{}-ov2", d.prefix);
    let (code, out) = d.cli(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--subnet",
        "10.0.0.128/25",
        &second,
    ]);
    assert_ne!(code, 0);
    assert!(out.contains("overlaps"), "{out}");
    let (code, out) = d.cli(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--opt",
        "encrypted",
        &second,
    ]);
    assert_ne!(code, 0);
    assert!(out.contains("encrypted"), "{out}");
    let (code, out) = d.cli(&["network", "inspect", &second]);
    assert_ne!(code, 0, "nothing was stored: {out}");

    d.cli_ok(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--subnet",
        "10.9.8.0/24",
        "--gateway",
        "10.9.8.254",
        &second,
    ]);
    let ipam2 = settled(|| {
        let s = d.network_inspect(&second, "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{index .Options \"com.docker.network.driver.overlay.vxlanid_list\"}}");
        (s.split_whitespace().count() == 3).then_some(s)
    });
    assert_eq!(ipam2.as_deref(), Some("10.9.8.0/24 10.9.8.254 4098"));

    // Tasks join the network at addresses the leader allocated, and reach each other on it.
    d.import_busybox();
    let svc = format!("{}-web", d.prefix);
    d.cli_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        &svc,
        "--network",
        &net,
        "--replicas",
        "2",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www",
    ]);
    let label = format!("label=com.docker.swarm.service.name={svc}");
    let running = settled(|| {
        let ids = d.cli_ok(&["ps", "-q", "--filter", &label]);
        let ids: Vec<String> = ids.lines().map(str::to_string).collect();
        (ids.len() == 2).then_some(ids)
    })
    .unwrap_or_else(|| {
        panic!(
            "two tasks running: {}",
            d.cli(&["service", "ps", "--no-trunc", &svc]).1
        )
    });
    let mut addrs = Vec::new();
    for c in &running {
        // The overlay, and the gateway bridge for the way out.
        let on = d.cli_ok(&[
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}",
            c,
        ]);
        let mut nets: Vec<&str> = on.split_whitespace().collect();
        nets.sort_unstable();
        assert_eq!(nets.len(), 2, "{on}");
        let (name, ip) = nets
            .iter()
            .find_map(|n| n.split_once('=').filter(|(k, _)| *k == net))
            .expect("on the overlay");
        assert!(
            nets.iter().any(|n| n.starts_with("docker_gwbridge=")),
            "{on}"
        );
        assert_eq!(name, net);
        assert!(ip.starts_with("10.0.1."), "{on}");
        addrs.push(ip.to_string());
    }
    assert_ne!(addrs[0], addrs[1]);
    d.cli_ok(&["exec", &running[0], "ping", "-c", "1", "-W", "5", &addrs[1]]);
    let shown = d.cli_ok(&[
        "network",
        "inspect",
        "-f",
        "{{len .Containers}} {{.Scope}}",
        &net,
    ]);
    assert_eq!(shown, "2 swarm");
    // The service has a VIP on the network; the embedded DNS there answers its name with it
    // and tasks.<service> with both tasks' addresses.
    let vip = d.cli_ok(&[
        "service",
        "inspect",
        "-f",
        "{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}",
        &svc,
    ]);
    let vip = vip.split('/').next().unwrap().to_string();
    assert!(
        vip.starts_with("10.0.1.") && !addrs.contains(&vip),
        "{vip} {addrs:?}"
    );
    let lookup = |name: &str| {
        let (_, out) = d.cli(&["exec", &running[0], "nslookup", name]);
        // Busybox prints a Name: line before each answer; the server's address comes first.
        let mut found: Vec<String> = out
            .split("Name:")
            .skip(1)
            .flat_map(str::lines)
            .filter_map(|l| l.trim().strip_prefix("Address:"))
            .map(|a| a.trim().split(' ').next().unwrap_or("").to_string())
            .collect();
        found.sort();
        found
    };
    let service_name = settled(|| {
        let got = lookup(&svc);
        (got == vec![vip.clone()]).then_some(got)
    });
    assert!(service_name.is_some(), "{svc} → {vip}: {:?}", lookup(&svc));
    let mut want = addrs.clone();
    want.sort();
    let tasks_name = format!("tasks.{svc}");
    let tasks_answer = settled(|| {
        let got = lookup(&tasks_name);
        (got == want).then_some(got)
    });
    assert!(
        tasks_answer.is_some(),
        "{tasks_name}: {:?}",
        lookup(&tasks_name)
    );
    // Connections to the VIP spread over both tasks (nftables in the client's namespace). By
    // address: the test image's busybox is linked against glibc and cannot resolve names
    // itself (nslookup can).
    let mut seen = std::collections::BTreeSet::new();
    let get = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {vip} 8080 | tail -n 1");
    let spread = settled(|| {
        let (code, out) = d.cli(&["exec", &running[0], "sh", "-c", &get]);
        if code == 0 && !out.trim().is_empty() {
            seen.insert(out.trim().to_string());
        }
        (seen.len() == 2).then_some(())
    });
    assert!(
        spread.is_some(),
        "VIP answers from both tasks: {seen:?}\n{}",
        d.log()
    );
    // A standalone container joins the attachable network with an address from the swarm,
    // finds the service by name and reaches it through the VIP; it cannot join one that is
    // not attachable; its address is given back when it exits.
    let probe = format!("nslookup {svc} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {vip} 8080 | tail -n 1 && ip -4 -o addr show eth0");
    let out = d.cli_ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "sh",
        "-c",
        &probe,
    ]);
    assert!(out.contains(&vip), "{out}");
    // A task answered through the VIP: its hostname is its container's short id.
    assert!(
        running.iter().any(|c| out.contains(&c[..12])),
        "a task answered through the VIP: {out}"
    );
    let standalone_ip = out
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .unwrap_or("")
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    assert!(
        standalone_ip.starts_with("10.0.1.")
            && standalone_ip != vip
            && !addrs.contains(&standalone_ip),
        "an address no task or VIP holds: {out}"
    );
    let (code, out) = d.cli(&["run", "--rm", "--network", &second, "busybox", "true"]);
    assert_ne!(code, 0);
    assert!(out.contains("not manually attachable"), "{out}");
    let released = settled(|| {
        let held = d.cli_ok(&["network", "inspect", "-f", "{{len .Containers}}", &net]);
        (held == "2").then_some(())
    });
    assert!(
        released.is_some(),
        "the standalone container left the network"
    );
    let (code, out) = d.cli(&["network", "rm", &net]);
    assert_ne!(code, 0);
    assert!(out.contains("in use by service"), "{out}");
    d.cli_ok(&["service", "rm", &svc]);
    let gone = settled(|| {
        d.cli_ok(&["ps", "-aq", "--filter", &label])
            .is_empty()
            .then_some(())
    });
    assert!(gone.is_some(), "task containers removed");

    d.cli_ok(&["network", "rm", &net]);
    let (code, _) = d.cli(&["network", "inspect", &net]);
    assert_ne!(code, 0);
    let third = format!("{}-ov3", d.prefix);
    d.cli_ok(&["network", "create", "-d", "overlay", &third]);
    let ipam3 = settled(|| {
        let s = d.network_inspect(&third, "{{range .IPAM.Config}}{{.Subnet}}{{end}} {{index .Options \"com.docker.network.driver.overlay.vxlanid_list\"}}");
        (s.split_whitespace().count() == 2).then_some(s)
    });
    assert_eq!(
        ipam3.as_deref(),
        Some("10.0.1.0/24 4097"),
        "the removed network's VNI and subnet are free again"
    );

    // A sandbox stays while a task uses its network (VXLAN on the swarm's data path port) and
    // leaving the swarm takes it away.
    let netns_dir = d.socket.parent().unwrap().join("netns");
    let sandboxes = || -> Vec<String> {
        std::fs::read_dir(&netns_dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| n.starts_with("ov-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        sandboxes(),
        Vec::<String>::new(),
        "an unused network keeps no sandbox"
    );
    d.cli_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        &format!("{}-last", d.prefix),
        "--network",
        &third,
        "busybox",
        "sleep",
        "600",
    ]);
    let made = settled(|| Some(sandboxes()).filter(|s| !s.is_empty()));
    let made = made.expect("the network's sandbox was made");
    // (The namespace file exists a moment before its devices do.)
    let vxlan = settled(|| {
        let out = std::process::Command::new("nsenter")
            .arg(format!("--net={}", netns_dir.join(&made[0]).display()))
            .args(["ip", "-d", "link", "show", "vxlan0"])
            .output()
            .ok()?;
        Some(String::from_utf8_lossy(&out.stdout).to_string()).filter(|s| s.contains("dstport"))
    })
    .unwrap_or_default();
    assert!(
        vxlan.contains("dstport 4790"),
        "the swarm's data path port: {vxlan}"
    );
    d.cli_ok(&["swarm", "leave", "--force"]);
    assert_eq!(sandboxes(), Vec::<String>::new(), "no sandbox left behind");
}

/// A service's options for one of its networks (`--network name=…,driver-opt=k=v`) are kept in
/// its spec and given to its tasks' endpoints, as moby's executor gives them; the two options
/// newer drivers act on are refused by name; a task shows the networks it is attached to whole.
#[test]
fn a_services_network_driver_options_reach_its_tasks_endpoints() {
    require_root!();
    let d = TestDaemon::with_busybox("ovdrvopt");
    d.swarm_init_local(&["--data-path-port", "4794"]);
    let net = format!("{}-ov", d.prefix);
    d.cli_ok(&["network", "create", "-d", "overlay", &net]);
    let svc = format!("{}-s", d.prefix);
    let (code, out) = d.cli(&[
        "service",
        "create",
        "-d",
        "--name",
        &svc,
        "--network",
        &format!("name={net},driver-opt=com.docker.network.endpoint.ifname=eth7"),
        "busybox",
        "sleep",
        "600",
    ]);
    assert_ne!(code, 0);
    assert!(out.contains("com.docker.network.endpoint.ifname"), "{out}");
    d.cli_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        &svc,
        "--network",
        &format!("name={net},alias=a1,driver-opt=foo=bar"),
        "busybox",
        "sleep",
        "600",
    ]);
    let shown = d.cli_ok(&[
        "service",
        "inspect",
        "-f",
        "{{range .Spec.TaskTemplate.Networks}}{{json .DriverOpts}}{{end}}",
        &svc,
    ]);
    assert_eq!(shown, r#"{"foo":"bar"}"#);
    let label = format!("label=com.docker.swarm.service.name={svc}");
    let container = settled(|| {
        let id = d.cli_ok(&["ps", "-q", "--filter", &label]);
        (!id.is_empty()).then_some(id)
    })
    .expect("the task runs");
    let networks: serde_json::Value = serde_json::from_str(&d.cli_ok(&[
        "inspect",
        "-f",
        "{{json .NetworkSettings.Networks}}",
        &container,
    ]))
    .unwrap();
    let endpoint = &networks[net.as_str()];
    assert_eq!(
        endpoint["DriverOpts"],
        serde_json::json!({"foo": "bar"}),
        "{networks}"
    );
    assert!(
        endpoint["Aliases"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "a1")),
        "{networks}"
    );
    // The task shows each attachment's whole network, as moby's task inspect does.
    let task = d.cli_ok(&[
        "inspect",
        "-f",
        "{{json .NetworksAttachments}}",
        &d.cli_ok(&["service", "ps", "-q", &svc]),
    ]);
    let attached: serde_json::Value = serde_json::from_str(&task).unwrap();
    let network = &attached[0]["Network"];
    assert_eq!(network["ID"], d.network_inspect(&net, "{{.Id}}"), "{task}");
    assert_eq!(network["Spec"]["Name"], net.as_str(), "{task}");
    assert_eq!(network["Spec"]["Scope"], "swarm", "{task}");
    assert_eq!(
        network["DriverState"]["Options"]["com.docker.network.driver.overlay.vxlanid_list"], "4097",
        "{task}"
    );
    assert_eq!(
        network["IPAMOptions"]["Configs"][0]["Subnet"], "10.0.1.0/24",
        "{task}"
    );
    assert!(network["Version"]["Index"].as_u64().is_some(), "{task}");
    d.cli_ok(&["service", "rm", &svc]);
}

/// `network prune` on a manager takes the swarm's networks nothing uses, as moby's does, and
/// leaves the ingress, a service's network and one a container is attached to; removing the
/// last by name is refused while the container uses it (swarmkit's "in use by task").
#[test]
fn a_prune_takes_the_swarms_unused_networks_and_a_used_one_stays() {
    require_root!();
    let d = TestDaemon::with_busybox("ovprune");
    d.swarm_init_local(&["--data-path-port", "4795"]);
    let [unused, served, attached] = ["un", "sv", "at"].map(|s| format!("{}-{s}", d.prefix));
    d.cli_ok(&["network", "create", "-d", "overlay", &unused]);
    d.cli_ok(&["network", "create", "-d", "overlay", &served]);
    d.cli_ok(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--attachable",
        &attached,
    ]);
    let svc = format!("{}-s", d.prefix);
    d.cli_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        &svc,
        "--network",
        &served,
        "busybox",
        "sleep",
        "600",
    ]);
    let c = format!("{}-c", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &c,
        "--network",
        &attached,
        "busybox",
        "sleep",
        "600",
    ]);
    let (code, out) = d.cli(&["network", "rm", &attached]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("is in use by task"), "{out}");
    let pruned = d.cli_ok(&["network", "prune", "-f"]);
    assert!(pruned.contains(&unused), "{pruned}");
    for kept in [&served, &attached] {
        assert!(!pruned.contains(kept.as_str()), "{pruned}");
        assert_eq!(d.network_inspect(kept, "{{.Scope}}"), "swarm");
    }
    assert!(!pruned.contains("ingress"), "{pruned}");
    assert_eq!(d.network_inspect("ingress", "{{.Ingress}}"), "true");
    let (code, _) = d.cli(&["network", "inspect", &unused]);
    assert_ne!(code, 0, "the unused network is gone");
    d.cli_ok(&["rm", "-f", &c]);
    d.cli_ok(&["service", "rm", &svc]);
}
