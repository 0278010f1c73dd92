//! Images: records → `ImageSummary` / `ImageInspect`, removal items → Docker's delete response;
//! registry requests: `X-Registry-Auth`, pull and push references, progress → Docker's JSON
//! messages, `DistributionInspect`.

use base64::Engine as _;
use bollard_stubs::models::{
    DistributionInspect, ImageConfig, ImageDeleteResponseItem, ImageInspect, ImageInspectRootFs,
    ImageSummary, OciDescriptor, OciPlatform,
};
use serde::Deserialize;
use serde_json::json;

use crate::engine::image::registry::{Credentials, Platform};
use crate::engine::image::{DistributionInfo, ImageRecord, Progress, Reference, RemovedItem};
use crate::error::{EngineError, Result};

/// One row of `GET /images/json`.
pub fn summary(img: &ImageRecord) -> ImageSummary {
    ImageSummary {
        id: img.id.clone(),
        parent_id: img.parent.clone().unwrap_or_default(),
        repo_tags: img.repo_tags.clone(),
        repo_digests: img.repo_digests.clone(),
        created: img.created,
        size: i64::try_from(img.size).unwrap_or(i64::MAX),
        shared_size: -1,
        labels: img.config.config.labels.clone().into_iter().collect(),
        containers: -1,
        manifests: None,
        descriptor: None,
    }
}

