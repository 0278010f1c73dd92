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

/// The storage driver's `DriverStatus`, as Docker's overlay2 reports it: the filesystem under
/// the data root (by its magic number, with Docker's names), whether it gives entry types in
/// directory listings (overlayfs needs them), native diffs (berth diffs the upper directory
/// itself) and no `userxattr` (berthd runs as root).
pub fn driver_status(data_root: &std::path::Path) -> Vec<Vec<String>> {
    let backing = nix::sys::statfs::statfs(data_root).map_or_else(
        |_| "<unknown>".to_string(),
        |s| filesystem_name(s.filesystem_type().0 as u64).to_string(),
    );
    // A listing's entries carry their type, or `DT_UNKNOWN` (std would stat them instead).
    let d_type = nix::dir::Dir::open(
        data_root,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )
    .is_ok_and(|mut dir| dir.iter().flatten().all(|e| e.file_type().is_some()));
    [
        ("Backing Filesystem", backing),
        ("Supports d_type", d_type.to_string()),
        ("Native Overlay Diff", "true".to_string()),
        ("userxattr", "false".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| vec![k.to_string(), v])
    .collect()
}

/// Docker's name for a filesystem magic number (`graphdriver.FsNames`).
fn filesystem_name(magic: u64) -> &'static str {
    match magic {
        0x6175_6673 => "aufs",
        0x9123_683E => "btrfs",
        0x28CD_3D45 => "cramfs",
        0xF15F => "ecryptfs",
        0xEF53 => "extfs",
        0xF2F5_2010 => "f2fs",
        0x4750_4653 => "gpfs",
        0x72B6 => "jffs2",
        0x3153_464A => "jfs",
        0x6969 => "nfs",
        0x8584_58F6 => "ramfs",
        0x5265_4973 => "reiserfs",
        0x517B => "smb",
        0x7371_7368 => "squashfs",
        0x0102_1994 => "tmpfs",
        0xA501_FCF5 => "vxfs",
        0x5846_5342 => "xfs",
        0x2FC1_2FC1 => "zfs",
        0x794C_7630 => "overlayfs",
        0x6573_5546 => "fuse",
        _ => "<unknown>",
    }
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
    fn the_backing_filesystem_is_named_as_docker_names_it() {
        assert_eq!(filesystem_name(0xEF53), "extfs");
        assert_eq!(filesystem_name(0x5846_5342), "xfs");
        assert_eq!(filesystem_name(0x0102_1994), "tmpfs");
        assert_eq!(filesystem_name(7), "<unknown>");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        let status = driver_status(dir.path());
        assert_eq!(status[0][0], "Backing Filesystem");
        assert_ne!(status[0][1], "<unknown>", "{status:?}");
        assert_eq!(status[1], ["Supports d_type", "true"]);
    }

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
