//! Seccomp and `--security-opt` against a real berthd: Docker's default allow-list refuses
//! namespace creation that `seccomp=unconfined` allows, a custom profile binds the init and its
//! execs, setuid binaries work unless `no-new-privileges`, what the host cannot do gets a 400,
//! and inspect echoes the options. One test needs no daemon: it loads berth's rendered default
//! profile as the monitor does, in a child process, and probes the argument filters.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::{demux, require_root, TestDaemon};
use serde_json::{json, Value};

/// Runs `cmd` to its end with `security_opt`; returns its output (both streams) and exit code.
fn run(d: &TestDaemon, name: &str, security_opt: Value, cmd: &[&str]) -> (String, i64) {
    let id = d.create(
        &format!("{}-{name}", d.prefix),
        json!({"Image": "busybox", "Cmd": cmd, "HostConfig": {"SecurityOpt": security_opt}}),
    );
    let r = d.req("POST", &format!("/containers/{id}/start"), "");
    assert_eq!(r.status, 204, "start {name}: {}", r.text());
    let r = d.req("POST", &format!("/containers/{id}/wait"), "");
    assert_eq!(r.status, 200, "wait {name}: {}", r.text());
    (d.logs(&id), r.json()["StatusCode"].as_i64().unwrap())
}

/// Starts a container that sleeps, with `security_opt`; returns its id.
fn sleeper(d: &TestDaemon, name: &str, security_opt: Value) -> String {
    let id = d.create(
        &format!("{}-{name}", d.prefix),
        json!({"Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": {"SecurityOpt": security_opt}}),
    );
    let r = d.req("POST", &format!("/containers/{id}/start"), "");
    assert_eq!(r.status, 204, "start {name}: {}", r.text());
    id
}

/// Runs an exec to its end as `user`; returns its output (both streams) and exit code.
fn exec(d: &TestDaemon, id: &str, user: &str, cmd: &[&str]) -> (String, i64) {
    let body = json!({"Cmd": cmd, "User": user, "AttachStdout": true, "AttachStderr": true});
    let r = d.req("POST", &format!("/containers/{id}/exec"), &body.to_string());
    assert_eq!(r.status, 201, "exec create: {}", r.text());
    let exec = r.json()["Id"].as_str().unwrap().to_string();
    let r = d.req(
        "POST",
        &format!("/exec/{exec}/start"),
        r#"{"Detach":false}"#,
    );
    assert_eq!(r.status, 200, "exec start: {}", r.text());
    let info = d.req("GET", &format!("/exec/{exec}/json"), "").json();
    (
        String::from_utf8_lossy(&demux(&r.body)).into_owned(),
        info["ExitCode"].as_i64().unwrap(),
    )
}

#[test]
fn the_default_profile_refuses_new_namespaces_and_unconfined_allows_them() {
    require_root!();
    let d = TestDaemon::with_busybox("sdefault");
    let status = "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status";
    let (out, code) = run(&d, "def", json!([]), &["sh", "-c", status]);
    assert_eq!(
        (out.as_str(), code),
        ("NoNewPrivs:\t0\nSeccomp:\t2\n", 0),
        "filtered, and no_new_privs off as in Docker"
    );
    // The init was lent CAP_SYS_ADMIN to load its filter: Docker's default set is all it keeps.
    let caps = "grep -E '^Cap(Prm|Eff|Bnd):' /proc/self/status";
    let (out, _) = run(&d, "caps", json!([]), &["sh", "-c", caps]);
    assert_eq!(
        out,
        "CapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n"
    );
    let (out, code) = run(&d, "ns", json!([]), &["unshare", "-U", "true"]);
    assert!(
        code != 0 && out.contains("Operation not permitted"),
        "{code}: {out}"
    );
    let (out, code) = run(
        &d,
        "unconf",
        json!(["seccomp=unconfined"]),
        &["sh", "-c", &format!("unshare -U true && {status}")],
    );
    assert_eq!((out.as_str(), code), ("NoNewPrivs:\t0\nSeccomp:\t0\n", 0));
    // The usual things still work under the allow-list: fork, pipes, files, signals, timers.
    let (out, code) = run(
        &d,
        "usual",
        json!([]),
        &[
            "sh",
            "-c",
            "mkdir /w && cd /w && echo hi | tee f >/dev/null && ls -l f >/dev/null && \
             chroot / true && kill -0 $$ && sleep 0.01 && { cat f & wait; }",
        ],
    );
    assert_eq!((out.as_str(), code), ("hi\n", 0));
    d.remove_all();
}

