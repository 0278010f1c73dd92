//! Healthchecks: while a container with a `HEALTHCHECK` runs, the daemon runs the test as an
//! exec every interval, keeps the last results in the record (`State.Health`) and reports
//! changes as `health_status` events. Docker's rules: failures during the start period do not
//! count, `retries` failures in a row make it unhealthy, a timeout is a failure.

use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};

use super::handle::Handle;
use super::types::{HealthConfig, HealthProbe, HealthState};
use crate::engine::exec::ExecConfig;
use crate::engine::Engine;

/// Docker's defaults.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: i64 = 3;
/// Results kept, and output bytes kept per result, as Docker.
const KEEP_RESULTS: usize = 5;
const KEEP_OUTPUT: usize = 4096;

/// The run's healthcheck over the image's (`Healthcheck` in the image config), field by field.
pub fn merge(
    run: Option<&HealthConfig>,
    image: Option<&serde_json::Value>,
) -> Option<HealthConfig> {
    let from_image = image.map(|v| {
        let num = |k: &str| v.get(k).and_then(serde_json::Value::as_i64).unwrap_or(0);
        HealthConfig {
            test: v
                .get("Test")
                .and_then(|t| serde_json::from_value(t.clone()).ok())
                .unwrap_or_default(),
            interval: num("Interval"),
            timeout: num("Timeout"),
            start_period: num("StartPeriod"),
            retries: num("Retries"),
            start_interval: num("StartInterval"),
        }
    });
    let merged = match (run, from_image) {
        (None, img) => img,
        (Some(r), None) => Some(r.clone()),
        (Some(r), Some(img)) => Some(HealthConfig {
            test: if r.test.is_empty() {
                img.test
            } else {
                r.test.clone()
            },
            interval: if r.interval == 0 {
                img.interval
            } else {
                r.interval
            },
            timeout: if r.timeout == 0 {
                img.timeout
            } else {
                r.timeout
            },
            start_period: if r.start_period == 0 {
                img.start_period
            } else {
                r.start_period
            },
            retries: if r.retries == 0 {
                img.retries
            } else {
                r.retries
            },
            start_interval: if r.start_interval == 0 {
                img.start_interval
            } else {
                r.start_interval
            },
        }),
    };
    merged.filter(|h| !h.test.is_empty())
}

/// The command a probe runs; `None` when checks are disabled.
pub fn probe_command(h: &HealthConfig) -> Option<Vec<String>> {
    match h.test.split_first() {
        Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
        Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
            Some(vec!["/bin/sh".into(), "-c".into(), rest.join(" ")])
        }
        _ => None,
    }
}

fn duration(ns: i64, default: Duration) -> Duration {
    u64::try_from(ns)
        .ok()
        .filter(|n| *n > 0)
        .map_or(default, Duration::from_nanos)
}

/// Applies one probe's outcome to the state (pure, so Docker's rules are unit-tested).
pub fn record(state: &mut HealthState, probe: HealthProbe, in_start_period: bool, retries: i64) {
    let retries = if retries <= 0 {
        DEFAULT_RETRIES
    } else {
        retries
    };
    if probe.exit_code == 0 {
        state.status = "healthy".into();
        state.failing_streak = 0;
    } else if !in_start_period {
        state.failing_streak += 1;
        if state.failing_streak >= retries {
            state.status = "unhealthy".into();
        }
    }
    state.log.push(probe);
    if state.log.len() > KEEP_RESULTS {
        state.log.remove(0);
    }
}

impl Engine {
    /// Starts the healthcheck loop for a container that just started (or was found running).
    pub(crate) fn watch_health(&self, handle: Arc<Handle>, health: Option<HealthConfig>) {
        let (Some(engine), Some(cfg)) = (self.me(), health) else {
            return;
        };
        let Some(cmd) = probe_command(&cfg) else {
            return;
        };
        tokio::spawn(async move { engine.health_loop(handle, cfg, cmd).await });
    }

