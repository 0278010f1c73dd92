//! A [`Session`]: an `oci-client` client connected to one repository with one set of
//! credentials, over HTTPS (system roots plus the configured CAs) or, for insecure and loopback
//! registries that do not answer HTTPS, plain HTTP. Registry failures become engine errors with
//! Docker's wording. Certificate checks are never turned off.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};

use super::manifest::{Descriptor, ManifestOrIndex, ACCEPTED};
use super::{Credentials, RegistryConfig, USER_AGENT};
use crate::engine::image::digest::sha256_digest;
use crate::engine::image::Reference;
use crate::error::{EngineError, Result};

/// Config blobs and manifests are read into memory; refuse absurd ones.
const MAX_SMALL_BLOB: u64 = 16 * 1024 * 1024;

/// What a session will do, which decides the token scope asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Read only.
    Pull,
    /// Read and write.
    Push,
}

/// A client bound to one repository of one registry.
pub struct Session {
    client: Client,
    /// The repository, tagged `latest`; requests name the tag or digest themselves.
    repo: oci_client::Reference,
    /// `host[:port]` as written in the image name.
    registry: String,
}

impl Session {
    /// Connects to the repository of `reference` and authenticates for `op`. HTTPS first; an
    /// insecure or loopback registry that fails there is tried over plain HTTP.
    pub async fn connect(
        cfg: &RegistryConfig,
        reference: &Reference,
        creds: &Credentials,
        op: Operation,
    ) -> Result<Session> {
        let registry = reference.domain().to_string();
        cfg.check_allowed(&registry)?;
        let repo = oci_client::Reference::with_tag(
            registry.clone(),
            reference.path().to_string(),
            "latest".to_string(),
        );
        let auth = match creds {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Credentials::Bearer(t) => RegistryAuth::Bearer(t.clone()),
        };
        let oci_op = match op {
            Operation::Pull => RegistryOperation::Pull,
            Operation::Push => RegistryOperation::Push,
        };
        let https = client(cfg, &registry, ClientProtocol::Https)?;
        let first = match https.auth(&repo, &auth, oci_op).await {
            Ok(_) => return Ok(Session::new(https, repo, registry)),
            Err(e) => e,
        };
        if !cfg.is_insecure(&registry) || !matches!(first, OciDistributionError::RequestError(_)) {
            return Err(registry_error(first, &registry));
        }
        tracing::debug!(registry, error = %first, "https failed; trying plain http");
        let http = client(cfg, &registry, ClientProtocol::Http)?;
        let both = |second: String| {
            EngineError::Internal(format!(
                "registry {registry}: https: {}; http: {second}",
                error_text(&first)
            ))
        };
        match http.auth(&repo, &auth, oci_op).await {
            Ok(_) => {
                let session = Session::new(http, repo, registry.clone());
                // An https server answers plain http with a 400 that `auth` does not look at.
                match session.check_credentials().await {
                    Ok(()) => Ok(session),
                    Err(e @ EngineError::Unauthorized(_)) => Err(e),
                    Err(e) => Err(both(e.to_string())),
                }
            }
            // Both failed: the https reason (say, an unknown certificate authority) is
            // usually the one that matters, so say both.
            Err(second) => Err(both(error_text(&second))),
        }
    }

    fn new(client: Client, repo: oci_client::Reference, registry: String) -> Self {
        Session {
            client,
            repo,
            registry,
        }
    }