#[test]
fn a_custom_profile_binds_the_init_and_its_execs() {
    require_root!();
    let d = TestDaemon::with_busybox("scustom");
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    });
    let opt = json!([format!("seccomp={profile}")]);
    let (out, code) = run(&d, "mk", opt.clone(), &["mkdir", "/x"]);
    assert!(
        code != 0 && out.contains("Operation not permitted"),
        "{code}: {out}"
    );
    let id = sleeper(&d, "mkexec", opt);
    let (out, code) = exec(&d, &id, "", &["mkdir", "/y"]);
    assert!(
        code != 0 && out.contains("Operation not permitted"),
        "the exec is bound too: {code}: {out}"
    );
    let (out, code) = exec(&d, &id, "65534", &["touch", "/tmp/ok"]);
    assert_eq!((out.as_str(), code), ("", 0), "other calls are allowed");
    d.remove_all();
}

#[test]
fn setuid_binaries_gain_root_unless_no_new_privileges() {
    require_root!();
    let d = TestDaemon::with_busybox("snnp");
    // busybox keeps a setuid root euid for `ping`, which needs it for its raw socket.
    let prepare = "cp /bin/busybox /tmp/busybox && chmod 4755 /tmp/busybox";
    let ping = ["/tmp/busybox", "ping", "-c", "1", "127.0.0.1"];
    let plain = sleeper(&d, "plain", json!([]));
    assert_eq!(exec(&d, &plain, "", &["sh", "-c", prepare]).1, 0);
    let (out, code) = exec(&d, &plain, "65534", &ping);
    assert_eq!(code, 0, "setuid ping works, as in Docker: {out}");
    // The exec was lent CAP_SYS_ADMIN to load its filter without no_new_privs: none is left.
    let caps = |pid: &str| {
        exec(
            &d,
            &plain,
            "",
            &["grep", "^Cap", &format!("/proc/{pid}/status")],
        )
    };
    assert_eq!(caps("self"), caps("1"));
    for opt in ["no-new-privileges", "no-new-privileges:true"] {
        let nnp = sleeper(&d, &opt.replace(':', "-"), json!([opt]));
        assert_eq!(exec(&d, &nnp, "", &["sh", "-c", prepare]).1, 0);
        let (out, code) = exec(&d, &nnp, "65534", &ping);
        assert!(
            code != 0 && out.contains("are you root"),
            "{opt}: {code}: {out}"
        );
    }
    // The init, too: root drops to nobody with su, then runs the setuid ping.
    let script = format!(
        "{prepare} && su -s /bin/sh nobody -c '{}' >/dev/null 2>&1; echo $?",
        ping.join(" ")
    );
    assert_eq!(run(&d, "init", json!([]), &["sh", "-c", &script]).0, "0\n");
    assert_eq!(
        run(
            &d,
            "initnnp",
            json!(["no-new-privileges=true"]),
            &["sh", "-c", &script]
        )
        .0,
        "1\n"
    );
    d.remove_all();
}

#[test]
fn what_the_host_cannot_do_or_docker_does_not_know_is_a_400() {
    require_root!();
    let d = TestDaemon::with_busybox("sbad");
    for (opt, wanted) in [
        (
            "apparmor=my-profile",
            "AppArmor is not enabled on this host",
        ),
        ("label=type:svirt_t", "SELinux is not enabled on this host"),
        ("foo=bar", r#"invalid --security-opt 2: "foo=bar""#),
        (
            "seccomp=/etc/profile.json",
            "Decoding seccomp profile failed",
        ),
    ] {
        let body = json!({"Image": "busybox", "HostConfig": {"SecurityOpt": [opt]}});
        let r = d.req(
            "POST",
            &format!("/containers/create?name={}-bad", d.prefix),
            &body.to_string(),
        );
        assert_eq!(r.status, 400, "{opt}: {}", r.text());
        assert!(
            r.json()["message"].as_str().unwrap().contains(wanted),
            "{opt}: {}",
            r.text()
        );
    }
    d.remove_all();
}

#[test]
fn inspect_echoes_security_opt_and_system_paths_unconfined_unmasks_proc() {
    require_root!();
    let d = TestDaemon::with_busybox("secho");
    let opts = json!([
        "no-new-privileges",
        "seccomp=unconfined",
        "systempaths=unconfined",
        "label=disable"
    ]);
    let masked = "grep -c ' /proc/interrupts ' /proc/self/mountinfo";
    let id = d.create(
        &format!("{}-echo", d.prefix),
        json!({"Image": "busybox", "Cmd": ["sh", "-c", masked], "HostConfig": {"SecurityOpt": opts}}),
    );
    let host = &d.inspect(&id)["HostConfig"];
    assert_eq!(host["SecurityOpt"], opts);
    assert_eq!(
        (&host["MaskedPaths"], &host["ReadonlyPaths"]),
        (&json!([]), &json!([]))
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/start"), "").status,
        204
    );
    assert_eq!(
        d.req("POST", &format!("/containers/{id}/wait"), "").status,
        200
    );
    assert_eq!(d.logs(&id), "0\n", "nothing masked");
    let (out, _) = run(&d, "masked", json!([]), &["sh", "-c", masked]);
    assert_eq!(out, "1\n", "masked by default");
    let plain = d.create(&format!("{}-plain", d.prefix), json!({"Image": "busybox"}));
    let host = &d.inspect(&plain)["HostConfig"];
    assert_eq!(host["SecurityOpt"], Value::Null, "as Docker shows none");
    assert!(
        host["MaskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/interrupts")),
        "{host}"
    );
    d.remove_all();
}

