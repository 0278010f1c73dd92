//! A loaded Compose file as the objects `stack deploy` makes, in the Engine API's own JSON
//! (what the daemon stores and returns, so `stack plan` can compare field by field): networks
//! `<stack>_<name>`, services `<stack>_<name>` labelled `com.docker.stack.namespace`, and the
//! secrets and configs made from files. Follows docker's CLI (cli/compose/convert).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{json, Map, Value};

use super::model::{
    ComposeFile, Deploy, FileReference, Healthcheck, MapOrList, PortConfig, ServiceConfig,
    ServiceNetworks, UpdateConfig, VolumeMount,
};
use super::Loaded;
use crate::commands::service::parse::duration;

/// The label that ties an object to its stack.
pub const NAMESPACE_LABEL: &str = "com.docker.stack.namespace";
/// The label docker's client puts on a stack's service: its image as the file names it.
const IMAGE_LABEL: &str = "com.docker.stack.image";

/// What a deploy of a file wants to exist.
#[derive(Debug, Default)]
pub struct Desired {
    /// Networks to create when missing: full name → `POST /networks/create` body.
    pub networks: BTreeMap<String, Value>,
    /// Networks that must exist already (`external`).
    pub external_networks: BTreeSet<String>,
    /// Secrets and configs made from files: full name → (data, labels).
    pub secrets: BTreeMap<String, FileObject>,
    pub configs: BTreeMap<String, FileObject>,
    /// Services: full name → spec (Engine API JSON).
    pub services: BTreeMap<String, Value>,
}

/// A secret or config a deploy creates from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileObject {
    pub data: Vec<u8>,
    pub labels: BTreeMap<String, String>,
    pub template_driver: Option<String>,
}

/// `name` in stack `ns`.
pub fn scoped(ns: &str, name: &str) -> String {
    format!("{ns}_{name}")
}