/// `GET /images/{name}/json`.
pub fn inspect(img: &ImageRecord) -> ImageInspect {
    let c = &img.config.config;
    let created = chrono::DateTime::from_timestamp(img.created, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    ImageInspect {
        id: Some(img.id.clone()),
        repo_tags: Some(img.repo_tags.clone()),
        repo_digests: Some(img.repo_digests.clone()),
        comment: Some(extra_str(img, "comment")),
        created,
        author: Some(extra_str(img, "author")),
        config: Some(ImageConfig {
            user: Some(c.user.clone()),
            env: (!c.env.is_empty()).then(|| c.env.clone()),
            cmd: c.cmd.clone(),
            entrypoint: c.entrypoint.clone(),
            working_dir: Some(c.working_dir.clone()),
            // Empty: what Docker shows of a config without them, `Labels` and `Volumes` null
            // (`inspect_defaults::fill_image`) and `ExposedPorts` left out (`omitempty`).
            labels: (!c.labels.is_empty()).then(|| c.labels.clone().into_iter().collect()),
            exposed_ports: (!c.exposed_ports.is_empty())
                .then(|| c.exposed_ports.keys().cloned().collect()),
            volumes: (!c.volumes.is_empty()).then(|| c.volumes.keys().cloned().collect()),
            stop_signal: c.stop_signal.clone(),
            healthcheck: c
                .extra
                .get("Healthcheck")
                .and_then(|v| serde_json::from_value(v.clone()).ok()),
            args_escaped: c
                .extra
                .get("ArgsEscaped")
                .and_then(serde_json::Value::as_bool),
            on_build: c
                .extra
                .get("OnBuild")
                .and_then(|v| serde_json::from_value(v.clone()).ok()),
            shell: c
                .extra
                .get("Shell")
                .and_then(|v| serde_json::from_value(v.clone()).ok()),
        }),
        architecture: Some(img.config.architecture.clone()),
        os: Some(img.config.os.clone()),
        size: Some(i64::try_from(img.size).unwrap_or(i64::MAX)),
        root_fs: Some(ImageInspectRootFs {
            typ: "layers".into(),
            layers: Some(img.config.rootfs.diff_ids.clone()),
        }),
        ..Default::default()
    }
}

/// `GET /images/{name}/json` as a client of API `version` reads it: `inspect`, with the fields
/// Docker keeps for older clients (moby's image router): `Parent`, `DockerVersion` (before
/// 1.52), `VirtualSize` (before 1.44), and `Container` and `ContainerConfig` at every version
/// berthd serves. Docker 26 left those two out from 1.45 on, but docker-compose 1.x, which
/// negotiates the daemon's newest version, reads the image's volumes from `ContainerConfig`
/// when it recreates a container and stops with `KeyError: 'ContainerConfig'` without it (as
/// it does against Docker 26); with Docker 20.10 it got them.
pub fn inspect_for(img: &ImageRecord, version: crate::api::ApiVersion) -> serde_json::Value {
    use crate::api::ApiVersion;
    let mut v = serde_json::to_value(inspect(img)).unwrap_or_default();
    // A container's settings a commit records in the image's config (moby's image config is
    // a `container.Config`); the API's image config type has no fields for them.
    if let Some(serde_json::Value::Object(config)) = v.get_mut("Config") {
        for key in CONTAINER_ONLY_FIELDS {
            if let Some(value) = img.config.config.extra.get(key) {
                config.insert(key.into(), value.clone());
            }
        }
    }
    super::inspect_defaults::fill_image(&mut v);
    let Some(out) = v.as_object_mut() else {
        return v;
    };
    if version < ApiVersion(1, 52) {
        out.insert(
            "Parent".into(),
            img.parent.clone().unwrap_or_default().into(),
        );
        out.insert(
            "DockerVersion".into(),
            extra_str(img, "docker_version").into(),
        );
    }
    out.insert("Container".into(), extra_str(img, "container").into());
    // The classic builder's record of its last step's container; an image without one
    // (imported, or built by BuildKit) shows Go's empty `Config`, as Docker's.
    let mut container_config = empty_container_config();
    if let (Some(serde_json::Value::Object(recorded)), serde_json::Value::Object(zero)) = (
        img.config.extra.get("container_config"),
        &mut container_config,
    ) {
        // What the record leaves out (Go's omitempty in the image format) shows as zero.
        zero.extend(recorded.clone());
    }
    out.insert("ContainerConfig".into(), container_config);
    // Go's zero time when never tagged here, as docker 20.10 shows it.
    let last_tag = img
        .last_tag_time
        .as_ref()
        .map_or_else(|| "0001-01-01T00:00:00Z".to_string(), super::swarm::time);
    out.insert(
        "Metadata".into(),
        serde_json::json!({ "LastTagTime": last_tag }),
    );
    if version < ApiVersion(1, 44) {
        out.insert(
            "VirtualSize".into(),
            out.get("Size").cloned().unwrap_or_default(),
        );
    }
    v
}

/// The fields of Docker's `container.Config` an image's config (the API's) lacks.
const CONTAINER_ONLY_FIELDS: [&str; 10] = [
    "Hostname",
    "Domainname",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Image",
    "StopTimeout",
];

/// Docker's `container.Config` with nothing set, as Go encodes it.
fn empty_container_config() -> serde_json::Value {
    serde_json::json!({
        "Hostname": "", "Domainname": "", "User": "",
        "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": null, "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "",
        "Entrypoint": null, "OnBuild": null, "Labels": null,
    })
}

/// A string field of the image config's top level (`comment`, `author`), empty when absent.
fn extra_str(img: &ImageRecord, key: &str) -> String {
    img.config
        .extra
        .get(key)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// `DELETE /images/{name}` items.
pub fn removed(items: &[RemovedItem]) -> Vec<ImageDeleteResponseItem> {
    items
        .iter()
        .map(|i| match i {
            RemovedItem::Untagged(t) => ImageDeleteResponseItem {
                untagged: Some(t.clone()),
                deleted: None,
            },
            RemovedItem::Deleted(d) => ImageDeleteResponseItem {
                untagged: None,
                deleted: Some(d.clone()),
            },
        })
        .collect()
}

/// The JSON inside `X-Registry-Auth` (Docker's AuthConfig); other fields are ignored.
/// Fields may be `null`: bollard sends unset ones so.
#[derive(Debug, Default, Deserialize)]
struct AuthConfig {
    #[serde(default, deserialize_with = "null_as_empty")]
    username: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    password: String,
    /// `base64(username:password)`, as config.json stores it.
    #[serde(default, deserialize_with = "null_as_empty")]
    auth: String,
    /// A refresh token from an OAuth login; sent as the password (berth has no OAuth flow).
    #[serde(default, rename = "identitytoken", deserialize_with = "null_as_empty")]
    identity_token: String,
    /// A bearer token for the registry, used as it is.
    #[serde(default, rename = "registrytoken", deserialize_with = "null_as_empty")]
    registry_token: String,
    /// The registry (`POST /auth`'s body is an AuthConfig too).
    #[serde(default, rename = "serveraddress", deserialize_with = "null_as_empty")]
    server_address: String,
}

impl AuthConfig {
    /// The credentials it carries: a registry token as it is; else a user and password (from
    /// `auth` when only it is given), an identity token standing for the password.
    fn credentials(self, bad: impl Fn(String) -> EngineError) -> Result<Credentials> {
        if !self.registry_token.is_empty() {
            return Ok(Credentials::Bearer(self.registry_token));
        }
        let (mut username, mut password) = (self.username, self.password);
        if username.is_empty() && !self.auth.is_empty() {
            let pair = base64::engine::general_purpose::STANDARD
                .decode(self.auth.trim())
                .map_err(|e| bad(format!("auth: {e}")))?;
            let pair = String::from_utf8(pair).map_err(|e| bad(format!("auth: {e}")))?;
            let (u, p) = pair
                .split_once(':')
                .ok_or_else(|| bad("auth is not user:password".into()))?;
            (username, password) = (u.to_string(), p.to_string());
        }
        if !self.identity_token.is_empty() {
            password = self.identity_token;
            if username.is_empty() {
                username = "<token>".to_string();
            }
        }
        if username.is_empty() && password.is_empty() {
            return Ok(Credentials::Anonymous);
        }
        Ok(Credentials::Basic { username, password })
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// Decodes `X-Registry-Auth` (base64url JSON, padded or not; plain base64 is accepted too).
/// A missing or empty header, or `{}`, means anonymous; anything undecodable is a 400.
pub fn registry_auth(header: Option<&str>) -> Result<Credentials> {
    let Some(raw) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(Credentials::Anonymous);
    };
    let lenient = base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
    let url = base64::engine::GeneralPurpose::new(&base64::alphabet::URL_SAFE, lenient);
    let std = base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, lenient);
    let bad = |why: String| {
        EngineError::InvalidArgument(format!("invalid X-Registry-Auth header: {why}"))
    };
    let bytes = url
        .decode(raw)
        .or_else(|_| std.decode(raw))
        .map_err(|e| bad(e.to_string()))?;
    let cfg: AuthConfig = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    cfg.credentials(bad)
}

/// The body of `POST /auth`: the registry (`serveraddress`, scheme and path stripped; Docker
/// Hub when empty) and the credentials to check, any AuthConfig form (user and password,
/// `auth`, an identity or registry token).
pub fn login_request(body: &[u8]) -> Result<(String, Credentials)> {
    let bad = |why: String| EngineError::InvalidArgument(format!("invalid login request: {why}"));
    let login: AuthConfig = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let server = login.server_address.trim().to_string();
    let server = server
        .split_once("://")
        .map_or(server.as_str(), |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let server = match server.as_str() {
        "" | "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        _ => server,
    };
    Ok((server, login.credentials(bad)?))
}

/// What `fromImage` and `tag` of `POST /images/create` ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullTarget {
    /// One image: a `tag` that is a digest pins the digest, any other replaces the tag.
    One(Reference),
    /// Neither a tag nor a digest: every tag of the repository, as Docker (`pull --all-tags`).
    EveryTag(Reference),
}

/// `fromImage` and `tag` of `POST /images/create`.
pub fn pull_target(from_image: &str, tag: Option<&str>) -> Result<PullTarget> {
    let r = Reference::parse(from_image)?;
    match tag.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) if t.contains(':') => {
            Reference::parse(&format!("{}@{t}", r.full_name())).map(PullTarget::One)
        }
        Some(t) => r.with_tag(t).map(PullTarget::One),
        None if r.tag().is_none() && r.digest().is_none() => Ok(PullTarget::EveryTag(r)),
        None => Ok(PullTarget::One(r)),
    }
}

