//! `GET /services/{id}/logs` and `GET /tasks/{id}/logs`: the logs of the task containers on
//! this node, merged, each record carrying Docker's swarm details
//! (`com.docker.swarm.node.id=…,com.docker.swarm.service.id=…,com.docker.swarm.task.id=…`)
//! which the docker CLI reads to name the task a line came from.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use berth_raft::ObjectKind;
use tokio::sync::mpsc;

use super::containers::logs_request;
use super::convert::query::Query;
use super::error::{ApiError, ApiResult};
use super::swarm::SwarmState;
use super::{stream, AppState};
use crate::engine::container::logs::{LogChunk, Output};
use crate::swarm::model::task_attrs;
use crate::swarm::ops;

/// `GET /services/{id}/logs`.
pub async fn service(
    State(engine): State<AppState>,
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let m = swarm.control().await?;
    let tasks = m.read(|s| {
        ops::find(s, ObjectKind::Service, &id).map(|svc| {
            s.tasks_by_service(&svc.id)
                .into_iter()
                .map(|t| t.id.clone())
                .collect::<Vec<_>>()
        })
    })?;
    merged(&engine, &m, tasks, &Query::parse(q.as_deref())).await
}

/// `GET /tasks/{id}/logs`.
pub async fn task(
    State(engine): State<AppState>,
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let m = swarm.control().await?;
    let task = m.read(|s| ops::find(s, ObjectKind::Task, &id).map(|t| t.id.clone()))?;
    merged(&engine, &m, vec![task], &Query::parse(q.as_deref())).await
}

async fn merged(
    engine: &AppState,
    m: &crate::swarm::manager::Manager,
    tasks: Vec<String>,
    q: &Query,
) -> ApiResult<Response> {
    let mut req = logs_request(q)?;
    if !req.stdout && !req.stderr {
        req.stdout = true;
        req.stderr = true;
    }
    let details = q.flag("details", false);
    let local = crate::swarm::agent::task_containers(engine).await;
    let (tx, rx) = mpsc::channel::<LogChunk>(256);
    for (task_id, c) in local {
        if !tasks.contains(&task_id) {
            continue;
        }
        let (service_id, node_id) = m.read(|s| {
            s.get(ObjectKind::Task, &task_id)
                .map(|t| {
                    let (svc, node, _) = task_attrs(t);
                    (svc.to_string(), node.unwrap_or("").to_string())
                })
                .unwrap_or_default()
        });
        let prefix = format!(
            "com.docker.swarm.node.id={node_id},com.docker.swarm.service.id={service_id},\
             com.docker.swarm.task.id={task_id} "
        );
        let out = engine
            .logs(&c.id, req.clone())
            .await
            .map_err(ApiError::from)?;
        let tx = tx.clone();
        let timestamps = req.timestamps;
        tokio::spawn(async move {
            let mut chunks = out.chunks;
            while let Some(mut chunk) = chunks.recv().await {
                if details {
                    chunk.bytes = with_details(&chunk.bytes, &prefix, timestamps);
                }
                if tx.send(chunk).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    Ok(stream::body_response(Output {
        tty: false,
        chunks: rx,
        stdin: None,
    }))
}

/// Puts the details after the timestamp (when there is one), as Docker does.
fn with_details(bytes: &[u8], details: &str, timestamps: bool) -> Vec<u8> {
    let split = if timestamps {
        bytes.iter().position(|b| *b == b' ').map_or(0, |i| i + 1)
    } else {
        0
    };
    let mut out = Vec::with_capacity(bytes.len() + details.len());
    out.extend_from_slice(&bytes[..split]);
    out.extend_from_slice(details.as_bytes());
    out.extend_from_slice(&bytes[split..]);
    out
}

#[cfg(test)]
mod tests {
    use super::with_details;

    #[test]
    fn details_follow_the_timestamp() {
        assert_eq!(with_details(b"hi\n", "k=v ", false), b"k=v hi\n");
        assert_eq!(
            with_details(b"2026-01-01T00:00:00Z hi\n", "k=v ", true),
            b"2026-01-01T00:00:00Z k=v hi\n"
        );
    }
}
