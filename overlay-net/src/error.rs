//! The crate's error type: every variant names the link or path it was about.

/// A failed netlink or namespace operation.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("netlink {op} {target}: {message}")]
    Netlink {
        op: &'static str,
        target: String,
        message: String,
        /// The kernel's errno, when the kernel answered with one.
        errno: Option<i32>,
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

    /// Whether the kernel does not know the request (EOPNOTSUPP: a link kind it was built
    /// without).
    pub fn is_unsupported(&self) -> bool {
        self.errno() == Some(libc::EOPNOTSUPP)
    }

    /// The kernel's errno for a netlink request it refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            OverlayError::Netlink { errno, .. } => *errno,
            _ => None,
        }
    }
}
