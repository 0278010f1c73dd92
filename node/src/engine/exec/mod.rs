//! exec: processes started in a running container next to its init. The daemon keeps each exec's
//! configuration and outcome in memory (as Docker does); the container's monitor starts and
//! reaps the process (`runtime::event_loop`), so it lives on if the daemon restarts.

pub mod process;
pub mod session;
pub mod start;

use std::sync::Mutex;

use std::os::fd::OwnedFd;

/// `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecConfig {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    /// Empty: the container's working directory.
    pub working_dir: String,
    /// Empty: the container's user.
    pub user: String,
    pub privileged: bool,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub console_size: Option<[u16; 2]>,
    pub detach_keys: String,
}

/// What happened to an exec so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecStatus {
    pub started: bool,
    pub running: bool,
    pub pid: i32,
    pub exit_code: Option<i64>,
}

/// One exec the daemon knows about.
pub struct ExecEntry {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub(crate) status: Mutex<ExecStatus>,
    /// The terminal master of a TTY exec, for resize.
    pub(crate) terminal: Mutex<Option<OwnedFd>>,
}

/// `GET /exec/{id}/json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecInfo {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub status: ExecStatus,
}

impl ExecEntry {
    /// A copy of the status.
    pub fn status(&self) -> ExecStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut ExecStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }
}
