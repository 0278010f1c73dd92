//! A history of what a client did to the swarm's services and what it was told, for checks
//! in the style of Jepsen: every operation with its start and end time and its outcome
//! (acknowledged, failed, or unknown when the answer never came or said the change may still
//! apply), every service version the client read, and samples of how many tasks ran.
//! `client.rs` records it against a live cluster; `check.rs` judges it against the final
//! state. Services are reduced to what the checks compare: replicas and a tag (an env value).

mod check;
mod client;

pub use check::{check, Bounds, Violation};
pub use client::{final_state, sample, spec, Recorder, SAMPLE_PARALLELISM};

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// The part of a service spec the checks compare.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Want {
    pub replicas: u64,
    /// The value of the service's `CHAOS_TAG` env variable.
    pub tag: String,
}

impl Want {
    /// What a service spec asks for (`None` when it is not replicated or has no tag).
    pub fn of_spec(spec: &Value) -> Option<Want> {
        let replicas = spec["Mode"]["Replicated"]["Replicas"].as_u64()?;
        let env = spec["TaskTemplate"]["ContainerSpec"]["Env"].as_array()?;
        let tag = env
            .iter()
            .filter_map(Value::as_str)
            .find_map(|e| e.strip_prefix("CHAOS_TAG="))?;
        Some(Want {
            replicas,
            tag: tag.to_string(),
        })
    }
}

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpKind {
    Create(Want),
    /// An update of replicas and/or tag (a scale is an update of replicas only).
    Update(Want),
    Remove,
}

impl OpKind {
    /// The service's state if the operation took effect (`None`: no service).
    pub fn after(&self) -> Option<Want> {
        match self {
            OpKind::Create(w) | OpKind::Update(w) => Some(w.clone()),
            OpKind::Remove => None,
        }
    }
}

/// What the client was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A success status: the change is committed.
    Acked,
    /// A refusal that certainly changed nothing (4xx, or no leader to send it to).
    Failed,
    /// No answer, or an answer saying the change may still apply.
    Unknown,
}

/// One operation on service `service` (by name).
#[derive(Debug, Clone)]
pub struct Op {
    pub service: String,
    pub kind: OpKind,
    /// Since the history began.
    pub start: Duration,
    pub end: Duration,
    pub outcome: Outcome,
    /// The status and body (or transport error) the client got, for reports.
    pub answer: String,
}

/// A version of service `id` the client read.
#[derive(Debug, Clone)]
pub struct Read {
    pub id: String,
    pub version: u64,
    pub at: Duration,
    /// The node that answered.
    pub node: usize,
}

/// How many tasks of a service ran at one moment (on nodes the managers call ready).
#[derive(Debug, Clone)]
pub struct Sample {
    pub service: String,
    pub at: Duration,
    pub running: usize,
    pub replicas: u64,
    /// The update parallelism (how many tasks an update may replace at once).
    pub parallelism: u64,
}

/// Everything recorded, in the order it happened (per field).
#[derive(Debug, Clone, Default)]
pub struct History {
    pub ops: Vec<Op>,
    pub reads: Vec<Read>,
    pub samples: Vec<Sample>,
}

impl History {
    /// The operations per outcome: (acked, failed, unknown).
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |o| self.ops.iter().filter(|op| op.outcome == o).count();
        (n(Outcome::Acked), n(Outcome::Failed), n(Outcome::Unknown))
    }
}

/// The services as they are at the end: name → what they ask for.
pub type FinalState = BTreeMap<String, Want>;