/// Everything `loaded` asks for in stack `ns`; `env` resolves `environment: [KEY]`.
pub fn convert(
    ns: &str,
    loaded: &Loaded,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Desired, String> {
    let f = &loaded.file;
    let mut out = Desired::default();
    let mut used_networks = BTreeSet::new();
    for (name, svc) in &f.services {
        let spec = service(ns, name, svc, loaded, env, &mut used_networks)?;
        out.services.insert(scoped(ns, name), spec);
    }
    for net in used_networks {
        let config = f.networks.get(&net).cloned().flatten().unwrap_or_default();
        if let Some((true, external)) = config.external.as_ref().map(|e| e.name()) {
            let name = external
                .or(config.name.as_deref())
                .unwrap_or(&net)
                .to_string();
            out.external_networks.insert(name);
            continue;
        }
        let full = config.name.clone().unwrap_or_else(|| scoped(ns, &net));
        let mut labels = labels_of(config.labels.as_ref(), env);
        labels.insert(NAMESPACE_LABEL.into(), ns.into());
        let mut body = json!({
            "Name": full,
            "Driver": config.driver.clone().unwrap_or_else(|| "overlay".into()),
            "Scope": "swarm",
            "Labels": labels,
        });
        if !config.driver_opts.is_empty() {
            body["Options"] = json!(config
                .driver_opts
                .iter()
                .map(|(k, v)| (k.clone(), v.text()))
                .collect::<BTreeMap<_, _>>());
        }
        for (key, v) in [
            ("Attachable", config.attachable),
            ("Internal", config.internal),
            ("EnableIPv6", config.enable_ipv6),
        ] {
            if let Some(v) = v {
                body[key] = json!(v);
            }
        }
        if let Some(ipam) = &config.ipam {
            let pools: Vec<Value> = ipam
                .config
                .iter()
                .map(|p| json!({ "Subnet": p.subnet, "Gateway": p.gateway, "IPRange": p.ip_range }))
                .map(strip_nulls)
                .collect();
            body["IPAM"] = strip_nulls(json!({ "Driver": ipam.driver, "Config": pools }));
        }
        out.networks.insert(full, body);
    }
    files(ns, &f.secrets, "secret", loaded, env, &mut out.secrets)?;
    files(ns, &f.configs, "config", loaded, env, &mut out.configs)?;
    Ok(out)
}

/// Top-level `secrets:`/`configs:` made from files (external ones are looked up at deploy).
fn files(
    ns: &str,
    declared: &BTreeMap<String, super::model::FileObjectConfig>,
    what: &str,
    loaded: &Loaded,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut BTreeMap<String, FileObject>,
) -> Result<(), String> {
    for (name, c) in declared {
        if c.external.as_ref().is_some_and(|e| e.name().0) {
            continue;
        }
        let data = if let Some(file) = &c.file {
            let path = loaded.base_dir.join(file);
            std::fs::read(&path)
                .map_err(|e| format!("{what} {name}: open {}: {e}", path.display()))?
        } else if let Some(var) = &c.environment {
            env(var)
                .ok_or_else(|| format!("{what} {name}: environment variable {var} is not set"))?
                .into_bytes()
        } else {
            return Err(format!(
                "{what} {name}: needs a file, environment or external"
            ));
        };
        let mut labels = labels_of(c.labels.as_ref(), env);
        labels.insert(NAMESPACE_LABEL.into(), ns.into());
        let full = c.name.clone().unwrap_or_else(|| scoped(ns, name));
        out.insert(
            full,
            FileObject {
                data,
                labels,
                template_driver: c.template_driver.clone(),
            },
        );
    }
    Ok(())
}

/// `labels:` as a map; a bare `KEY` is an empty label.
fn labels_of(
    l: Option<&MapOrList>,
    _env: &dyn Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    l.map(|l| {
        l.entries()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect()
    })
    .unwrap_or_default()
}

/// A duration field in nanoseconds.
fn nanos(field: &str, v: Option<&String>) -> Result<Option<i64>, String> {
    v.map(|s| duration(s).map_err(|e| format!("{field}: {e}")))
        .transpose()
}

/// One service's spec.
fn service(
    ns: &str,
    name: &str,
    svc: &ServiceConfig,
    loaded: &Loaded,
    env: &dyn Fn(&str) -> Option<String>,
    used_networks: &mut BTreeSet<String>,
) -> Result<Value, String> {
    let f = &loaded.file;
    let at = |field: &str| format!("services.{name}.{field}");
    let image = svc.image.clone().ok_or_else(|| {
        format!("Service {name} has neither an image nor a build context specified. At least one must be provided.")
    })?;
    let deploy = svc.deploy.clone().unwrap_or_default();
    let mut labels = labels_of(deploy.labels.as_ref(), env);
    labels.insert(NAMESPACE_LABEL.into(), ns.into());
    // Docker's client records the image as the file names it.
    labels.insert(IMAGE_LABEL.into(), image.clone());
    let mut container_labels = labels_of(svc.labels.as_ref(), env);
    container_labels.insert(NAMESPACE_LABEL.into(), ns.into());

    let mut c = Map::new();
    c.insert("Image".into(), json!(image));
    c.insert("Labels".into(), json!(container_labels));
    if let Some(e) = &svc.entrypoint {
        c.insert(
            "Command".into(),
            json!(e
                .words()
                .map_err(|e| format!("{}: {e}", at("entrypoint")))?),
        );
    }
    if let Some(cmd) = &svc.command {
        c.insert(
            "Args".into(),
            json!(cmd.words().map_err(|e| format!("{}: {e}", at("command")))?),
        );
    }
    let envs = environment(svc, loaded, env)?;
    if !envs.is_empty() {
        c.insert("Env".into(), json!(envs));
    }
    for (key, v) in [
        ("Hostname", &svc.hostname),
        ("Dir", &svc.working_dir),
        ("User", &svc.user),
        ("StopSignal", &svc.stop_signal),
    ] {
        if let Some(v) = v {
            c.insert(key.into(), json!(v));
        }
    }
    if let Some(g) = nanos(&at("stop_grace_period"), svc.stop_grace_period.as_ref())? {
        c.insert("StopGracePeriod".into(), json!(g));
    }
    for (key, v) in [
        ("TTY", svc.tty),
        ("OpenStdin", svc.stdin_open),
        ("ReadOnly", svc.read_only),
        ("Init", svc.init),
    ] {
        if let Some(v) = v {
            c.insert(key.into(), json!(v));
        }
    }
    if let Some(h) = &svc.healthcheck {
        c.insert("Healthcheck".into(), healthcheck(h, &at("healthcheck"))?);
    }
    if let Some(hosts) = &svc.extra_hosts {
        let list: Vec<String> = hosts
            .entries()
            .into_iter()
            .map(|(k, v)| match v {
                // `host=ip` / `host: ip`
                Some(ip) => format!("{ip} {k}"),
                // `host:ip` in list form
                None => k
                    .split_once(':')
                    .map_or(k.clone(), |(h, ip)| format!("{ip} {h}")),
            })
            .collect();
        c.insert("Hosts".into(), json!(list));
    }
    let dns = svc.dns.as_ref().map(|d| d.items()).unwrap_or_default();
    let search = svc
        .dns_search
        .as_ref()
        .map(|d| d.items())
        .unwrap_or_default();
    if !dns.is_empty() || !search.is_empty() {
        c.insert(
            "DNSConfig".into(),
            strip_nulls(json!({
                "Nameservers": (!dns.is_empty()).then_some(dns),
                "Search": (!search.is_empty()).then_some(search),
            })),
        );
    }
    if let Some(caps) = &svc.cap_add {
        c.insert("CapabilityAdd".into(), json!(caps));
    }
    if let Some(caps) = &svc.cap_drop {
        c.insert("CapabilityDrop".into(), json!(caps));
    }
    if let Some(s) = &svc.sysctls {
        let m: BTreeMap<String, String> = s
            .entries()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
        c.insert("Sysctls".into(), json!(m));
    }
    if !svc.ulimits.is_empty() {
        let list: Vec<Value> = svc
            .ulimits
            .iter()
            .map(|(n, u)| {
                let (soft, hard) = match u {
                    super::model::Ulimit::Single(v) => (*v, *v),
                    super::model::Ulimit::Pair { soft, hard } => (*soft, *hard),
                };
                json!({ "Name": n, "Soft": soft, "Hard": hard })
            })
            .collect();
        c.insert("Ulimits".into(), json!(list));
    }
    let mounts = mounts(ns, name, svc, f, loaded)?;
    if !mounts.is_empty() {
        c.insert("Mounts".into(), json!(mounts));
    }
    let secrets = references(ns, &svc.secrets, &f.secrets, "secret", name)?;
    if !secrets.is_empty() {
        c.insert("Secrets".into(), json!(secrets));
    }
    let configs = references(ns, &svc.configs, &f.configs, "config", name)?;
    if !configs.is_empty() {
        c.insert("Configs".into(), json!(configs));
    }

    let mut task = Map::new();
    task.insert("ContainerSpec".into(), Value::Object(c));
    task.insert(
        "Networks".into(),
        json!(networks(ns, name, svc, f, used_networks)?),
    );
    if let Some(r) = restart_policy(svc, &deploy, name)? {
        task.insert("RestartPolicy".into(), r);
    }
    if let Some(p) = placement(&deploy) {
        task.insert("Placement".into(), p);
    }
    if let Some(r) = resources(&deploy, name)? {
        task.insert("Resources".into(), r);
    }

    let mut spec = Map::new();
    spec.insert("Name".into(), json!(scoped(ns, name)));
    spec.insert("Labels".into(), json!(labels));
    spec.insert("TaskTemplate".into(), Value::Object(task));
    spec.insert("Mode".into(), mode(&deploy, name)?);
    if let Some(u) = &deploy.update_config {
        spec.insert(
            "UpdateConfig".into(),
            update_config(u, &at("deploy.update_config"))?,
        );
    }
    if let Some(u) = &deploy.rollback_config {
        spec.insert(
            "RollbackConfig".into(),
            update_config(u, &at("deploy.rollback_config"))?,
        );
    }
    // Left out when the file sets neither: the daemon's default (`vip`), as docker sends it.
    let mut endpoint = Map::new();
    if let Some(m) = &deploy.endpoint_mode {
        if m != "vip" && m != "dnsrr" {
            return Err(format!(
                "{}: unknown endpoint mode {m} (vip or dnsrr)",
                at("deploy.endpoint_mode")
            ));
        }
        endpoint.insert("Mode".into(), json!(m));
    }
    let ports = ports(&svc.ports, &at("ports"))?;
    if !ports.is_empty() {
        endpoint.insert("Ports".into(), json!(ports));
    }
    if !endpoint.is_empty() {
        spec.insert("EndpointSpec".into(), Value::Object(endpoint));
    }
    Ok(Value::Object(spec))
}

/// `env_file` then `environment`, a bare `KEY` taken from the environment (left out when
/// unset), sorted as docker's CLI sends them.
fn environment(
    svc: &ServiceConfig,
    loaded: &Loaded,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    let mut vars: BTreeMap<String, Option<String>> = BTreeMap::new();
    for file in svc.env_file.as_ref().map(|e| e.items()).unwrap_or_default() {
        let path = loaded.base_dir.join(&file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("env_file {}: {e}", path.display()))?;
        vars.extend(
            super::parse_env_lines(&text)
                .into_iter()
                .map(|(k, v)| (k, Some(v))),
        );
    }
    if let Some(e) = &svc.environment {
        vars.extend(e.entries());
    }
    Ok(vars
        .into_iter()
        .filter_map(|(k, v)| {
            let v = v.or_else(|| env(&k))?;
            Some(format!("{k}={v}"))
        })
        .collect())
}

fn healthcheck(h: &Healthcheck, at: &str) -> Result<Value, String> {
    if h.disable == Some(true) {
        return Ok(json!({ "Test": ["NONE"] }));
    }
    let test = match &h.test {
        Some(super::model::StringOrList::One(s)) => Some(vec!["CMD-SHELL".to_string(), s.clone()]),
        Some(super::model::StringOrList::List(l)) => Some(l.clone()),
        None => None,
    };
    Ok(strip_nulls(json!({
        "Test": test,
        "Interval": nanos(&format!("{at}.interval"), h.interval.as_ref())?,
        "Timeout": nanos(&format!("{at}.timeout"), h.timeout.as_ref())?,
        "StartPeriod": nanos(&format!("{at}.start_period"), h.start_period.as_ref())?,
        "StartInterval": nanos(&format!("{at}.start_interval"), h.start_interval.as_ref())?,
        "Retries": h.retries.map(|r| r.0),
    })))
}

/// The service's networks (`default` when it names none), each with the service's name as
/// an alias; undeclared ones are an error, as in docker's CLI.
fn networks(
    ns: &str,
    name: &str,
    svc: &ServiceConfig,
    f: &ComposeFile,
    used: &mut BTreeSet<String>,
) -> Result<Vec<Value>, String> {
    let wanted: Vec<(String, Vec<String>)> = match &svc.networks {
        None => vec![("default".into(), Vec::new())],
        Some(ServiceNetworks::List(l)) => l.iter().map(|n| (n.clone(), Vec::new())).collect(),
        Some(ServiceNetworks::Map(m)) => m
            .iter()
            .map(|(n, c)| (n.clone(), c.clone().unwrap_or_default().aliases))
            .collect(),
    };
    let mut out = Vec::new();
    for (net, aliases) in wanted {
        let config = match f.networks.get(&net) {
            Some(c) => c.clone().unwrap_or_default(),
            None if net == "default" => Default::default(),
            None => {
                return Err(format!(
                    "service \"{name}\" references network \"{net}\", which is not declared"
                ))
            }
        };
        if let Some(ServiceNetworks::Map(m)) = &svc.networks {
            if m.get(&net)
                .cloned()
                .flatten()
                .is_some_and(|c| c.ipv4_address.is_some() || c.ipv6_address.is_some())
            {
                return Err(format!("services.{name}.networks.{net}: ipv4_address and ipv6_address are not supported by swarm services"));
            }
        }
        let target = match config.external.as_ref().map(|e| e.name()) {
            Some((true, n)) => n.or(config.name.as_deref()).unwrap_or(&net).to_string(),
            _ => config.name.clone().unwrap_or_else(|| scoped(ns, &net)),
        };
        used.insert(net);
        let mut all = vec![name.to_string()];
        all.extend(aliases);
        out.push(json!({ "Target": target, "Aliases": all }));
    }
    out.sort_by(|a, b| a["Target"].as_str().cmp(&b["Target"].as_str()));
    Ok(out)
}

/// `volumes:` as mounts: named volumes (declared at the top level) become `<stack>_<name>`,
/// paths are binds (relative to the file's directory), a lone path is an anonymous volume.
fn mounts(
    ns: &str,
    name: &str,
    svc: &ServiceConfig,
    f: &ComposeFile,
    loaded: &Loaded,
) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for v in &svc.volumes {
        let (kind, source, target, read_only, extra) = match v {
            VolumeMount::Short(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                let (src, target, mode) = match parts.as_slice() {
                    [t] => (None, (*t).to_string(), None),
                    [s, t] => (Some((*s).to_string()), (*t).to_string(), None),
                    [s, t, m] => (Some((*s).to_string()), (*t).to_string(), Some(*m)),
                    _ => {
                        return Err(format!(
                            "services.{name}.volumes: invalid spec: {s}: too many colons"
                        ))
                    }
                };
                let ro = match mode {
                    None | Some("rw") => false,
                    Some("ro") => true,
                    Some(m) => {
                        return Err(format!("services.{name}.volumes: invalid mode {m} in {s}"))
                    }
                };
                let kind = match &src {
                    Some(p) if p.starts_with('/') || p.starts_with('.') || p.starts_with('~') => {
                        "bind"
                    }
                    _ => "volume",
                };
                (kind.to_string(), src, target, ro, Map::new())
            }
            VolumeMount::Long(l) => {
                let mut extra = Map::new();
                match l.kind.as_str() {
                    "volume" | "bind" | "tmpfs" => {}
                    other => {
                        return Err(format!(
                            "services.{name}.volumes: unsupported mount type {other}"
                        ))
                    }
                }
                if let Some(b) = l.bind.as_ref().and_then(|b| b.propagation.clone()) {
                    extra.insert("BindOptions".into(), json!({ "Propagation": b }));
                }
                if let Some(t) = &l.tmpfs {
                    let size = t
                        .size
                        .as_ref()
                        .map(|s| crate::parse::ram_in_bytes(&s.text()))
                        .transpose()
                        .map_err(|e| format!("services.{name}.volumes: tmpfs size: {e}"))?;
                    extra.insert(
                        "TmpfsOptions".into(),
                        strip_nulls(json!({ "SizeBytes": size, "Mode": t.mode.map(|m| m.0) })),
                    );
                }
                if l.volume.as_ref().and_then(|v| v.nocopy) == Some(true) {
                    extra.insert("VolumeOptions".into(), json!({ "NoCopy": true }));
                }
                (
                    l.kind.clone(),
                    l.source.clone(),
                    l.target.clone(),
                    l.read_only.unwrap_or(false),
                    extra,
                )
            }
        };
        let mut m = extra;
        m.insert("Type".into(), json!(kind));
        m.insert("Target".into(), json!(target));
        if read_only {
            m.insert("ReadOnly".into(), json!(true));
        }
        match (kind.as_str(), source) {
            ("bind", Some(src)) => {
                let p = Path::new(&src);
                let abs = if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    loaded.base_dir.join(p)
                };
                let abs = std::path::absolute(&abs).unwrap_or(abs);
                m.insert("Source".into(), json!(abs.display().to_string()));
            }
            ("bind", None) => {
                return Err(format!(
                    "services.{name}.volumes: a bind mount needs a source"
                ))
            }
            ("volume", Some(vol)) => {
                let Some(config) = f.volumes.get(&vol) else {
                    return Err(format!("undefined volume \"{vol}\""));
                };
                let config = config.clone().unwrap_or_default();
                let external = config.external.as_ref().map(|e| e.name());
                let source = match external {
                    Some((true, n)) => n.or(config.name.as_deref()).unwrap_or(&vol).to_string(),
                    _ => config.name.clone().unwrap_or_else(|| scoped(ns, &vol)),
                };
                m.insert("Source".into(), json!(source));
                if !matches!(external, Some((true, _))) {
                    let mut labels = labels_of(config.labels.as_ref(), &|_| None);
                    labels.insert(NAMESPACE_LABEL.into(), ns.into());
                    let opts = m.entry("VolumeOptions").or_insert_with(|| json!({}));
                    opts["Labels"] = json!(labels);
                    if let Some(d) = &config.driver {
                        let options: BTreeMap<String, String> = config
                            .driver_opts
                            .iter()
                            .map(|(k, v)| (k.clone(), v.text()))
                            .collect();
                        opts["DriverConfig"] = json!({ "Name": d, "Options": options });
                    }
                }
            }
            ("tmpfs", Some(_)) => {
                return Err(format!(
                    "services.{name}.volumes: a tmpfs mount takes no source"
                ))
            }
            _ => {}
        }
        out.push(Value::Object(m));
    }
    Ok(out)
}

