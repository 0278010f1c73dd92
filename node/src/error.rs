//! The engine's error type and the kinds the API maps to status codes. No HTTP here.

use std::path::PathBuf;

/// What sort of failure an [`EngineError`] is; `api::error` turns it into a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller sent something invalid (400).
    InvalidArgument,
    /// The named object does not exist (404).
    NotFound,
    /// The object is in a state or has a name that forbids the request (409).
    Conflict,
    /// The daemon is not part of a swarm (503).
    NotInSwarm,
    /// A dependency is temporarily unavailable (503).
    Unavailable,
    /// A registry refused the credentials (401).
    Unauthorized,
    /// The request is understood but refused (403), as Docker does for network conflicts.
    Forbidden,
    /// The daemon cannot do this for this object (501), as Docker's `logs` with driver `none`.
    NotImplemented,
    /// Anything else (500).
    Internal,
}

/// Every error the engine reports. Messages copy Docker's wording where clients read them.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("state store: {0}")]
    Store(#[from] sled::Error),
    #[error("corrupt record {key}: {source}")]
    CorruptRecord {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("mount {target}: {source}")]
    MountFailed {
        target: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Runtime(String),
    /// A build step's command failed; `code` is its exit status (Docker's `errorDetail.code`).
    #[error("{message}")]
    StepFailed { message: String, code: i64 },
    /// A registry refused the credentials; the message names the registry.
    #[error("{0}")]
    Unauthorized(String),
    /// Docker answers 403 here (overlapping pools, predefined or busy networks).
    #[error("{0}")]
    Forbidden(String),
    /// Docker answers 501 here.
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    Internal(String),
}

impl EngineError {
    /// The kind that decides the HTTP status code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::NoSuchContainer(_)
            | EngineError::NoSuchImage(_)
            | EngineError::NotFound(_) => ErrorKind::NotFound,
            EngineError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            EngineError::Conflict(_) => ErrorKind::Conflict,
            EngineError::Unauthorized(_) => ErrorKind::Unauthorized,
            EngineError::Forbidden(_) => ErrorKind::Forbidden,
            EngineError::NotImplemented(_) => ErrorKind::NotImplemented,
            _ => ErrorKind::Internal,
        }
    }

    /// Wraps an I/O error with what was being done (e.g. the path).
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        EngineError::Io {
            context: context.into(),
            source,
        }
    }
}

/// An errno as Go prints it ("invalid argument"), as Docker's messages carry it.
pub fn errno_text(errno: nix::errno::Errno) -> String {
    let text = errno.desc();
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

/// `errno_text` of an I/O error from a system call; other errors as they display.
pub fn io_error_text(e: &std::io::Error) -> String {
    e.raw_os_error().map_or_else(
        || e.to_string(),
        |n| errno_text(nix::errno::Errno::from_raw(n)),
    )
}

/// The engine's result type.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