/// The repository (and tag, when given) of `POST /images/{name}/push?tag=`.
pub fn push_reference(name: &str, tag: Option<&str>) -> Result<Reference> {
    let r = Reference::parse(name)?;
    if r.digest().is_some() {
        return Err(EngineError::InvalidArgument(format!(
            "cannot push a digest reference: {name}"
        )));
    }
    match tag.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => r.with_tag(t),
        None => Ok(r),
    }
}

/// `platform=os/arch[/variant]`; empty means the daemon's own.
pub fn platform(raw: Option<&str>) -> Result<Option<Platform>> {
    raw.map(str::trim)
        .filter(|p| !p.is_empty())
        .map(Platform::parse)
        .transpose()
}

/// API 1.46's `platform` of load, save and push: a JSON-encoded OCI platform
/// (`{"os":"linux","architecture":"arm64"}`); empty means every platform there is.
pub fn oci_platform(raw: Option<&str>) -> Result<Option<Platform>> {
    let Some(raw) = raw.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let p: Platform = serde_json::from_str(raw)
        .map_err(|e| EngineError::InvalidArgument(format!("invalid platform {raw}: {e}")))?;
    // Normalised as `--platform` is (x86_64 is amd64).
    Platform::parse(&p.display()).map(Some)
}

/// One line of Docker's JSON message stream.
pub fn progress_message(p: &Progress) -> serde_json::Value {
    match p {
        Progress::Status {
            id: Some(id),
            status,
        } => {
            json!({"status": status, "progressDetail": {}, "id": id})
        }
        Progress::Status { id: None, status } => json!({ "status": status }),
        Progress::Bytes {
            id,
            status,
            current,
            total,
        } => json!({
            "status": status,
            "progressDetail": {"current": current, "total": total},
            "id": id,
        }),
        Progress::Stream(text) => json!({ "stream": text }),
        Progress::Pushed { tag, digest, size } => json!({
            "progressDetail": {},
            "aux": {"Tag": tag, "Digest": digest, "Size": size},
        }),
    }
}

