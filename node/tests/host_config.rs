//! HostConfig fields a Docker user sets every day, through the docker CLI against a real
//! berthd: each is applied as Docker applies it (checked from inside the container) or
//! refused with a clear error naming it, never accepted and dropped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

use std::process::Command;

use berth_test_support::{require_root, TestDaemon};
use serde_json::json;

fn run(d: &TestDaemon, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend(["busybox", "sh", "-c", script]);
    d.cli_ok(&args)
}

fn refused(d: &TestDaemon, flags: &[&str], needle: &str) {
    let mut args = vec!["create"];
    args.extend_from_slice(flags);
    args.extend(["busybox", "true"]);
    let (code, out) = d.cli(&args);
    assert_ne!(code, 0, "{flags:?} was accepted: {out}");
    assert!(out.contains(needle), "{flags:?}: {out}");
}

fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn limits_groups_oom_sysctls_and_domain_apply_inside() {
    require_root!();
    let d = TestDaemon::with_busybox("hclimits");
    let limits = run(&d, &["--ulimit", "nofile=100:200"], "ulimit -n; ulimit -Hn");
    assert_eq!(limits, "100\n200");
    // Docker's default: a soft limit of 1024, the hard one as high as the host allows.
    let default = run(&d, &[], "ulimit -n");
    assert_eq!(default, "1024");
    // The process's own group is among its supplementary groups too, as Docker sets them.
    let groups = run(
        &d,
        &["--group-add", "nogroup", "--group-add", "1234"],
        "id -G; grep Groups /proc/self/status",
    );
    assert_eq!(groups.trim_end(), "0 1234 65534\nGroups:\t0 1234 65534");
    let nobody = run(&d, &["-u", "nobody"], "grep Groups /proc/self/status");
    assert_eq!(nobody.trim_end(), "Groups:\t65534");
    let out = run(
        &d,
        &[
            "--oom-score-adj",
            "500",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--domainname",
            "example.org",
            "--cpuset-cpus",
            "0",
            "--memory",
            "64m",
            "--memory-reservation",
            "32m",
            "--oom-kill-disable",
        ],
        "cat /proc/self/oom_score_adj /proc/sys/net/ipv4/ip_forward \
         /proc/sys/kernel/domainname /sys/fs/cgroup/cpuset/cpuset.cpus \
         /sys/fs/cgroup/memory/memory.soft_limit_in_bytes; \
         grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control",
    );
    assert_eq!(
        out, "500\n1\nexample.org\n0\n33554432\noom_kill_disable 1",
        "{out}"
    );
    // Docker's network sysctls in a namespace of the container's own: anyone may bind a low
    // port and ping; a `--sysctl` wins; the host's network keeps the host's.
    let port_start = "cat /proc/sys/net/ipv4/ip_unprivileged_port_start";
    let nobody_binds_80 = "timeout 1 nc -l -p 80 2>&1; echo $?";
    let out = run(
        &d,
        &["-u", "nobody"],
        &format!("{port_start} /proc/sys/net/ipv4/ping_group_range; {nobody_binds_80}"),
    );
    // nc still listening when `timeout` ends it (143), not refused its bind (1).
    assert!(
        out.starts_with("0\n0\t2147483647\n") && out.ends_with("\n143"),
        "{out}"
    );
    let own = ["--sysctl", "net.ipv4.ip_unprivileged_port_start=80"];
    assert_eq!(run(&d, &own, port_start), "80");
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    assert_eq!(run(&d, &["--network", "host"], port_start), host.trim());
    refused(&d, &["--sysctl", "vm.swappiness=1"], "vm.swappiness");
    refused(
        &d,
        &["--cap-add", "NOSUCHCAP"],
        "invalid CapAdd: unknown capability: \"CAP_NOSUCHCAP\"",
    );
    refused(&d, &["--cap-drop", "nope"], "invalid CapDrop");
    refused(&d, &["--ulimit", "nofile=10:5"], "soft limit");
    refused(&d, &["--oom-score-adj", "2000"], "oom score adj");
    refused(&d, &["--cpuset-cpus", "0-99"], "not available");
}

