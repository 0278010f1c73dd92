//! Pulling an image: resolve the manifest (choosing a platform out of an index), fetch the
//! config, then fetch the missing layers a few at a time. Each compressed blob is written under
//! a temp name, hashed, synced and renamed before it is unpacked; the unpacked layer is checked
//! against the config's diff id and published atomically (`layer.rs`), and the compressed blob
//! is then deleted. A layer already present is never fetched again.

use std::fs::File;
use std::io::Write;

use bytes::Bytes;
use futures_util::StreamExt;

use super::distribution::RemoteBlob;
use super::progress::{short, CountingReader};
use super::registry::blob_error;
use super::registry::{
    select_platform, Credentials, Descriptor, Manifest, ManifestOrIndex, Operation, Platform,
    Session,
};
use super::{ImageConfigFile, ImageRecord, ImageStore, ProgressSink, Reference};
use crate::error::{EngineError, Result};

/// Layers fetched at once (Docker's default is 3).
const PARALLEL_LAYERS: usize = 3;
/// Progress is reported about every this many bytes.
const PROGRESS_STEP: u64 = 256 * 1024;
/// Chunks queued between the network and the blob writer.
const WRITE_QUEUE: usize = 32;

/// What to pull.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// The image; a missing tag means `latest`.
    pub reference: Reference,
    /// The platform wanted from an index; this machine's when None.
    pub platform: Option<Platform>,
    /// Credentials for the registry.
    pub credentials: Credentials,
}

/// A pull whose manifest and config are known: what is left is fetching layers. Errors up to
/// here (unknown image, refused credentials) come before any progress is reported.
pub struct PreparedPull {
    store: ImageStore,
    session: Session,
    reference: Reference,
    manifest: Manifest,
    manifest_digest: String,
    config_bytes: Vec<u8>,
    config: ImageConfigFile,
}

impl ImageStore {
    /// Connects to the registry, resolves the manifest for the wanted platform and fetches the
    /// config. NotFound "manifest for … not found: manifest unknown" for a missing tag,
    /// Unauthorized for refused credentials.
    /// The tags of `repo`'s repository on its registry (`docker pull --all-tags`).
    pub async fn repository_tags(
        &self,
        repo: &Reference,
        creds: &Credentials,
    ) -> Result<Vec<String>> {
        let cfg = self.registry_config()?;
        let session = Session::connect(&cfg, repo, creds, Operation::Pull)
            .await
            .map_err(|e| not_found_as_docker(repo, e))?;
        session.tags().await
    }

    pub async fn prepare_pull(&self, req: &PullRequest) -> Result<PreparedPull> {
        let r = &req.reference;
        let cfg = self.registry_config()?;
        let want = req.platform.clone().unwrap_or_else(Platform::host);
        let session = Session::connect(&cfg, r, &req.credentials, Operation::Pull)
            .await
            .map_err(|e| not_found_as_docker(r, e))?;
        let target = target_of(r);
        let (_, mut digest, mut parsed) = session
            .manifest(&target)
            .await
            .map_err(|e| not_found_as_docker(r, e))?;
        if let ManifestOrIndex::Index(entries) = &parsed {
            let chosen = select_platform(entries, &want)?.digest.clone();
            (_, digest, parsed) = session.manifest(&chosen).await?;
        }
        let ManifestOrIndex::Manifest(manifest) = parsed else {
            return Err(EngineError::InvalidArgument(format!(
                "{}: an index points at another index",
                r.familiar_tagged()
            )));
        };
        let config_bytes = match self.local_config(&manifest.config).await? {
            Some(bytes) => bytes,
            None => session.small_blob(&manifest.config).await?,
        };
        let config: ImageConfigFile = serde_json::from_slice(&config_bytes).map_err(|e| {
            EngineError::InvalidArgument(format!(
                "invalid image config {}: {e}",
                manifest.config.digest
            ))
        })?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(EngineError::InvalidArgument(format!(
                "image config lists {} layers but the manifest has {}",
                config.rootfs.diff_ids.len(),
                manifest.layers.len()
            )));
        }
        if let Some(p) = &req.platform {
            if !config.os.is_empty() && (config.os != p.os || config.architecture != p.architecture)
            {
                return Err(EngineError::NotFound(format!(
                    "image with reference {} was found but does not match the specified platform: wanted {}, actual: {}/{}",
                    r.familiar_tagged(),
                    p.display(),
                    config.os,
                    config.architecture
                )));
            }
        }
        Ok(PreparedPull {
            store: self.clone(),
            session,
            reference: r.clone(),
            manifest,
            manifest_digest: digest,
            config_bytes,
            config,
        })
    }
}