/// Set in the child that `the_default_filter_checks_arguments_in_the_kernel` starts.
const PROBE: &str = "BERTH_SECCOMP_PROBE";

#[test]
fn the_default_filter_checks_arguments_in_the_kernel() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "seccomp_probe_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("probe: all as expected"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Loads berth's default profile for Docker's default capabilities, compiled and loaded as the
/// monitor does for a container, then tries calls whose arguments the filter checks. Does nothing unless
/// started by `the_default_filter_checks_arguments_in_the_kernel`: the filter stays for good.
#[test]
fn seccomp_probe_child() {
    if std::env::var_os(PROBE).is_none() {
        return;
    }
    use berth_node::engine::container::{caps, seccomp, security};
    let caps = caps::effective(false, &[], &[], u64::MAX).0;
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let target = seccomp::Target {
        caps: &caps,
        arch: seccomp::native_arch(),
        kernel: security::kernel_version(&release),
    };
    let section = seccomp::render(&seccomp::default_profile::profile(), &target).unwrap();
    let profile: libcontainer::oci_spec::runtime::LinuxSeccomp =
        serde_json::from_value(section).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let filter = berth_node::runtime::seccomp_bpf::cached(&profile, cache.path()).unwrap();
    // SAFETY: prctl with integer arguments only; sets no_new_privs so that an unprivileged test
    // run may load a filter.
    let nnp = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(nnp, 0);
    berth_node::runtime::seccomp_bpf::load(&filter).unwrap();
    let mut failures = Vec::new();
    let mut expect = |what: &str, got: Result<i64, i32>, wanted: Result<(), i32>| {
        let ok = match wanted {
            Ok(()) => got.is_ok(),
            Err(errno) => got == Err(errno),
        };
        if !ok {
            failures.push(format!("{what}: got {got:?}, wanted {wanted:?}"));
        }
    };
    let sigchld = u64::try_from(libc::SIGCHLD).unwrap();
    let newuser = u64::try_from(libc::CLONE_NEWUSER).unwrap();
    expect("clone (fork)", clone(sigchld), Ok(()));
    expect("clone NEWUSER", clone(sigchld | newuser), Err(libc::EPERM));
    // SAFETY: clone3 with a null argument: the filter answers before the kernel reads it.
    let clone3 = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
    expect("clone3", result(clone3), Err(libc::ENOSYS));
    // SAFETY: unshare takes flags only.
    let unshare = unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER) };
    expect("unshare", result(unshare), Err(libc::EPERM));
    for (family, wanted) in [
        (libc::AF_UNIX, Ok(())),
        (libc::AF_INET, Ok(())),
        (libc::AF_ALG, Err(libc::EPERM)),
        (libc::AF_VSOCK, Err(libc::EPERM)),
    ] {
        // SAFETY: socket takes integers; a descriptor it returns is closed below.
        let fd = unsafe { libc::socket(family, libc::SOCK_STREAM, 0) };
        if fd >= 0 {
            // SAFETY: fd is a descriptor this function just opened.
            unsafe { libc::close(fd) };
        }
        // Without the filter AF_ALG refuses a stream socket with another errno and AF_VSOCK
        // is absent or works: EPERM comes from the filter.
        let got = if fd >= 0 { Ok(0) } else { Err(errno()) };
        expect(&format!("socket family {family}"), got, wanted);
    }
    for (persona, wanted) in [(0xffff_ffff_u64, Ok(())), (0x0040000, Err(libc::EPERM))] {
        // SAFETY: personality takes an integer; 0xffffffff only queries.
        let r = unsafe { libc::syscall(libc::SYS_personality, persona) };
        expect(&format!("personality {persona:#x}"), result(r), wanted);
    }
    // SAFETY: keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0): integers only.
    let keyctl = unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) };
    expect("keyctl", result(keyctl), Err(libc::EPERM));
    assert!(failures.is_empty(), "{failures:#?}");
    println!("probe: all as expected");
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn result(ret: libc::c_long) -> Result<i64, i32> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

/// A raw clone with `flags`; a child it makes exits at once and is reaped.
fn clone(flags: u64) -> Result<i64, i32> {
    // SAFETY: a raw clone without CLONE_VM: the child runs on a copy of this address space and
    // only calls _exit.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid == 0 {
        // SAFETY: leaving the child at once, without running destructors or atexit handlers.
        unsafe { libc::_exit(0) };
    }
    if pid > 0 {
        let mut status = 0;
        // SAFETY: waiting for the child just made; status is a valid out-pointer.
        unsafe { libc::waitpid(i32::try_from(pid).unwrap_or(-1), &mut status, 0) };
    }
    result(pid)
}
