//! Manifests as registries serve them: Docker v2 schema 2 and OCI image manifests, manifest
//! lists and OCI indexes, and choosing one platform out of an index. Pure: bytes in, types out.

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// Docker v2 schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Every manifest type berth asks for, in order of preference.
pub const ACCEPTED: &[&str] = &[
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
];

/// Layer media types berth unpacks (the compression itself is detected from the bytes).
const LAYER_TYPES: &[&str] = &[
    "application/vnd.docker.image.rootfs.diff.tar",
    DOCKER_LAYER_GZIP,
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

/// A content descriptor: what a manifest says about a blob or another manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// The media type of the content.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// Bytes of the content.
    pub size: u64,
    /// The platform of a manifest listed in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// An image manifest: a config and layers, bottom first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// The manifest's own media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// The image config blob.
    pub config: Descriptor,
    /// The layer blobs, bottom first.
    pub layers: Vec<Descriptor>,
}

/// A platform as indexes name it; in `--platform`, `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system (`linux`).
    pub os: String,
    /// Architecture in Go's naming (`amd64`, `arm64`).
    pub architecture: String,
    /// Variant (`v8`, `v7`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os[/arch[/variant]]`; the architecture defaults to this machine's.
    pub fn parse(s: &str) -> Result<Self> {
        let mut parts = s.split('/').map(str::trim);
        let os = parts.next().filter(|p| !p.is_empty());
        let arch = parts.next().filter(|p| !p.is_empty());
        let variant = parts.next().filter(|p| !p.is_empty());
        match (os, parts.next()) {
            (Some(os), None) => Ok(Platform {
                os: os.to_ascii_lowercase(),
                architecture: normalise_arch(arch.unwrap_or(host_arch())),
                variant: variant.map(str::to_string),
            }),
            _ => Err(EngineError::InvalidArgument(format!(
                "invalid platform {s:?}: expected os[/arch[/variant]]"
            ))),
        }
    }

    /// `linux/<this machine's architecture>`.
    pub fn host() -> Self {
        Platform {
            os: "linux".to_string(),
            architecture: host_arch().to_string(),
            variant: None,
        }
    }

    /// `os/arch[/variant]`.
    pub fn display(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// This machine's architecture in Go's naming.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "loongarch64" => "loong64",
        other => other,
    }
}

fn normalise_arch(arch: &str) -> String {
    match arch.to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        other => other.to_string(),
    }
}

/// What a manifest request returned.
#[derive(Debug, Clone)]
pub enum ManifestOrIndex {
    /// A single-platform image.
    Manifest(Manifest),
    /// A list of per-platform manifests.
    Index(Vec<Descriptor>),
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "schemaVersion", default)]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

impl ManifestOrIndex {
    /// Parses a manifest body; `content_type` (the response's) wins over the body's
    /// `mediaType`, and without either the shape decides. Schema 1 and unknown types are refused.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let bad = |why: String| EngineError::InvalidArgument(format!("invalid manifest: {why}"));
        let raw: Raw = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
        if raw.schema_version != 2 {
            return Err(bad(format!(
                "schema version {} is not supported (only 2)",
                raw.schema_version
            )));
        }
        match (raw.manifests, raw.config, raw.layers) {
            (Some(list), _, _) => Ok(ManifestOrIndex::Index(list)),
            (None, Some(config), Some(layers)) => {
                for l in &layers {
                    if !LAYER_TYPES.contains(&l.media_type.as_str()) {
                        return Err(bad(format!(
                            "layer {} has media type {:?}, which is not an image layer",
                            l.digest, l.media_type
                        )));
                    }
                }
                Ok(ManifestOrIndex::Manifest(Manifest {
                    schema_version: 2,
                    media_type: raw.media_type,
                    config,
                    layers,
                }))
            }
            _ => Err(bad("neither an index nor an image manifest".into())),
        }
    }
}

