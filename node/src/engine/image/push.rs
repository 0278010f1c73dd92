//! Pushing local images, and `GET /distribution/{name}/json`. A layer goes up as the blob the
//! registry already has (checked with HEAD), as a blob mounted from another repository of the
//! same registry, or gzip-compressed from the kept layer tar; then the config and a manifest
//! (Docker schema 2, or OCI when a layer is known only by an OCI media type) under each tag.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::digest::{hasher_digest, sha256_digest};
use super::distribution::RemoteBlob;
use super::progress::{short, Progress};
use super::registry::{
    Credentials, Descriptor, ManifestOrIndex, Operation, Platform, Session, DOCKER_CONFIG,
    DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_MANIFEST,
};
use super::store::remove_path;
use super::{ImageRecord, ImageStore, ProgressSink, Reference};
use crate::error::{EngineError, Result};

/// Layers pushed at once (Docker's default is 5).
const PARALLEL_LAYERS: usize = 3;
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// What to push.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// The repository, with the tag to push; every tag of the repository when it has none.
    pub reference: Reference,
    /// Credentials for the registry.
    pub credentials: Credentials,
}

/// `GET /distribution/{name}/json`: the manifest (or index) descriptor and its platforms.
#[derive(Debug, Clone)]
pub struct DistributionInfo {
    /// Media type, digest and size of what the name points at.
    pub descriptor: Descriptor,
    /// The platforms it offers.
    pub platforms: Vec<Platform>,
}