/// The last line of a stream that failed.
pub fn error_message(e: &EngineError) -> serde_json::Value {
    json!({"errorDetail": {"message": e.to_string()}, "error": e.to_string()})
}

/// `GET /distribution/{name}/json`.
pub fn distribution(info: &DistributionInfo) -> DistributionInspect {
    let d = &info.descriptor;
    DistributionInspect {
        descriptor: OciDescriptor {
            media_type: Some(d.media_type.clone()),
            digest: Some(d.digest.clone()),
            size: Some(i64::try_from(d.size).unwrap_or(i64::MAX)),
            ..Default::default()
        },
        platforms: info
            .platforms
            .iter()
            .map(|p| OciPlatform {
                architecture: Some(p.architecture.clone()),
                os: Some(p.os.clone()),
                variant: p.variant.clone(),
                ..Default::default()
            })
            .collect(),
    }
}

/// `GET /images/{name}/history`: newest first, as Docker lists it. `layer_sizes` are the sizes
/// of the image's layers, bottom first; entries marked `empty_layer` have none. An image without
/// history (an import) gets one entry per layer.
pub fn history(img: &ImageRecord, layer_sizes: &[u64]) -> Vec<serde_json::Value> {
    use serde_json::{json, Value};
    let created = |h: &Value| {
        h.get("created")
            .and_then(Value::as_str)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(img.created, |t| t.timestamp())
    };
    let mut sizes = layer_sizes.iter();
    let mut out: Vec<Value> = if img.config.history.is_empty() {
        sizes
            .map(|s| json!({"Created": img.created, "CreatedBy": "", "Size": s, "Comment": "Imported from -"}))
            .collect()
    } else {
        img.config
            .history
            .iter()
            .map(|h| {
                let empty = h
                    .get("empty_layer")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let size = if empty {
                    0
                } else {
                    sizes.next().copied().unwrap_or(0)
                };
                json!({
                    "Created": created(h),
                    "CreatedBy": h.get("created_by").and_then(Value::as_str).unwrap_or(""),
                    "Size": size,
                    "Comment": h.get("comment").and_then(Value::as_str).unwrap_or(""),
                })
            })
            .collect()
    };
    out.reverse();
    for (i, entry) in out.iter_mut().enumerate() {
        entry["Id"] = json!(if i == 0 { img.id.as_str() } else { "<missing>" });
        entry["Tags"] = if i == 0 {
            json!(img.repo_tags)
        } else {
            Value::Null
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};

    #[test]
    fn registry_auth_decodes_dockers_header_forms() {
        let json = r#"{"username":"u","password":"p+/?","serveraddress":"localhost:5000"}"#;
        let want = Credentials::Basic {
            username: "u".into(),
            password: "p+/?".into(),
        };
        for header in [
            URL_SAFE.encode(json),
            URL_SAFE_NO_PAD.encode(json),
            STANDARD.encode(json),
        ] {
            assert_eq!(registry_auth(Some(&header)).unwrap(), want);
        }
        assert_eq!(registry_auth(None).unwrap(), Credentials::Anonymous);
        assert_eq!(registry_auth(Some("e30=")).unwrap(), Credentials::Anonymous);
        let nulls =
            URL_SAFE.encode(r#"{"username":"u","password":"p+/?","auth":null,"email":null}"#);
        assert_eq!(registry_auth(Some(&nulls)).unwrap(), want);
        let auth = URL_SAFE.encode(format!(r#"{{"auth":"{}"}}"#, STANDARD.encode("a:b:c")));
        assert_eq!(
            registry_auth(Some(&auth)).unwrap(),
            Credentials::Basic {
                username: "a".into(),
                password: "b:c".into()
            }
        );
        let token = URL_SAFE.encode(r#"{"registrytoken":"t"}"#);
        assert_eq!(
            registry_auth(Some(&token)).unwrap(),
            Credentials::Bearer("t".into())
        );
        let err = registry_auth(Some("!!not base64!!")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid X-Registry-Auth header"),
            "{err}"
        );
    }

    #[test]
    fn pull_references_combine_from_image_and_tag() {
        let one = |from: &str, tag: Option<&str>| match pull_target(from, tag).unwrap() {
            PullTarget::One(r) => r,
            PullTarget::EveryTag(r) => panic!("every tag of {}", r.full_name()),
        };
        let r = one("busybox:1.36", None);
        assert_eq!(r.full_name(), "docker.io/library/busybox");
        assert_eq!(r.tag(), Some("1.36"));
        assert!(matches!(pull_target("busybox", None).unwrap(),
            PullTarget::EveryTag(r) if r.full_name() == "docker.io/library/busybox"));
        assert_eq!(
            one("busybox", Some("1.36")).familiar_tagged(),
            "busybox:1.36"
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = one("localhost:5000/app", Some(&d));
        assert_eq!(r.digest(), Some(d.as_str()));
        assert_eq!(r.full_name(), "localhost:5000/app");
        assert!(pull_target("Bad", None).is_err());
        let p = push_reference("localhost:5000/app", Some("v1")).unwrap();
        assert_eq!(p.familiar_tagged(), "localhost:5000/app:v1");
        assert_eq!(
            push_reference("localhost:5000/app", None).unwrap().tag(),
            None
        );
    }

    #[test]
    fn login_requests_name_the_registry_host() {
        let (server, creds) = login_request(
            br#"{"username":"u","password":"p","serveraddress":"https://localhost:5000/v2/"}"#,
        )
        .unwrap();
        assert_eq!(server, "localhost:5000");
        assert!(matches!(creds, Credentials::Basic { .. }));
        let (server, _) =
            login_request(br#"{"serveraddress":"https://index.docker.io/v1/"}"#).unwrap();
        assert_eq!(server, "docker.io");
        // The other AuthConfig forms docker login sends, as X-Registry-Auth takes them.
        let (_, creds) =
            login_request(br#"{"serveraddress":"localhost:5000","identitytoken":"refresh-me"}"#)
                .unwrap();
        assert!(
            matches!(&creds, Credentials::Basic { username, password }
                if username == "<token>" && password == "refresh-me"),
            "{creds:?}"
        );
        let (_, creds) = login_request(br#"{"auth":"dTpw","serveraddress":"r"}"#).unwrap();
        assert!(
            matches!(&creds, Credentials::Basic { username, password }
                if username == "u" && password == "p"),
            "{creds:?}"
        );
        let (_, creds) = login_request(br#"{"registrytoken":"bearer-x"}"#).unwrap();
        assert!(
            matches!(&creds, Credentials::Bearer(t) if t == "bearer-x"),
            "{creds:?}"
        );
    }

    #[test]
    fn progress_becomes_dockers_json_messages() {
        let v = progress_message(&Progress::Bytes {
            id: "abc".into(),
            status: "Downloading".into(),
            current: 5,
            total: 10,
        });
        assert_eq!(v["progressDetail"]["total"], 10);
        assert_eq!(v["id"], "abc");
        let v = progress_message(&Progress::Status {
            id: None,
            status: "Digest: x".into(),
        });
        assert!(v.get("id").is_none());
        let e = error_message(&EngineError::NotFound("manifest unknown".into()));
        assert_eq!(e["errorDetail"]["message"], "manifest unknown");
        assert_eq!(platform(Some("")).unwrap(), None);
        assert!(platform(Some("linux/arm64")).unwrap().is_some());
    }
}
