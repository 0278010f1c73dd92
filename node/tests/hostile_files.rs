//! Hostile containers and images against berthd's own file access, with a real berthd: account
//! files that are FIFOs, devices, `/dev/zero` or links to host files (during create, exec,
//! health checks and restore), and symlink swaps racing `cp` and `export`. Each case ends with
//! berthd still answering and nothing of the host read, written or held.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_test_support::{require_root, wait_until, TestDaemon};

/// Host files with an account no container has: if berthd ever read them, `hostonly` would
/// resolve to uid 4242.
fn host_account_files(d: &TestDaemon) -> (PathBuf, PathBuf) {
    let dir = d.root.join("host-etc");
    std::fs::create_dir_all(&dir).unwrap();
    let (passwd, group) = (dir.join("passwd"), dir.join("group"));
    std::fs::write(&passwd, "hostonly:x:4242:4242::/:/bin/sh\n").unwrap();
    std::fs::write(&group, "hostonly:x:4242:hostonly\n").unwrap();
    (passwd, group)
}

/// The shell commands that make a container's account files hostile, by case.
fn hostile_setups(passwd: &Path, group: &Path) -> Vec<(&'static str, String)> {
    let (p, g) = (passwd.display(), group.display());
    vec![
        (
            "fifo",
            "rm /etc/passwd /etc/group; mkfifo /etc/passwd /etc/group".into(),
        ),
        (
            "zero",
            "ln -sf /dev/zero /etc/passwd; ln -sf /dev/zero /etc/group".into(),
        ),
        ("device", "rm /etc/passwd; mknod /etc/passwd c 1 5".into()),
        (
            "hostlink",
            format!("ln -sf {p} /etc/passwd; ln -sf {g} /etc/group"),
        ),
        (
            "dotdot",
            format!("ln -sf ../../../../../../../..{p} /etc/passwd"),
        ),
    ]
}

fn wait_for_log(d: &TestDaemon, name: &str, needle: &str) {
    let seen = wait_until(Duration::from_secs(30), || {
        d.cli(&["logs", name]).1.contains(needle)
    });
    assert!(
        seen,
        "{name} never logged {needle:?}: {}",
        d.cli(&["logs", name]).1
    );
}

#[test]
fn hostile_account_files_neither_freeze_exec_health_checks_nor_restore() {
    require_root!();
    let mut d = TestDaemon::with_busybox("hfiles");
    let (passwd, group) = host_account_files(&d);
    let mut names = Vec::new();
    for (case, setup) in hostile_setups(&passwd, &group) {
        let name = format!("{}-{case}", d.prefix);
        let script = format!("{setup}; echo ready; sleep 600");
        d.cli_ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
            "busybox",
            "sh",
            "-c",
            &script,
        ]);
        wait_for_log(&d, &name, "ready");
        // The lookup of a named user reads the hostile files: it must neither block on the
        // FIFO, nor read /dev/zero without end, nor find the host's account.
        let (code, out) = d.cli(&["exec", "-u", "hostonly", &name, "id"]);
        assert_ne!(code, 0, "{case}: the host's account resolved: {out}");
        assert!(
            out.contains("unable to find user hostonly"),
            "{case}: {out}"
        );
        // A numeric user needs no lookup. (The container's own tools, like `id`, would block
        // on its FIFO: that hurts only the container.)
        let status = d.cli_ok(&["exec", "-u", "1234:1234", &name, "cat", "/proc/self/status"]);
        assert!(status.contains("Uid:\t1234\t"), "{case}: {status}");
        d.assert_serving();
        names.push(name);
    }
    // Health probes are execs as the container's user: they go through the same lookup.
    for name in &names {
        let healthy = wait_until(Duration::from_secs(30), || {
            d.cli(&["inspect", "-f", "{{.State.Health.Status}}", name])
                .1
                .trim()
                == "healthy"
        });
        assert!(healthy, "{name}: {}", d.cli(&["inspect", name]).1);
    }
    // Live restore with every hostile container running.
    d.kill9();
    d.spawn();
    d.assert_serving();
    for name in &names {
        let running = d.cli_ok(&["inspect", "-f", "{{.State.Running}}", name]);
        assert_eq!(running, "true", "{name} after restore");
        assert_eq!(d.cli_ok(&["exec", name, "echo", "alive"]), "alive");
    }
    assert_eq!(
        std::fs::read_to_string(&passwd).unwrap(),
        "hostonly:x:4242:4242::/:/bin/sh\n"
    );
}

