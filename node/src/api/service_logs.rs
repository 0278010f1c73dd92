//! `GET /services/{id}/logs` and `GET /tasks/{id}/logs`: the swarm facade merges the logs of
//! the task containers on this node (with Docker's swarm details when asked); this turns the
//! query into its options and its records into the logs stream.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use berth_swarm::executor::LogRecord;
use berth_swarm::query::LogTarget;
use tokio::sync::mpsc;

use super::containers::logs_request;
use super::convert::query::Query;
use super::error::ApiResult;
use super::stream;
use super::swarm::SwarmState;
use crate::engine::container::logs::{LogChunk, Output};
use crate::runtime::logfile::Stream;

/// `GET /services/{id}/logs`.
pub async fn service(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    logs(&swarm, LogTarget::Service(id), &Query::parse(q.as_deref())).await
}

/// `GET /tasks/{id}/logs`.
pub async fn task(
    State(swarm): State<SwarmState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    logs(&swarm, LogTarget::Task(id), &Query::parse(q.as_deref())).await
}

async fn logs(swarm: &SwarmState, target: LogTarget, q: &Query) -> ApiResult<Response> {
    // The swarm adds the task's ids to each record's details. As for a container's logs,
    // neither stream is Docker's 400.
    let req = logs_request(q)?;
    let mut records = swarm.logs(&target, req).await?;
    let (tx, rx) = mpsc::channel::<LogChunk>(256);
    tokio::spawn(async move {
        while let Some(LogRecord { stderr, bytes }) = records.recv().await {
            let stream = if stderr {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            if tx
                .send(LogChunk {
                    stream,
                    bytes,
                    starts: Vec::new(),
                })
                .await
                .is_err()
            {
                return;
            }
        }
    });
    Ok(stream::body_response(Output {
        tty: false,
        chunks: rx,
        stdin: None,
    }))
}
