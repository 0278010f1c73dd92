//! Images: content-addressed config blobs and layer tars, unpacked layers shared between
//! images, and the name → image tag table. Owns everything under `<data_root>/image`; never mounts anything
//! (containers stack [`ImageStore::layer_dirs`] with overlayfs themselves).
//!
//! Layout: `blobs/sha256/<hex>` (image config files, bytes kept verbatim so ids match Docker's,
//! and the whole uncompressed tar of a layer that overwrote its own files or was stored before
//! tar-split, named by its diff id), `layers/<diff id hex>/root` (one unpacked layer tree),
//! `layers/<hex>/layer.json` (its size), `layers/<hex>/tar-split.{gz,json}` (the rest of its tar,
//! for `save` and `push`),
//! `tmp/` (archives being loaded). Anything named `*.tmp-*` is an unfinished write and is
//! deleted on open. Pulled layers arrive as compressed blobs in `blobs/sha256/` that are deleted
//! once unpacked; which compressed blobs hold a layer on which registry is remembered in sled
//! (`distribution.rs`) so a push can skip or mount them.

mod blob;
mod build_cache;
mod changes;
mod diff_layer;
mod digest;
mod distribution;
#[cfg(test)]
mod fake;
mod hostfs;
mod import;
pub use import::ImportMeta;
mod layer;
pub mod list_filter;
mod load;
mod oci;
mod progress;
mod pull;
mod push;
mod reference;
pub mod registry;
mod remove;
mod save;
pub(crate) mod scoped;
mod store;
mod tar_split;
#[cfg(test)]
mod testutil;
pub(crate) mod unpack;

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

pub use build_cache::is_intermediate;
pub use changes::{apply_changes, not_a_change};
pub use hostfs::HostLayerFs;
pub(crate) use import::go_arch;
pub(crate) use layer::plain_tar;
pub use progress::{Progress, ProgressSink};
pub use pull::{PreparedPull, PullRequest};
pub use push::{DistributionInfo, PushRequest};
pub use reference::Reference;
pub use remove::{ImageUser, UsedBy};
pub use save::SaveArchive;
pub use store::ImageStore;

/// OCI/Docker image config file: the JSON blob whose sha256 is the image id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImageConfigFile {
    /// CPU architecture in Go's naming (`amd64`, `arm64`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub architecture: String,
    /// Operating system (`linux`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub os: String,
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// How to run a container from this image.
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: RunConfig,
    /// The layers, by uncompressed digest, bottom first.
    pub rootfs: RootFs,
    /// Build history, kept as it came.
    #[serde(default, deserialize_with = "null_as_default")]
    pub history: Vec<serde_json::Value>,
    /// Fields berth does not interpret; kept so re-serialising loses nothing.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The `config` section of an image config, with Docker's capitalised names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// `KEY=value` entries.
    #[serde(
        rename = "Env",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<String>,
    /// Default command (arguments to the entrypoint, if any).
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Entrypoint.
    #[serde(
        rename = "Entrypoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    /// Absolute working directory; empty means `/`.
    #[serde(
        rename = "WorkingDir",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub working_dir: String,
    /// `user[:group]`, names or ids; empty means root.
    #[serde(
        rename = "User",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub user: String,
    /// `"80/tcp" → {}`.
    #[serde(
        rename = "ExposedPorts",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    /// Image labels.
    #[serde(
        rename = "Labels",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// `"/data" → {}`: anonymous volumes every container gets.
    #[serde(
        rename = "Volumes",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub volumes: BTreeMap<String, serde_json::Value>,
    /// Signal `docker stop` sends first (`SIGTERM` when absent).
    #[serde(
        rename = "StopSignal",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_signal: Option<String>,
    /// Other fields (`Healthcheck`, `Shell`, `OnBuild`, ...), kept for whoever reads them.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The `rootfs` section: layer diff ids (sha256 of each uncompressed layer tar), bottom first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `sha256:<hex>` per layer.
    #[serde(default, deserialize_with = "null_as_default")]
    pub diff_ids: Vec<String>,
}

