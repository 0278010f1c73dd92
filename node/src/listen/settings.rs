//! The listener settings as given (flags over config-file keys) and as they take effect, with
//! dockerd's rules: `--tlsverify` implies TLS; TLS verifies clients unless `--tlsverify=false`.

use std::path::{Path, PathBuf};

use super::error::ListenError;
use super::unix::DEFAULT_GROUP;

/// Where berthd looks for its TLS files when no flag or key names them (what `berth tls init`
/// writes by default).
pub const DEFAULT_TLS_DIR: &str = "/etc/berth/tls";

/// The listener settings of one source (flags or config file); `None` is "not given".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenSettings {
    /// `--tls` / `tls`.
    pub tls: Option<bool>,
    /// `--tlsverify` / `tlsverify`.
    pub tlsverify: Option<bool>,
    /// `--tlscacert` / `tlscacert`.
    pub tlscacert: Option<PathBuf>,
    /// `--tlscert` / `tlscert`.
    pub tlscert: Option<PathBuf>,
    /// `--tlskey` / `tlskey`.
    pub tlskey: Option<PathBuf>,
    /// `--insecure-tcp` / `insecure-tcp`.
    pub insecure_tcp: Option<bool>,
    /// `-G`/`--group` / `group`.
    pub group: Option<String>,
}

impl ListenSettings {
    /// Each setting of `self` (the flags) wins over the same one of `file`.
    pub fn over(self, file: ListenSettings) -> ListenSettings {
        ListenSettings {
            tls: self.tls.or(file.tls),
            tlsverify: self.tlsverify.or(file.tlsverify),
            tlscacert: self.tlscacert.or(file.tlscacert),
            tlscert: self.tlscert.or(file.tlscert),
            tlskey: self.tlskey.or(file.tlskey),
            insecure_tcp: self.insecure_tcp.or(file.insecure_tcp),
            group: self.group.or(file.group),
        }
    }

    /// The settings as they take effect. Naming TLS files while TLS is off is refused rather
    /// than ignored (dockerd ignores them): a user who gave a certificate expects it served.
    pub fn resolve(&self) -> Result<ListenConfig, ListenError> {
        let tls_on = match (self.tls, self.tlsverify) {
            (_, Some(true)) => true,
            (Some(tls), _) => tls,
            // dockerd: `--tlsverify=false` alone still turns TLS on, without client checks.
            (None, Some(false)) => true,
            (None, None) => false,
        };
        let named = [
            ("--tlscacert", &self.tlscacert),
            ("--tlscert", &self.tlscert),
            ("--tlskey", &self.tlskey),
        ];
        let tls = if tls_on {
            let dir = Path::new(DEFAULT_TLS_DIR);
            Some(ServerTls {
                // Since Docker 20.10 `--tls` alone also verifies clients; only an explicit
                // `--tlsverify=false` serves TLS to anyone.
                verify_clients: self.tlsverify.unwrap_or(true),
                ca: self.tlscacert.clone().unwrap_or_else(|| dir.join("ca.pem")),
                cert: self
                    .tlscert
                    .clone()
                    .unwrap_or_else(|| dir.join("server-cert.pem")),
                key: self
                    .tlskey
                    .clone()
                    .unwrap_or_else(|| dir.join("server-key.pem")),
            })
        } else {
            if self.tls != Some(false) {
                if let Some((flag, _)) = named.iter().find(|(_, p)| p.is_some()) {
                    return Err(ListenError::Settings(format!(
                        "{flag} is set but TLS is off: add --tlsverify (or --tls)"
                    )));
                }
            }
            None
        };
        Ok(ListenConfig {
            tls,
            insecure_tcp: self.insecure_tcp.unwrap_or(false),
            group: self.group.clone().unwrap_or_else(|| DEFAULT_GROUP.into()),
        })
    }
}

/// TLS as served on tcp listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// Only clients with a certificate signed by `ca` get in (`--tlsverify`).
    pub verify_clients: bool,
    /// `--tlscacert`: the CA that signs client certificates.
    pub ca: PathBuf,
    /// `--tlscert`: the server's certificate chain.
    pub cert: PathBuf,
    /// `--tlskey`: the server's private key.
    pub key: PathBuf,
}

/// How berthd's listeners are set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenConfig {
    /// TLS for tcp listeners; `None` serves plain HTTP.
    pub tls: Option<ServerTls>,
    /// Serve tcp beyond loopback without client authentication (`--insecure-tcp`).
    pub insecure_tcp: bool,
    /// The unix socket's group (`-G`): a name or a gid; empty keeps berthd's own group.
    pub group: String,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            tls: None,
            insecure_tcp: false,
            group: DEFAULT_GROUP.into(),
        }
    }
}

impl ListenConfig {
    /// Whether tcp clients must present a certificate from the CA.
    pub fn authenticates_clients(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.verify_clients)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(tls: Option<bool>, tlsverify: Option<bool>) -> Option<bool> {
        ListenSettings {
            tls,
            tlsverify,
            ..ListenSettings::default()
        }
        .resolve()
        .unwrap()
        .tls
        .map(|t| t.verify_clients)
    }

    #[test]
    fn tls_follows_dockerds_rules() {
        assert_eq!(resolve(None, None), None);
        assert_eq!(resolve(Some(true), None), Some(true));
        assert_eq!(resolve(None, Some(true)), Some(true));
        assert_eq!(resolve(Some(false), Some(true)), Some(true));
        assert_eq!(resolve(Some(true), Some(false)), Some(false));
        assert_eq!(resolve(None, Some(false)), Some(false));
        assert_eq!(resolve(Some(false), None), None);
    }

    #[test]
    fn tls_files_default_to_the_berth_tls_directory() {
        let c = ListenSettings {
            tlsverify: Some(true),
            tlscert: Some("/x/cert.pem".into()),
            ..ListenSettings::default()
        }
        .resolve()
        .unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.ca, PathBuf::from("/etc/berth/tls/ca.pem"));
        assert_eq!(tls.cert, PathBuf::from("/x/cert.pem"));
        assert_eq!(tls.key, PathBuf::from("/etc/berth/tls/server-key.pem"));
        assert_eq!(c.group, "berth");
        assert!(!c.insecure_tcp);
    }

    #[test]
    fn tls_files_without_tls_are_refused() {
        let e = ListenSettings {
            tlskey: Some("/k.pem".into()),
            ..ListenSettings::default()
        }
        .resolve()
        .unwrap_err();
        assert!(
            e.to_string().contains("--tlskey is set but TLS is off"),
            "{e}"
        );
    }

    #[test]
    fn flags_win_over_the_file_one_setting_at_a_time() {
        let flags = ListenSettings {
            tlsverify: Some(false),
            group: Some("docker".into()),
            ..ListenSettings::default()
        };
        let file = ListenSettings {
            tlsverify: Some(true),
            tlscacert: Some("/f/ca.pem".into()),
            insecure_tcp: Some(true),
            ..ListenSettings::default()
        };
        let c = flags.over(file).resolve().unwrap();
        let tls = c.tls.clone().unwrap();
        assert!(!tls.verify_clients);
        assert_eq!(tls.ca, PathBuf::from("/f/ca.pem"));
        assert!(c.insecure_tcp);
        assert_eq!(c.group, "docker");
        assert!(!c.authenticates_clients());
    }
}
