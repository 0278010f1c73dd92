//! Seccomp against a real berthd: Docker's default allow-list refuses namespace creation and
//! still lets the usual things run. One test needs no daemon: it loads berth's rendered default
//! profile through libcontainer in a child process and probes the argument filters.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod common;

use common::TestDaemon;
use serde_json::{json, Value};

fn daemon(name: &str) -> TestDaemon {
    let d = TestDaemon::start(name);
    d.import_busybox();
    d
}

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

#[test]
fn the_default_profile_refuses_new_namespaces_and_lets_the_usual_things_run() {
    require_root!();
    let d = daemon("sdefault");
    let (out, code) = run(
        &d,
        "def",
        json!([]),
        &["grep", "^Seccomp:", "/proc/self/status"],
    );
    assert_eq!((out.as_str(), code), ("Seccomp:\t2\n", 0));
    let (out, code) = run(&d, "ns", json!([]), &["unshare", "-U", "true"]);
    assert!(
        code != 0 && out.contains("Operation not permitted"),
        "{code}: {out}"
    );
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

/// Loads berth's default profile for Docker's default capabilities (as libcontainer loads it
/// for a container), then tries calls whose arguments the filter checks. Does nothing unless
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
    // SAFETY: prctl with integer arguments only; sets no_new_privs so that an unprivileged test
    // run may load a filter.
    let nnp = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(nnp, 0);
    libcontainer::seccomp::initialize_seccomp(&profile).unwrap();
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
