//! TLS to a tcp daemon as the docker CLI does it: `--tls`, `--tlsverify`, `--tlscacert`,
//! `--tlscert`, `--tlskey`, `DOCKER_TLS_VERIFY`/`DOCKER_TLS`/`DOCKER_CERT_PATH` (each with a
//! `BERTH_` twin that wins), files defaulting to `~/.docker/{ca,cert,key}.pem`. Builds the rustls
//! (ring) client configuration that both bollard's transport and the raw requests use; a docker
//! context's TLS material (`connect.rs`) goes through the same configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The TLS flags as given on the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsFlags {
    /// Use TLS; implied by --tlsverify
    #[arg(long)]
    pub tls: bool,
    /// Use TLS and verify the remote
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_name = "bool"
    )]
    pub tlsverify: Option<bool>,
    /// Trust certs signed only by this CA (default ~/.docker/ca.pem)
    #[arg(long, value_name = "string")]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file (default ~/.docker/cert.pem)
    #[arg(long, value_name = "string")]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file (default ~/.docker/key.pem)
    #[arg(long, value_name = "string")]
    pub tlskey: Option<PathBuf>,
}

/// How the daemon's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerCheck {
    /// Not at all: `--tls` without `--tlsverify`, a context's `skip-tls-verify`.
    Skip,
    /// Against this CA file alone (`--tlsverify`, a context's `ca.pem`).
    Ca(PathBuf),
    /// Against the system's roots: a context with TLS material but no CA, as Go's TLS does.
    SystemRoots,
}

/// TLS as the client will use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// How the daemon's certificate is checked.
    pub verify: ServerCheck,
    /// The client certificate and key, when there are both.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// Resolves the flags and the environment (`env` reads a variable) into the client's TLS, or
/// `None` for plain HTTP. Default files are used only when they exist, as in docker.
pub fn resolve(
    flags: &TlsFlags,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<ClientTls>> {
    let set = |name: &str| {
        env(&format!("BERTH_{name}"))
            .or_else(|| env(&format!("DOCKER_{name}")))
            .is_some_and(|v| !v.is_empty())
    };
    let verify = flags.tlsverify.unwrap_or_else(|| set("TLS_VERIFY"));
    if !(flags.tls || verify || flags.tlsverify.is_some() || set("TLS")) {
        return Ok(None);
    }
    let dir = env("BERTH_CERT_PATH")
        .or_else(|| env("DOCKER_CERT_PATH"))
        .or_else(|| env("DOCKER_CONFIG"))
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".docker")))
        .unwrap_or_else(|| PathBuf::from(".docker"));
    let existing = |flag: &Option<PathBuf>, name: &str| match flag {
        Some(p) => Some(p.clone()),
        None => Some(dir.join(name)).filter(|p| p.exists()),
    };
    let identity = match (
        existing(&flags.tlscert, "cert.pem"),
        existing(&flags.tlskey, "key.pem"),
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(cert), None) => bail!("{} has no key: give --tlskey", cert.display()),
        (None, Some(key)) => bail!("{} has no certificate: give --tlscert", key.display()),
    };
    let check = if verify {
        ServerCheck::Ca(
            flags
                .tlscacert
                .clone()
                .unwrap_or_else(|| dir.join("ca.pem")),
        )
    } else {
        ServerCheck::Skip
    };
    Ok(Some(ClientTls {
        verify: check,
        identity,
    }))
}