/// A service's `secrets:`/`configs:`, by name; their ids are filled in at deploy.
fn references(
    ns: &str,
    refs: &[FileReference],
    declared: &BTreeMap<String, super::model::FileObjectConfig>,
    what: &str,
    service: &str,
) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for r in refs {
        let (source, target, uid, gid, mode) = match r {
            FileReference::Short(s) => (s.clone(), None, None, None, None),
            FileReference::Long(l) => (
                l.source.clone(),
                l.target.clone(),
                l.uid.clone(),
                l.gid.clone(),
                l.mode.map(|m| m.0),
            ),
        };
        let Some(config) = declared.get(&source) else {
            return Err(format!(
                "service \"{service}\" references {what} \"{source}\", which is not declared"
            ));
        };
        let full = match config.external.as_ref().map(|e| e.name()) {
            Some((true, n)) => n.or(config.name.as_deref()).unwrap_or(&source).to_string(),
            _ => config.name.clone().unwrap_or_else(|| scoped(ns, &source)),
        };
        let default_target = if what == "secret" {
            source.clone()
        } else {
            format!("/{source}")
        };
        let file = json!({
            "Name": target.unwrap_or(default_target),
            "UID": uid.unwrap_or_else(|| "0".into()),
            "GID": gid.unwrap_or_else(|| "0".into()),
            "Mode": mode.unwrap_or(0o444),
        });
        let name_key = if what == "secret" {
            "SecretName"
        } else {
            "ConfigName"
        };
        out.push(json!({ "File": file, name_key: full }));
    }
    Ok(out)
}

