//! The orchestrators (replicated and global) as pure functions of the cluster state and the
//! clock: `reconcile` moves every service toward its spec (tasks for empty slots or eligible
//! nodes; dead, surplus, drained and outdated tasks shut down; restart policies; rolling
//! updates and rollbacks; task history trimmed), `reap` deletes tasks marked for removal once
//! stopped. Placement is `placement`'s job.
//!
//! Each transaction changes one object and names the version it read, so a concurrent change
//! (an agent's report, an API update) refuses only that one; the leader retries on its next
//! pass.

mod commands;
mod jobs;
mod reap;
mod reconcile;
mod restart;
mod update;

pub use reap::reap;
pub use reconcile::reconcile;

#[cfg(test)]
mod tests;