/// The rustls configuration for `tls` (ring only).
pub fn client_config(tls: &ClientTls) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &tls.verify {
        ServerCheck::Ca(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca, "CA certificate")? {
                roots
                    .add(cert)
                    .with_context(|| format!("unusable CA certificate {}", ca.display()))?;
            }
            builder.with_root_certificates(roots)
        }
        ServerCheck::SystemRoots => {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                bail!("no usable CA certificates in the system's trust store");
            }
            builder.with_root_certificates(roots)
        }
        ServerCheck::Skip => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider))),
    };
    let config = match &tls.identity {
        Some((cert, key)) => {
            let certs = read_certs(cert, "certificate")?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("could not read the key {}", key.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .context("could not load the X509 key pair")?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The name the daemon's certificate must carry for `addr` (`host:port`, `[v6]:port`).
pub fn server_name(addr: &str) -> Result<ServerName<'static>> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).with_context(|| format!("invalid host name {host:?}"))
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("could not read {what} {}", path.display()))?;
    if certs.is_empty() {
        bail!("no {what} in {}", path.display());
    }
    Ok(certs)
}

/// `--tls` without `--tlsverify`: docker's `InsecureSkipVerify`. The daemon's certificate is
/// not checked, but the handshake's signatures still are.
#[derive(Debug)]
struct AnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn no_flag_and_no_variable_is_plain_http() {
        assert_eq!(resolve(&TlsFlags::default(), env(&[])).unwrap(), None);
        assert_eq!(
            resolve(&TlsFlags::default(), env(&[("DOCKER_TLS_VERIFY", "")])).unwrap(),
            None
        );
    }

    #[test]
    fn tlsverify_checks_the_server_against_the_ca_of_the_cert_path() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        std::fs::write(dir.path().join("cert.pem"), "").unwrap();
        std::fs::write(dir.path().join("key.pem"), "").unwrap();
        let vars = [("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", d)];
        let tls = resolve(&TlsFlags::default(), env(&vars)).unwrap().unwrap();
        assert_eq!(tls.verify, ServerCheck::Ca(dir.path().join("ca.pem")));
        assert_eq!(
            tls.identity,
            Some((dir.path().join("cert.pem"), dir.path().join("key.pem")))
        );
        // BERTH_ variables win over DOCKER_ ones; a flag wins over both.
        let vars = [
            ("BERTH_CERT_PATH", "/b"),
            ("DOCKER_CERT_PATH", d),
            ("DOCKER_TLS_VERIFY", "1"),
        ];
        let tls = resolve(&TlsFlags::default(), env(&vars)).unwrap().unwrap();
        assert_eq!(tls.verify, ServerCheck::Ca(PathBuf::from("/b/ca.pem")));
        assert_eq!(tls.identity, None);
        let flags = TlsFlags {
            tlsverify: Some(false),
            ..TlsFlags::default()
        };
        let tls = resolve(&flags, env(&vars)).unwrap().unwrap();
        assert_eq!(tls.verify, ServerCheck::Skip);
    }

    #[test]
    fn tls_alone_does_not_verify_and_a_lone_cert_is_an_error() {
        let flags = TlsFlags {
            tls: true,
            ..TlsFlags::default()
        };
        let tls = resolve(&flags, env(&[("HOME", "/nonexistent")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            tls,
            ClientTls {
                verify: ServerCheck::Skip,
                identity: None
            }
        );
        let flags = TlsFlags {
            tls: true,
            tlscert: Some("/c.pem".into()),
            ..TlsFlags::default()
        };
        assert!(resolve(&flags, env(&[("HOME", "/nonexistent")])).is_err());
    }

    #[test]
    fn server_names_come_from_the_address() {
        assert_eq!(
            server_name("127.0.0.1:2376").unwrap(),
            ServerName::try_from("127.0.0.1").unwrap()
        );
        assert_eq!(
            server_name("[::1]:2376").unwrap(),
            ServerName::try_from("::1").unwrap()
        );
        assert_eq!(
            server_name("dock.lan:2376").unwrap(),
            ServerName::try_from("dock.lan").unwrap()
        );
    }

    #[test]
    fn a_missing_ca_file_is_reported_by_path() {
        let e = client_config(&ClientTls {
            verify: ServerCheck::Ca("/nonexistent/ca.pem".into()),
            identity: None,
        })
        .unwrap_err();
        assert!(format!("{e:#}").contains("could not read CA certificate /nonexistent/ca.pem"));
    }
}