#[test]
fn namespaces_are_shared_with_the_host_or_another_container() {
    require_root!();
    let d = TestDaemon::with_busybox("hcns");
    let ns = "for n in pid ipc uts; do readlink /proc/self/ns/$n; done";
    let out = run(&d, &["--pid", "host", "--ipc", "host", "--uts", "host"], ns);
    assert_eq!(
        out,
        [host_ns("pid"), host_ns("ipc"), host_ns("uts")].join("\n")
    );
    let target = format!("{}-target", d.prefix);
    d.cli_ok(&["run", "-d", "--name", &target, "busybox", "sleep", "600"]);
    let pid = d.cli_ok(&["inspect", "-f", "{{.State.Pid}}", &target]);
    let theirs = |kind: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
            .unwrap()
            .display()
            .to_string()
    };
    let joined = format!("container:{target}");
    let out = run(
        &d,
        &["--pid", &joined, "--ipc", &joined, "--network", &joined],
        "for n in pid ipc net; do readlink /proc/self/ns/$n; done; cat /etc/hostname",
    );
    let target_id = d.cli_ok(&["inspect", "-f", "{{.Id}}", &target]);
    assert_eq!(
        out,
        [
            theirs("pid"),
            theirs("ipc"),
            theirs("net"),
            target_id[..12].to_string()
        ]
        .join("\n")
    );
    let net_mode = {
        let id = d.cli_ok(&["create", "--network", &joined, "busybox", "true"]);
        d.cli_ok(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", &id])
    };
    assert_eq!(net_mode, format!("container:{target_id}"));
    refused(
        &d,
        &["--network", &joined, "-p", "80"],
        "conflicting options",
    );
    refused(&d, &["--pid", "container:nope"], "No such container: nope");
    let stopped = format!("{}-stopped", d.prefix);
    d.cli_ok(&["create", "--name", &stopped, "busybox", "true"]);
    let (code, out) = d.cli(&[
        "run",
        "--rm",
        "--pid",
        &format!("container:{stopped}"),
        "busybox",
        "true",
    ]);
    assert_ne!(code, 0);
    assert!(out.contains("non running container"), "{out}");
}

#[test]
fn the_daemons_cgroup_parent_holds_containers_that_name_none_and_is_not_shown() {
    require_root!();
    let tag = format!("bt{:05x}", std::process::id() & 0xf_ffff);
    // Declared before the daemon: dropped (removed) after it.
    let guard = berth_test_support::cleanup::CgroupParent::new(&format!("{tag}-dcgp"));
    let parent = guard.name();
    let d = TestDaemon::start_with("hcdcg", &["--cgroup-parent".into(), format!("/{parent}/")]);
    d.import_busybox();
    let name = format!("{}-indcg", d.prefix);
    d.cli_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "600"]);
    let id = d.cli_ok(&["inspect", "-f", "{{.Id}}", &name]);
    let dir = std::path::Path::new("/sys/fs/cgroup/pids")
        .join(parent)
        .join(&id);
    let present = dir.join("cgroup.procs").exists();
    let default_dir = std::path::Path::new("/sys/fs/cgroup/pids/berth").join(&id);
    let in_default = default_dir.exists();
    let shown = d.cli_ok(&["inspect", "-f", "{{.HostConfig.CgroupParent}}", &name]);
    d.cli_ok(&["rm", "-f", &name]);
    assert!(present, "no cgroup at {}", dir.display());
    assert!(!in_default, "{} exists too", default_dir.display());
    assert_eq!(shown, "", "Docker shows only the container's own parent");
}

#[test]
fn devices_cgroup_parent_and_volumes_from_apply() {
    require_root!();
    let d = TestDaemon::with_busybox("hcdev");
    let out = run(
        &d,
        &["--device", "/dev/null:/dev/mynull:rw", "--device-cgroup-rule", "c 42:* rmw"],
        "echo x > /dev/mynull && echo wrote; grep -c '^c 42:\\* rwm$' /sys/fs/cgroup/devices/devices.list",
    );
    assert_eq!(out, "wrote\n1");
    refused(&d, &["--device", "/nonexistent-dev"], "/nonexistent-dev");

    let guard = berth_test_support::cleanup::CgroupParent::new(&format!("{}-cgp", d.prefix));
    let parent = guard.name();
    let name = format!("{}-incg", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--cgroup-parent",
        parent,
        "busybox",
        "sleep",
        "600",
    ]);
    let id = d.cli_ok(&["inspect", "-f", "{{.Id}}", &name]);
    let dir = std::path::Path::new("/sys/fs/cgroup/pids")
        .join(parent)
        .join(&id);
    let present = dir.join("cgroup.procs").exists();
    let shown = d.cli_ok(&["inspect", "-f", "{{.HostConfig.CgroupParent}}", &name]);
    d.cli_ok(&["rm", "-f", &name]);
    assert!(present, "no cgroup at {}", dir.display());
    assert_eq!(shown, parent);

    let source = format!("{}-vsrc", d.prefix);
    d.cli_ok(&[
        "run",
        "--name",
        &source,
        "-v",
        "/data",
        "busybox",
        "sh",
        "-c",
        "echo shared > /data/f",
    ]);
    let out = run(
        &d,
        &["--volumes-from", &format!("{source}:ro")],
        "cat /data/f; touch /data/g 2>&1 || true",
    );
    assert!(out.starts_with("shared\n"), "{out}");
    assert!(out.contains("Read-only"), "{out}");
}