impl ImageStore {
    /// The config blob when it is already here (pulling an image again fetches nothing); a
    /// visible blob was verified when written.
    async fn local_config(&self, desc: &Descriptor) -> Result<Option<Vec<u8>>> {
        if !self.has_blob(&desc.digest)? {
            return Ok(None);
        }
        let path = self.blob_path(&desc.digest)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.len() == desc.size => {}
            _ => return Ok(None),
        }
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(EngineError::io(format!("read {}", path.display()), e)),
        }
    }
}

impl PreparedPull {
    /// Fetches the missing layers, records the image and its tag, and reports progress in
    /// Docker's words.
    pub async fn run(self, progress: &ProgressSink) -> Result<ImageRecord> {
        let r = &self.reference;
        let store = &self.store;
        progress.status(Some(&target_of(r)), format!("Pulling from {}", r.path()));
        let id = self.manifest.config.digest.clone();
        let diff_ids = self.config.rootfs.diff_ids.clone();
        let mut missing = Vec::new();
        for (desc, diff_id) in self.manifest.layers.iter().zip(&diff_ids) {
            if store.has_layer(diff_id)? {
                progress.status(Some(&short(&desc.digest)), "Already exists");
            } else {
                progress.status(Some(&short(&desc.digest)), "Pulling fs layer");
                missing.push((desc.clone(), diff_id.clone()));
            }
        }
        let up_to_date = missing.is_empty() && store.get(&id)?.is_some();
        futures_util::stream::iter(missing)
            .map(|(desc, diff_id)| {
                let this = &self;
                async move { this.fetch_layer(&desc, &diff_id, progress).await }
            })
            .buffer_unordered(PARALLEL_LAYERS)
            // Not try_collect: layers still in flight would go on unpacking unobserved after
            // the error is reported.
            .collect::<Vec<Result<()>>>()
            .await
            .into_iter()
            .collect::<Result<Vec<()>>>()?;
        for (desc, diff_id) in self.manifest.layers.iter().zip(&diff_ids) {
            store.remember_blob(diff_id, self.remote_blob(desc))?;
        }
        let tags = match r.digest() {
            Some(_) => Vec::new(),
            None => vec![r.familiar_tagged()],
        };
        let committer = store.clone();
        let (bytes, config) = (self.config_bytes.clone(), self.config.clone());
        let record = tokio::task::spawn_blocking(move || committer.commit(&bytes, config, &tags))
            .await
            .map_err(|e| EngineError::Internal(format!("image task: {e}")))??;
        let repo_digest = format!("{}@{}", r.familiar_name(), self.manifest_digest);
        store.add_repo_digest(&record.id, &repo_digest)?;
        progress.status(None, format!("Digest: {}", self.manifest_digest));
        let name = match r.digest() {
            Some(_) => repo_digest,
            None => r.familiar_tagged(),
        };
        let what = if up_to_date {
            "Image is up to date"
        } else {
            "Downloaded newer image"
        };
        progress.status(None, format!("Status: {what} for {name}"));
        store
            .get(&record.id)?
            .ok_or_else(|| EngineError::NoSuchImage(record.id.clone()))
    }

    fn remote_blob(&self, desc: &Descriptor) -> RemoteBlob {
        RemoteBlob {
            digest: desc.digest.clone(),
            size: desc.size,
            media_type: desc.media_type.clone(),
            registry: self.session.registry().to_string(),
            repository: self.reference.path().to_string(),
        }
    }

