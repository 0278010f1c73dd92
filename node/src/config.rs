//! berthd's settings: command-line flags over an optional TOML config file over defaults.

use serde::Deserialize;

use crate::engine::image::registry::RegistryConfig;
use crate::listen::{ListenConfig, ListenSettings};
use std::path::{Path, PathBuf};

/// Daemon settings after merging flags and the config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Listen addresses: `unix:///path` or `tcp://host:port`.
    pub hosts: Vec<String>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// `tracing` filter, e.g. `info`.
    pub log_level: String,
    /// How registries are reached (`insecure-registries`, `registry-ca-files`, `registry-certs-dir`).
    pub registry: RegistryConfig,
    /// Local networks (`bridge-name`, `nft-table`, `default-address-pools`).
    pub network: crate::network::NetConfig,
    /// TLS, the unauthenticated-tcp rule and the unix socket's group.
    pub listen: ListenConfig,
    /// The pids limit of a container that sets none (`default-pids-limit`); 0 for none.
    pub default_pids_limit: i64,
    /// The cgroup parent of containers that name none (`cgroup-parent`, dockerd's
    /// `--cgroup-parent`); empty: `berth`.
    pub cgroup_parent: String,
    /// The log driver and options of a container that names none.
    pub log_driver: String,
    pub log_opts: std::collections::BTreeMap<String, String>,
    /// What this node offers swarm tasks beyond CPU and memory (`node-generic-resources`).
    pub node_generic_resources: Vec<bollard_stubs::models::GenericResourcesInner>,
}

/// A container without `--pids-limit` gets this many processes at most, so a fork bomb in one
/// container cannot take every pid of the host (Docker sets no limit; podman 2048).
pub const DEFAULT_PIDS_LIMIT: i64 = 4096;

/// The config file (`/etc/berth/daemon.toml` unless `--config-file` says otherwise).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub hosts: Option<Vec<String>>,
    pub data_root: Option<PathBuf>,
    pub exec_root: Option<PathBuf>,
    pub log_level: Option<String>,
    /// Registries that may be reached over plain HTTP: `host`, `host:port` or a CIDR.
    pub insecure_registries: Option<Vec<String>>,
    /// PEM files of CA certificates trusted for every registry.
    pub registry_ca_files: Option<Vec<PathBuf>>,
    /// Docker's `<dir>/<host[:port]>/*.crt` per-registry CAs (default `/etc/docker/certs.d`).
    pub registry_certs_dir: Option<PathBuf>,
    /// When set, the only registries contacted besides loopback ones.
    pub allowed_registries: Option<Vec<String>>,
    /// The default network's bridge (`berth0`).
    pub bridge_name: Option<String>,
    /// The nftables table berthd owns (`berth`).
    pub nft_table: Option<String>,
    /// Docker's `default-address-pools`: `[{ base = "172.17.0.0/12", size = 16 }]`.
    pub default_address_pools: Option<Vec<crate::network::AddressPool>>,
    /// Serve TLS on tcp listeners (dockerd's `tls`).
    pub tls: Option<bool>,
    /// Require client certificates signed by `tlscacert` (dockerd's `tlsverify`; implies `tls`).
    pub tlsverify: Option<bool>,
    /// The CA of client certificates (`/etc/berth/tls/ca.pem`).
    pub tlscacert: Option<PathBuf>,
    /// The server certificate (`/etc/berth/tls/server-cert.pem`).
    pub tlscert: Option<PathBuf>,
    /// The server key (`/etc/berth/tls/server-key.pem`).
    pub tlskey: Option<PathBuf>,
    /// Allow tcp without client certificates beyond loopback.
    pub insecure_tcp: Option<bool>,
    /// The unix socket's group (`berth`), as dockerd's `group`.
    pub group: Option<String>,
    /// The pids limit of containers that set none (4096); 0 for none, as Docker.
    pub default_pids_limit: Option<i64>,
    /// The cgroup parent of containers that name none (`berth`), as dockerd's `cgroup-parent`.
    pub cgroup_parent: Option<String>,
    /// The log driver of containers that name none (`json-file`), as dockerd's `log-driver`.
    pub log_driver: Option<String>,
    /// Its options, as dockerd's `log-opts` (`{ max-size = "10m", max-file = "3" }`).
    pub log_opts: Option<std::collections::BTreeMap<String, String>>,
    /// dockerd's `node-generic-resources`: `["gpu=GPU-3f2a", "ssd=2"]` (a name or a count).
    pub node_generic_resources: Option<Vec<String>>,
    /// IPv6 on the default bridge, as dockerd's `ipv6`; needs `fixed-cidr-v6`.
    pub ipv6: Option<bool>,
    /// The default bridge's IPv6 subnet, as dockerd's `fixed-cidr-v6`.
    pub fixed_cidr_v6: Option<String>,
}

