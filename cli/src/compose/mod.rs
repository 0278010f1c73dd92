//! Compose files for `stack deploy` and `stack plan`: read (YAML anchors and `<<` merges),
//! merged in order (`merge.rs`), `${VAR}` substituted from the environment and a `.env` file
//! beside the first file (`interpolate.rs`), typed (`model.rs`) with errors that name the file,
//! line and key (`locate.rs`), then turned into the objects a deploy makes (`convert.rs`).

pub mod convert;
mod convert_deploy;
mod convert_service;
mod interpolate;
mod locate;
mod merge;
pub mod model;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use model::ComposeFile;

/// Service keys of Docker's stack file format the swarm cannot honour: reported, never
/// silently dropped (docker's CLI says "Ignoring unsupported options").
const UNSUPPORTED: &[&str] = &[
    "build",
    "cgroup_parent",
    "cgroupns_mode",
    "container_name",
    "depends_on",
    "devices",
    "domainname",
    "expose",
    "external_links",
    "ipc",
    "links",
    "mac_address",
    "network_mode",
    "pid",
    "privileged",
    "security_opt",
    "shm_size",
    "userns_mode",
    "volumes_from",
    "tmpfs",
    "isolation",
];

/// Keys of `docker compose` that a stack file does not take (docker refuses them as not
/// allowed), with what a stack says instead.
const NOT_IN_STACKS: &[(&str, &str)] = &[
    ("mem_limit", "deploy.resources.limits.memory"),
    ("memswap_limit", "deploy.resources.limits.memory"),
    ("mem_reservation", "deploy.resources.reservations.memory"),
    ("cpu_shares", "deploy.resources"),
    ("cpu_quota", "deploy.resources.limits.cpus"),
    ("cpus", "deploy.resources.limits.cpus"),
    ("cpuset", "deploy.resources"),
    ("pids_limit", "deploy.resources.limits.pids"),
    ("oom_score_adj", "nothing: a swarm task keeps the default"),
    ("profiles", "nothing: every service of a stack is deployed"),
    ("pull_policy", "nothing: nodes pull a missing image"),
    (
        "platform",
        "deploy.placement.constraints (node.platform.arch)",
    ),
];

/// Service keys the conversion reads itself from the untyped rest of a service: `restart`
/// (the restart policy when `deploy` has none) and `logging` (the task's log driver).
pub(crate) const CONVERTED_FROM_OTHER: &[&str] = &["restart", "logging"];

/// A loaded project: the file and what the reader wants the user to know.
#[derive(Debug)]
pub struct Loaded {
    pub file: ComposeFile,
    /// "Ignoring unsupported options: …" and the like.
    pub warnings: Vec<String>,
    /// The directory relative paths start from (the first file's).
    pub base_dir: PathBuf,
}

/// One file's text and name, as read.
struct Source {
    name: String,
    text: String,
}

/// Reads, merges, substitutes and types `paths` (`-` is standard input). `env` is the
/// process environment; a `.env` file beside the first file fills what it lacks.
pub fn load(paths: &[PathBuf], env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, String> {
    if paths.is_empty() {
        return Err("Please specify a Compose file (with --compose-file).".into());
    }
    let mut sources = Vec::new();
    let mut merged = Value::Null;
    for p in paths {
        let (name, text) = if p.as_os_str() == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| format!("reading standard input: {e}"))?;
            ("-".to_string(), s)
        } else {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("open {}: {}", p.display(), io_reason(&e)))?;
            (p.display().to_string(), text)
        };
        let mut v: Value = serde_yaml::from_str(&text).map_err(|e| syntax(&name, &e))?;
        v.apply_merge().map_err(|e| format!("{name}: {e}"))?;
        if !matches!(v, Value::Mapping(_) | Value::Null) {
            return Err(format!("{name}: top-level object must be a mapping"));
        }
        strip_extensions(&mut v);
        merged = merge::merge(merged, v);
        sources.push(Source { name, text });
    }
    let base_dir = paths
        .first()
        .filter(|p| p.as_os_str() != "-")
        .and_then(|p| p.parent())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dotenv = read_dotenv(&base_dir.join(".env"))?;
    let lookup = |k: &str| env(k).or_else(|| dotenv.get(k).cloned());
    interpolate::interpolate_value(&mut merged, "", &lookup)?;
    let file: ComposeFile = serde_path_to_error::deserialize(merged).map_err(|e| {
        let path: Vec<String> = e.path().iter().map(ToString::to_string).collect();
        located(&sources, &path, &e.inner().to_string())
    })?;
    let mut warnings = Vec::new();
    let mut unsupported = Vec::new();
    for (name, svc) in &file.services {
        // Keys the conversion reads from the untyped rest (see `CONVERTED_FROM_OTHER`).
        for key in svc
            .other
            .keys()
            .filter(|k| !k.starts_with("x-") && !CONVERTED_FROM_OTHER.contains(&k.as_str()))
        {
            if UNSUPPORTED.contains(&key.as_str()) {
                unsupported.push(format!("{key} (service {name})"));
            } else if let Some((_, instead)) = NOT_IN_STACKS.iter().find(|(k, _)| k == key) {
                let path = vec!["services".to_string(), name.clone(), key.clone()];
                return Err(located(
                    &sources,
                    &path,
                    &format!("additional property {key} is not allowed in a stack: use {instead}"),
                ));
            } else {
                let path = vec!["services".to_string(), name.clone(), key.clone()];
                return Err(located(
                    &sources,
                    &path,
                    &format!("additional property {key} is not allowed"),
                ));
            }
        }
    }
    for (name, svc) in &file.services {
        // As docker: `restart` is not a stack's; it only stands in for a missing restart policy.
        let has_policy = svc
            .deploy
            .as_ref()
            .is_some_and(|d| d.restart_policy.is_some());
        if has_policy && svc.other.contains_key("restart") {
            unsupported.push(format!(
                "restart (service {name}: deploy.restart_policy applies)"
            ));
        }
    }
    refuse_external_conflicts(&file)?;
    if !unsupported.is_empty() {
        warnings.push(format!(
            "Ignoring unsupported options: {}",
            unsupported.join(", ")
        ));
    }
    Ok(Loaded {
        file,
        warnings,
        base_dir,
    })
}