fn mode(deploy: &Deploy, name: &str) -> Result<Value, String> {
    match deploy.mode.as_deref().unwrap_or("replicated") {
        "global" => {
            if deploy.replicas.is_some() {
                return Err(format!("services.{name}.deploy.replicas: replicas can only be used with replicated or replicated-job mode"));
            }
            Ok(json!({ "Global": {} }))
        }
        "replicated" => {
            Ok(json!({ "Replicated": { "Replicas": deploy.replicas.map_or(1, |r| r.0) } }))
        }
        other => Err(format!(
            "services.{name}.deploy.mode: unknown mode: {other}"
        )),
    }
}

fn update_config(u: &UpdateConfig, at: &str) -> Result<Value, String> {
    Ok(strip_nulls(json!({
        "Parallelism": u.parallelism.map_or(1, |p| p.0),
        "Delay": nanos(&format!("{at}.delay"), u.delay.as_ref())?,
        "FailureAction": u.failure_action,
        "Monitor": nanos(&format!("{at}.monitor"), u.monitor.as_ref())?,
        "MaxFailureRatio": u.max_failure_ratio,
        "Order": u.order,
    })))
}

/// `deploy.restart_policy`, else what `restart:` says (docker's CLI maps it the same way).
fn restart_policy(
    svc: &ServiceConfig,
    deploy: &Deploy,
    name: &str,
) -> Result<Option<Value>, String> {
    let at = format!("services.{name}.deploy.restart_policy");
    if let Some(r) = &deploy.restart_policy {
        let condition = match r.condition.as_deref() {
            Some("no") => Some("none"),
            other => other,
        };
        return Ok(Some(strip_nulls(json!({
            "Condition": condition,
            "Delay": nanos(&format!("{at}.delay"), r.delay.as_ref())?,
            "MaxAttempts": r.max_attempts.map(|m| m.0),
            "Window": nanos(&format!("{at}.window"), r.window.as_ref())?,
        }))));
    }
    let Some(restart) = svc.other.get("restart").and_then(|v| v.as_str()) else {
        return Ok(None);
    };
    let (policy, attempts) = restart.split_once(':').unwrap_or((restart, ""));
    let condition = match policy {
        "no" => "none",
        "always" | "unless-stopped" => "any",
        "on-failure" => "on-failure",
        other => {
            return Err(format!(
                "services.{name}.restart: unknown restart policy {other}"
            ))
        }
    };
    let attempts: Option<u64> = if attempts.is_empty() {
        None
    } else {
        Some(
            attempts
                .parse()
                .map_err(|_| format!("services.{name}.restart: bad count in {restart}"))?,
        )
    };
    Ok(Some(strip_nulls(
        json!({ "Condition": condition, "MaxAttempts": attempts }),
    )))
}

