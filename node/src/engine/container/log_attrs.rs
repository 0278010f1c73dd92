//! The attributes the json-file and local drivers add to every log entry (`--log-opt labels`,
//! `labels-regex`, `env`, `env-regex` and `tag`), as Docker computes them when a container
//! starts: written into each line's `attrs`, where log shippers read them, and shown by
//! `logs --details`.

use std::collections::BTreeMap;

use berth_gotemplate::Template;
use regex::Regex;
use serde_json::json;

use super::types::ContainerRecord;
use crate::error::{EngineError, Result};

/// The options that name attributes.
pub const KEYS: [&str; 5] = ["labels", "labels-regex", "env", "env-regex", "tag"];

/// Docker's words for an option its logger cannot use, which it says at start; berth says it
/// at create, before anything runs.
fn failed(e: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidArgument(format!("failed to initialize logging driver: {e}"))
}

/// Checks the patterns and the tag template of `opts`: the template is rendered for an empty
/// container, so a field Docker's log info lacks is refused here too.
pub fn check(opts: &BTreeMap<String, String>) -> Result<()> {
    attrs(opts, &ContainerRecord::default()).map(drop)
}

/// The attributes of `rec`'s log entries under `opts` (empty when it asks for none). Later
/// sources win a shared key: labels, label patterns, variables, variable patterns, the tag.
pub fn attrs(
    opts: &BTreeMap<String, String>,
    rec: &ContainerRecord,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    // Every start asks; nearly every container has none.
    if !KEYS.iter().any(|k| opts.contains_key(*k)) {
        return Ok(out);
    }
    let labels = &rec.config.labels;
    let env: BTreeMap<&str, &str> = rec
        .config
        .env
        .iter()
        .filter_map(|e| e.split_once('='))
        .collect();
    if let Some(names) = opts.get("labels").filter(|v| !v.is_empty()) {
        for name in names.split(',') {
            if let Some(v) = labels.get(name) {
                out.insert(name.to_string(), v.clone());
            }
        }
    }
    if let Some(re) = pattern(opts, "labels-regex")? {
        for (k, v) in labels.iter().filter(|(k, _)| re.is_match(k)) {
            out.insert(k.clone(), v.clone());
        }
    }
    if let Some(names) = opts.get("env").filter(|v| !v.is_empty()) {
        for name in names.split(',') {
            if let Some(v) = env.get(name) {
                out.insert(name.to_string(), (*v).to_string());
            }
        }
    }
    if let Some(re) = pattern(opts, "env-regex")? {
        for (k, v) in env.iter().filter(|(k, _)| re.is_match(k)) {
            out.insert((*k).to_string(), (*v).to_string());
        }
    }
    if let Some(t) = opts.get("tag").filter(|t| !t.is_empty()) {
        let tag = Template::parse(t)
            .and_then(|t| t.render_strict(&log_info(rec)))
            .map_err(failed)?;
        out.insert("tag".into(), tag);
    }
    Ok(out)
}

fn pattern(opts: &BTreeMap<String, String>, key: &str) -> Result<Option<Regex>> {
    opts.get(key)
        .filter(|p| !p.is_empty())
        .map(|p| Regex::new(p).map_err(|e| failed(format!("error parsing regexp: {e}"))))
        .transpose()
}

/// What a tag template sees: the methods and fields of Docker's `logger.Info`.
fn log_info(rec: &ContainerRecord) -> serde_json::Value {
    let args = rec.args();
    let (path, rest) = args
        .split_first()
        .map_or(("", &[][..]), |(p, r)| (p.as_str(), r));
    let image_id = &rec.config.image_id;
    // Docker's `ImageID` is the first 12 characters of `sha256:…`, digest prefix included.
    let short = |s: &str| s.chars().take(12).collect::<String>();
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    json!({
        "ID": short(&rec.id),
        "FullID": rec.id,
        "Name": rec.name,
        "ImageID": short(image_id),
        "ImageFullID": image_id,
        "ImageName": rec.config.image,
        "DaemonName": "docker",
        "Hostname": hostname,
        "Command": std::iter::once(path).chain(rest.iter().map(String::as_str)).collect::<Vec<_>>().join(" "),
        "ContainerID": rec.id,
        "ContainerName": format!("/{}", rec.name),
        "ContainerEntrypoint": path,
        "ContainerArgs": rest,
        "ContainerImageID": image_id,
        "ContainerImageName": rec.config.image,
        "ContainerCreated": rec.created,
        "ContainerEnv": rec.config.env,
        "ContainerLabels": rec.config.labels,
        "Config": {},
    })
}

/// `logs --details`' prefix: the attributes sorted by key, `key=value` with both escaped as a
/// URL query, joined by commas (Docker's `attrsByteSlice`).
pub fn details(attrs: &BTreeMap<String, String>) -> String {
    attrs
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::log_config::tests::opts;
    use super::*;

    fn record() -> ContainerRecord {
        let mut rec = ContainerRecord {
            id: "7dd57e8d70c6aaaabbbbccccddddeeeeffff00001111222233334444".into(),
            name: "lt1".into(),
            ..ContainerRecord::default()
        };
        rec.config.image = "busybox".into();
        rec.config.image_id =
            "sha256:a0a9a264f927ef6158148aee321962f3bc5f1ff859def793ad5baf4e552b60fd".into();
        rec.config.cmd = vec!["echo".into(), "hi".into()];
        rec.config.env = vec!["B=2".into(), "CEE=3".into(), "D=4".into()];
        rec.config.labels = [("a", "1"), ("app", "web"), ("zz", "9")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        rec
    }

    #[test]
    fn attributes_and_details_are_dockers() {
        // The case run on docker 20.10: its json-file line had these attrs, and
        // `logs --details` began with this prefix.
        let o = opts(&[
            ("labels", "a,app,nolabel"),
            ("env", "B,NOENV"),
            ("env-regex", "^C"),
            (
                "tag",
                "{{.ImageID}}|{{.ImageFullID}}|{{.ImageName}}|{{.Name}}|{{.ID}}|{{.DaemonName}}|{{.Command}}",
            ),
        ]);
        check(&o).unwrap();
        let a = attrs(&o, &record()).unwrap();
        assert_eq!(
            details(&a),
            "B=2,CEE=3,a=1,app=web,tag=sha256%3Aa0a9a%7Csha256%3Aa0a9a264f927ef6158148aee321962f3bc5f1ff859def793ad5baf4e552b60fd%7Cbusybox%7Clt1%7C7dd57e8d70c6%7Cdocker%7Cecho+hi"
        );
        let only_pattern = attrs(&opts(&[("labels-regex", "^ap")]), &record()).unwrap();
        assert_eq!(details(&only_pattern), "app=web");
        assert!(attrs(&BTreeMap::new(), &record()).unwrap().is_empty());
    }

    #[test]
    fn bad_patterns_and_templates_are_refused() {
        let e = |o: &[(&str, &str)]| check(&opts(o)).unwrap_err().to_string();
        assert!(e(&[("labels-regex", "(")]).contains("error parsing regexp"));
        assert!(e(&[("env-regex", "(")]).contains("failed to initialize logging driver"));
        assert!(e(&[("tag", "{{.ID")]).contains("unclosed action"));
        assert!(e(&[("tag", "{{.Foo}}")]).contains("can't evaluate field Foo"));
    }
}