/// A YAML syntax error as `file:line: message`, the form every other error of a file takes
/// (the message also names the column and where the broken construct began).
fn syntax(name: &str, e: &serde_yaml::Error) -> String {
    match e.location() {
        Some(at) => format!("{name}:{}: {e}", at.line()),
        None => format!("{name}: {e}"),
    }
}

/// `message` about `path`, with the file and line it is on when one of the files has it (the
/// last file that does: it won the merge).
fn located(sources: &[Source], path: &[String], message: &str) -> String {
    let key = path.join(".");
    let key = if key.is_empty() || key == "?" {
        String::new()
    } else {
        format!("{key}: ")
    };
    let hit = sources
        .iter()
        .rev()
        .find_map(|s| Some((s, locate::line_of(&s.text, path)?)));
    match hit {
        Some((s, line)) => format!("{}:{line}: {key}{message}", s.name),
        None => format!(
            "{}: {key}{message}",
            sources.last().map_or("-", |s| s.name.as_str())
        ),
    }
}

/// Drops `x-…` keys at the top level and in each service, network, volume… (extension fields
/// are for anchors and tools; they are not part of the model).
fn strip_extensions(v: &mut Value) {
    let Value::Mapping(top) = v else { return };
    top.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with("x-")));
    for (_, section) in top.iter_mut() {
        if let Value::Mapping(items) = section {
            for (_, item) in items.iter_mut() {
                if let Value::Mapping(fields) = item {
                    fields.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with("x-")));
                }
            }
        }
    }
}

/// `KEY=VALUE` lines of a `.env` file (none when it does not exist); `#` comments, optional
/// quotes around the value.
fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(format!("open {}: {}", path.display(), io_reason(&e))),
    };
    Ok(parse_env_lines(&text)
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// `KEY=VALUE` lines (`.env`, `env_file`); a bare `KEY` is `None` (an `env_file` takes its
/// value from the environment, as compose does).
pub fn parse_env_lines(text: &str) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            out.insert(line.to_string(), None);
            continue;
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        out.insert(k.trim().to_string(), Some(v.to_string()));
    }
    out
}

/// An I/O error as Go words it ("no such file or directory").
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Docker's refusal of an external volume or network that also says how to make it.
fn refuse_external_conflicts(file: &ComposeFile) -> Result<(), String> {
    let conflict = |kind: &str, name: &str, key: &str| {
        Err(format!(
            "conflicting parameters \"external\" and \"{key}\" specified for {kind} \"{name}\""
        ))
    };
    for (name, v) in &file.volumes {
        let Some(v) = v
            .as_ref()
            .filter(|v| v.external.as_ref().is_some_and(|e| e.name().0))
        else {
            continue;
        };
        if v.driver.is_some() {
            return conflict("volume", name, "driver");
        }
        if !v.driver_opts.is_empty() {
            return conflict("volume", name, "driver_opts");
        }
        if v.labels.is_some() {
            return conflict("volume", name, "labels");
        }
    }
    for (name, n) in &file.networks {
        let Some(n) = n
            .as_ref()
            .filter(|n| n.external.as_ref().is_some_and(|e| e.name().0))
        else {
            continue;
        };
        for (set, key) in [
            (n.driver.is_some(), "driver"),
            (!n.driver_opts.is_empty(), "driver_opts"),
            (n.ipam.is_some(), "ipam"),
            (n.internal.is_some(), "internal"),
            (n.attachable.is_some(), "attachable"),
            (n.labels.is_some(), "labels"),
        ] {
            if set {
                return conflict("network", name, key);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
