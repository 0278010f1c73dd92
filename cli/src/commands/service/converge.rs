//! The convergence loop's state between polls (docker's `ServiceProgress`): update and rollback
//! states from the service, the per-mode progress from `progress.rs`, and the monitoring period
//! that ends in "verify: Service converged". Pure: the caller passes the polled objects and the
//! current instant.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bollard::models::{Service, ServiceUpdateStatusStateEnum as UpdateState, Task};

use super::progress::{line, Event, Updater};

/// Docker's default `UpdateConfig.Monitor`.
const DEFAULT_MONITOR: Duration = Duration::from_secs(5);

/// The convergence loop's state between polls (docker's `ServiceProgress`).
#[derive(Debug, Default)]
pub struct Convergence {
    updater: Option<Updater>,
    converged: bool,
    converged_at: Option<Instant>,
    rollback: bool,
    final_message: Option<Event>,
    monitor: Option<Duration>,
}

impl Convergence {
    /// A fresh tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once all tasks ran at the last poll.
    pub fn is_converged(&self) -> bool {
        self.converged
    }

    /// First half of a poll, with the service just read. `Ok(true)` means finished (the
    /// tasks stayed up for the monitoring period, or the daemon reports the update done);
    /// an error is a paused update or rollback.
    pub fn check_service(
        &mut self,
        service: &Service,
        now: Instant,
        out: &mut Vec<Event>,
    ) -> Result<bool, String> {
        let monitor = service
            .spec
            .as_ref()
            .and_then(|s| s.update_config.as_ref())
            .and_then(|u| u.monitor)
            .filter(|m| *m > 0)
            .map_or(DEFAULT_MONITOR, |m| Duration::from_nanos(m.unsigned_abs()));
        self.monitor = Some(monitor);
        if self.updater.is_none() {
            self.updater = Some(Updater::for_service(service)?);
        }
        if let Some(status) = &service.update_status {
            let message = status.message.clone().unwrap_or_default();
            match status.state {
                Some(UpdateState::UPDATING) => self.rollback = false,
                Some(UpdateState::COMPLETED) if !self.converged => return Ok(true),
                Some(UpdateState::PAUSED) => {
                    return Err(format!("service update paused: {message}"))
                }
                Some(UpdateState::ROLLBACK_STARTED) => {
                    if !self.rollback && !message.is_empty() {
                        out.push(line("rollback", message));
                    }
                    self.rollback = true;
                }
                Some(UpdateState::ROLLBACK_PAUSED) => {
                    return Err(format!("service rollback paused: {message}"))
                }
                Some(UpdateState::ROLLBACK_COMPLETED) => {
                    if !self.converged {
                        self.final_message = Some(line("rollback", message));
                    }
                    self.rollback = true;
                }
                _ => {}
            }
        }
        // A job is done once complete: docker prints "job complete" and waits no more.
        if self.converged && self.updater.as_ref().is_some_and(Updater::is_job) {
            out.push(Event::Message("job complete".into()));
            return Ok(true);
        }
        if let Some(at) = self.converged_at.filter(|_| self.converged) {
            if now.duration_since(at) >= monitor {
                out.push(line("verify", "Service converged"));
                out.extend(self.final_message.take());
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Second half of a poll: the service's up-to-date tasks and the nodes not down.
    pub fn check_tasks(
        &mut self,
        service: &Service,
        tasks: &[Task],
        active_nodes: &HashSet<String>,
        now: Instant,
        out: &mut Vec<Event>,
    ) -> Result<(), String> {
        let updater = self.updater.as_mut().ok_or("service not checked yet")?;
        self.converged = updater.update(service, tasks, active_nodes, self.rollback, out)?;
        let monitor = self.monitor.unwrap_or(DEFAULT_MONITOR);
        if self.converged && updater.is_job() {
            // Nothing to verify: the next look at the service ends the wait.
        } else if self.converged {
            let at = *self.converged_at.get_or_insert(now);
            if let Some(wait) = monitor.checked_sub(now.duration_since(at)) {
                // Docker prints `wait/time.Second + 1` with the clock read a moment after
                // convergence was seen, so a full 5 s period reads "5": round up instead.
                let secs = wait.as_nanos().div_ceil(1_000_000_000).max(1);
                out.push(line(
                    "verify",
                    format!("Waiting {secs} seconds to verify that tasks are stable..."),
                ));
            }
        } else {
            if self.converged_at.is_some() {
                out.push(line("verify", "Detected task failure"));
            }
            self.converged_at = None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::service::progress::tests::{nodes, replicated, task};
    use bollard::models::{ServiceUpdateStatus, TaskState};

    fn verify(action: &str) -> Event {
        line("verify", action)
    }

    #[test]
    fn converges_after_the_monitoring_period() {
        let service = replicated(1);
        let running = [task(1, TaskState::RUNNING, TaskState::RUNNING, "n1")];
        let mut c = Convergence::new();
        let mut out = Vec::new();
        let t0 = Instant::now();
        assert!(!c.check_service(&service, t0, &mut out).unwrap());
        c.check_tasks(&service, &running, &nodes(), t0, &mut out)
            .unwrap();
        assert!(c.is_converged());
        assert_eq!(
            out.last(),
            Some(&verify(
                "Waiting 5 seconds to verify that tasks are stable..."
            ))
        );
        out.clear();
        let t1 = t0 + Duration::from_millis(3_500);
        assert!(!c.check_service(&service, t1, &mut out).unwrap());
        c.check_tasks(&service, &running, &nodes(), t1, &mut out)
            .unwrap();
        assert_eq!(
            out,
            vec![verify(
                "Waiting 2 seconds to verify that tasks are stable..."
            )]
        );
        out.clear();
        assert!(c
            .check_service(&service, t0 + Duration::from_secs(5), &mut out)
            .unwrap());
        assert_eq!(out, vec![verify("Service converged")]);
    }

    #[test]
    fn a_failure_while_verifying_restarts_the_wait() {
        let service = replicated(1);
        let mut c = Convergence::new();
        let mut out = Vec::new();
        let t0 = Instant::now();
        c.check_service(&service, t0, &mut out).unwrap();
        c.check_tasks(
            &service,
            &[task(1, TaskState::RUNNING, TaskState::RUNNING, "n1")],
            &nodes(),
            t0,
            &mut out,
        )
        .unwrap();
        out.clear();
        let failed = [task(1, TaskState::RUNNING, TaskState::FAILED, "n1")];
        c.check_tasks(
            &service,
            &failed,
            &nodes(),
            t0 + Duration::from_secs(1),
            &mut out,
        )
        .unwrap();
        assert!(!c.is_converged());
        assert_eq!(out.last(), Some(&verify("Detected task failure")));
    }

    #[test]
    fn update_states_end_or_annotate_the_wait() {
        let mut service = replicated(1);
        service.update_status = Some(ServiceUpdateStatus {
            state: Some(UpdateState::PAUSED),
            message: Some("update paused due to failure".into()),
            ..Default::default()
        });
        let mut out = Vec::new();
        let err = Convergence::new()
            .check_service(&service, Instant::now(), &mut out)
            .unwrap_err();
        assert_eq!(err, "service update paused: update paused due to failure");
        service.update_status = Some(ServiceUpdateStatus {
            state: Some(UpdateState::ROLLBACK_STARTED),
            message: Some("manually requested rollback".into()),
            ..Default::default()
        });
        let mut c = Convergence::new();
        c.check_service(&service, Instant::now(), &mut out).unwrap();
        assert_eq!(out, vec![line("rollback", "manually requested rollback")]);
        out.clear();
        c.check_tasks(&service, &[], &nodes(), Instant::now(), &mut out)
            .unwrap();
        assert_eq!(
            out[0],
            line("overall progress", "rolling back update: 0 out of 1 tasks")
        );
        service.update_status.as_mut().unwrap().state = Some(UpdateState::COMPLETED);
        assert!(Convergence::new()
            .check_service(&service, Instant::now(), &mut out)
            .unwrap());
    }

    #[test]
    fn the_service_monitor_period_is_used() {
        let mut service = replicated(1);
        service.spec.as_mut().unwrap().update_config =
            Some(bollard::models::ServiceSpecUpdateConfig {
                monitor: Some(2_000_000_000),
                ..Default::default()
            });
        let mut c = Convergence::new();
        let mut out = Vec::new();
        let t0 = Instant::now();
        c.check_service(&service, t0, &mut out).unwrap();
        c.check_tasks(
            &service,
            &[task(1, TaskState::RUNNING, TaskState::RUNNING, "n1")],
            &nodes(),
            t0,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out.last(),
            Some(&verify(
                "Waiting 2 seconds to verify that tasks are stable..."
            ))
        );
        assert!(c
            .check_service(&service, t0 + Duration::from_secs(2), &mut out)
            .unwrap());
    }
}
