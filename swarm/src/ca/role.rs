//! What a node certificate says its node may do, and the names certificates carry.

use std::fmt;

/// The common name of the cluster's root CA certificate.
pub const CA_COMMON_NAME: &str = "swarm-ca";
/// Organizational unit and DNS name of manager certificates; clients dial managers by this name.
pub const MANAGER_NAME: &str = "swarm-manager";
/// Organizational unit and DNS name of worker certificates (managers carry it too).
pub const WORKER_NAME: &str = "swarm-worker";

/// A node certificate's role, kept in its subject's organizational unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertRole {
    /// A manager: serves the control API and the raft store, and runs tasks.
    Manager,
    /// A worker: only runs tasks.
    Worker,
}

impl CertRole {
    /// The organizational unit Docker puts in certificates of this role.
    pub fn ou(self) -> &'static str {
        match self {
            CertRole::Manager => MANAGER_NAME,
            CertRole::Worker => WORKER_NAME,
        }
    }

    /// The role named by an organizational unit, if it is one of ours.
    pub fn from_ou(ou: &str) -> Option<CertRole> {
        match ou {
            MANAGER_NAME => Some(CertRole::Manager),
            WORKER_NAME => Some(CertRole::Worker),
            _ => None,
        }
    }

    /// The DNS names a certificate of this role carries besides the node id: managers run tasks
    /// too, so they are also workers.
    pub fn dns_names(self) -> &'static [&'static str] {
        match self {
            CertRole::Manager => &[MANAGER_NAME, WORKER_NAME],
            CertRole::Worker => &[WORKER_NAME],
        }
    }
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ou())
    }
}