    async fn health_loop(
        self: Arc<Self>,
        handle: Arc<Handle>,
        cfg: HealthConfig,
        cmd: Vec<String>,
    ) {
        let mut changes = handle.subscribe();
        let exits = changes.borrow().exits;
        let started = tokio::time::Instant::now();
        let start_period = duration(cfg.start_period, Duration::ZERO);
        self.set_health(&handle, |h| {
            *h = HealthState {
                status: "starting".into(),
                ..Default::default()
            }
        })
        .await;
        loop {
            let interval = if cfg.start_interval > 0 && started.elapsed() < start_period {
                duration(cfg.start_interval, DEFAULT_INTERVAL)
            } else {
                duration(cfg.interval, DEFAULT_INTERVAL)
            };
            let ended = changes.wait_for(|c| c.exits > exits || c.removed || !c.running);
            if tokio::time::timeout(interval, ended).await.is_ok() {
                return; // the container stopped (or went away)
            }
            if handle.snapshot().await.state.status == super::ContainerStatus::Paused {
                continue; // a frozen container cannot run a probe; Docker skips it too
            }
            let probe = self
                .probe(&handle.id, &cmd, duration(cfg.timeout, DEFAULT_TIMEOUT))
                .await;
            let in_start = started.elapsed() < start_period;
            let before = handle.snapshot().await.state.health.map(|h| h.status);
            let after = self
                .set_health(&handle, |h| record(h, probe, in_start, cfg.retries))
                .await;
            if after.is_some() && after != before {
                let rec = handle.snapshot().await;
                let action = format!("health_status: {}", after.unwrap_or_default());
                self.container_event(&rec, &action, &[]);
            }
        }
    }

    /// Changes the recorded health while the container runs; returns the new status.
    async fn set_health(
        &self,
        handle: &Handle,
        f: impl FnOnce(&mut HealthState),
    ) -> Option<String> {
        let mut rec = handle.lock().await;
        if !rec.state.status.is_running() {
            return None;
        }
        let mut h = rec.state.health.take().unwrap_or_default();
        f(&mut h);
        let status = h.status.clone();
        rec.state.health = Some(h);
        if let Err(e) = handle.publish(&rec, &self.records, false) {
            tracing::warn!(container = %rec.id, error = %e, "recording health failed");
        }
        Some(status)
    }

    async fn probe(&self, id: &str, cmd: &[String], timeout: Duration) -> HealthProbe {
        let start = Utc::now();
        let cfg = ExecConfig {
            cmd: cmd.to_vec(),
            attach_stdout: true,
            attach_stderr: true,
            ..Default::default()
        };
        let run = async {
            let exec_id = self.create_exec(id, cfg).await?;
            let mut output = Vec::new();
            if let Some(mut out) = self.start_exec(&exec_id, false).await? {
                while let Some(chunk) = out.chunks.recv().await {
                    if output.len() < KEEP_OUTPUT {
                        output.extend_from_slice(&chunk.bytes);
                    }
                }
            }
            let code = self.inspect_exec(&exec_id)?.status.exit_code.unwrap_or(-1);
            Ok::<_, crate::EngineError>((code, output))
        };
        let (exit_code, output) = match tokio::time::timeout(timeout, run).await {
            Ok(Ok((code, mut out))) => {
                out.truncate(KEEP_OUTPUT);
                (code, String::from_utf8_lossy(&out).into_owned())
            }
            Ok(Err(e)) => (-1, e.to_string()),
            Err(_) => (
                -1,
                format!("Health check exceeded timeout ({}s)", timeout.as_secs()),
            ),
        };
        HealthProbe {
            start: start.to_rfc3339_opts(SecondsFormat::Nanos, true),
            end: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
            exit_code,
            output,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(code: i64) -> HealthProbe {
        HealthProbe {
            exit_code: code,
            ..Default::default()
        }
    }

    #[test]
    fn retries_failures_in_a_row_make_it_unhealthy_and_a_success_heals() {
        let mut s = HealthState {
            status: "starting".into(),
            ..Default::default()
        };
        record(&mut s, probe(1), false, 2);
        assert_eq!((s.status.as_str(), s.failing_streak), ("starting", 1));
        record(&mut s, probe(1), false, 2);
        assert_eq!(s.status, "unhealthy");
        record(&mut s, probe(0), false, 2);
        assert_eq!((s.status.as_str(), s.failing_streak), ("healthy", 0));
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_and_the_log_is_bounded() {
        let mut s = HealthState::default();
        for _ in 0..10 {
            record(&mut s, probe(1), true, 1);
        }
        assert_eq!(s.failing_streak, 0);
        assert_eq!(s.log.len(), KEEP_RESULTS);
    }

    #[test]
    fn the_run_overrides_the_image_field_by_field() {
        let image = serde_json::json!({"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5, "Retries": 7});
        let run = HealthConfig {
            interval: 9,
            ..Default::default()
        };
        let h = merge(Some(&run), Some(&image)).unwrap();
        assert_eq!(h.test, vec!["CMD-SHELL", "curl -f localhost"]);
        assert_eq!((h.interval, h.retries), (9, 7));
        assert_eq!(
            probe_command(&h).unwrap(),
            vec!["/bin/sh", "-c", "curl -f localhost"]
        );
        let none = HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        assert_eq!(
            probe_command(&merge(Some(&none), Some(&image)).unwrap()),
            None
        );
        assert_eq!(merge(None, None), None);
    }
}