impl FileConfig {
    /// Reads a config file; a missing default file is an empty config, a missing named one is an error.
    pub fn load(path: &Path, must_exist: bool) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                Ok(FileConfig::default())
            }
            Err(e) => Err(anyhow::anyhow!("config file {}: {e}", path.display())),
        }
    }
}

impl Config {
    /// Flags win over the file, the file over defaults; `listen` holds the listener flags.
    /// Contradictory listener settings are an error.
    pub fn merge(
        hosts: Vec<String>,
        data_root: Option<PathBuf>,
        exec_root: Option<PathBuf>,
        log_level: Option<String>,
        listen: ListenSettings,
        file: FileConfig,
    ) -> anyhow::Result<Self> {
        let node_generic_resources = berth_swarm::generic_resources::parse_node_resources(
            &file.node_generic_resources.unwrap_or_default(),
        )
        .map_err(|e| anyhow::anyhow!("node-generic-resources: {e}"))?;
        let listen = listen
            .over(ListenSettings {
                tls: file.tls,
                tlsverify: file.tlsverify,
                tlscacert: file.tlscacert,
                tlscert: file.tlscert,
                tlskey: file.tlskey,
                insecure_tcp: file.insecure_tcp,
                group: file.group,
            })
            .resolve()?;
        let exec_root = exec_root
            .or(file.exec_root)
            .unwrap_or_else(|| PathBuf::from("/run/berth"));
        let hosts = if !hosts.is_empty() {
            hosts
        } else {
            file.hosts.unwrap_or_else(|| {
                vec![format!("unix://{}", exec_root.join("berth.sock").display())]
            })
        };
        let mut registry = RegistryConfig {
            insecure: file.insecure_registries.unwrap_or_default(),
            ca_files: file.registry_ca_files.unwrap_or_default(),
            allowed: file.allowed_registries,
            ..RegistryConfig::default()
        };
        if let Some(dir) = file.registry_certs_dir {
            registry.certs_dir = dir;
        }
        let mut network = crate::network::NetConfig::default();
        if let Some(b) = file.bridge_name {
            network.bridge_name = b;
        }
        if let Some(t) = file.nft_table {
            network.nft_table = t;
        }
        if let Some(p) = file.default_address_pools {
            network.pools = p;
        }
        network.fixed_cidr_v6 =
            default_bridge_ipv6(file.ipv6.unwrap_or(false), file.fixed_cidr_v6)?;
        Ok(Config {
            node_generic_resources,
            default_pids_limit: file.default_pids_limit.unwrap_or(DEFAULT_PIDS_LIMIT),
            cgroup_parent: file.cgroup_parent.unwrap_or_default(),
            log_driver: file.log_driver.unwrap_or_else(|| "json-file".into()),
            log_opts: file.log_opts.unwrap_or_default(),
            registry,
            network,
            listen,
            hosts,
            data_root: data_root
                .or(file.data_root)
                .unwrap_or_else(|| PathBuf::from("/var/lib/berth")),
            exec_root,
            log_level: log_level
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
        })
    }
}

