//! The crate's error type: every variant names the node, path or link it was about.

use std::path::PathBuf;

/// A failed harness operation.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Overlay(#[from] berth_overlay::OverlayError),
    #[error("netlink {op} {link}: {message}")]
    Netlink {
        op: &'static str,
        link: String,
        message: String,
    },
    #[error("berthd not found at {} (cargo build -p berth-node --bins, or set BERTHD)", .0.display())]
    NoBinary(PathBuf),
    #[error("node {index}: berthd did not answer /_ping within {secs} s; log tail:\n{log}")]
    NotReady {
        index: usize,
        secs: u64,
        log: String,
    },
    #[error("node {index}: berthd exited ({status}) before answering; log tail:\n{log}")]
    Exited {
        index: usize,
        status: String,
        log: String,
    },
    #[error("node {index}: berthd (pid {pid}) did not stop after SIGSTOP")]
    NotStopped { index: usize, pid: i32 },
    #[error("node {0} has no running berthd")]
    NotRunning(usize),
    #[error("no node {index} (the cluster has {len})")]
    NoSuchNode { index: usize, len: usize },
    #[error("a cluster has 1 to {max} nodes, not {asked}")]
    BadSize { asked: usize, max: usize },
    #[error("{method} {path} on {}: {message}", socket.display())]
    Http {
        method: String,
        path: String,
        socket: PathBuf,
        message: String,
    },
    #[error("a prefix head is 1 to 4 lower-case letters, not {0:?}")]
    BadHead(String),
    #[error("no free 10.x.y.0/24 for the cluster's switch")]
    NoSubnet,
    #[error("no free cluster prefix after {0} tries")]
    NoPrefix(u32),
    #[error("signal {signal} to pid {pid}: {errno}")]
    Signal {
        signal: &'static str,
        pid: i32,
        errno: nix::errno::Errno,
    },
    #[error("thread in network namespace {0} failed")]
    Thread(String),
    #[error("cleanup of {prefix} left: {}", left.join("; "))]
    Cleanup { prefix: String, left: Vec<String> },
    #[error("node {node}: {method} {path} answered {status}, expected {expected}: {body}")]
    Api {
        node: usize,
        method: String,
        path: String,
        status: u16,
        expected: u16,
        body: String,
    },
    #[error("node {node}: no {what} in the answer: {body}")]
    Shape {
        node: usize,
        what: &'static str,
        body: String,
    },
    #[error("fault in {netns}: {command}: {message}")]
    Fault {
        netns: String,
        command: String,
        message: String,
    },
    #[error("busybox test image: {0}")]
    Image(String),
    #[error("swarm: {0}")]
    Swarm(String),
}

impl ClusterError {
    /// An `Io` error naming what was done to which path.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ClusterError::Io { op, path, source }
    }
}
