//! The daemon's side of the monitor: spawn `berth-monitor`, open its start gate, read its
//! one-line handshake and the pids it recorded, and wait for it (and so for the container) to
//! end. The gate (the monitor's stdin) lets the container's network be set up while the
//! monitor creates the container: the two take similar time and overlap, and the container's
//! first process still starts with its network in place, as under Docker.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::unix::pipe;

use super::spawner::{SpawnError, Spawner};
use super::{ExitRecord, MonitorConfig, MonitorPids};
use crate::error::{EngineError, Result};

/// How long a container may take to be created and started before we give up on it.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the monitor binary and a container's runtime files live.
#[derive(Clone)]
pub struct Launcher {
    /// The `berth-monitor` executable.
    pub monitor_bin: PathBuf,
    /// The spawner monitors are started through (`runtime::spawner`), started on first use
    /// and again after one failed; `None`: berthd spawns them itself.
    spawner: Option<Arc<Mutex<Option<Spawner>>>>,
}

impl std::fmt::Debug for Launcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launcher")
            .field("monitor_bin", &self.monitor_bin)
            .field("spawner", &self.spawner.is_some())
            .finish()
    }
}

impl Launcher {
    /// The monitor binary next to the running executable, spawned through a spawner
    /// (`start_spawner`).
    pub fn beside_current_exe() -> Self {
        let dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("/usr/local/bin"));
        Launcher {
            monitor_bin: dir.join("berth-monitor"),
            spawner: Some(Arc::default()),
        }
    }

    /// Starts the spawner now rather than at the first spawn. It inherits berthd's descriptors
    /// that are not close-on-exec (the template mount namespace's, whose number monitors are
    /// told) and passes them on, as a monitor spawned by berthd would get them.
    pub fn start_spawner(&self) {
        let Some(Ok(mut slot)) = self.spawner.as_ref().map(|s| s.lock()) else {
            return;
        };
        if slot.is_none() {
            match Spawner::start(&self.monitor_bin) {
                Ok(s) => *slot = Some(s),
                Err(e) => tracing::warn!(error = %e, "monitor spawner not started"),
            }
        }
    }

    /// Monitors spawned by berthd itself.
    pub fn direct(monitor_bin: PathBuf) -> Self {
        Launcher {
            monitor_bin,
            spawner: None,
        }
    }

    /// Writes the config and starts a monitor, which creates the container and then waits at
    /// its gate: the caller sets up what the container needs meanwhile (its network), then
    /// calls `Pending::go` or `Pending::cancel`. `dir` is the container directory, where the
    /// monitor's own stderr goes too.
    pub async fn spawn(&self, dir: &Path, cfg: &MonitorConfig) -> Result<Pending> {
        let cfg_path = dir.join("monitor-config.json");
        super::files::write_json_replace(&cfg_path, cfg)
            .map_err(|e| EngineError::io(format!("write {}", cfg_path.display()), e))?;
        let stderr_path = dir.join("monitor.log");
        let stderr = std::fs::File::create(&stderr_path)
            .map_err(|e| EngineError::io(format!("create {}", stderr_path.display()), e))?;
        let pipe = || {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| EngineError::io("make a monitor pipe", e.into()))
        };
        let (gate_r, gate_w) = pipe()?;
        let (handshake_r, handshake_w) = pipe()?;
        let stdio = [gate_r, handshake_w, OwnedFd::from(stderr)];
        let stdio = match &self.spawner {
            Some(slot) => {
                let (slot, bin) = (slot.clone(), self.monitor_bin.clone());
                let path = cfg_path.clone();
                let (spawned, stdio) = tokio::task::spawn_blocking(move || {
                    let spawned = spawn_through(&slot, &bin, &path, &stdio);
                    (spawned, stdio)
                })
                .await
                .map_err(|e| EngineError::Internal(format!("spawn task: {e}")))?;
                match spawned {
                    Ok(_) => None,
                    // Nothing was spawned: berthd spawns the monitor itself this time.
                    Err(SpawnError::NotSent(e)) => {
                        tracing::warn!(error = %e, "monitor spawner failed; spawning directly");
                        Some(stdio)
                    }
                    // A monitor may be waiting at its gate: dropping our ends of its pipes
                    // (below) makes it cancel and clean up; spawning another would race it.
                    Err(e) => {
                        return Err(EngineError::Runtime(format!(
                            "failed to start container: spawn the monitor: {e}"
                        )))
                    }
                }
            }
            None => Some(stdio),
        };
        if let Some([stdin, stdout, stderr]) = stdio {
            let mut child = tokio::process::Command::new(&self.monitor_bin)
                .arg(&cfg_path)
                .stdin(Stdio::from(stdin))
                .stdout(Stdio::from(stdout))
                .stderr(Stdio::from(stderr))
                .spawn()
                .map_err(|e| EngineError::io(format!("spawn {}", self.monitor_bin.display()), e))?;
            // The first monitor process exits right after forking the real one; reap it.
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
        }
        let handshake = pipe::Receiver::from_owned_fd(handshake_r)
            .map_err(|e| EngineError::io("watch the monitor handshake", e))?;
        Ok(Pending {
            gate: std::fs::File::from(gate_w),
            handshake,
            stderr_path,
            pids_path: cfg.pids_path.clone(),
        })
    }
}