impl ImageStore {
    /// The local `(tag, image)` pairs a push of `reference` sends. NotFound with Docker's
    /// wording when there are none.
    pub fn push_targets(&self, reference: &Reference) -> Result<Vec<(String, ImageRecord)>> {
        let missing = || {
            EngineError::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                reference.familiar_name()
            ))
        };
        if let Some(tag) = reference.tag() {
            let name = reference.familiar_tagged();
            let (image, _) = self.resolve_tagged(&name).map_err(|_| missing())?;
            return Ok(vec![(tag.to_string(), image)]);
        }
        let prefix = format!("{}:", reference.familiar_name());
        let mut out = Vec::new();
        for image in self.list()? {
            for t in image
                .repo_tags
                .iter()
                .filter_map(|t| t.strip_prefix(&prefix))
            {
                out.push((t.to_string(), image.clone()));
            }
        }
        if out.is_empty() {
            return Err(missing());
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Pushes `targets` (from [`ImageStore::push_targets`]) to the repository of `req`.
    pub async fn push(
        &self,
        req: &PushRequest,
        targets: Vec<(String, ImageRecord)>,
        progress: &ProgressSink,
    ) -> Result<()> {
        let r = &req.reference;
        progress.status(
            None,
            format!("The push refers to repository [{}]", r.full_name()),
        );
        let cfg = self.registry_config()?;
        let session = Session::connect(&cfg, r, &req.credentials, Operation::Push).await?;
        for (tag, image) in targets {
            self.push_image(&session, r, &tag, &image, progress).await?;
        }
        Ok(())
    }

    async fn push_image(
        &self,
        session: &Session,
        r: &Reference,
        tag: &str,
        image: &ImageRecord,
        progress: &ProgressSink,
    ) -> Result<()> {
        let diff_ids = &image.config.rootfs.diff_ids;
        for diff_id in diff_ids {
            progress.status(Some(&short(diff_id)), "Preparing");
        }
        let layers: Vec<Descriptor> = futures_util::stream::iter(diff_ids.clone())
            .map(|d| async move { self.push_layer(session, r, &d, progress).await })
            .buffered(PARALLEL_LAYERS)
            .try_collect()
            .await?;
        let config_path = self.blob_path(&image.id)?;
        let config = std::fs::read(&config_path)
            .map_err(|e| EngineError::io(format!("read {}", config_path.display()), e))?;
        if !session.has_blob(&image.id).await? {
            let size = config.len() as u64;
            let body = futures_util::stream::once(async move { Ok(bytes::Bytes::from(config)) });
            session.upload(&image.id, size, body).await?;
        }
        let (manifest, media_type) = manifest_for(image, &layers, config_len(&config_path)?)?;
        session
            .put_manifest(tag, manifest.clone(), media_type)
            .await?;
        let digest = sha256_digest(&manifest);
        progress.status(
            None,
            format!("{tag}: digest: {digest} size: {}", manifest.len()),
        );
        progress.send(Progress::Pushed {
            tag: tag.to_string(),
            digest: digest.clone(),
            size: manifest.len() as u64,
        });
        self.add_repo_digest(&image.id, &format!("{}@{digest}", r.familiar_name()))
    }

    /// Makes sure the registry has a blob holding layer `diff_id` and returns its descriptor.
    async fn push_layer(
        &self,
        session: &Session,
        r: &Reference,
        diff_id: &str,
        progress: &ProgressSink,
    ) -> Result<Descriptor> {
        let id = short(diff_id);
        let known: Vec<RemoteBlob> = self
            .remote_blobs(diff_id)?
            .into_iter()
            .filter(|b| b.registry == session.registry())
            .collect();
        for b in known.iter().filter(|b| b.repository == r.path()) {
            if session.has_blob(&b.digest).await? {
                progress.status(Some(&id), "Layer already exists");
                return Ok(descriptor(b));
            }
        }
        for b in known.iter().filter(|b| b.repository != r.path()) {
            if session.mount(&b.digest, &b.repository).await {
                progress.status(Some(&id), format!("Mounted from {}", b.repository));
                return self.remembered(diff_id, b, session, r);
            }
        }
        if !self.has_layer(diff_id)? {
            return Err(EngineError::Conflict(format!(
                "cannot push layer {diff_id}: it was stored without its tar (by an older berth); pull or load the image again"
            )));
        }
        let dir = self.temp_dir("push")?;
        let result = self
            .upload_layer(session, diff_id, &dir, &id, progress)
            .await;
        if let Err(e) = remove_path(&dir) {
            tracing::warn!(path = %dir.display(), error = %e, "cannot remove push scratch space");
        }
        let (digest, size) = result?;
        let blob = RemoteBlob {
            digest,
            size,
            media_type: DOCKER_LAYER_GZIP.to_string(),
            registry: session.registry().to_string(),
            repository: r.path().to_string(),
        };
        self.remember_blob(diff_id, blob.clone())?;
        Ok(descriptor(&blob))
    }

    fn remembered(
        &self,
        diff_id: &str,
        b: &RemoteBlob,
        session: &Session,
        r: &Reference,
    ) -> Result<Descriptor> {
        let here = RemoteBlob {
            repository: r.path().to_string(),
            registry: session.registry().to_string(),
            ..b.clone()
        };
        self.remember_blob(diff_id, here.clone())?;
        Ok(descriptor(&here))
    }

    /// Compresses the layer tar into `dir` and uploads it unless the registry has it.
    async fn upload_layer(
        &self,
        session: &Session,
        diff_id: &str,
        dir: &Path,
        id: &str,
        progress: &ProgressSink,
    ) -> Result<(String, u64)> {
        let (store, diff_id, dst) = (self.clone(), diff_id.to_string(), dir.join("layer.tar.gz"));
        let (digest, size) = tokio::task::spawn_blocking(move || {
            let (mut tar, _) = store.layer_tar(&diff_id)?.ok_or_else(|| {
                EngineError::Conflict(format!("cannot push layer {diff_id}: its tar is gone"))
            })?;
            gzip_to(&mut tar, &diff_id, &dst)
        })
        .await
        .map_err(|e| EngineError::Internal(format!("compress task: {e}")))??;
        if session.has_blob(&digest).await? {
            progress.status(Some(id), "Layer already exists");
            return Ok((digest, size));
        }
        let file = tokio::fs::File::open(dir.join("layer.tar.gz"))
            .await
            .map_err(|e| EngineError::io(format!("open {}", dir.display()), e))?;
        let (sink, report_id) = (progress.clone(), id.to_string());
        let mut sent = 0u64;
        let body =
            tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).inspect(move |c| {
                if let Ok(c) = c {
                    sent += c.len() as u64;
                    sink.bytes(&report_id, "Pushing", sent, size);
                }
            });
        session.upload(&digest, size, body).await?;
        progress.status(Some(id), "Pushed");
        Ok((digest, size))
    }

    /// The manifest `name` points at on its registry: descriptor and platforms.
    pub async fn distribution_info(
        &self,
        r: &Reference,
        creds: &Credentials,
    ) -> Result<DistributionInfo> {
        let cfg = self.registry_config()?;
        let session = Session::connect(&cfg, r, creds, Operation::Pull).await?;
        let target = r
            .digest()
            .map_or_else(|| r.tag().unwrap_or("latest").to_string(), str::to_string);
        let (body, digest, parsed) = session.manifest(&target).await?;
        let media_type = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_string))
            .unwrap_or_default();
        let platforms = match parsed {
            ManifestOrIndex::Index(entries) => {
                entries.into_iter().filter_map(|e| e.platform).collect()
            }
            ManifestOrIndex::Manifest(m) => {
                let config = session.small_blob(&m.config).await?;
                let cfg: super::ImageConfigFile = serde_json::from_slice(&config).map_err(|e| {
                    EngineError::InvalidArgument(format!("invalid image config: {e}"))
                })?;
                vec![Platform {
                    os: cfg.os,
                    architecture: cfg.architecture,
                    variant: None,
                }]
            }
        };
        Ok(DistributionInfo {
            descriptor: Descriptor {
                media_type,
                digest,
                size: body.len() as u64,
                platform: None,
            },
            platforms,
        })
    }
}