/// The default bridge's IPv6 subnet from dockerd's `ipv6` and `fixed-cidr-v6`: both or
/// neither. berth gives the default bridge no link-local-only IPv6 (`ipv6` alone), and
/// `fixed-cidr-v6` alone would be dropped (dockerd ignores it without `ipv6`).
pub fn default_bridge_ipv6(
    ipv6: bool,
    fixed_cidr_v6: Option<String>,
) -> anyhow::Result<Option<String>> {
    match (ipv6, fixed_cidr_v6) {
        (false, None) => Ok(None),
        (true, None) => Err(anyhow::anyhow!(
            "ipv6: the default bridge needs its IPv6 subnet too (fixed-cidr-v6, e.g. \
             fd00:db8:1::/64): berth gives containers no link-local-only IPv6"
        )),
        (false, Some(subnet)) => Err(anyhow::anyhow!(
            "fixed-cidr-v6 {subnet}: IPv6 on the default bridge also needs ipv6 = true (--ipv6)"
        )),
        (true, Some(subnet)) => match crate::network::ipv6::Subnet6::parse(&subnet) {
            Some(_) => Ok(Some(subnet)),
            None => Err(anyhow::anyhow!(
                "fixed-cidr-v6 {subnet}: not an IPv6 subnet (addr/len)"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_bridge_takes_ipv6_with_its_subnet_or_not_at_all() {
        assert_eq!(default_bridge_ipv6(false, None).unwrap(), None);
        assert_eq!(
            default_bridge_ipv6(true, Some("fd00:1::/64".into())).unwrap(),
            Some("fd00:1::/64".into())
        );
        let alone = default_bridge_ipv6(true, None).unwrap_err().to_string();
        assert!(alone.contains("fixed-cidr-v6"), "{alone}");
        let dropped = default_bridge_ipv6(false, Some("fd00:1::/64".into()))
            .unwrap_err()
            .to_string();
        assert!(dropped.contains("needs ipv6 = true"), "{dropped}");
        assert!(default_bridge_ipv6(true, Some("10.0.0.0/8".into())).is_err());
        let file: FileConfig =
            toml::from_str("ipv6 = true\nfixed-cidr-v6 = \"fd00:2::/64\"").unwrap();
        let c = Config::merge(vec![], None, None, None, Default::default(), file).unwrap();
        assert_eq!(c.network.fixed_cidr_v6.as_deref(), Some("fd00:2::/64"));
    }

    #[test]
    fn flags_win_over_file_and_socket_follows_exec_root() {
        let file: FileConfig = toml::from_str("data-root = \"/d\"\nexec-root = \"/e\"").unwrap();
        let c = Config::merge(vec![], None, None, None, Default::default(), file.clone()).unwrap();
        assert_eq!(c.data_root, PathBuf::from("/d"));
        assert_eq!(c.hosts, vec!["unix:///e/berth.sock".to_string()]);
        let c = Config::merge(
            vec!["tcp://127.0.0.1:2375".into()],
            Some("/x".into()),
            None,
            None,
            Default::default(),
            file,
        )
        .unwrap();
        assert_eq!(c.data_root, PathBuf::from("/x"));
        assert_eq!(c.hosts, vec!["tcp://127.0.0.1:2375".to_string()]);
    }

    #[test]
    fn generic_resources_are_read_and_a_kind_both_named_and_counted_is_refused() {
        let file: FileConfig =
            toml::from_str("node-generic-resources = [\"gpu=GPU-a\", \"ssd=2\"]").unwrap();
        let c = Config::merge(vec![], None, None, None, Default::default(), file).unwrap();
        assert_eq!(c.node_generic_resources.len(), 2);
        let file: FileConfig =
            toml::from_str("node-generic-resources = [\"gpu=GPU-a\", \"gpu=2\"]").unwrap();
        let err = Config::merge(vec![], None, None, None, Default::default(), file).unwrap_err();
        assert!(
            err.to_string().starts_with("node-generic-resources: "),
            "{err}"
        );
    }

    #[test]
    fn registry_settings_come_from_the_file() {
        let file: FileConfig = toml::from_str(
            "insecure-registries = [\"reg.lan:5000\"]\nregistry-ca-files = [\"/ca.pem\"]",
        )
        .unwrap();
        let c = Config::merge(vec![], None, None, None, Default::default(), file).unwrap();
        assert_eq!(c.registry.insecure, vec!["reg.lan:5000".to_string()]);
        assert_eq!(c.registry.ca_files, vec![PathBuf::from("/ca.pem")]);
    }

    #[test]
    fn network_settings_come_from_the_file() {
        let file: FileConfig = toml::from_str(
            "bridge-name = \"bt0\"\nnft-table = \"berth_t\"\ndefault-address-pools = [{ base = \"10.77.0.0/16\", size = 24 }]",
        )
        .unwrap();
        let c = Config::merge(vec![], None, None, None, Default::default(), file).unwrap();
        assert_eq!(c.network.bridge_name, "bt0");
        assert_eq!(c.network.nft_table, "berth_t");
        assert_eq!(c.network.pools[0].size, 24);
    }

    #[test]
    fn listener_settings_merge_flags_over_the_file() {
        let file: FileConfig = toml::from_str(
            "tlsverify = true\ntlscacert = \"/f/ca.pem\"\ntlscert = \"/f/c.pem\"\n\
             tlskey = \"/f/k.pem\"\ninsecure-tcp = true\ngroup = \"docker\"\ntls = true",
        )
        .unwrap();
        let flags = ListenSettings {
            tlskey: Some("/flag/k.pem".into()),
            ..ListenSettings::default()
        };
        let c = Config::merge(vec![], None, None, None, flags, file).unwrap();
        let tls = c.listen.tls.clone().unwrap();
        assert!(tls.verify_clients);
        assert_eq!(tls.ca, PathBuf::from("/f/ca.pem"));
        assert_eq!(tls.key, PathBuf::from("/flag/k.pem"));
        assert!(c.listen.insecure_tcp);
        assert_eq!(c.listen.group, "docker");
        let plain = Config::merge(
            vec![],
            None,
            None,
            None,
            Default::default(),
            FileConfig::default(),
        )
        .unwrap();
        assert_eq!(plain.listen, ListenConfig::default());
    }

    #[test]
    fn containers_get_a_pids_limit_unless_the_file_says_none() {
        let c = Config::merge(
            vec![],
            None,
            None,
            None,
            Default::default(),
            Default::default(),
        )
        .unwrap();
        assert_eq!(c.default_pids_limit, DEFAULT_PIDS_LIMIT);
        let file: FileConfig = toml::from_str("default-pids-limit = 0").unwrap();
        let c = Config::merge(vec![], None, None, None, Default::default(), file).unwrap();
        assert_eq!(c.default_pids_limit, 0);
    }

    #[test]
    fn unknown_config_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("dataroot = \"/d\"").is_err());
    }
}