#[test]
fn hostile_account_files_in_an_image_fail_create_cleanly() {
    require_root!();
    let d = TestDaemon::with_busybox("himage");
    let (passwd, group) = host_account_files(&d);
    for (case, setup) in hostile_setups(&passwd, &group) {
        // The hostile files become an image: export the container (FIFOs and devices are
        // archived as themselves) and import that archive.
        let src = format!("{}-src-{case}", d.prefix);
        d.cli_ok(&["run", "--name", &src, "busybox", "sh", "-c", &setup]);
        let tar = d.root.join(format!("{case}.tar"));
        d.cli_ok(&["export", "-o", tar.to_str().unwrap(), &src]);
        let image = format!("{}-img-{case}", d.prefix).to_lowercase();
        d.cli_ok(&["import", tar.to_str().unwrap(), &image]);
        let (code, out) = d.cli(&["create", "-u", "hostonly", &image, "true"]);
        assert_ne!(code, 0, "{case}: the host's account resolved: {out}");
        assert!(
            out.contains("unable to find user hostonly"),
            "{case}: {out}"
        );
        // The container's own start must not look the user up in the image either.
        let script = "echo $HOME; grep ^Uid: /proc/self/status";
        let id = d.cli_ok(&["create", "-u", "4321", &image, "sh", "-c", script]);
        let out = d.cli_ok(&["start", "-a", &id]);
        assert!(out.starts_with("/\nUid:\t4321\t"), "{case}: {out}");
        d.assert_serving();
    }
}

/// A container that swaps `/w/d` between a directory and a symlink to `/` as fast as it can:
/// a daemon that resolves a path once and then uses it would follow the link on the host.
fn swapping_container(d: &TestDaemon, host_dir: &Path) -> String {
    let name = format!("{}-swap", d.prefix);
    let inner = format!("/w/d{}", host_dir.display());
    let script = format!(
        "mkdir -p {inner} && echo inside > {inner}/secret && echo ready && \
         while true; do mv /w/d /w/d.x; ln -s / /w/d; rm /w/d; mv /w/d.x /w/d; done"
    );
    d.cli_ok(&["run", "-d", "--name", &name, "busybox", "sh", "-c", &script]);
    wait_for_log(d, &name, "ready");
    name
}

#[test]
fn cp_and_export_racing_a_symlink_swap_stay_inside_the_container() {
    require_root!();
    let d = TestDaemon::with_busybox("hswap");
    let host_dir = d.root.join("host-dir");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("secret"), "HOST-SECRET").unwrap();
    let name = swapping_container(&d, &host_dir);
    let inside = format!("{name}:/w/d{}/secret", host_dir.display());
    let upload = d.root.join("upload");
    std::fs::write(&upload, "planted").unwrap();
    let into = format!("{name}:/w/d{}/", host_dir.display());
    let out = d.root.join("out");
    for i in 0..150 {
        let _ = std::fs::remove_file(&out);
        // Read direction: either the container's file or "not found", never the host's.
        if d.cli(&["cp", &inside, out.to_str().unwrap()]).0 == 0 {
            let got = std::fs::read_to_string(&out).unwrap_or_default();
            assert_eq!(got.trim(), "inside", "round {i}");
        }
        // Write direction: nothing may appear in the host directory.
        let _ = d.cli(&["cp", upload.to_str().unwrap(), &into]);
        let names: Vec<_> = std::fs::read_dir(&host_dir).unwrap().collect();
        assert_eq!(
            names.len(),
            1,
            "round {i}: cp wrote into the host directory"
        );
    }
    let export = d.root.join("export.tar");
    for _ in 0..10 {
        d.cli_ok(&["export", "-o", export.to_str().unwrap(), &name]);
        let bytes = std::fs::read(&export).unwrap();
        assert!(
            !bytes.windows(11).any(|w| w == b"HOST-SECRET"),
            "export carried a host file"
        );
    }
    assert_eq!(
        std::fs::read_to_string(host_dir.join("secret")).unwrap(),
        "HOST-SECRET"
    );
    d.assert_serving();
}

#[test]
fn cp_of_fifos_and_devices_in_a_container_neither_blocks_nor_reads_them() {
    require_root!();
    let d = TestDaemon::with_busybox("hcpfifo");
    let name = format!("{}-nodes", d.prefix);
    d.cli_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "mkdir /n && mkfifo /n/pipe && mknod /n/zero c 1 5 && echo ready && sleep 600",
    ]);
    wait_for_log(&d, &name, "ready");
    let out = d.root.join("nodes");
    let fds = d.fd_count();
    d.cli_ok(&["cp", &format!("{name}:/n"), out.to_str().unwrap()]);
    let pipe = std::fs::symlink_metadata(out.join("pipe")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&pipe.file_type()));
    let r = d.req(
        "GET",
        &format!("/containers/{name}/archive?path=/n/zero"),
        "",
    );
    assert_eq!(r.status, 200);
    assert!(
        r.body.len() < 64 * 1024,
        "the device was read: {} bytes",
        r.body.len()
    );
    d.assert_serving();
    d.assert_fds_settle(fds, 2);
}