fn descriptor(b: &RemoteBlob) -> Descriptor {
    Descriptor {
        media_type: b.media_type.clone(),
        digest: b.digest.clone(),
        size: b.size,
        platform: None,
    }
}

fn config_len(path: &PathBuf) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .map_err(|e| EngineError::io(format!("stat {}", path.display()), e))?
        .len())
}

/// A Docker schema 2 manifest, or an OCI one (with OCI media types throughout) when a layer is
/// known only by an OCI media type: registries refuse mixed manifests.
fn manifest_for(
    image: &ImageRecord,
    layers: &[Descriptor],
    config_size: u64,
) -> Result<(Vec<u8>, &'static str)> {
    let oci = layers
        .iter()
        .any(|l| l.media_type.starts_with("application/vnd.oci"));
    let (manifest_type, config_type) = if oci {
        (OCI_MANIFEST, OCI_CONFIG)
    } else {
        (DOCKER_MANIFEST, DOCKER_CONFIG)
    };
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            let media_type = match (oci, l.media_type.as_str()) {
                (true, DOCKER_LAYER_GZIP) => OCI_LAYER_GZIP,
                (true, "application/vnd.docker.image.rootfs.diff.tar") => {
                    "application/vnd.oci.image.layer.v1.tar"
                }
                (_, other) => other,
            };
            json!({"mediaType": media_type, "size": l.size, "digest": l.digest})
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "size": config_size, "digest": image.id},
        "layers": layers,
    });
    let bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|e| EngineError::Internal(e.to_string()))?;
    Ok((bytes, manifest_type))
}

/// Gzips the tar of layer `diff_id` from `input` into `dst` (fast level: the network is rarely
/// slower than level 9 is) and returns the compressed digest and size. Deterministic, so the
/// same layer compresses to the same blob every time.
fn gzip_to(input: &mut dyn Read, diff_id: &str, dst: &Path) -> Result<(String, u64)> {
    let io = |what: &str, e| EngineError::io(format!("{what} layer {diff_id}"), e);
    let at_dst = |what: &str, e| EngineError::io(format!("{what} {}", dst.display()), e);
    let out = File::create(dst).map_err(|e| at_dst("create", e))?;
    let mut hashing = HashingWriter {
        inner: BufWriter::with_capacity(256 * 1024, out),
        hasher: Sha256::new(),
        size: 0,
    };
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(&mut hashing, flate2::Compression::fast());
    io::copy(input, &mut gz).map_err(|e| io("compress", e))?;
    gz.finish().map_err(|e| io("compress", e))?;
    hashing.inner.flush().map_err(|e| at_dst("write", e))?;
    Ok((hasher_digest(&hashing.hasher), hashing.size))
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_deterministic_and_hashes_what_it_writes() {
        let dir = tempfile::tempdir().unwrap();
        let src = vec![7u8; 100_000];
        let a = gzip_to(&mut src.as_slice(), "sha256:l", &dir.path().join("a.gz")).unwrap();
        let b = gzip_to(&mut src.as_slice(), "sha256:l", &dir.path().join("b.gz")).unwrap();
        assert_eq!(a, b);
        let bytes = std::fs::read(dir.path().join("a.gz")).unwrap();
        assert_eq!(a, (sha256_digest(&bytes), bytes.len() as u64));
    }

    #[test]
    fn manifests_are_docker_unless_a_layer_is_oci() {
        let image: ImageRecord = serde_json::from_value(json!({
            "id": "sha256:c", "created": 0, "size": 0,
            "config": {"rootfs": {"type": "layers", "diff_ids": []}}
        }))
        .unwrap();
        let layer = |t: &str| Descriptor {
            media_type: t.into(),
            digest: "sha256:l".into(),
            size: 5,
            platform: None,
        };
        let (m, t) = manifest_for(&image, &[layer(DOCKER_LAYER_GZIP)], 9).unwrap();
        assert_eq!(t, DOCKER_MANIFEST);
        let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v["config"]["mediaType"], DOCKER_CONFIG);
        assert_eq!(v["config"]["size"], 9);
        let oci_zstd = "application/vnd.oci.image.layer.v1.tar+zstd";
        let (m, t) = manifest_for(&image, &[layer(DOCKER_LAYER_GZIP), layer(oci_zstd)], 9).unwrap();
        assert_eq!(t, OCI_MANIFEST);
        let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v["layers"][0]["mediaType"], OCI_LAYER_GZIP);
        assert_eq!(v["layers"][1]["mediaType"], oci_zstd);
    }
}