#[test]
fn settings_berth_cannot_honour_are_refused_by_name() {
    require_root!();
    let d = TestDaemon::with_busybox("hcrefuse");
    refused(
        &d,
        &["--runtime", "kata"],
        "unknown or invalid runtime name: kata",
    );
    refused(&d, &["--isolation", "hyperv"], "isolation");
    refused(
        &d,
        &["--log-driver", "syslog"],
        "no log driver named 'syslog'",
    );
    refused(&d, &["--log-opt", "labels-regex=("], "error parsing regexp");
    refused(
        &d,
        &["--log-opt", "max-file=3", "--log-opt", "compress=true"],
        "max-size is not set",
    );
    refused(&d, &["--storage-opt", "size=1G"], "StorageOpt");
    refused(&d, &["--cpu-rt-runtime", "100"], "CpuRealtimeRuntime");
    refused(&d, &["--link", "x:y"], "could not get container for x");
    refused(&d, &["--userns", "private"], "USER mode");
    // Docker's 404, through the API: both CLIs take a 404 from create for a missing image.
    for (binds, volumes, message) in [
        (
            json!(["x:/x"]),
            json!({}),
            "create x: error looking up volume plugin nfs: plugin \"nfs\" not found",
        ),
        (
            json!([]),
            json!({"/anon": {}}),
            ": error looking up volume plugin nfs: plugin \"nfs\" not found",
        ),
    ] {
        let body = json!({"Image": "busybox", "Volumes": volumes,
            "HostConfig": {"VolumeDriver": "nfs", "Binds": binds}});
        let r = d.req("POST", "/containers/create", &body.to_string());
        assert_eq!(r.status, 404, "{}", r.text());
        let said = r.json()["message"].as_str().unwrap_or_default().to_string();
        assert!(said.contains(message), "{said}");
    }
    // As Docker: the driver matters only for a volume it would make; the rest is kept and shown.
    let id = d.cli_ok(&[
        "create",
        "--volume-driver",
        "nfs",
        "--isolation",
        "default",
        "--log-opt",
        "max-file=3",
        "--mount",
        "type=volume,dst=/m",
        "busybox",
        "true",
    ]);
    let shown = d.cli_ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.VolumeDriver}} {{.HostConfig.Isolation}} {{.HostConfig.LogConfig.Config}}",
        &id,
    ]);
    assert_eq!(shown, "nfs default map[max-file:3]");
    let id = d.cli_ok(&[
        "create",
        "--ulimit",
        "core=0:0",
        "--tmpfs",
        "/t:size=1m",
        "--group-add",
        "7",
        "--ipc",
        "shareable",
        "busybox",
        "true",
    ]);
    let shown = d.cli_ok(&[
        "inspect", "-f",
        "{{.HostConfig.Ulimits}} {{.HostConfig.Tmpfs}} {{.HostConfig.GroupAdd}} {{.HostConfig.IpcMode}} {{.HostConfig.Runtime}}",
        &id,
    ]);
    assert_eq!(shown, "[core=0:0] map[/t:size=1m] [7] shareable runc");
}