    /// The registry's `host[:port]`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    fn at(&self, tag_or_digest: &str) -> oci_client::Reference {
        if tag_or_digest.contains(':') {
            self.repo.clone_with_digest(tag_or_digest.to_string())
        } else {
            oci_client::Reference::with_tag(
                self.repo.registry().to_string(),
                self.repo.repository().to_string(),
                tag_or_digest.to_string(),
            )
        }
    }

    /// Fetches a manifest by tag or digest: its bytes, digest (checked against a requested
    /// digest) and parsed form. NotFound "manifest unknown" for a missing tag.
    pub async fn manifest(&self, tag_or_digest: &str) -> Result<(Bytes, String, ManifestOrIndex)> {
        let (body, _) = self
            .client
            .pull_manifest_raw(&self.at(tag_or_digest), &RegistryAuth::Anonymous, ACCEPTED)
            .await
            .map_err(|e| self.error(e))?;
        let digest = sha256_digest(&body);
        if tag_or_digest.contains(':') && digest != tag_or_digest {
            return Err(EngineError::InvalidArgument(format!(
                "manifest verification failed for digest {tag_or_digest}: content is {digest}"
            )));
        }
        let parsed = ManifestOrIndex::parse(&body)?;
        Ok((body, digest, parsed))
    }

    /// Every tag of the repository (`docker pull --all-tags`), page by page.
    pub async fn tags(&self) -> Result<Vec<String>> {
        const PAGE: usize = 100;
        let mut all: Vec<String> = Vec::new();
        loop {
            let page = self
                .client
                .list_tags(
                    &self.repo,
                    &RegistryAuth::Anonymous,
                    Some(PAGE),
                    all.last().map(String::as_str),
                )
                .await
                .map_err(|e| self.error(e))?;
            let full = page.tags.len() >= PAGE;
            let before = all.len();
            all.extend(page.tags);
            // A registry that pages wrongly must not loop for ever.
            if !full || all.len() == before {
                return Ok(all);
            }
        }
    }

    /// Reads a small blob (a config) into memory and checks its digest and size.
    pub async fn small_blob(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        if desc.size > MAX_SMALL_BLOB {
            return Err(EngineError::InvalidArgument(format!(
                "blob {} is {} bytes, too large for a config",
                desc.digest, desc.size
            )));
        }
        let mut stream = self.blob(desc).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.map_err(|e| blob_error(e, &desc.digest))?);
            if out.len() as u64 > desc.size {
                break;
            }
        }
        let digest = sha256_digest(&out);
        if digest != desc.digest || out.len() as u64 != desc.size {
            return Err(EngineError::InvalidArgument(format!(
                "blob verification failed for digest {}: content is {digest}, {} bytes",
                desc.digest,
                out.len()
            )));
        }
        Ok(out)
    }

    /// Streams a blob. The caller checks the digest of what it keeps.
    pub async fn blob(
        &self,
        desc: &Descriptor,
    ) -> Result<impl Stream<Item = std::io::Result<Bytes>> + use<>> {
        let oci = OciDescriptor {
            media_type: desc.media_type.clone(),
            digest: desc.digest.clone(),
            size: i64::try_from(desc.size).unwrap_or(i64::MAX),
            ..Default::default()
        };
        let sized = self
            .client
            .pull_blob_stream(&self.repo, &oci)
            .await
            .map_err(|e| self.error(e))?;
        Ok(sized.stream)
    }

    /// True when the repository has the blob `digest`.
    pub async fn has_blob(&self, digest: &str) -> Result<bool> {
        self.client
            .blob_exists(&self.repo, digest)
            .await
            .map_err(|e| self.error(e))
    }

    /// Makes one authenticated request, so refused credentials show even on registries that
    /// accept basic auth without a token exchange.
    pub async fn check_credentials(&self) -> Result<()> {
        let probe = format!("sha256:{}", "0".repeat(64));
        self.has_blob(&probe).await.map(drop)
    }

    /// Asks the registry to link blob `digest` from repository `from` into this one; false when
    /// it would not (the caller then uploads).
    pub async fn mount(&self, digest: &str, from: &str) -> bool {
        let source = oci_client::Reference::with_tag(
            self.repo.registry().to_string(),
            from.to_string(),
            "latest".to_string(),
        );
        match self.client.mount_blob(&self.repo, &source, digest).await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(digest, from, error = %e, "blob mount refused; uploading");
                false
            }
        }
    }

    /// Uploads a blob of `size` bytes whose digest is `digest`.
    pub async fn upload<S>(&self, digest: &str, size: u64, data: S) -> Result<()>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        let data = data.map(|r| r.map_err(OciDistributionError::IoError));
        self.client
            .push_blob_stream(&self.repo, data, digest, Some(size))
            .await
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// Stores a manifest under `tag`.
    pub async fn put_manifest(&self, tag: &str, body: Vec<u8>, media_type: &str) -> Result<()> {
        let content_type = media_type
            .parse()
            .map_err(|_| EngineError::Internal(format!("bad media type {media_type}")))?;
        self.client
            .push_manifest_raw(&self.at(tag), body, content_type)
            .await
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    fn error(&self, e: OciDistributionError) -> EngineError {
        registry_error(e, &self.registry)
    }
}

/// A client for `registry` trusting the system roots and the configured CAs.
fn client(cfg: &RegistryConfig, registry: &str, protocol: ClientProtocol) -> Result<Client> {
    super::install_crypto_provider();
    let extra = cfg
        .ca_pems(registry)?
        .into_iter()
        .map(|data| Certificate {
            encoding: CertificateEncoding::Pem,
            data,
        })
        .collect();
    let config = ClientConfig {
        protocol,
        extra_root_certificates: extra,
        use_monolithic_push: true,
        platform_resolver: None,
        connect_timeout: Some(std::time::Duration::from_secs(15)),
        user_agent: USER_AGENT,
        ..Default::default()
    };
    Client::try_from(config)
        .map_err(|e| EngineError::InvalidArgument(format!("registry client for {registry}: {e}")))
}