/// One image as the engine knows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    /// `sha256:<hex>` of the config blob.
    pub id: String,
    /// Familiar `repo:tag` names, sorted; filled from the tag table on every read.
    #[serde(default)]
    pub repo_tags: Vec<String>,
    /// `repo@sha256:<manifest digest>` for each registry manifest this image was pulled from
    /// or pushed as.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// Creation time, unix seconds.
    pub created: i64,
    /// Sum of the unpacked layer sizes in bytes.
    pub size: u64,
    /// The parsed config file.
    pub config: ImageConfigFile,
    /// The image a build step made this one from (Docker's `Parent`); None for pulled,
    /// loaded and imported images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// When a tag was last given to it here (`tag`, a build's or commit's `-t`, an import's
    /// name), Docker's `Metadata.LastTagTime`; a pull or load names an image without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tag_time: Option<chrono::DateTime<chrono::Utc>>,
}

/// One line of an image removal, as Docker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovedItem {
    /// A `repo:tag` that no longer names the image.
    Untagged(String),
    /// A deleted image id (`sha256:<hex>`).
    Deleted(String),
}

/// The privileged filesystem operations a layer unpack needs. The host implementation skips
/// the ones that need root when not root; tests use a recording fake.
pub trait LayerFs: Send + Sync {
    /// Creates an overlayfs whiteout (a 0/0 character device) at `path`, owned by `uid:gid`.
    fn whiteout(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()>;
    /// Marks directory `dir` opaque for overlayfs (`trusted.overlay.opaque=y`).
    fn set_opaque(&self, dir: &Path) -> io::Result<()>;
    /// Creates a character or block device node; `mode` holds the type and permission bits.
    fn mknod(&self, path: &Path, mode: u32, major: u64, minor: u64) -> io::Result<()>;
    /// Changes the owner of `path` without following a final symlink.
    fn lchown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()>;
}

/// Reads JSON `null` as the type's default: Docker writes `"Env": null` and the like.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Docker's check of a `platform` asked for against a local image (`create --platform`,
/// save, push): OS and architecture (the config keeps no variant to compare); a mismatch is a
/// 404, so a client pulls that platform's image.
pub fn check_platform(
    name: &str,
    image: &ImageRecord,
    want: &registry::Platform,
) -> crate::error::Result<()> {
    let have = registry::Platform::parse(&format!(
        "{}/{}",
        image.config.os, image.config.architecture
    ))
    .unwrap_or_else(|_| registry::Platform::host());
    if have.os == want.os && have.architecture == want.architecture {
        return Ok(());
    }
    Err(crate::error::EngineError::NotFound(format!(
        "image with reference {name} was found but does not match the specified platform: \
         wanted {}, actual: {}",
        want.display(),
        have.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_with_nulls_and_unknown_fields_round_trips() {
        let raw = r#"{"architecture":"amd64","os":"linux","config":{"Env":null,"Cmd":["sh"],
            "Labels":null,"Healthcheck":{"Test":["NONE"]}},"rootfs":{"type":"layers",
            "diff_ids":["sha256:aa"]},"container":"abc","docker_version":"1.0"}"#;
        let cfg: ImageConfigFile = serde_json::from_str(raw).unwrap();
        assert!(cfg.config.env.is_empty());
        assert_eq!(cfg.config.cmd, Some(vec!["sh".to_string()]));
        assert!(cfg.config.extra.contains_key("Healthcheck"));
        assert_eq!(
            cfg.extra.get("container").and_then(|v| v.as_str()),
            Some("abc")
        );
        let back: serde_json::Value = serde_json::to_value(&cfg).unwrap();
        assert_eq!(back["docker_version"], "1.0");
        assert_eq!(back["config"]["Healthcheck"]["Test"][0], "NONE");
        assert!(back["config"].get("Env").is_none());
        assert_eq!(back["rootfs"]["diff_ids"][0], "sha256:aa");
    }
}
