//! The scheduler's error type: a task request the scheduler cannot even evaluate. A task that
//! merely finds no node is not an error; it is a pending decision with an explanation.

/// Why a task request is invalid. Messages copy swarmkit's wording where Docker clients read it
/// (`docker service create --constraint` reports them), so the API edge can return them as 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The constraint has neither `==` nor `!=`.
    #[error("constraint expected one operator from ==, !=")]
    MissingOperator {
        /// The constraint as written.
        constraint: String,
    },
    /// The key left of the operator is not a letter or `_` followed by `[a-z0-9-_.]+`.
    #[error("key '{key}' is invalid")]
    InvalidKey {
        /// The trimmed key.
        key: String,
    },
    /// The value right of the operator is empty or holds a character Docker forbids.
    #[error("value '{value}' is invalid")]
    InvalidValue {
        /// The trimmed value.
        value: String,
    },
    /// The key is well formed but names no node attribute. swarmkit accepts such a constraint
    /// and then never matches it; berth refuses it so a typo is not a silently pending task.
    #[error("constraint key '{key}' is not supported")]
    UnsupportedKey {
        /// The trimmed key.
        key: String,
    },
    /// A `node.ip` constraint whose value is neither an address nor a CIDR network.
    #[error("value '{value}' is not an IP address or network")]
    InvalidAddress {
        /// The trimmed value.
        value: String,
    },
}
