//! `rename`: a container takes a free name; the old one is released.

use crate::engine::Engine;
use crate::error::{EngineError, Result};

impl Engine {
    /// Renames a container; the new name must be free.
    pub async fn rename_container(&self, key: &str, new_name: &str) -> Result<()> {
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        if new_name.is_empty() {
            return Err(EngineError::InvalidArgument(
                "Neither old nor new names may be empty".into(),
            ));
        }
        super::create::validate_name(new_name)?;
        let handle = self.lookup(key)?;
        let mut rec = handle.lock().await;
        if rec.name == new_name {
            return Err(EngineError::InvalidArgument(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if !self.names.put_new(new_name, &rec.id)? {
            let holder: String = self.names.get(new_name)?.unwrap_or_default();
            // As moby's rename wraps its name reservation's error.
            return Err(EngineError::Conflict(format!(
                "Error when allocating new name: {}",
                super::create::name_in_use_text(new_name, &holder)
            )));
        }
        let old = std::mem::replace(&mut rec.name, new_name.to_string());
        if let Err(e) = self.records.put(&rec.id, &*rec) {
            rec.name = old;
            let _ = self.names.remove(new_name);
            return Err(e);
        }
        self.names.remove(&old)?;
        self.container_event(&rec, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }
}
