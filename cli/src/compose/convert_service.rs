//! One Compose service as a swarm `ServiceSpec` (Engine API JSON): the container spec, its
//! networks, mounts, secrets and configs; the `deploy:` keys are in `convert_deploy.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{json, Map, Value};

use super::convert::{labels_of, nanos, scoped, strip_nulls, IMAGE_LABEL, NAMESPACE_LABEL};
use super::convert_deploy::{mode, placement, ports, resources, restart_policy, update_config};
use super::model::{
    ComposeFile, FileReference, Healthcheck, ServiceConfig, ServiceNetworks, VolumeMount,
};
use super::Loaded;

/// One service's spec.
pub(super) fn service(
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
        // The API's spelling (docker's client sends `Healthcheck`, which Go decodes blind to
        // case); the typed spec the request goes through knows only `HealthCheck`.
        c.insert("HealthCheck".into(), healthcheck(h, &at("healthcheck"))?);
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
                    super::model::Ulimit::Pair(p) => (p.soft, p.hard),
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
    if let Some(l) = logging(svc, name)? {
        task.insert("LogDriver".into(), l);
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

/// `logging: {driver, options}` as the task's log driver.
fn logging(svc: &ServiceConfig, name: &str) -> Result<Option<Value>, String> {
    let Some(l) = svc.other.get("logging") else {
        return Ok(None);
    };
    let at = format!("services.{name}.logging");
    let map = l
        .as_mapping()
        .ok_or_else(|| format!("{at}: must be a mapping"))?;
    let mut out = Map::new();
    for (k, v) in map {
        match k.as_str() {
            Some("driver") => {
                let d = v
                    .as_str()
                    .ok_or_else(|| format!("{at}.driver: must be a string"))?;
                out.insert("Name".into(), json!(d));
            }
            Some("options") => {
                // Values as written: `max-file: 3` is the string "3" to the driver.
                let opts: BTreeMap<String, super::model::Scalar> =
                    serde_yaml::from_value(v.clone()).map_err(|e| format!("{at}.options: {e}"))?;
                let opts: BTreeMap<String, String> =
                    opts.into_iter().map(|(k, v)| (k, v.text())).collect();
                out.insert("Options".into(), json!(opts));
            }
            other => {
                return Err(format!(
                    "{at}: additional property {} is not allowed",
                    other.unwrap_or("?")
                ))
            }
        }
    }
    Ok(Some(Value::Object(out)))
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
        vars.extend(super::parse_env_lines(&text));
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
        if h.test.is_some() {
            return Err(format!(
                "{at}: test and disable can't be set at the same time"
            ));
        }
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
/// its last alias; undeclared ones are an error, as in docker's CLI.
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
        // The file's aliases, then the service's name: docker's client orders them so, and a
        // re-deploy over a stack it deployed must not see a change in the order alone.
        let mut all = aliases;
        all.push(name.to_string());
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
                // Docker's client refuses options of another type of mount.
                let wrong = match l.kind.as_str() {
                    "volume" => [("bind", l.bind.is_some()), ("tmpfs", l.tmpfs.is_some())],
                    "bind" => [("volume", l.volume.is_some()), ("tmpfs", l.tmpfs.is_some())],
                    "tmpfs" => [("bind", l.bind.is_some()), ("volume", l.volume.is_some())],
                    other => {
                        return Err(format!(
                            "services.{name}.volumes: unsupported mount type {other}"
                        ))
                    }
                };
                if let Some((options, _)) = wrong.iter().find(|(_, set)| *set) {
                    return Err(format!(
                        "services.{name}.volumes: {options} options are incompatible with type {}",
                        l.kind
                    ));
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
                // `~` is the home directory, as docker's client expands it.
                let src = match src.strip_prefix('~') {
                    Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                        let home = std::env::var("HOME").unwrap_or_default();
                        format!("{home}{rest}")
                    }
                    _ => src,
                };
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
                    // Options without a driver are the local driver's (an NFS mount's
                    // `type`/`o`/`device`), as docker sends them.
                    if config.driver.is_some() || !config.driver_opts.is_empty() {
                        let options: BTreeMap<String, String> = config
                            .driver_opts
                            .iter()
                            .map(|(k, v)| (k.clone(), v.text()))
                            .collect();
                        let d = config.driver.as_deref().unwrap_or("local");
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