fn placement(deploy: &Deploy) -> Option<Value> {
    let p = deploy.placement.as_ref()?;
    let prefs: Vec<Value> = p
        .preferences
        .iter()
        .map(|s| json!({ "Spread": { "SpreadDescriptor": s.spread } }))
        .collect();
    Some(strip_nulls(json!({
        "Constraints": (!p.constraints.is_empty()).then(|| p.constraints.clone()),
        "Preferences": (!prefs.is_empty()).then_some(prefs),
        "MaxReplicas": p.max_replicas_per_node.map(|m| m.0),
    })))
}

fn resources(deploy: &Deploy, name: &str) -> Result<Option<Value>, String> {
    let Some(r) = &deploy.resources else {
        return Ok(None);
    };
    let at = format!("services.{name}.deploy.resources");
    let amounts = |a: &super::model::ResourceAmounts, which: &str| -> Result<Value, String> {
        let cpus = a
            .cpus
            .as_ref()
            .map(|c| {
                let t = c.text();
                t.parse::<f64>()
                    .ok()
                    .filter(|v| *v >= 0.0)
                    .map(|v| (v * 1e9).round() as i64)
                    .ok_or_else(|| format!("{at}.{which}.cpus: invalid number {t}"))
            })
            .transpose()?;
        let memory = a
            .memory
            .as_ref()
            .map(|m| match m {
                super::model::Scalar::Int(n) => Ok(*n),
                other => crate::parse::ram_in_bytes(&other.text()),
            })
            .transpose()
            .map_err(|e| format!("{at}.{which}.memory: {e}"))?;
        Ok(strip_nulls(
            json!({ "NanoCPUs": cpus, "MemoryBytes": memory, "Pids": a.pids }),
        ))
    };
    let mut out = Map::new();
    if let Some(l) = &r.limits {
        out.insert("Limits".into(), amounts(l, "limits")?);
    }
    if let Some(l) = &r.reservations {
        if l.pids.is_some() {
            return Err(format!("{at}.reservations.pids: only limits take pids"));
        }
        out.insert("Reservations".into(), amounts(l, "reservations")?);
    }
    Ok(Some(Value::Object(out)))
}