#[test]
fn working_dirs_unset_env_filters_and_restart_policies_behave_as_docker() {
    require_root!();
    let d = TestDaemon::with_busybox("hcrun");
    // A missing working directory is made (root's, 0755), also for another user.
    let out = run(
        &d,
        &["-u", "65534", "-w", "/new/deep"],
        "pwd; stat -c '%U %a' /new/deep",
    );
    assert_eq!(out, "/new/deep\nroot 755");
    // One that is a file: Docker's words at create, and no container left.
    let (code, out) = d.cli(&["create", "-w", "/etc/passwd", "busybox", "true"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("Cannot mkdir: /etc/passwd is not a directory"),
        "{out}"
    );
    assert_eq!(d.cli_ok(&["ps", "-aq"]), "");
    // `-e VAR` with VAR unset on the client (the tests never set it) leaves it unset.
    let out = d.cli_ok(&[
        "run",
        "--rm",
        "-e",
        "BERTH_TEST_UNSET",
        "busybox",
        "sh",
        "-c",
        "env | grep -c BERTH_TEST_UNSET || true",
    ]);
    assert_eq!(out, "0");
    // A container's own HOSTNAME and TERM win over the daemon's, and an exec's over both,
    // as Docker replaces them (berth kept the daemon's before).
    let out = d.cli_ok(&[
        "run",
        "--rm",
        "-t",
        "-e",
        "HOSTNAME=mine",
        "-e",
        "TERM=dumb",
        "busybox",
        "sh",
        "-c",
        "echo $HOSTNAME $TERM",
    ]);
    assert_eq!(out.trim(), "mine dumb");
    // In Docker's order, not libcontainer's hash map's: PATH, HOSTNAME, the container's own
    // as given, HOME last.
    // (The API, not the CLI: the docker CLI does not always send `-e`s in their order.)
    let (env, _) = d.run_to_end(
        "v1.47",
        "envorder",
        serde_json::json!({"Image": "busybox", "Cmd": ["env"], "Env": ["Z=1", "A=2", "M=3"]}),
    );
    let names: Vec<&str> = env
        .lines()
        .map(|l| l.split('=').next().unwrap_or_default())
        .collect();
    assert_eq!(names, ["PATH", "HOSTNAME", "Z", "A", "M", "HOME"]);
    let c = format!("{}env", d.prefix);
    d.cli_ok(&[
        "run", "-d", "--name", &c, "-e", "TERM=x1", "busybox", "sleep", "60",
    ]);
    let term = |args: &[&str]| {
        let mut all = vec!["exec"];
        all.extend(args);
        all.extend([c.as_str(), "sh", "-c", "echo $TERM"]);
        d.cli_ok(&all).trim().to_string()
    };
    assert_eq!(term(&["-t"]), "x1");
    assert_eq!(term(&["-e", "TERM=x2"]), "x2");
    d.cli_ok(&["rm", "-f", &c]);

    // Image filters: a dangling image is listed alone; references glob.
    d.cli_ok(&["tag", "busybox", &format!("{}img:1", d.prefix)]);
    let dangling = d.cli_ok(&["images", "-q", "-f", "dangling=true"]);
    assert_eq!(dangling, "", "no image is dangling");
    let refs = d.cli_ok(&[
        "images",
        "--format",
        "{{.Repository}}",
        "-f",
        &format!("reference={}*", d.prefix),
    ]);
    assert_eq!(refs, format!("{}img", d.prefix));
    let (code, out) = d.cli(&["images", "-f", "bogus=1"]);
    assert_ne!(code, 0);
    assert!(out.contains("invalid filter 'bogus'"), "{out}");

    // Network prune honours its filters; ls refuses unknown ones.
    let (keep, gone) = (format!("{}-keep", d.prefix), format!("{}-gone", d.prefix));
    d.cli_ok(&["network", "create", "--label", "keep=1", &keep]);
    d.cli_ok(&["network", "create", &gone]);
    d.cli_ok(&["network", "prune", "-f", "--filter", "label!=keep"]);
    let left = d.cli_ok(&[
        "network",
        "ls",
        "--format",
        "{{.Name}}",
        "-f",
        &format!("name={}", d.prefix),
    ]);
    assert_eq!(left, keep);
    let (code, out) = d.cli(&["network", "ls", "-f", "bogus=1"]);
    assert_ne!(code, 0);
    assert!(out.contains("invalid filter 'bogus'"), "{out}");

    refused(&d, &["--restart", "bogus"], "unknown policy 'bogus'");
    refused(&d, &["--restart", "always:3"], "maximum retry count");
}

#[test]
fn cp_sees_volumes_and_binds_of_running_and_stopped_containers() {
    require_root!();
    let d = TestDaemon::with_busybox("hccpvol");
    let bind = d.root.join("bind-src");
    std::fs::create_dir_all(&bind).unwrap();
    std::fs::write(bind.join("b.txt"), "from-bind").unwrap();
    let name = format!("{}-vols", d.prefix);
    let bind_arg = format!("{}:/b", bind.display());
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-v",
        "/vol1",
        "-v",
        &bind_arg,
        "busybox",
        "sh",
        "-c",
        "echo in-volume > /vol1/v.txt; sleep 600",
    ]);
    let out = d.root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let wait = berth_test_support::wait_until(std::time::Duration::from_secs(10), || {
        d.cli(&["exec", &name, "test", "-f", "/vol1/v.txt"]).0 == 0
    });
    assert!(wait);
    for round in ["running", "stopped"] {
        let v = out.join(format!("v-{round}.txt"));
        d.cli_ok(&["cp", &format!("{name}:/vol1/v.txt"), v.to_str().unwrap()]);
        assert_eq!(
            std::fs::read_to_string(&v).unwrap().trim(),
            "in-volume",
            "{round}"
        );
        let b = out.join(format!("b-{round}.txt"));
        d.cli_ok(&["cp", &format!("{name}:/b/b.txt"), b.to_str().unwrap()]);
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "from-bind", "{round}");
        let up = out.join(format!("up-{round}.txt"));
        std::fs::write(&up, round).unwrap();
        d.cli_ok(&["cp", up.to_str().unwrap(), &format!("{name}:/vol1/")]);
        d.cli_ok(&["stop", "-t", "0", &name]);
    }
    // What was copied into the volume is in the volume, seen by the next start.
    d.cli_ok(&["start", &name]);
    let listed = d.cli_ok(&["exec", &name, "sh", "-c", "cat /vol1/up-*.txt"]);
    assert_eq!(listed, "runningstopped");
    assert_eq!(
        d.mounts_under_root()
            .iter()
            .filter(|m| m
                .split_once("/data/rootfs/")
                .is_some_and(|(_, below)| below.contains('/')))
            .count(),
        0
    );
}

