//! PEM <-> DER for certificates. Certificate inputs elsewhere accept either encoding.

use std::borrow::Cow;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;

use super::CaError;

/// The DER of the first `CERTIFICATE` block in `pem`.
pub fn cert_der_from_pem(pem: &str) -> Result<Vec<u8>, CaError> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|der| der.to_vec())
        .map_err(|e| CaError::InvalidPem {
            what: "certificate",
            reason: e.to_string(),
        })
}

/// `der` as a PEM `CERTIFICATE` block (64-column base64, trailing newline).
pub fn cert_pem_from_der(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::with_capacity(body.len() + body.len() / 64 + 60);
    pem.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// A certificate given as PEM text or DER bytes, as DER.
pub(crate) fn cert_der(cert: &[u8]) -> Result<Cow<'_, [u8]>, CaError> {
    if cert.trim_ascii_start().starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(cert).map_err(|e| CaError::InvalidPem {
            what: "certificate",
            reason: e.to_string(),
        })?;
        Ok(Cow::Owned(cert_der_from_pem(text)?))
    } else {
        Ok(Cow::Borrowed(cert))
    }
}

/// Docker's `TLSInfo` of a certificate issued by the CA `ca_pem`: the CA itself, and its raw
/// subject and public key (DER, base64), as swarmkit reports them. None for a PEM that is no
/// certificate.
pub fn tls_info(ca_pem: &str) -> Option<bollard_stubs::models::TlsInfo> {
    use base64::Engine as _;
    let der = cert_der_from_pem(ca_pem).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Some(bollard_stubs::models::TlsInfo {
        trust_root: Some(ca_pem.to_string()),
        cert_issuer_subject: Some(b64.encode(cert.subject().as_raw())),
        cert_issuer_public_key: Some(b64.encode(cert.public_key().raw)),
    })
}

#[cfg(test)]
mod tls_info_tests {
    use super::*;

    #[test]
    fn a_cas_tls_info_is_its_raw_subject_and_key() {
        use base64::Engine as _;
        let ca = crate::ca::RootCa::generate().unwrap();
        let info = tls_info(ca.cert_pem()).unwrap();
        assert_eq!(info.trust_root.as_deref(), Some(ca.cert_pem()));
        let subject = base64::engine::general_purpose::STANDARD
            .decode(info.cert_issuer_subject.unwrap())
            .unwrap();
        // A DER SEQUENCE holding the CA's common name.
        assert_eq!(subject[0], 0x30);
        assert!(subject.windows(8).any(|w| w == b"swarm-ca"), "{subject:?}");
        assert!(info.cert_issuer_public_key.is_some_and(|k| k.len() > 40));
        assert!(tls_info("not a pem").is_none());
    }
}