/// A failed blob read: a digest mismatch gets Docker's wording.
pub(crate) fn blob_error(e: std::io::Error, digest: &str) -> EngineError {
    let mut text = e.to_string();
    // "error decoding response body" alone hides why: the connection was cut, timed out…
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    if text.contains("Invalid digest") {
        return EngineError::InvalidArgument(format!(
            "filesystem layer verification failed for digest {digest}: {text}"
        ));
    }
    EngineError::io(
        format!("read blob {digest}"),
        std::io::Error::new(e.kind(), text),
    )
}

/// Maps a registry failure to an engine error: 401s to Unauthorized, unknown manifests and
/// repositories to NotFound, with the registry's own code and message kept.
pub(crate) fn registry_error(e: OciDistributionError, registry: &str) -> EngineError {
    match e {
        OciDistributionError::UnauthorizedError { url } => EngineError::Unauthorized(format!(
            "unauthorized: 401 Unauthorized from {url}: authentication required or wrong username or password"
        )),
        OciDistributionError::AuthenticationFailure(reason) => EngineError::Unauthorized(
            format!("unauthorized: 401 Unauthorized from {registry}: {}", reason.trim()),
        ),
        OciDistributionError::RegistryError { envelope, url } => {
            let text = envelope
                .errors
                .iter()
                .map(|e| format!("{}: {}", code_text(&e.code), e.message))
                .collect::<Vec<_>>()
                .join("; ");
            let codes = || envelope.errors.iter().map(|e| &e.code);
            if codes().any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied)) {
                EngineError::Unauthorized(format!("{text} (401 from {url})"))
            } else if codes().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                )
            }) {
                EngineError::NotFound(text)
            } else {
                EngineError::Internal(format!("{text} ({url})"))
            }
        }
        OciDistributionError::ServerError { code, url, message } => {
            let text = format!("{code} from {url}: {}", message.trim());
            match code {
                401 | 403 => EngineError::Unauthorized(format!("unauthorized: {text}")),
                404 => EngineError::NotFound(format!("not found: {text}")),
                _ => EngineError::Internal(format!("registry {registry}: {text}")),
            }
        }
        OciDistributionError::RequestError(e) => match e.status().map(|s| s.as_u16()) {
            // HEAD requests carry no error body: only the status tells.
            Some(401 | 403) => EngineError::Unauthorized(format!(
                "unauthorized: {} from {registry}: authentication required or wrong username or password",
                e.status().map(|s| s.to_string()).unwrap_or_default()
            )),
            _ => EngineError::Internal(format!("registry {registry}: {}", error_chain(&e))),
        },
        other => EngineError::Internal(format!("registry {registry}: {other}")),
    }
}

fn error_text(e: &OciDistributionError) -> String {
    match e {
        OciDistributionError::RequestError(r) => error_chain(r),
        other => other.to_string(),
    }
}

/// The registry's error code as the distribution spec writes it (`MANIFEST_UNKNOWN` → `manifest unknown`).
fn code_text(code: &OciErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.to_ascii_lowercase().replace('_', " ")))
        .unwrap_or_else(|| format!("{code:?}"))
}

/// An error and its sources on one line (reqwest hides the cause, e.g. a refused connection).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_client::errors::{OciEnvelope, OciError};

    fn envelope(code: OciErrorCode, message: &str) -> OciDistributionError {
        OciDistributionError::RegistryError {
            envelope: OciEnvelope {
                errors: vec![OciError {
                    code,
                    message: message.into(),
                    detail: serde_json::Value::Null,
                }],
            },
            url: "http://127.0.0.1:5000/v2/x/manifests/nope".into(),
        }
    }

    #[test]
    fn registry_errors_keep_their_meaning() {
        let e = registry_error(
            envelope(OciErrorCode::ManifestUnknown, "manifest unknown"),
            "r",
        );
        assert!(matches!(e, EngineError::NotFound(_)));
        assert_eq!(e.to_string(), "manifest unknown: manifest unknown");
        let e = registry_error(
            OciDistributionError::UnauthorizedError { url: "u".into() },
            "r",
        );
        assert!(matches!(e, EngineError::Unauthorized(_)));
        assert!(e.to_string().contains("401"), "{e}");
        let e = registry_error(envelope(OciErrorCode::Denied, "denied"), "r");
        assert!(matches!(e, EngineError::Unauthorized(_)));
        let e = registry_error(
            OciDistributionError::ServerError {
                code: 500,
                url: "u".into(),
                message: "boom".into(),
            },
            "r",
        );
        assert!(matches!(e, EngineError::Internal(_)));
    }

    #[test]
    fn digest_mismatches_read_like_dockers() {
        let e = blob_error(
            std::io::Error::other("Invalid digest. Expected sha256:a, got sha256:b"),
            "sha256:a",
        );
        assert!(e
            .to_string()
            .starts_with("filesystem layer verification failed for digest sha256:a"));
    }
}
