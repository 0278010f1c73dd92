//! Containers that try to exhaust the host through berthd, with a real berthd: a fork bomb
//! under the default pids limit, and a container writing its log as fast as it can. berthd
//! keeps answering and starting containers, and nothing stays behind once they are removed; a
//! container cannot raise its own limits through the cgroup filesystem.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

use std::time::Duration;

use berth_test_support::{require_root, wait_until, TestDaemon};

fn pids_current(d: &TestDaemon, name: &str) -> u64 {
    let r = d.req("GET", &format!("/containers/{name}/stats?stream=0"), "");
    r.json()["pids_stats"]["current"].as_u64().unwrap_or(0)
}

#[test]
fn a_fork_bomb_stops_at_the_default_pids_limit() {
    require_root!();
    let d = TestDaemon::with_busybox("hforkbomb");
    let name = format!("{}-bomb", d.prefix);
    // Without `--pids-limit`: the daemon's default applies (and shows in inspect).
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "b() { b | b & }; b; sleep 600",
    ]);
    let limit = d.cli_ok(&["inspect", "-f", "{{.HostConfig.PidsLimit}}", &name]);
    assert_eq!(limit, "4096");
    let reached = wait_until(Duration::from_secs(60), || pids_current(&d, &name) >= 4000);
    assert!(
        reached,
        "the bomb never filled its limit: {}",
        pids_current(&d, &name)
    );
    assert!(pids_current(&d, &name) <= 4096);
    d.assert_serving();
    // The host still has pids for berthd and for other containers.
    assert_eq!(
        d.cli_ok(&["run", "--rm", "busybox", "echo", "still"]),
        "still"
    );
    let id = d.cli_ok(&["inspect", "-f", "{{.Id}}", &name]);
    d.cli_ok(&["rm", "-f", &name]);
    let cgroup = std::path::Path::new("/sys/fs/cgroup/pids/berth").join(&id);
    let gone = wait_until(Duration::from_secs(30), || !cgroup.exists());
    assert!(gone, "{} is left", cgroup.display());
    // -1 still means no limit, as Docker's.
    let free = format!("{}-free", d.prefix);
    d.cli_ok(&[
        "create",
        "--name",
        &free,
        "--pids-limit",
        "-1",
        "busybox",
        "true",
    ]);
    let limit = d.cli_ok(&["inspect", "-f", "{{.HostConfig.PidsLimit}}", &free]);
    assert_eq!(limit, "-1");
}

#[test]
fn a_container_writing_its_log_flat_out_does_not_slow_or_grow_berthd() {
    require_root!();
    let d = TestDaemon::with_busybox("hlogflood");
    let name = format!("{}-flood", d.prefix);
    let fds = d.fd_count();
    // About 65 MiB of whole 17-byte lines, as fast as the monitor takes them.
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "yes 0123456789abcdef | head -c 68000000; echo done",
    ]);
    let mut served = 0;
    let finished = wait_until(Duration::from_secs(120), || {
        d.assert_serving();
        served += 1;
        d.cli(&["inspect", "-f", "{{.State.Running}}", &name])
            .1
            .trim()
            == "false"
    });
    assert!(finished, "the flood never ended");
    assert!(served > 0);
    let tail = d.cli_ok(&["logs", "--tail", "1", &name]);
    assert_eq!(tail, "done");
    d.assert_serving();
    d.cli_ok(&["rm", &name]);
    d.assert_fds_settle(fds, 2);
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(
        rss_kib < 64 << 10,
        "berthd holds {rss_kib} KiB after the flood"
    );
}

/// What the memory cgroup `parent` (and any child, dying ones included) has charged, in bytes.
fn charged(parent: &str) -> u64 {
    let v1 = std::path::Path::new("/sys/fs/cgroup/memory");
    let file = if v1.exists() {
        v1.join(parent).join("memory.usage_in_bytes")
    } else {
        std::path::Path::new("/sys/fs/cgroup")
            .join(parent)
            .join("memory.current")
    };
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_removed_containers_memory_cgroup_lets_go_of_the_page_cache_it_filled() {
    require_root!();
    let d = TestDaemon::with_busybox("hmemcg");
    // A parent of our own: what its children keep charged (a removed child lives on,
    // "dying", while pages charged to it stay cached) shows in its usage.
    let guard = berth_test_support::cleanup::CgroupParent::new(&format!("{}-memcg", d.prefix));
    let parent = guard.name();
    let volume = tempfile::tempdir().unwrap();
    let name = format!("{}-filler", d.prefix);
    // 32 MiB written to a host directory and synced: clean page cache that outlives the
    // container, charged to its cgroup.
    d.cli_ok(&[
        "run",
        "--name",
        &name,
        "--cgroup-parent",
        parent,
        "-v",
        &format!("{}:/data", volume.path().display()),
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/data/f bs=1M count=32 2>/dev/null && sync && cat /data/f >/dev/null",
    ]);
    let id = d.cli_ok(&["inspect", "-f", "{{.Id}}", &name]);
    d.cli_ok(&["rm", &name]);
    let memory = ["/sys/fs/cgroup/memory", "/sys/fs/cgroup"]
        .iter()
        .map(|h| std::path::Path::new(h).join(parent).join(&id))
        .find(|p| p.parent().is_some_and(std::path::Path::exists))
        .unwrap();
    let gone = wait_until(Duration::from_secs(30), || !memory.exists());
    let left = charged(parent);
    assert!(gone, "{} is left", memory.display());
    assert!(
        left < 8 << 20,
        "{left} bytes stay charged under {parent} after its only container was removed"
    );
}

#[test]
fn a_container_cannot_raise_its_own_limits_through_the_cgroup_filesystem() {
    require_root!();
    let d = TestDaemon::with_busybox("hcgroupro");
    // As Docker's: the hierarchies are mounted read-only, so root inside cannot write its
    // limits or make cgroups (libcontainer mounted them writable whatever the spec said).
    let script = "for fv in memory/memory.limit_in_bytes:67108864 pids/pids.max:1000; do \
                    f=${fv%:*}; v=$(cat /sys/fs/cgroup/$f); \
                    (echo ${fv#*:} > /sys/fs/cgroup/$f) 2>/dev/null && echo wrote $f; \
                    [ \"$(cat /sys/fs/cgroup/$f)\" = \"$v\" ] || echo changed $f; \
                  done; \
                  mkdir /sys/fs/cgroup/memory/escape 2>/dev/null && echo made a cgroup; \
                  grep -c ' /sys/fs/cgroup[/ ].* ro,' /proc/self/mountinfo";
    let out = d.cli_ok(&[
        "run",
        "--rm",
        "--memory",
        "32m",
        "--pids-limit",
        "20",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].parse::<u32>().unwrap() > 1,
        "read-only mounts: {out}"
    );
    // A privileged container's stay writable, as Docker's.
    let out = d.cli_ok(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "grep -c ' /sys/fs/cgroup/.* ro,' /proc/self/mountinfo || true",
    ]);
    // (After the count, a warning where the host's bounding set lacks a capability.)
    assert_eq!(out.lines().next(), Some("0"), "{out}");
}
