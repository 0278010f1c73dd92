//! Secrets and configs: Docker's `SecretSpec`/`ConfigSpec` without its `Data` in an object's
//! `spec` (so no list or inspect can show a secret's bytes by mistake), and the data itself in
//! its `status` under `Data` (base64). Both kinds share one shape; `SecretKind` says which
//! limits and words apply.

use base64::Engine as _;
use berth_raft::{Attrs, Object, ObjectKind};
use serde_json::Value;

use super::ModelError;

/// Which of the two kinds (they differ in size limit, words and where files go).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    /// A secret: data never returned, files under `/run/secrets`.
    Secret,
    /// A config: data returned by inspect, files at their absolute target.
    Config,
}

impl SecretKind {
    /// The store's kind.
    pub fn object_kind(self) -> ObjectKind {
        match self {
            Self::Secret => ObjectKind::Secret,
            Self::Config => ObjectKind::Config,
        }
    }

    /// Docker's noun (`secret`, `config`).
    pub fn noun(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Config => "config",
        }
    }

    /// swarmkit's limit: the data must be shorter than this (`MaxSecretSize` 500 KiB,
    /// `MaxConfigSize` 1000 KiB).
    pub fn max_size(self) -> usize {
        match self {
            Self::Secret => 500 * 1024,
            Self::Config => 1000 * 1024,
        }
    }

    /// The indexed attributes of an object of this kind named `name`.
    pub fn attrs(self, name: String) -> Attrs {
        match self {
            Self::Secret => Attrs::Secret { name },
            Self::Config => Attrs::Config { name },
        }
    }
}

/// The typed view of a secret or config object.
#[derive(Debug, Clone)]
pub struct SecretObject<'a> {
    /// The stored object.
    pub object: &'a Object,
    /// Which kind.
    pub kind: SecretKind,
}

impl<'a> SecretObject<'a> {
    /// Reads a secret or config object.
    pub fn parse(object: &'a Object) -> Result<Self, ModelError> {
        let kind = match &object.attrs {
            Attrs::Secret { .. } => SecretKind::Secret,
            Attrs::Config { .. } => SecretKind::Config,
            _ => return Err(ModelError::of(object, "not a secret or config")),
        };
        if !object.spec.is_object() {
            return Err(ModelError::of(object, "spec is not an object"));
        }
        Ok(SecretObject { object, kind })
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.object.id
    }

    /// The unique name.
    pub fn name(&self) -> &str {
        self.object.attrs.unique_name().unwrap_or("")
    }

    /// Whether its data is a template (`Templating: golang`), expanded for each task.
    pub fn templated(&self) -> bool {
        self.object.spec["Templating"]["Name"].as_str() == Some("golang")
    }

    /// The spec as stored (Docker's spec less `Data`).
    pub fn spec(&self) -> &Value {
        &self.object.spec
    }

    /// The labels.
    pub fn labels(&self) -> std::collections::HashMap<String, String> {
        self.object.spec["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The data, as stored.
    pub fn data(&self) -> Result<Vec<u8>, ModelError> {
        let encoded = self.object.status["Data"].as_str().unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| ModelError::of(self.object, format!("data is not base64: {e}")))
    }
}

/// The status that stores `data`.
pub fn data_status(data: &[u8]) -> Value {
    serde_json::json!({ "Data": base64::engine::general_purpose::STANDARD.encode(data) })
}

/// Where a reference's file appears in the container: a secret's relative target under
/// `/run/secrets`, a config's relative target under `/` (Docker's default target of a config
/// is `/<name>`); absolute targets as given.
pub fn target_path(kind: SecretKind, name: &str) -> String {
    if name.starts_with('/') {
        return name.to_string();
    }
    match kind {
        SecretKind::Secret => format!("/run/secrets/{name}"),
        SecretKind::Config => format!("/{name}"),
    }
}
