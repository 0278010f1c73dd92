//! `inspect`: a copy of the record.

use super::types::ContainerRecord;
use crate::engine::Engine;
use crate::error::Result;

impl Engine {
    /// The record of one container.
    pub async fn inspect_container(&self, key: &str) -> Result<ContainerRecord> {
        Ok(self.lookup(key)?.snapshot().await)
    }
}
