//! What a pure pass of the leader produces: the transactions to commit, and the stored
//! objects it could not read (left alone and reported, never read as defaults).

use berth_raft::ClusterCommand;

use crate::model::ModelError;

/// Transactions to commit and the objects a pass could not read.
#[derive(Debug, Default)]
pub struct Plan {
    /// One transaction per changed object, each naming the version it read.
    pub commands: Vec<ClusterCommand>,
    /// Malformed objects the pass left alone.
    pub problems: Vec<ModelError>,
}

impl Plan {
    /// Adds a transaction.
    pub fn push(&mut self, cmd: ClusterCommand) {
        self.commands.push(cmd);
    }

    /// Records an object that could not be read.
    pub fn problem(&mut self, e: ModelError) {
        self.problems.push(e);
    }

    /// Appends another pass's output.
    pub fn extend(&mut self, other: Plan) {
        self.commands.extend(other.commands);
        self.problems.extend(other.problems);
    }
}
