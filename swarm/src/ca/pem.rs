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