#[test]
fn logs_rotate_as_asked_and_the_none_driver_keeps_nothing_to_read() {
    require_root!();
    let d = TestDaemon::with_busybox("hclogs");
    let name = format!("{}-rot", d.prefix);
    // Attach follows the live log; while it does, rotation drops nothing it has yet to read.
    let out = d.cli_ok(&[
        "run",
        "--name",
        &name,
        "--log-opt",
        "max-size=10k",
        "--log-opt",
        "max-file=4",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 3000); do echo $i; done",
    ]);
    let got: Vec<u32> = out.lines().map(|l| l.parse().unwrap()).collect();
    let whole = got.len() == 3000 && got.iter().zip(1..).all(|(a, b)| *a == b);
    assert!(
        whole,
        "attach saw {} lines, from {:?} to {:?}",
        got.len(),
        got.first(),
        got.last()
    );
    let id = d.cli_ok(&["inspect", "-f", "{{.Id}}", &name]);
    let dir = d.data_root().join("containers").join(&id);
    let sizes = || -> Vec<u64> {
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("container.log"))
            .map(|e| e.metadata().unwrap().len())
            .collect()
    };
    // The attached client held every file while it read; letting go trims back to max-file.
    let trimmed =
        berth_test_support::wait_until(std::time::Duration::from_secs(10), || sizes().len() == 4);
    let logs = sizes();
    assert!(trimmed, "max-file files: {logs:?}");
    assert!(logs.iter().all(|len| *len <= 10 * 1024 + 200), "{logs:?}");
    // `logs` reads the kept files in order and ends with the last line.
    let kept = d.cli_ok(&["logs", &name]);
    let numbers: Vec<u32> = kept.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(numbers.last(), Some(&3000));
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(d.cli_ok(&["logs", "--tail", "2", &name]), "2999\n3000");

    let quiet = format!("{}-none", d.prefix);
    let out = d.cli_ok(&[
        "run",
        "--name",
        &quiet,
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "attached",
    ]);
    assert_eq!(out, "attached");
    let (code, out) = d.cli(&["logs", &quiet]);
    assert_ne!(code, 0);
    assert!(out.contains("does not support reading"), "{out}");
    let local = format!("{}-local", d.prefix);
    d.cli_ok(&[
        "run",
        "--name",
        &local,
        "--log-driver",
        "local",
        "busybox",
        "echo",
        "kept",
    ]);
    assert_eq!(d.cli_ok(&["logs", &local]), "kept");
    let shown = d.cli_ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.LogConfig.Type}} {{.HostConfig.LogConfig.Config}}",
        &name,
    ]);
    assert_eq!(shown, "json-file map[max-file:4 max-size:10k]");
}

