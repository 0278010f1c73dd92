//! Registry settings from the daemon config: which registries may be reached over plain HTTP
//! (loopback always; `insecure-registries` by host, host:port or CIDR) and which extra CA
//! certificates HTTPS trusts (`registry-ca-files` for every registry, plus Docker's
//! `<certs-dir>/<host[:port]>/*.crt` per registry). Pure apart from reading CA files.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};

/// Docker's per-registry certificate directory.
const DEFAULT_CERTS_DIR: &str = "/etc/docker/certs.d";

/// How berthd reaches registries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// `host`, `host:port` or CIDR (`10.0.0.0/8`) entries that may be reached over plain HTTP.
    pub insecure: Vec<String>,
    /// PEM files with CA certificates trusted for every registry, besides the system roots.
    pub ca_files: Vec<PathBuf>,
    /// Directory of `<host[:port]>/*.crt` CA files trusted for that registry only.
    pub certs_dir: PathBuf,
    /// When set, the only registries the daemon contacts besides loopback ones (`host`,
    /// `host:port` or CIDR); others are refused before any connection. Tests and air-gapped
    /// hosts set it so that nothing reaches a public registry.
    pub allowed: Option<Vec<String>>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            insecure: Vec::new(),
            ca_files: Vec::new(),
            certs_dir: PathBuf::from(DEFAULT_CERTS_DIR),
            allowed: None,
        }
    }
}

impl RegistryConfig {
    /// True when `registry` (`host[:port]`) may be reached over plain HTTP: it is on loopback
    /// (`localhost`, 127.0.0.0/8, ::1), as Docker allows by default, or listed as insecure.
    pub fn is_insecure(&self, registry: &str) -> bool {
        let host = host_of(registry);
        if host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
            return true;
        }
        self.insecure.iter().any(|entry| {
            entry == registry
                || entry == host
                || host
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| cidr_contains(entry, ip))
        })
    }

    /// Refuses a registry outside `allowed` (loopback registries are always allowed).
    pub fn check_allowed(&self, registry: &str) -> Result<()> {
        let Some(allowed) = &self.allowed else {
            return Ok(());
        };
        let host = host_of(registry);
        let ok = host == "localhost"
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
            || allowed.iter().any(|entry| {
                entry == registry
                    || entry == host
                    || host
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| cidr_contains(entry, ip))
            });
        if ok {
            Ok(())
        } else {
            Err(EngineError::InvalidArgument(format!(
                "registry {registry} is not in this daemon's allowed-registries"
            )))
        }
    }

    /// PEM bytes of every CA certificate trusted for `registry` beyond the system roots.
    /// An unreadable configured file is an error; a missing per-registry directory is not.
    pub fn ca_pems(&self, registry: &str) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for file in &self.ca_files {
            out.push(read(file)?);
        }
        let dir = self.certs_dir.join(registry);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "crt"))
                .collect();
            files.sort();
            for file in files {
                out.push(read(&file)?);
            }
        }
        Ok(out)
    }
}

fn read(file: &Path) -> Result<Vec<u8>> {
    std::fs::read(file).map_err(|e| EngineError::io(format!("read CA file {}", file.display()), e))
}

/// The host part of `host[:port]`, `[v6]:port` or a bare IPv6 address.
fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    if registry.parse::<IpAddr>().is_ok() {
        return registry;
    }
    registry.rsplit_once(':').map_or(registry, |(h, _)| h)
}

/// True when `cidr` is `addr/len` and contains `ip`.
fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, len)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    let prefix = |a: u128, bits: u32, total: u32| {
        if bits == 0 {
            0
        } else {
            a >> (total - bits.min(total))
        }
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if len <= 32 => {
            prefix(u32::from(n).into(), len, 32) == prefix(u32::from(i).into(), len, 32)
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if len <= 128 => {
            prefix(u128::from(n), len, 128) == prefix(u128::from(i), len, 128)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_and_loopback_registries_are_contacted_when_a_list_is_set() {
        let open = RegistryConfig::default();
        assert!(open.check_allowed("docker.io").is_ok());
        let cfg = RegistryConfig {
            allowed: Some(vec!["reg.lan:5000".into(), "10.0.0.0/8".into()]),
            ..RegistryConfig::default()
        };
        assert!(cfg.check_allowed("127.0.0.1:5000").is_ok());
        assert!(cfg.check_allowed("localhost:5000").is_ok());
        assert!(cfg.check_allowed("reg.lan:5000").is_ok());
        assert!(cfg.check_allowed("10.1.2.3:443").is_ok());
        let err = cfg.check_allowed("docker.io").unwrap_err().to_string();
        assert!(
            err.contains("docker.io") && err.contains("allowed-registries"),
            "{err}"
        );
    }

    #[test]
    fn loopback_registries_are_insecure_and_others_only_when_listed() {
        let cfg = RegistryConfig {
            insecure: vec![
                "reg.lan:5000".into(),
                "other.lan".into(),
                "10.1.0.0/16".into(),
            ],
            ..Default::default()
        };
        for yes in [
            "localhost:5000",
            "localhost",
            "127.0.0.1:5000",
            "127.3.2.1",
            "[::1]:5000",
            "reg.lan:5000",
            "other.lan:443",
            "10.1.200.3:5000",
        ] {
            assert!(cfg.is_insecure(yes), "{yes} should be insecure");
        }
        for no in ["docker.io", "reg.lan:5001", "10.2.0.1:5000", "ghcr.io"] {
            assert!(!cfg.is_insecure(no), "{no} should need https");
        }
    }

    #[test]
    fn ca_files_come_from_the_config_and_the_registry_directory() {
        let dir = tempfile::tempdir().unwrap();
        let global = dir.path().join("global.pem");
        std::fs::write(&global, b"G").unwrap();
        std::fs::create_dir_all(dir.path().join("certs/reg:5000")).unwrap();
        std::fs::write(dir.path().join("certs/reg:5000/ca.crt"), b"R").unwrap();
        std::fs::write(dir.path().join("certs/reg:5000/client.key"), b"K").unwrap();
        let cfg = RegistryConfig {
            ca_files: vec![global],
            certs_dir: dir.path().join("certs"),
            ..Default::default()
        };
        assert_eq!(
            cfg.ca_pems("reg:5000").unwrap(),
            vec![b"G".to_vec(), b"R".to_vec()]
        );
        assert_eq!(cfg.ca_pems("other").unwrap(), vec![b"G".to_vec()]);
        let missing = RegistryConfig {
            ca_files: vec![dir.path().join("nope.pem")],
            ..Default::default()
        };
        assert!(missing.ca_pems("x").is_err());
    }
}
