//! `stop`, `kill` and `restart`: signals to the container's init, and waiting for the exit.

use std::time::Duration;

use super::handle::Handle;
use super::signal::{parse_signal, ContainerSignal};
use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// Docker's default grace period for `stop`.
const DEFAULT_STOP_TIMEOUT: i64 = 10;
/// How long to wait for an exit after SIGKILL before calling the container stuck.
const KILL_GRACE: Duration = Duration::from_secs(30);

/// Whether `stop` did anything (Docker answers 304 when the container was not running).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    Stopped,
    NotRunning,
}

impl Engine {
    /// Sends the stop signal, waits up to `timeout` seconds, then SIGKILL.
    pub async fn stop_container(
        &self,
        key: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<StopOutcome> {
        let handle = self.lookup(key)?;
        let (sig, wait_for) = {
            let mut rec = handle.lock().await;
            if !rec.state.status.is_running() {
                if rec.state.status == super::ContainerStatus::Restarting {
                    rec.state.status = super::ContainerStatus::Exited;
                    rec.state.manually_stopped = true;
                    handle.publish(&rec, &self.records, false)?;
                }
                return Ok(StopOutcome::NotRunning);
            }
            // A bad signal is refused before anything is recorded.
            let sig = parse_signal(
                signal
                    .or(rec.config.stop_signal.as_deref())
                    .unwrap_or("SIGTERM"),
            )?;
            rec.state.manually_stopped = true;
            self.records.put(&rec.id, &*rec)?;
            let t = timeout
                .or(rec.config.stop_timeout)
                .unwrap_or(DEFAULT_STOP_TIMEOUT);
            // A paused container cannot handle its stop signal: it is killed right away.
            if rec.state.status == super::ContainerStatus::Paused {
                (ContainerSignal::KILL, 0)
            } else {
                (sig, t)
            }
        };
        let mut rx = handle.subscribe();
        self.signal(&handle, sig).await?;
        let grace = if wait_for < 0 {
            None
        } else {
            Some(Duration::from_secs(wait_for.unsigned_abs()))
        };
        let exited = async { rx.wait_for(|c| !c.running).await.is_ok() };
        let done = match grace {
            None => exited.await,
            Some(g) => tokio::time::timeout(g, exited).await.unwrap_or(false),
        };
        if !done {
            self.kill_and_wait(&handle).await?;
        }
        let rec = handle.snapshot().await;
        self.container_event(&rec, "stop", &[]);
        Ok(StopOutcome::Stopped)
    }

    /// Sends `signal` (default SIGKILL) to a running container.
    pub async fn kill_container(&self, key: &str, signal: Option<&str>) -> Result<()> {
        let handle = self.lookup(key)?;
        let sig = parse_signal(signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL"))?;
        let mut rx = handle.subscribe();
        self.signal(&handle, sig).await?;
        if sig == ContainerSignal::KILL {
            // Docker returns from a KILL only once the container is gone.
            let _ = tokio::time::timeout(KILL_GRACE, rx.wait_for(|c| !c.running)).await;
        }
        Ok(())
    }

    /// `restart`: a stop with `signal` (else the stop signal) and `timeout`, then a start.
    pub async fn restart_container(
        &self,
        key: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        self.stop_container(key, timeout, signal).await?;
        self.start_container(key).await?;
        // Docker logs it after the start (a restart policy's restarts log only `start`). The
        // restart succeeded whatever happens to the container meanwhile (removed: no event).
        if let Ok(handle) = self.lookup(key) {
            self.container_event(&handle.snapshot().await, "restart", &[]);
        }
        Ok(())
    }

    pub(crate) async fn kill_and_wait(&self, handle: &Handle) -> Result<()> {
        let mut rx = handle.subscribe();
        self.signal(handle, ContainerSignal::KILL).await?;
        let exited = tokio::time::timeout(KILL_GRACE, rx.wait_for(|c| !c.running))
            .await
            .is_ok();
        if exited {
            Ok(())
        } else {
            Err(EngineError::Internal(format!(
                "container {} did not exit after SIGKILL",
                handle.id
            )))
        }
    }

    async fn signal(&self, handle: &Handle, sig: ContainerSignal) -> Result<()> {
        let rec = handle.lock().await;
        if !rec.state.status.is_running() || rec.state.pid <= 0 {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        match sig.send(rec.state.pid) {
            // Gone already (ESRCH) is as good as signalled: its exit is on its way.
            Err(e) if e.raw_os_error() != Some(libc::ESRCH) => {
                return Err(EngineError::Internal(format!(
                    "signal {} to container {}: {e}",
                    sig.number(),
                    rec.id
                )))
            }
            _ => self.container_event(&rec, "kill", &[("signal", sig.number().to_string())]),
        }
        if rec.state.status == super::ContainerStatus::Paused && sig == ContainerSignal::KILL {
            // A frozen task cannot act on a signal, not even die of SIGKILL: thaw it, as
            // Docker does when it stops or kills a paused container.
            let dirs =
                crate::runtime::cgroups::container_dirs(&self.paths.cgroups.all, &rec.cgroup_rel());
            let _ = crate::runtime::freezer::thaw(&dirs);
        }
        Ok(())
    }
}