/// One spawn through the spawner in `slot`, started if there is none; a failed one is
/// dropped (and so ended), for the next spawn to start another.
fn spawn_through(
    slot: &Mutex<Option<Spawner>>,
    monitor_bin: &Path,
    config: &Path,
    [stdin, stdout, stderr]: &[OwnedFd; 3],
) -> std::result::Result<i32, SpawnError> {
    let mut slot = slot
        .lock()
        .map_err(|_| SpawnError::NotSent(std::io::Error::other("spawner lock poisoned")))?;
    if slot.is_none() {
        *slot = Some(Spawner::start(monitor_bin).map_err(SpawnError::NotSent)?);
    }
    let spawned = match slot.as_ref() {
        Some(s) => s.spawn(config, [stdin, stdout, stderr]),
        None => Err(SpawnError::NotSent(std::io::Error::other("no spawner"))),
    };
    if matches!(
        spawned,
        Err(SpawnError::NotSent(_) | SpawnError::NoAnswer(_))
    ) {
        *slot = None;
    }
    spawned
}

/// The byte that opens a monitor's start gate.
pub const GO: u8 = b'g';

/// A monitor creating its container, which it starts only once the gate opens.
pub struct Pending {
    gate: std::fs::File,
    handshake: pipe::Receiver,
    stderr_path: PathBuf,
    pids_path: PathBuf,
}

impl Pending {
    /// Opens the gate and returns once the container runs.
    pub async fn go(mut self) -> Result<MonitorPids> {
        // One byte into an empty pipe never blocks. A monitor whose create failed has closed
        // its end: its handshake says why.
        let _ = self.gate.write_all(&[GO]);
        drop(self.gate);
        let line = read_handshake(self.handshake).await?;
        if line == "ok" {
            return read_pids(&self.pids_path);
        }
        let message = match line.strip_prefix("err ") {
            Some(m) => m.to_string(),
            None => format!(
                "monitor ended without a word; see {}",
                self.stderr_path.display()
            ),
        };
        Err(EngineError::Runtime(format!(
            "failed to start container: {message}"
        )))
    }

    /// Closes the gate and waits until the monitor has undone the create and ended.
    pub async fn cancel(self) {
        drop(self.gate);
        let _ = read_handshake(self.handshake).await;
    }
}

/// The monitor's one line.
async fn read_handshake(out: pipe::Receiver) -> Result<String> {
    let mut line = String::new();
    let read = tokio::time::timeout(START_TIMEOUT, BufReader::new(out).read_line(&mut line)).await;
    match read {
        Err(_) => Err(EngineError::Runtime("container start timed out".into())),
        Ok(Err(e)) => Err(EngineError::io("read monitor handshake", e)),
        Ok(Ok(_)) => Ok(line.trim_end().to_string()),
    }
}

/// Reads the pids a monitor recorded.
pub fn read_pids(path: &Path) -> Result<MonitorPids> {
    super::files::read_json(path)
        .map_err(|e| EngineError::io(format!("read {}", path.display()), e))?
        .ok_or_else(|| EngineError::Runtime(format!("monitor wrote no pids at {}", path.display())))
}

/// Reads a recorded exit, if the monitor wrote one.
pub fn read_exit(path: &Path) -> Option<ExitRecord> {
    super::files::read_json(path).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in monitor: records what came through its gate, then answers as a monitor
    /// whose container started (`g`) or was cancelled (anything else, or end of file).
    const STAND_IN: &str = r#"#!/bin/sh
dir=$(dirname "$1")
got=$(head -c 1)
printf '%s' "$got" > "$dir/gate"
if [ "$got" = g ]; then
    echo '{"monitor":7,"container":8}' > "$dir/pids.json"
    echo ok
else
    echo "err start cancelled by berthd"
fi
"#;

    fn setup() -> (tempfile::TempDir, Launcher, MonitorConfig) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("monitor");
        std::fs::write(&bin, STAND_IN).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let d = dir.path().display();
        let cfg = serde_json::from_value(serde_json::json!({
            "id": "c", "bundle": format!("{d}/bundle"),
            "rootfs": format!("{d}/rootfs"), "runtime_root": format!("{d}/rt"),
            "lower_dirs": [], "upper_dir": "u", "work_dir": "w", "log_path": "l",
            "exit_path": format!("{d}/exit.json"), "pids_path": format!("{d}/pids.json"),
            "oom_cgroup_dirs": [], "tty": false,
        }))
        .unwrap();
        (dir, Launcher::direct(bin), cfg)
    }

    #[tokio::test]
    async fn go_opens_the_gate_and_returns_the_recorded_pids() {
        let (dir, launcher, cfg) = setup();
        let pending = launcher.spawn(dir.path(), &cfg).await.unwrap();
        let pids = pending.go().await.unwrap();
        assert_eq!(
            pids,
            MonitorPids {
                monitor: 7,
                container: 8
            }
        );
        assert_eq!(std::fs::read(dir.path().join("gate")).unwrap(), [GO]);
    }

    #[tokio::test]
    async fn cancel_closes_the_gate_and_waits_for_the_monitor_to_answer() {
        let (dir, launcher, cfg) = setup();
        let pending = launcher.spawn(dir.path(), &cfg).await.unwrap();
        pending.cancel().await;
        // The monitor had answered by the time cancel returned, without a start.
        assert_eq!(std::fs::read(dir.path().join("gate")).unwrap(), b"");
        assert!(!dir.path().join("pids.json").exists());
    }
}