/// The same flags through the docker CLI and through `berth` make the same container: the
/// create bodies differ only where the names do.
#[test]
fn the_berth_cli_sends_what_the_docker_cli_sends() {
    require_root!();
    let d = TestDaemon::with_busybox("hccli");
    d.cli_ok(&[
        "network",
        "create",
        "--subnet",
        "10.231.7.0/24",
        "hccli-net",
    ]);
    d.cli_ok(&[
        "create",
        "--name",
        "hccli-src",
        "-v",
        "/data",
        "busybox",
        "true",
    ]);
    let berth = berth_test_support::bin_dir().join("berth");
    let flag_sets: &[&[&str]] = &[
        &[
            "--dns",
            "10.0.0.2",
            "--dns-search",
            "example.org",
            "--dns-option",
            "ndots:2",
        ],
        &[
            "--domainname",
            "example.org",
            "--group-add",
            "1234",
            "--oom-score-adj",
            "300",
        ],
        &[
            "--ulimit",
            "nofile=100:200",
            "--sysctl",
            "net.ipv4.ip_forward=1",
        ],
        &[
            "--device",
            "/dev/null:/dev/mynull:rw",
            "--device-cgroup-rule",
            "c 1:3 r",
        ],
        &[
            "--mount",
            "type=tmpfs,target=/t,tmpfs-size=1m",
            "--mount",
            "type=volume,target=/v",
        ],
        &[
            "--volumes-from",
            "hccli-src:ro",
            "--log-driver",
            "json-file",
            "--log-opt",
            "max-size=1m",
        ],
        &[
            "--pid",
            "host",
            "--ipc",
            "private",
            "--uts",
            "host",
            "--cgroupns",
            "private",
        ],
        &[
            "--cpuset-cpus",
            "0",
            "--memory-reservation",
            "32m",
            "--memory-swappiness",
            "10",
        ],
        &[
            "--network",
            "hccli-net",
            "--network-alias",
            "web",
            "--ip",
            "10.231.7.9",
        ],
        &[
            "--annotation",
            "org.example=1",
            "--health-cmd",
            "true",
            "--health-start-interval",
            "2s",
        ],
    ];
    for (i, flags) in flag_sets.iter().enumerate() {
        let (a, b) = (format!("hccli-d{i}"), format!("hccli-b{i}"));
        let mut args = vec!["create", "--name", a.as_str()];
        args.extend_from_slice(flags);
        args.extend(["busybox", "true"]);
        d.cli_ok(&args);
        args[2] = b.as_str();
        let out = Command::new(&berth)
            .args(["-H", &format!("unix://{}", d.socket.display())])
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "berth {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (da, db) = (d.inspect(&a), d.inspect(&b));
        assert_eq!(da["HostConfig"], db["HostConfig"], "{flags:?}");
        for key in ["Domainname", "Healthcheck", "Env", "Labels"] {
            assert_eq!(da["Config"][key], db["Config"][key], "{flags:?}: {key}");
        }
        let endpoint = |v: &serde_json::Value| {
            let mut e = v["NetworkSettings"]["Networks"]["hccli-net"].clone();
            for volatile in [
                "EndpointID",
                "NetworkID",
                "Aliases",
                "DNSNames",
                "IPAddress",
            ] {
                if let Some(o) = e.as_object_mut() {
                    o.remove(volatile);
                }
            }
            e
        };
        assert_eq!(endpoint(&da), endpoint(&db), "{flags:?}");
    }
    let refused = Command::new(&berth)
        .args(["-H", &format!("unix://{}", d.socket.display())])
        .args(["create", "--mount", "type=nfs,target=/x", "busybox", "true"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("invalid mount type"));
    d.remove_all();
}

#[test]
fn an_empty_entrypoint_runs_the_command_alone() {
    require_root!();
    let d = TestDaemon::with_busybox("hcentry");
    // The docker CLI sends `--entrypoint ""` as `[""]`: no entrypoint, as Docker reads it.
    let out = d.cli_ok(&["run", "--rm", "--entrypoint", "", "busybox", "echo", "hi"]);
    assert_eq!(out, "hi");
    let (code, out) = d.cli(&["create", "--entrypoint", "", "busybox"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("no command specified"), "{out}");
}
