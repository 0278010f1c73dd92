//! Volumes: named or anonymous directories that outlive containers, kept by the `local`
//! driver under `<data-root>/volumes/<name>/_data` (or a filesystem mounted there, from the
//! driver options `type`/`device`/`o`, as Docker's local driver takes them). Records in sled.

mod copy_up;
pub mod local;
pub mod mounts;
pub mod ops;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    /// Always `local` today.
    pub driver: String,
    /// RFC 3339.
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
    /// Driver options (`type`, `device`, `o`).
    pub options: BTreeMap<String, String>,
    /// Made for one container (`-v /path`, an image's `Volumes`); `rm -v` removes it.
    pub anonymous: bool,
}

/// What kind of mount a container asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    #[default]
    Volume,
    Bind,
    Tmpfs,
}

/// One mount of a container, as recorded (a volume by name, a bind by host path).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    pub kind: MountKind,
    /// Volume name, host path, or empty for tmpfs.
    pub source: String,
    pub target: String,
    pub read_only: bool,
    /// tmpfs: `size=…`, `mode=…` and other mount options.
    #[serde(default)]
    pub options: Vec<String>,
    /// A bind from `-v` (`Binds`): the host directory is created when missing, as Docker does.
    #[serde(default)]
    pub create_source: bool,
    /// Volume: do not copy the image's content into a new volume.
    #[serde(default)]
    pub no_copy: bool,
}

/// `GET /volumes` filters.
#[derive(Debug, Clone, Default)]
pub struct VolumeFilters {
    pub dangling: Option<bool>,
    pub name: Vec<String>,
    pub label: Vec<String>,
    /// `label!`: volumes without these labels (prune only, as Docker).
    pub label_not: Vec<String>,
}
