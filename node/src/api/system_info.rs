//! The `/info` fields beyond the counts and the host: what berthd runs with (runtimes, plugins,
//! registries, proxies, the host's forwarding switches, its clock), as Docker's `Info` carries
//! them. The docker CLI prints them, and it reads `IndexServerAddress` for `docker login`.

use serde_json::{json, Map, Value};

use crate::engine::image::registry::RegistryConfig;

/// Docker Hub's index, as docker's `registry.IndexServer`.
const INDEX_SERVER: &str = "https://index.docker.io/v1/";

/// What berthd knows that `/info` shows besides `SystemInfo`'s first fields.
pub struct InfoFacts<'a> {
    pub registry: &'a RegistryConfig,
    /// The binary berthd runs as each container's init (`--init`).
    pub init_binary: &'a std::path::Path,
    /// Whether the host's cgroups are v1 (`oom_kill_disable` exists only there).
    pub cgroup_v1: bool,
}

/// Adds to `info` (the `/info` answer) the fields `facts` and the host give.
pub fn add(info: &mut Value, facts: &InfoFacts<'_>) {
    let Some(m) = info.as_object_mut() else {
        return;
    };
    let proc_flag = |path: &str| std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1");
    let extra = json!({
        "Debug": false,
        "ExperimentalBuild": false,
        "IndexServerAddress": INDEX_SERVER,
        "RegistryConfig": registry_config(facts.registry),
        // `--runtime runc` (the default) is the only one berthd takes; its monitor runs it.
        "Runtimes": {"runc": {"path": "berth-monitor"}},
        "Plugins": plugins(),
        "InitBinary": facts.init_binary.file_name().map(|n| n.to_string_lossy().into_owned()),
        "Isolation": "",
        "Labels": [],
        "CPUSet": true,
        "OomKillDisable": facts.cgroup_v1,
        "KernelMemory": false,
        "KernelMemoryTCP": false,
        "IPv4Forwarding": proc_flag("/proc/sys/net/ipv4/ip_forward"),
        "BridgeNfIptables": proc_flag("/proc/sys/net/bridge/bridge-nf-call-iptables"),
        "BridgeNfIp6tables": proc_flag("/proc/sys/net/bridge/bridge-nf-call-ip6tables"),
        "HttpProxy": proxy_env(&["HTTP_PROXY", "http_proxy"]),
        "HttpsProxy": proxy_env(&["HTTPS_PROXY", "https_proxy"]),
        "NoProxy": proxy_env(&["NO_PROXY", "no_proxy"]),
        "NFd": std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count),
        "OSVersion": os_version(),
        "SystemTime": chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        // No containerd; the monitor (runc's place) and the init are this build's.
        "ContainerdCommit": {"ID": "N/A", "Expected": "N/A"},
        "RuncCommit": built_here(),
        "InitCommit": built_here(),
    });
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            m.insert(k, v);
        }
    }
    m.entry("GenericResources").or_insert(Value::Null);
    // Docker's list starts as nil: none is `null`.
    if m.get("Warnings")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        m.insert("Warnings".into(), Value::Null);
    }
}

/// A `Commit` of this build, as Docker's for the tools it ships with.
fn built_here() -> Value {
    let commit = super::system::GIT_COMMIT;
    json!({"ID": commit, "Expected": commit})
}

/// `Plugins`: berthd's drivers by type; no authorization plugin.
fn plugins() -> Value {
    let mut m: Map<String, Value> = super::system::PLUGINS
        .iter()
        .map(|(kind, names)| ((*kind).to_string(), json!(names)))
        .collect();
    m.insert("Authorization".into(), Value::Null);
    Value::Object(m)
}

/// Docker's `RegistryConfig`: Docker Hub secure and official; insecure CIDRs (loopback always,
/// as Docker's default) apart from insecure hosts, which are index configs marked insecure.
fn registry_config(r: &RegistryConfig) -> Value {
    let mut cidrs = vec!["127.0.0.0/8".to_string()];
    let mut indexes = Map::new();
    indexes.insert(
        "docker.io".into(),
        json!({"Name": "docker.io", "Mirrors": [], "Secure": true, "Official": true}),
    );
    for entry in &r.insecure {
        if entry.contains('/') {
            if !cidrs.contains(entry) {
                cidrs.push(entry.clone());
            }
        } else {
            indexes.insert(
                entry.clone(),
                json!({"Name": entry, "Mirrors": [], "Secure": false, "Official": false}),
            );
        }
    }
    json!({
        "AllowNondistributableArtifactsCIDRs": [],
        "AllowNondistributableArtifactsHostnames": [],
        "InsecureRegistryCIDRs": cidrs,
        "IndexConfigs": indexes,
        "Mirrors": [],
    })
}

/// The first of `names` set in berthd's environment (its registry client honours them), with
/// the user and password masked as Docker masks them.
fn proxy_env(names: &[&str]) -> String {
    let value = names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        .unwrap_or_default();
    mask_credentials(&value)
}

/// `scheme://user:pass@host` → `scheme://xxxxx:xxxxx@host` (moby's `maskCredentials`).
fn mask_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((_, host)) => format!("{scheme}://xxxxx:xxxxx@{host}"),
        None => url.to_string(),
    }
}

/// `VERSION_ID` of `/etc/os-release` (Docker's `OSVersion`), "" when absent.
fn os_version() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("VERSION_ID="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_registries_show_as_docker_lists_them() {
        let r = RegistryConfig {
            insecure: vec!["10.0.0.0/8".into(), "reg.lan:5000".into()],
            ..Default::default()
        };
        let v = registry_config(&r);
        assert_eq!(
            v["InsecureRegistryCIDRs"],
            json!(["127.0.0.0/8", "10.0.0.0/8"])
        );
        assert_eq!(v["IndexConfigs"]["reg.lan:5000"]["Secure"], false);
        assert_eq!(v["IndexConfigs"]["docker.io"]["Official"], true);
    }

    #[test]
    fn proxy_credentials_are_masked() {
        assert_eq!(
            mask_credentials("http://me:secret@proxy:3128"),
            "http://xxxxx:xxxxx@proxy:3128"
        );
        assert_eq!(mask_credentials("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(mask_credentials(""), "");
    }

    #[test]
    fn every_field_is_added_and_the_runtime_is_the_one_run_takes() {
        let mut info = json!({"ID": "x"});
        let facts = InfoFacts {
            registry: &RegistryConfig::default(),
            init_binary: std::path::Path::new("/d/bin/berth-init"),
            cgroup_v1: true,
        };
        add(&mut info, &facts);
        assert!(info["Runtimes"].get("runc").is_some());
        assert_eq!(info["InitBinary"], "berth-init");
        assert_eq!(info["IndexServerAddress"], INDEX_SERVER);
        assert!(info["NFd"].as_u64().is_some_and(|n| n > 0));
        assert!(info["SystemTime"].as_str().is_some_and(|t| t.len() > 20));
    }
}
