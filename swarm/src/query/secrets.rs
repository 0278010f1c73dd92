//! Secrets and configs: create, list (Docker's filters `id`, `name`, `names`, `label`),
//! inspect, update (labels), remove. A secret's data never leaves the manager through here.

use serde_json::Value;

use super::{label_matches, Envelope, Filters};
use crate::error::{SwarmError, SwarmResult};
use crate::model::{sorted, SecretKind, SecretObject};
use crate::ops;
use crate::secret_ops;
use crate::swarm::Swarm;

/// A secret or config as inspect shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretInfo {
    /// Id, version, times.
    pub envelope: Envelope,
    /// `Name` and `Labels` (and, for configs only, `Data` in base64).
    pub spec: Value,
}

impl SecretInfo {
    fn of(o: &SecretObject<'_>) -> Self {
        let mut spec = o.spec().clone();
        if o.kind == SecretKind::Config {
            // Docker returns a config's data; a secret's never.
            if let Some(data) = o.object.status.get("Data") {
                spec["Data"] = data.clone();
            }
        }
        SecretInfo {
            envelope: Envelope::of(o.object),
            spec,
        }
    }
}

/// Whether `o` passes Docker's filters (`name` and `id` are prefixes, `names` exact).
fn matches(o: &SecretObject<'_>, filters: &Filters) -> bool {
    filters.iter().all(|(k, values)| {
        values.iter().any(|v| match k.as_str() {
            "id" => o.id().starts_with(v.as_str()),
            "name" => o.name().starts_with(v.as_str()),
            "names" => o.name() == v,
            "label" => label_matches(&o.labels(), v),
            _ => false,
        })
    })
}

impl Swarm {
    /// `POST /secrets/create` or `/configs/create`: the new object's id.
    pub async fn create_secret(&self, kind: SecretKind, raw: &Value) -> SwarmResult<String> {
        let m = self.control().await?;
        secret_ops::create(&m, kind, raw).await
    }

    /// `GET /secrets` or `/configs` with Docker's filters.
    pub async fn secrets(
        &self,
        kind: SecretKind,
        filters: &Filters,
    ) -> SwarmResult<Vec<SecretInfo>> {
        if let Some(k) = filters
            .keys()
            .find(|k| !matches!(k.as_str(), "id" | "name" | "names" | "label"))
        {
            return Err(SwarmError::InvalidArgument(format!("invalid filter '{k}'")));
        }
        let m = self.manager()?;
        Ok(m.read(|s| {
            sorted(s.list(kind.object_kind()))
                .into_iter()
                .filter_map(|o| SecretObject::parse(o).ok())
                .filter(|o| matches(o, filters))
                .map(|o| SecretInfo::of(&o))
                .collect()
        }))
    }

    /// One secret or config by id, name or unique id prefix.
    pub async fn secret(&self, kind: SecretKind, key: &str) -> SwarmResult<SecretInfo> {
        let m = self.manager()?;
        m.read(|s| {
            let o = ops::find(s, kind.object_kind(), key).map_err(|_| not_found(kind, key))?;
            Ok(SecretInfo::of(&SecretObject::parse(o)?))
        })
    }

    /// `POST /secrets/{id}/update?version=`: labels only.
    pub async fn update_secret(
        &self,
        kind: SecretKind,
        key: &str,
        version: u64,
        raw: &Value,
    ) -> SwarmResult<()> {
        let m = self.control().await?;
        let id = m.read(|s| {
            ops::find(s, kind.object_kind(), key)
                .map(|o| o.id.clone())
                .map_err(|_| not_found(kind, key))
        })?;
        secret_ops::update(&m, kind, &id, version, raw).await
    }

    /// `DELETE /secrets/{id}`: refused while a service references it.
    pub async fn remove_secret(&self, kind: SecretKind, key: &str) -> SwarmResult<()> {
        let m = self.control().await?;
        let id = m.read(|s| {
            ops::find(s, kind.object_kind(), key)
                .map(|o| o.id.clone())
                .map_err(|_| not_found(kind, key))
        })?;
        secret_ops::remove(&m, kind, &id).await
    }
}

/// Docker's 404 for a missing secret or config.
fn not_found(kind: SecretKind, key: &str) -> SwarmError {
    SwarmError::NotFound(format!("{} {key} not found", kind.noun()))
}
