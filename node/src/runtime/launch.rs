//! The daemon's side of the monitor: spawn `berth-monitor`, read its one-line handshake and the
//! pids it recorded, and wait for it (and so for the container) to end.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::{ExitRecord, MonitorConfig, MonitorPids};
use crate::error::{EngineError, Result};

/// How long a container may take to be created and started before we give up on it.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the monitor binary and a container's runtime files live.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// The `berth-monitor` executable.
    pub monitor_bin: PathBuf,
}

impl Launcher {
    /// The monitor binary next to the running executable.
    pub fn beside_current_exe() -> Self {
        let dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("/usr/local/bin"));
        Launcher {
            monitor_bin: dir.join("berth-monitor"),
        }
    }

    /// Writes the config, starts a monitor and returns once the container runs.
    /// `dir` is the container directory, where the monitor's own stderr goes too.
    pub async fn start(&self, dir: &Path, cfg: &MonitorConfig) -> Result<MonitorPids> {
        let cfg_path = dir.join("monitor-config.json");
        super::files::write_json_replace(&cfg_path, cfg)
            .map_err(|e| EngineError::io(format!("write {}", cfg_path.display()), e))?;
        let stderr_path = dir.join("monitor.log");
        let stderr = std::fs::File::create(&stderr_path)
            .map_err(|e| EngineError::io(format!("create {}", stderr_path.display()), e))?;
        let mut child = tokio::process::Command::new(&self.monitor_bin)
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| EngineError::io(format!("spawn {}", self.monitor_bin.display()), e))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| EngineError::Internal("monitor stdout".into()))?;
        let mut line = String::new();
        let read =
            tokio::time::timeout(START_TIMEOUT, BufReader::new(stdout).read_line(&mut line)).await;
        // The first monitor process exits right after forking the real one; reap it.
        let _ = child.wait().await;
        match read {
            Err(_) => return Err(EngineError::Runtime("container start timed out".into())),
            Ok(Err(e)) => return Err(EngineError::io("read monitor handshake", e)),
            Ok(Ok(_)) => {}
        }
        let line = line.trim_end();
        if line == "ok" {
            return read_pids(&cfg.pids_path);
        }
        let message = match line.strip_prefix("err ") {
            Some(m) => m.to_string(),
            None => format!(
                "monitor ended without a word; see {}",
                stderr_path.display()
            ),
        };
        Err(EngineError::Runtime(format!(
            "failed to start container: {message}"
        )))
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