/// `ports:`: `[published:]target[/protocol]` with ranges, a number, or the long form.
fn ports(list: &[PortConfig], at: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for p in list {
        match p {
            PortConfig::Number(n) => {
                out.push(json!({ "Protocol": "tcp", "TargetPort": n, "PublishMode": "ingress" }))
            }
            PortConfig::Short(s) => {
                let (spec, proto) = s.split_once('/').unwrap_or((s.as_str(), "tcp"));
                let parts: Vec<&str> = spec.split(':').collect();
                let (published, target) = match parts.as_slice() {
                    [t] => (None, *t),
                    [p, t] => (Some(*p), *t),
                    [_, _, _] => {
                        return Err(format!(
                            "{at}: {s}: a host IP cannot be published by a swarm service"
                        ))
                    }
                    _ => return Err(format!("{at}: invalid port {s}")),
                };
                let targets = range(target).map_err(|e| format!("{at}: {s}: {e}"))?;
                let published = published
                    .map(|p| range(p).map_err(|e| format!("{at}: {s}: {e}")))
                    .transpose()?;
                if let Some(p) = &published {
                    if p.len() != targets.len() {
                        return Err(format!(
                            "{at}: {s}: the published and target ranges differ in length"
                        ));
                    }
                }
                for (i, t) in targets.iter().enumerate() {
                    let mut port =
                        json!({ "Protocol": proto, "TargetPort": t, "PublishMode": "ingress" });
                    if let Some(p) = &published {
                        port["PublishedPort"] = json!(p[i]);
                    }
                    out.push(port);
                }
            }
            PortConfig::Long(l) => {
                if l.host_ip.is_some() {
                    return Err(format!(
                        "{at}: host_ip cannot be published by a swarm service"
                    ));
                }
                let published = l
                    .published
                    .as_ref()
                    .map(|p| {
                        p.text()
                            .parse::<u16>()
                            .map_err(|_| format!("{at}: invalid published port {}", p.text()))
                    })
                    .transpose()?;
                let target = u16::try_from(l.target.0)
                    .map_err(|_| format!("{at}: invalid target port {}", l.target.0))?;
                out.push(strip_nulls(json!({
                    "Name": l.name,
                    "Protocol": l.protocol.clone().unwrap_or_else(|| "tcp".into()),
                    "TargetPort": target,
                    "PublishedPort": published,
                    "PublishMode": l.mode.clone().unwrap_or_else(|| "ingress".into()),
                })));
            }
        }
    }
    Ok(out)
}

/// `8000` or `8000-8002`.
fn range(s: &str) -> Result<Vec<u16>, String> {
    let bad = || format!("invalid port {s}");
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.trim().parse().map_err(|_| bad())?;
    let b: u16 = b.trim().parse().map_err(|_| bad())?;
    if b < a {
        return Err(bad());
    }
    Ok((a..=b).collect())
}

/// `v` without null fields (recursively in objects), as the daemon stores specs.
pub fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