/// Picks the entry for `want` out of an index: os and architecture must match; a wanted
/// variant must match too, else the entry without a variant or with the newest one wins
/// (arm64 images are often listed as `v8`). NotFound with Docker's wording when none fits.
pub fn select_platform<'a>(entries: &'a [Descriptor], want: &Platform) -> Result<&'a Descriptor> {
    let fits = entries.iter().filter(|d| {
        d.platform.as_ref().is_some_and(|p| {
            p.os == want.os && normalise_arch(&p.architecture) == want.architecture
        })
    });
    let chosen = match &want.variant {
        Some(v) => fits
            .clone()
            .find(|d| d.platform.as_ref().and_then(|p| p.variant.as_ref()) == Some(v)),
        None => fits.clone().max_by(|a, b| {
            let var = |d: &Descriptor| d.platform.as_ref().and_then(|p| p.variant.clone());
            // No variant first, then the highest variant; ties keep the first entry.
            (var(a).is_none(), var(a))
                .cmp(&(var(b).is_none(), var(b)))
                .then(std::cmp::Ordering::Greater)
        }),
    };
    chosen.ok_or_else(|| {
        EngineError::NotFound(format!(
            "no matching manifest for {} in the manifest list entries",
            want.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(digest: &str, os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: digest.into(),
            size: 1,
            platform: Some(Platform {
                os: os.into(),
                architecture: arch.into(),
                variant: variant.map(Into::into),
            }),
        }
    }

    #[test]
    fn platforms_parse_with_the_host_architecture_as_default() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.display(), "linux/arm64/v8");
        assert_eq!(
            Platform::parse("linux/x86_64").unwrap().architecture,
            "amd64"
        );
        assert_eq!(Platform::parse("linux").unwrap(), Platform::host());
        assert!(Platform::parse("").is_err());
        assert!(Platform::parse("linux/amd64/v1/x").is_err());
    }

    #[test]
    fn index_entries_are_chosen_by_os_architecture_and_variant() {
        let list = vec![
            entry("a", "linux", "arm", Some("v6")),
            entry("b", "linux", "arm", Some("v7")),
            entry("c", "linux", "amd64", None),
            entry("d", "linux", "arm64", Some("v8")),
            entry("e", "windows", "amd64", None),
        ];
        let pick = |s: &str| {
            select_platform(&list, &Platform::parse(s).unwrap()).map(|d| d.digest.clone())
        };
        assert_eq!(pick("linux/amd64").unwrap(), "c");
        assert_eq!(pick("linux/arm/v6").unwrap(), "a");
        assert_eq!(pick("linux/arm").unwrap(), "b");
        assert_eq!(pick("linux/arm64").unwrap(), "d");
        assert_eq!(pick("windows/amd64").unwrap(), "e");
        let err = pick("linux/s390x").unwrap_err();
        assert!(
            err.to_string()
                .contains("no matching manifest for linux/s390x"),
            "{err}"
        );
    }

    #[test]
    fn manifests_and_indexes_parse_and_odd_layers_are_refused() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:c","size":3},
            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"sha256:l","size":9}]}"#;
        match ManifestOrIndex::parse(m).unwrap() {
            ManifestOrIndex::Manifest(m) => {
                assert_eq!(m.config.digest, "sha256:c");
                assert_eq!(m.layers[0].size, 9);
            }
            other => panic!("{other:?}"),
        }
        let i = br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:x","size":1,
            "platform":{"os":"linux","architecture":"amd64"}}]}"#;
        assert!(matches!(
            ManifestOrIndex::parse(i).unwrap(),
            ManifestOrIndex::Index(l) if l.len() == 1
        ));
        let helm = br#"{"schemaVersion":2,"config":{"digest":"sha256:c","size":1},
            "layers":[{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"sha256:l","size":1}]}"#;
        assert!(ManifestOrIndex::parse(helm).is_err());
        assert!(ManifestOrIndex::parse(br#"{"schemaVersion":1,"fsLayers":[]}"#).is_err());
    }
}
