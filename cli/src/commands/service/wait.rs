//! Waiting for a service to converge (docker's `WaitOnService`): polls the service, its
//! up-to-date tasks and the nodes every 200 ms, feeding `progress.rs` and drawing with
//! `display.rs` on stdout. Ctrl-C stops waiting, not the update.

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use bollard::errors::Error as DockerError;
use bollard::models::{NodeState, Task};
use bollard::query_parameters::ListTasksOptionsBuilder;
use bollard::Docker;

use super::converge::Convergence;
use super::display::Display;
use super::progress::Event;
use crate::commands::terminal::terminal_size;

const POLL: Duration = Duration::from_millis(200);

/// Shows convergence progress of `service` (name or ID) until its tasks are stable; `quiet`
/// waits without drawing.
pub async fn wait_on_service(docker: &Docker, service: &str, quiet: bool) -> Result<()> {
    let tty = std::io::stdout().is_terminal();
    let width = terminal_size().map_or(200, |(_, cols)| cols);
    let mut display = Display::new(tty, width);
    // A closed stdout ends the wait (docker dies of SIGPIPE there).
    let mut show = |events: &mut Vec<Event>| -> std::io::Result<()> {
        let drawn: String = events.drain(..).map(|e| display.render(&e)).collect();
        if quiet {
            return Ok(());
        }
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(drawn.as_bytes())?;
        stdout.flush()
    };
    let mut progress = Convergence::new();
    let mut events = Vec::new();
    let mut up_to_date_filter = true;
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    loop {
        let current = docker.inspect_service(service, None).await?;
        let finished = progress.check_service(&current, Instant::now(), &mut events);
        show(&mut events)?;
        if finished.map_err(|e| anyhow!(e))? {
            return Ok(());
        }
        let id = current.id.clone().unwrap_or_default();
        let tasks = match list_tasks(docker, &id, up_to_date_filter).await {
            // A daemon without docker's internal `_up-to-date` filter: list all the service's
            // tasks; the progress prefers the newest task of each slot.
            Err(DockerError::DockerResponseServerError {
                status_code: 400, ..
            }) if up_to_date_filter => {
                up_to_date_filter = false;
                list_tasks(docker, &id, false).await?
            }
            other => other?,
        };
        let active: HashSet<String> = docker
            .list_nodes(None)
            .await?
            .into_iter()
            .filter(|n| n.status.as_ref().and_then(|s| s.state) != Some(NodeState::DOWN))
            .filter_map(|n| n.id)
            .collect();
        let checked = progress.check_tasks(&current, &tasks, &active, Instant::now(), &mut events);
        show(&mut events)?;
        checked.map_err(|e| anyhow!(e))?;
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            _ = &mut interrupt => {
                if !progress.is_converged() {
                    events.push(Event::Message("Operation continuing in background.".into()));
                    events.push(Event::Message(format!("Use `berth service ps {service}` to check progress.")));
                    show(&mut events)?;
                }
                return Ok(());
            }
        }
    }
}

async fn list_tasks(
    docker: &Docker,
    service_id: &str,
    up_to_date: bool,
) -> Result<Vec<Task>, DockerError> {
    let mut filters = HashMap::from([("service".to_string(), vec![service_id.to_string()])]);
    if up_to_date {
        filters.insert("_up-to-date".to_string(), vec!["true".to_string()]);
    }
    let options = ListTasksOptionsBuilder::new().filters(&filters).build();
    docker.list_tasks(Some(options)).await
}
