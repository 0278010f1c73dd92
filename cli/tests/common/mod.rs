//! What the CLI's root-gated tests share: the `berth` binary (and the docker CLI, when the test
//! compares the two) run against one berth-test-support daemon, with a throwaway
//! `DOCKER_CONFIG` so no test reads or writes the machine's `~/.docker`.
#![allow(
    dead_code,
    reason = "each test file uses the part it needs; all of it is compiled into each"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use berth_test_support::TestDaemon;

/// A test daemon and the environment both CLIs run in.
pub struct Cli {
    /// Stops berthd and removes what it made when the test ends.
    pub daemon: TestDaemon,
    /// `unix://` + the daemon's socket.
    pub host: String,
    /// The `DOCKER_CONFIG` of every command (inside the daemon's root, removed with it).
    pub config: PathBuf,
}

/// A finished command: exit code, stdout and stderr as text.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub out: String,
    pub err: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code(),
            out: String::from_utf8_lossy(&o.stdout).into_owned(),
            err: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Cli {
    /// Starts a daemon named after the test.
    pub fn start(name: &str) -> Self {
        let daemon = TestDaemon::start(name);
        let host = format!("unix://{}", daemon.socket.display());
        let config = daemon.root.join("docker-config");
        std::fs::create_dir_all(&config).unwrap();
        Cli {
            daemon,
            host,
            config,
        }
    }

    /// `program args…` with `DOCKER_CONFIG` set and no host or context from the environment
    /// the tests run in; `host` says whether it reaches the daemon through `DOCKER_HOST`.
    pub fn command(&self, program: &Path, args: &[&str], host: bool) -> Command {
        let mut cmd = Command::new(program);
        for var in [
            "BERTH_HOST",
            "DOCKER_HOST",
            "DOCKER_CONTEXT",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
            "BERTH_CONFIG",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("DOCKER_CONFIG", &self.config)
            .env("BERTH_CONFIG", self.config.join("berth"))
            .args(args);
        if host {
            cmd.env("DOCKER_HOST", &self.host);
        }
        cmd
    }

    /// Runs `program` with `input` on its stdin.
    pub fn run_in(&self, program: &Path, args: &[&str], host: bool, input: &[u8]) -> Run {
        let mut child = self
            .command(program, args, host)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap().into()
    }

    /// `berth args…` against the daemon, stdin empty.
    pub fn berth(&self, args: &[&str]) -> Run {
        self.run_in(&berth(), args, true, b"")
    }

    /// `berth args…` that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.berth(args);
        assert_eq!(r.code, Some(0), "berth {args:?}: {}{}", r.out, r.err);
        r.out
    }

    /// `docker args…` against the daemon, stdin empty.
    pub fn docker(&self, args: &[&str]) -> Run {
        self.run_in(Path::new("docker"), args, true, b"")
    }

    /// Imports the busybox test image as `busybox:latest`.
    pub fn import_busybox(&self) {
        self.daemon.import_busybox();
    }
}

/// The `berth` binary of this build.
pub fn berth() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth"))
}

/// Whether the docker CLI is installed (tests that compare with it say so when it is not).
pub fn has_docker() -> bool {
    Command::new("docker")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
