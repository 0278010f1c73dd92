//! `POST /build`, `POST /commit` and `POST /build/prune` parameters as dockerd reads them,
//! into the engine's typed requests, and the build's events back into Docker's JSON message
//! stream. What the classic builder cannot do (BuildKit's `version=2` and sessions, remote
//! contexts, outputs, squash) is refused by name with a 400, never dropped.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{json, Value};

use super::query::Query;
use crate::api::error::ApiError;
use crate::engine::build::ops::CommitContainer;
use crate::engine::build::{BuildEvent, BuildOptions, RunSettings};
use crate::engine::image::registry::Credentials;
use crate::engine::image::Reference;
use crate::error::EngineError;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

fn json_param<T: serde::de::DeserializeOwned + Default>(
    q: &Query,
    key: &str,
    what: &str,
) -> Result<T, ApiError> {
    match q
        .get(key)
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "null")
    {
        None => Ok(T::default()),
        Some(v) => serde_json::from_str(v).map_err(|e| bad(format!("error reading {what}: {e}"))),
    }
}

/// Refuses a parameter the classic builder in berth does not implement, when it is set.
fn refuse_if_set(q: &Query, key: &str, why: &str) -> Result<(), ApiError> {
    match q.get(key).map(str::trim) {
        None | Some("" | "[]" | "{}" | "null") => Ok(()),
        Some(v) => Err(bad(format!(
            "{key}={v} is not supported by berth's builder: {why}"
        ))),
    }
}

/// The build request of `POST /build?…`.
pub fn build_options(q: &Query) -> Result<BuildOptions, ApiError> {
    match q.get("version").unwrap_or("1") {
        "" | "1" => {}
        "2" => {
            return Err(bad(
                "BuildKit (version=2) is not supported by berth; build with the classic builder (DOCKER_BUILDKIT=0)",
            ))
        }
        v => return Err(bad(format!("invalid version \"{v}\""))),
    }
    if !q.all("securityopt").is_empty() {
        return Err(bad(
            "The daemon on this platform does not support setting security options on build",
        ));
    }
    if q.flag("squash", false) {
        return Err(bad("squash is only supported with experimental mode"));
    }
    refuse_if_set(q, "remote", "send the context as the request body")?;
    refuse_if_set(q, "session", "BuildKit sessions (/session) need BuildKit")?;
    refuse_if_set(q, "outputs", "outputs need BuildKit")?;
    // Checked as a container's: the steps' containers are made with them.
    let limits = super::host_extra::runtime_settings(&bollard_stubs::models::HostConfig {
        cgroup_parent: q.get("cgroupparent").map(str::to_string),
        cpuset_cpus: q.get("cpusetcpus").map(str::to_string),
        cpuset_mems: q.get("cpusetmems").map(str::to_string),
        ulimits: Some(json_param(q, "ulimits", "ulimits")?),
        ..Default::default()
    })?;
    match q.get("isolation").unwrap_or("") {
        "" | "default" => {}
        i => return Err(bad(format!("unsupported isolation: \"{i}\""))),
    }
    let mut tags = Vec::new();
    for t in q.all("t").into_iter().filter(|t| !t.is_empty()) {
        let r = Reference::parse_tag(&t).map_err(|e| bad(format!("invalid tag {t:?}: {e}")))?;
        tags.push(r.familiar_tagged());
    }
    let force_remove = q.flag("forcerm", false);
    let remove = force_remove || q.get("rm").is_none_or(str::is_empty) || q.flag("rm", true);
    let int = |k: &str| -> Result<i64, ApiError> { Ok(q.int(k)?.unwrap_or(0)) };
    Ok(BuildOptions {
        dockerfile: q
            .get("dockerfile")
            .filter(|d| !d.is_empty())
            .unwrap_or("Dockerfile")
            .to_string(),
        tags,
        build_args: json_param(q, "buildargs", "build args")?,
        target: q
            .get("target")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        labels: json_param(q, "labels", "labels")?,
        no_cache: q.flag("nocache", false),
        cache_from: json_param::<Vec<String>>(q, "cachefrom", "cache from")?
            .into_iter()
            .filter(|r| !r.is_empty())
            .collect(),
        pull: q.flag("pull", false),
        remove,
        force_remove,
        quiet: q.flag("q", false),
        platform: q
            .get("platform")
            .filter(|p| !p.is_empty())
            .map(str::to_string),
        run: RunSettings {
            network_mode: q.get("networkmode").unwrap_or("").to_string(),
            extra_hosts: q
                .all("extrahosts")
                .iter()
                .flat_map(|h| h.split([',', ' ']))
                .filter(|h| !h.is_empty())
                .map(str::to_string)
                .collect(),
            shm_size: int("shmsize")?,
            memory: int("memory")?,
            memory_swap: int("memswap")?,
            cpu_shares: int("cpushares")?,
            cpu_period: int("cpuperiod")?,
            cpu_quota: int("cpuquota")?,
            cgroup_parent: limits.cgroup_parent,
            cpuset_cpus: limits.cpuset_cpus,
            cpuset_mems: limits.cpuset_mems,
            ulimits: limits.ulimits,
        },
    })
}

