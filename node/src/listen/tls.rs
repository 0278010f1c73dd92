//! The rustls server configuration of the tcp listeners, read from `--tlscacert`, `--tlscert`
//! and `--tlskey` at start-up: ring only, HTTP/1.1 by ALPN, and with `--tlsverify` a client
//! certificate signed by the CA file alone (no system roots: the CA is the whole trust).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::error::ListenError;
use super::settings::ServerTls;

/// Reads the files of `tls` into a server configuration; every failure names the flag and file.
pub fn server_config(tls: &ServerTls) -> Result<Arc<ServerConfig>, ListenError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = certificates("--tlscert", &tls.cert)?;
    let key =
        PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| file_error("--tlskey", &tls.key, e))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ListenError::Tls(e.to_string()))?;
    let builder = if tls.verify_clients {
        let mut roots = RootCertStore::empty();
        for ca in certificates("--tlscacert", &tls.ca)? {
            roots.add(ca).map_err(|e| ListenError::TlsFile {
                flag: "--tlscacert",
                path: tls.ca.clone(),
                reason: format!("not a usable CA certificate: {e}"),
            })?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| ListenError::Tls(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| ListenError::Tls(format!("--tlscert and --tlskey: {e}")))?;
    // The API is served over HTTP/1.1 only (upgrades for attach and exec need it).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Every certificate of a PEM file; none at all is an error.
fn certificates(
    flag: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ListenError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(flag, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(flag, path, e))?;
    if certs.is_empty() {
        return Err(file_error(flag, path, pem::Error::NoItemsFound));
    }
    Ok(certs)
}

fn file_error(flag: &'static str, path: &Path, e: pem::Error) -> ListenError {
    let reason = match e {
        pem::Error::Io(io) => format!("cannot read it: {io}"),
        pem::Error::NoItemsFound if flag == "--tlskey" => "no private key in it".to_string(),
        pem::Error::NoItemsFound => "no certificate in it".to_string(),
        other => format!("not valid PEM: {other}"),
    };
    ListenError::TlsFile {
        flag,
        path: path.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CA and a server certificate signed by it, written into `dir`.
    fn write_files(dir: &Path) -> ServerTls {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        ServerTls {
            verify_clients: true,
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    #[test]
    fn good_files_make_a_config_that_asks_for_client_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let tls = write_files(dir.path());
        let config = server_config(&tls).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(server_config(&ServerTls {
            verify_clients: false,
            ca: dir.path().join("missing.pem"),
            ..tls
        })
        .is_ok());
    }

    #[test]
    fn missing_and_bad_files_name_the_flag_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let tls = write_files(dir.path());
        let e = server_config(&ServerTls {
            ca: dir.path().join("nope.pem"),
            ..tls.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("--tlscacert ") && e.contains("nope.pem: cannot read it"),
            "{e}"
        );
        std::fs::write(dir.path().join("empty.pem"), "hello\n").unwrap();
        let e = server_config(&ServerTls {
            key: dir.path().join("empty.pem"),
            ..tls.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("--tlskey") && e.contains("no private key in it"),
            "{e}"
        );
        let e = server_config(&ServerTls {
            cert: dir.path().join("ca.pem"),
            ..tls
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("invalid TLS configuration: --tlscert and --tlskey"),
            "{e}"
        );
    }
}
