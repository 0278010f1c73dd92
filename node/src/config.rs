//! berthd's settings: command-line flags over an optional TOML config file over defaults.

use serde::Deserialize;

use crate::engine::image::registry::RegistryConfig;
use std::path::{Path, PathBuf};

/// Daemon settings after merging flags and the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

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
    /// Flags win over the file, the file over defaults.
    pub fn merge(
        hosts: Vec<String>,
        data_root: Option<PathBuf>,
        exec_root: Option<PathBuf>,
        log_level: Option<String>,
        file: FileConfig,
    ) -> Self {
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
        Config {
            registry,
            network,
            hosts,
            data_root: data_root
                .or(file.data_root)
                .unwrap_or_else(|| PathBuf::from("/var/lib/berth")),
            exec_root,
            log_level: log_level
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_and_socket_follows_exec_root() {
        let file: FileConfig = toml::from_str("data-root = \"/d\"\nexec-root = \"/e\"").unwrap();
        let c = Config::merge(vec![], None, None, None, file.clone());
        assert_eq!(c.data_root, PathBuf::from("/d"));
        assert_eq!(c.hosts, vec!["unix:///e/berth.sock".to_string()]);
        let c = Config::merge(
            vec!["tcp://127.0.0.1:2375".into()],
            Some("/x".into()),
            None,
            None,
            file,
        );
        assert_eq!(c.data_root, PathBuf::from("/x"));
        assert_eq!(c.hosts, vec!["tcp://127.0.0.1:2375".to_string()]);
    }

    #[test]
    fn registry_settings_come_from_the_file() {
        let file: FileConfig = toml::from_str(
            "insecure-registries = [\"reg.lan:5000\"]\nregistry-ca-files = [\"/ca.pem\"]",
        )
        .unwrap();
        let c = Config::merge(vec![], None, None, None, file);
        assert_eq!(c.registry.insecure, vec!["reg.lan:5000".to_string()]);
        assert_eq!(c.registry.ca_files, vec![PathBuf::from("/ca.pem")]);
    }

    #[test]
    fn network_settings_come_from_the_file() {
        let file: FileConfig = toml::from_str(
            "bridge-name = \"bt0\"\nnft-table = \"berth_t\"\ndefault-address-pools = [{ base = \"10.77.0.0/16\", size = 24 }]",
        )
        .unwrap();
        let c = Config::merge(vec![], None, None, None, file);
        assert_eq!(c.network.bridge_name, "bt0");
        assert_eq!(c.network.nft_table, "berth_t");
        assert_eq!(c.network.pools[0].size, 24);
    }

    #[test]
    fn unknown_config_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("dataroot = \"/d\"").is_err());
    }
}