    /// Downloads (unless an earlier, interrupted pull left the verified blob) and unpacks one
    /// layer; the compressed blob is deleted once the layer is in place.
    async fn fetch_layer(
        &self,
        desc: &Descriptor,
        diff_id: &str,
        progress: &ProgressSink,
    ) -> Result<()> {
        let id = short(&desc.digest);
        let store = &self.store;
        let _fetching = store.fetch_lock(&desc.digest).await?;
        if store.has_layer(diff_id)? {
            progress.status(Some(&id), "Already exists");
            return Ok(());
        }
        if !store.has_blob(&desc.digest)? {
            self.download(desc, progress).await?;
        }
        progress.status(Some(&id), "Verifying Checksum");
        progress.status(Some(&id), "Download complete");
        let (unpacker, blob, diff, total) = (
            store.clone(),
            desc.digest.clone(),
            diff_id.to_string(),
            desc.size,
        );
        let sink = progress.clone();
        let report_id = id.clone();
        tokio::task::spawn_blocking(move || {
            let path = unpacker.blob_path(&blob)?;
            let file = File::open(&path)
                .map_err(|e| EngineError::io(format!("open {}", path.display()), e))?;
            let mut reader = CountingReader::new(
                file,
                PROGRESS_STEP,
                Box::new(move |n| sink.bytes(&report_id, "Extracting", n, total)),
            );
            let unpacked = unpacker.unpack_layer(&mut reader, Some(&diff));
            // An uncompressed layer's blob is the kept layer tar itself.
            if blob != diff {
                unpacker.remove_blob(&blob)?;
            }
            unpacked.map(drop)
        })
        .await
        .map_err(|e| EngineError::Internal(format!("unpack task: {e}")))??;
        progress.status(Some(&id), "Pull complete");
        Ok(())
    }

    /// Streams blob `desc` into `blobs/sha256/` on a blocking thread; the blob becomes visible
    /// only when its digest and size are right.
    async fn download(&self, desc: &Descriptor, progress: &ProgressSink) -> Result<()> {
        let id = short(&desc.digest);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
        let (store, expected) = (self.store.clone(), desc.digest.clone());
        let writer = tokio::task::spawn_blocking(move || -> Result<()> {
            let mut blob = store.new_blob()?;
            while let Some(chunk) = rx.blocking_recv() {
                blob.write_all(&chunk)
                    .map_err(|e| EngineError::io(format!("write blob {expected}"), e))?;
            }
            blob.publish(&expected).map_err(|e| match e {
                EngineError::InvalidArgument(m) => EngineError::InvalidArgument(format!(
                    "filesystem layer verification failed for digest {expected}: {m}"
                )),
                other => other,
            })
        });
        let fetched = async {
            let mut stream = self.session.blob(desc).await?;
            let (mut got, mut reported) = (0u64, 0u64);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| blob_error(e, &desc.digest))?;
                got += chunk.len() as u64;
                if got > desc.size {
                    return Err(EngineError::InvalidArgument(format!(
                        "filesystem layer verification failed for digest {}: the registry sent more than the {} bytes the manifest lists",
                        desc.digest, desc.size
                    )));
                }
                if tx.send(chunk).await.is_err() {
                    break; // The writer failed; its error is the one to report.
                }
                if got - reported >= PROGRESS_STEP || got == desc.size {
                    reported = got;
                    progress.bytes(&id, "Downloading", got, desc.size);
                }
            }
            Ok(())
        }
        .await;
        drop(tx);
        let written = writer
            .await
            .map_err(|e| EngineError::Internal(format!("blob writer: {e}")))?;
        // A network error explains a short blob better than the digest mismatch it causes.
        fetched.and(written).map_err(|e| {
            tracing::warn!(digest = %desc.digest, error = %e, "layer download failed");
            e
        })
    }
}

/// The tag (default `latest`) or digest a reference asks for.
fn target_of(r: &Reference) -> String {
    match r.digest() {
        Some(d) => d.to_string(),
        None => r.tag().unwrap_or("latest").to_string(),
    }
}

/// Docker's wording for an image the registry does not have.
fn not_found_as_docker(r: &Reference, e: EngineError) -> EngineError {
    match e {
        EngineError::NotFound(m) => {
            let name = match r.digest() {
                Some(d) => format!("{}@{d}", r.full_name()),
                None => format!("{}:{}", r.full_name(), r.tag().unwrap_or("latest")),
            };
            EngineError::NotFound(format!("manifest for {name} not found: {m}"))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_manifests_are_reported_as_docker_does() {
        let r = Reference::parse("localhost:5000/app:nope").unwrap();
        let e = not_found_as_docker(
            &r,
            EngineError::NotFound("manifest unknown: manifest unknown".into()),
        );
        assert_eq!(
            e.to_string(),
            "manifest for localhost:5000/app:nope not found: manifest unknown: manifest unknown"
        );
        assert_eq!(target_of(&Reference::parse("busybox").unwrap()), "latest");
        let d = format!("sha256:{}", "1".repeat(64));
        assert_eq!(
            target_of(&Reference::parse(&format!("busybox@{d}")).unwrap()),
            d
        );
    }
}
