//! Volumes: named or anonymous directories that outlive containers, kept by the `local`
//! driver under `<data-root>/volumes/<name>/_data` (or a filesystem mounted there, from the
//! driver options `type`/`device`/`o`, as Docker's local driver takes them). Records in sled.

mod copy_up;
pub mod local;
pub mod mounts;
pub mod ops;
pub mod subpath;
pub mod tmpfs_options;

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

/// How mounts made below a bind later reach the other side: Docker's `[r]private`,
/// `[r]shared` and `[r]slave` (`-v src:dst:rshared`, `BindOptions.Propagation`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    Private,
    /// Docker's default for binds.
    #[default]
    Rprivate,
    Shared,
    Rshared,
    Slave,
    Rslave,
}

impl Propagation {
    pub const ALL: [Propagation; 6] = [
        Propagation::Private,
        Propagation::Rprivate,
        Propagation::Shared,
        Propagation::Rshared,
        Propagation::Slave,
        Propagation::Rslave,
    ];

    /// Docker's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Private => "private",
            Propagation::Rprivate => "rprivate",
            Propagation::Shared => "shared",
            Propagation::Rshared => "rshared",
            Propagation::Slave => "slave",
            Propagation::Rslave => "rslave",
        }
    }

    pub fn parse(text: &str) -> Option<Propagation> {
        Propagation::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// Applies to the mounts below the bind too.
    pub fn recursive(self) -> bool {
        matches!(
            self,
            Propagation::Rprivate | Propagation::Rshared | Propagation::Rslave
        )
    }

    pub fn is_shared(self) -> bool {
        matches!(self, Propagation::Shared | Propagation::Rshared)
    }

    pub fn is_slave(self) -> bool {
        matches!(self, Propagation::Slave | Propagation::Rslave)
    }
}

/// Which of Docker's create fields asked for a mount: inspect shows each in its own field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountOrigin {
    /// `Config.Volumes` or the image's volumes (and records older than this field).
    #[default]
    Config,
    /// A `HostConfig.Binds` string, as sent.
    Binds(String),
    /// A `HostConfig.Mounts` object, as sent.
    Mounts(serde_json::Value),
    /// A `HostConfig.Tmpfs` entry's options, as sent (records older than `TmpfsEntry`, whose
    /// target is shown cleaned).
    Tmpfs(String),
    /// A `HostConfig.Tmpfs` entry, its target and options as sent: inspect shows them so, as
    /// Docker shows the request's map.
    TmpfsEntry { target: String, options: String },
    /// Another container's, through `--volumes-from`.
    VolumesFrom,
}

impl MountOrigin {
    /// Whether the mount came from `HostConfig.Tmpfs`, which Docker keeps out of inspect's
    /// `Mounts` and out of `docker cp`'s mount checks.
    pub fn is_host_config_tmpfs(&self) -> bool {
        matches!(self, MountOrigin::Tmpfs(_) | MountOrigin::TmpfsEntry { .. })
    }
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
    /// Bind: propagation of the mounts made below it later, host to container and back.
    #[serde(default)]
    pub propagation: Propagation,
    /// Bind: the propagation was named in the request. An unnamed one of a bind of the
    /// daemon's root (or of a directory holding it) is `rslave`, falling back to private at
    /// start when the source's mount is not shared or slave (`mounts::daemon_root_propagation`).
    #[serde(default)]
    pub propagation_set: bool,
    /// Bind: the source alone, without the mounts below it (`BindOptions.NonRecursive`).
    #[serde(default)]
    pub non_recursive: bool,
    /// Read-only bind: the mounts below the source are read-only too (the default since API
    /// 1.44; older clients get the old non-recursive read-only).
    #[serde(default)]
    pub read_only_recursive: bool,
    /// `-v`'s mode text as given (`ro,rshared`): inspect's `Mode`.
    #[serde(default)]
    pub mode: String,
    /// Volume: what a volume this mount makes is created with (`VolumeOptions.Labels` and
    /// `DriverConfig.Options`); an existing volume is used as it is, as Docker does.
    #[serde(default)]
    pub volume_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub volume_options: BTreeMap<String, String>,
    /// Volume: the directory or file inside it that is mounted (`VolumeOptions.Subpath`);
    /// empty: the whole volume.
    #[serde(default)]
    pub subpath: String,
    #[serde(default)]
    pub origin: MountOrigin,
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