/// `X-Registry-Config`: base64url JSON of registry → auth config, as the docker CLI sends it
/// with every build (usually `{}`).
pub fn registry_config(header: Option<&str>) -> Result<BTreeMap<String, Credentials>, ApiError> {
    let Some(raw) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let lenient = base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
    let url = base64::engine::GeneralPurpose::new(&base64::alphabet::URL_SAFE, lenient);
    let bytes = url
        .decode(raw)
        .map_err(|e| bad(format!("invalid X-Registry-Config header: {e}")))?;
    let map: BTreeMap<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("invalid X-Registry-Config header: {e}")))?;
    let mut out = BTreeMap::new();
    for (registry, cfg) in map {
        let encoded = url.encode(cfg.to_string());
        out.insert(registry, super::image::registry_auth(Some(&encoded))?);
    }
    Ok(out)
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=` with an optional
/// `ContainerConfig` body (the CLI sends none; docker-py's `commit(conf=...)` does).
pub fn commit_request(q: &Query, body: &[u8]) -> Result<CommitContainer, ApiError> {
    let container = q
        .get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("No container name or ID supplied"))?;
    let body = String::from_utf8_lossy(body);
    let trimmed = body.trim();
    let config = if trimmed.is_empty() || trimmed == "null" {
        None
    } else {
        let mut v: Value = serde_json::from_str(trimmed)
            .map_err(|e| bad(format!("invalid commit config: {e}")))?;
        berth_gojson::fold_keys::<bollard_stubs::models::ContainerConfig>(&mut v);
        Some(serde_json::from_value(v).map_err(|e| bad(format!("invalid commit config: {e}")))?)
    };
    let reference = match (
        q.get("repo").filter(|r| !r.is_empty()),
        q.get("tag").filter(|t| !t.is_empty()),
    ) {
        (Some(r), t) => {
            let full = match t {
                Some(t) => format!("{r}:{t}"),
                None => r.to_string(),
            };
            Some(
                Reference::parse_tag(&full)
                    .map_err(ApiError::from)?
                    .familiar_tagged(),
            )
        }
        (None, Some(_)) => return Err(bad("tag without a repository")),
        (None, None) => None,
    };
    Ok(CommitContainer {
        container: container.to_string(),
        reference,
        comment: q.get("comment").unwrap_or("").to_string(),
        author: q.get("author").unwrap_or("").to_string(),
        changes: q.all("changes"),
        pause: q.flag("pause", true),
        config,
    })
}

/// One line of the build's JSON message stream.
pub fn event_message(e: &BuildEvent) -> Value {
    match e {
        BuildEvent::Stream(s) => json!({ "stream": s }),
        BuildEvent::Aux(id) => json!({ "aux": { "ID": id } }),
        BuildEvent::Status {
            id: Some(id),
            status,
        } => json!({ "status": status, "id": id }),
        BuildEvent::Status { id: None, status } => json!({ "status": status }),
    }
}

/// The stream's last line when the build failed; a failed RUN carries its exit code, which the
/// docker CLI exits with.
pub fn error_message(e: &EngineError) -> Value {
    let msg = e.to_string();
    match e {
        EngineError::StepFailed { code, .. } => {
            json!({ "errorDetail": { "code": code, "message": msg }, "error": msg })
        }
        _ => json!({ "errorDetail": { "message": msg }, "error": msg }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::parse(Some(s))
    }

    #[test]
    fn the_docker_clis_query_is_read() {
        let o = build_options(&q("t=app%3A1&t=app&dockerfile=Dockerfile.ls&buildargs=%7B%22V%22%3A%22x%22%2C%22N%22%3Anull%7D&target=base&labels=%7B%22a%22%3A%22b%22%7D&nocache=1&rm=1&forcerm=0&q=1&networkmode=default&cpuperiod=0&cpuquota=0&cpusetcpus=&cpusetmems=&cpushares=0&memory=0&memswap=0&shmsize=0&ulimits=null&cachefrom=%5B%5D&version=1&session=&outputs=&extrahosts=db%3A10.0.0.2")).unwrap();
        assert_eq!(o.tags, ["app:1", "app:latest"]);
        assert_eq!(o.dockerfile, "Dockerfile.ls");
        assert_eq!(o.build_args.get("V"), Some(&Some("x".to_string())));
        assert_eq!(o.build_args.get("N"), Some(&None));
        assert_eq!(o.target.as_deref(), Some("base"));
        assert_eq!(o.labels.get("a").map(String::as_str), Some("b"));
        assert!(o.no_cache && o.remove && !o.force_remove && o.quiet);
        assert_eq!(o.run.extra_hosts, ["db:10.0.0.2"]);
        let o = build_options(&q("rm=0")).unwrap();
        assert!(!o.remove);
        assert_eq!(o.dockerfile, "Dockerfile");
        assert!(build_options(&q("rm=0&forcerm=1")).unwrap().remove);
    }

    #[test]
    fn what_needs_buildkit_or_more_is_refused_by_name() {
        for (query, want) in [
            ("version=2", "BuildKit (version=2) is not supported"),
            ("remote=https%3A%2F%2Fx", "remote="),
            ("session=abc", "session=abc"),
            (
                "securityopt=x",
                "The daemon on this platform does not support setting security options on build",
            ),
            (
                "squash=1",
                "squash is only supported with experimental mode",
            ),
            ("t=Bad%20Tag", "invalid tag"),
            ("buildargs=%5B", "error reading build args"),
            // Checked as a container's.
            ("cpusetcpus=x", "cpuset.cpus"),
            (
                "ulimits=%5B%7B%22Name%22%3A%22nope%22%7D%5D",
                "invalid ulimit type: nope",
            ),
            ("cgroupparent=..%2Fx", "invalid cgroup parent"),
        ] {
            let e = build_options(&q(query)).unwrap_err();
            assert!(e.message.contains(want), "{query}: {}", e.message);
        }
    }

    #[test]
    fn cgroup_parent_cpusets_and_ulimits_reach_the_steps() {
        let o = build_options(&q(
            "cgroupparent=%2Fci%2F&cpusetcpus=0&cpusetmems=0&ulimits=%5B%7B%22Name%22%3A%22nofile%22%2C%22Soft%22%3A512%2C%22Hard%22%3A1024%7D%5D",
        ))
        .unwrap();
        assert_eq!(
            (
                o.run.cgroup_parent.as_str(),
                o.run.cpuset_cpus.as_str(),
                o.run.cpuset_mems.as_str()
            ),
            ("ci", "0", "0")
        );
        assert_eq!(
            o.run.ulimits,
            [crate::engine::container::settings::Ulimit {
                name: "nofile".into(),
                soft: 512,
                hard: 1024
            }]
        );
    }

    #[test]
    fn commit_parameters() {
        let c = commit_request(
            &q("container=web&repo=img&tag=2&comment=m&author=a&changes=CMD%20x&pause=0"),
            b"null",
        )
        .unwrap();
        assert_eq!(
            (c.container.as_str(), c.reference.as_deref()),
            ("web", Some("img:2"))
        );
        assert_eq!(
            (c.comment.as_str(), c.author.as_str(), c.pause),
            ("m", "a", false)
        );
        assert_eq!(c.changes, ["CMD x"]);
        assert!(commit_request(&q("container=web"), b"{}").unwrap().pause);
        assert!(commit_request(&q("repo=x"), b"").is_err());
        assert!(c.config.is_none());
        // A config body, its keys in any case, as Go reads it.
        let c =
            commit_request(&q("container=web"), br#"{"cmd":["x"],"Labels":{"a":"b"}}"#).unwrap();
        let config = c.config.unwrap();
        assert_eq!(config.cmd, Some(vec!["x".to_string()]));
        assert_eq!(config.labels["a"], "b");
        let e = commit_request(&q("container=web"), br#"{"Cmd":"#).unwrap_err();
        assert!(e.message.contains("invalid commit config"), "{}", e.message);
    }

    #[test]
    fn events_and_errors_read_as_dockerd_writes_them() {
        assert_eq!(
            event_message(&BuildEvent::Stream("x\n".into())),
            json!({"stream": "x\n"})
        );
        assert_eq!(
            event_message(&BuildEvent::Aux("sha256:1".into())),
            json!({"aux": {"ID": "sha256:1"}})
        );
        let e = EngineError::StepFailed {
            message: "The command 'x' returned a non-zero code: 7".into(),
            code: 7,
        };
        assert_eq!(error_message(&e)["errorDetail"]["code"], 7);
        assert_eq!(
            error_message(&EngineError::InvalidArgument("m".into()))["error"],
            "m"
        );
    }

    #[test]
    fn registry_config_maps_registries_to_credentials() {
        let raw = base64::engine::general_purpose::URL_SAFE
            .encode(r#"{"localhost:5000":{"username":"u","password":"p"}}"#);
        let m = registry_config(Some(&raw)).unwrap();
        assert!(matches!(
            m.get("localhost:5000"),
            Some(Credentials::Basic { .. })
        ));
        assert!(registry_config(None).unwrap().is_empty());
        assert!(registry_config(Some("%%%")).is_err());
    }
}
