//! The crate's error type: every variant names the link or path it was about.

/// A failed netlink or namespace operation.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("netlink {op} {target}: {message}")]
    Netlink {
        op: &'static str,
        target: String,
        message: String,
    },
    #[error("no such link: {0}")]
    NoSuchLink(String),
    #[error("network namespace {path}: {source}")]
    Namespace {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl OverlayError {
    /// Whether the kernel said the object already exists (EEXIST).
    pub fn is_exists(&self) -> bool {
        matches!(self, OverlayError::Netlink { message, .. } if message.contains("File exists"))
    }
}
