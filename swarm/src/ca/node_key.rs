//! A node's own key, and reading node certificates: who they name, their role, their expiry, and
//! whether a peer's certificate comes from our CA and carries a given name.

use std::fmt;
use std::time::{Duration, SystemTime};

use rcgen::{KeyPair, PublicKeyData as _, PKCS_ECDSA_P256_SHA256};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use x509_parser::prelude::{X509Certificate, X509Name};

use super::pem::{cert_der, cert_der_from_pem};
use super::{CaError, CertRole};

/// A node's ECDSA P-256 key pair. The private half never leaves the node; the CA signs the
/// public half ([`NodeKey::public_key_der`]).
pub struct NodeKey {
    key: KeyPair,
}

impl NodeKey {
    /// A fresh P-256 key.
    pub fn generate() -> Result<NodeKey, CaError> {
        Ok(NodeKey {
            key: KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
        })
    }

    /// A key loaded from PKCS#8 PEM, as [`NodeKey::key_pem`] writes it.
    pub fn from_pem(key_pem: &str) -> Result<NodeKey, CaError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| CaError::InvalidPem {
            what: "node key",
            reason: e.to_string(),
        })?;
        Ok(NodeKey { key })
    }

    /// The private key, PKCS#8 PEM (for the node's own disk and its TLS identity).
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// The public key as SubjectPublicKeyInfo DER: what the node sends to be certified.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key.subject_public_key_info()
    }
}

/// The key stays out of logs.
impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey").finish_non_exhaustive()
    }
}

/// What a node certificate says, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCert {
    /// The node id (subject CN).
    pub node_id: String,
    /// The role (subject OU).
    pub role: CertRole,
    /// The cluster id (subject O).
    pub cluster_id: String,
    /// When the certificate expires; renew before.
    pub not_after: SystemTime,
}

impl NodeCert {
    /// Reads a node certificate given as PEM text or DER bytes. Does not verify it; see
    /// [`peer_has_name`].
    pub fn parse(cert: &[u8]) -> Result<NodeCert, CaError> {
        let der = cert_der(cert)?;
        let (_, x509) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| CaError::InvalidCert(e.to_string()))?;
        let ou = first(x509.subject(), X509Name::iter_organizational_unit, "OU")?;
        Ok(NodeCert {
            node_id: first(x509.subject(), X509Name::iter_common_name, "CN")?,
            role: CertRole::from_ou(&ou).ok_or(CaError::UnknownRole(ou))?,
            cluster_id: first(x509.subject(), X509Name::iter_organization, "O")?,
            not_after: not_after(&x509)?,
        })
    }
}

/// The node id (subject CN) of a certificate given as PEM or DER.
pub fn cert_node_id(cert: &[u8]) -> Result<String, CaError> {
    Ok(NodeCert::parse(cert)?.node_id)
}

/// The role (subject OU) of a certificate given as PEM or DER.
pub fn cert_role(cert: &[u8]) -> Result<CertRole, CaError> {
    Ok(NodeCert::parse(cert)?.role)
}

/// The cluster id (subject O) of a certificate given as PEM or DER.
pub fn cert_cluster_id(cert: &[u8]) -> Result<String, CaError> {
    Ok(NodeCert::parse(cert)?.cluster_id)
}

/// When a certificate given as PEM or DER expires (any certificate, not only node ones).
pub fn cert_not_after(cert: &[u8]) -> Result<SystemTime, CaError> {
    cert_validity(cert).map(|(_, end)| end)
}

/// When a certificate given as PEM or DER becomes valid and when it expires.
pub fn cert_validity(cert: &[u8]) -> Result<(SystemTime, SystemTime), CaError> {
    let der = cert_der(cert)?;
    let (_, x509) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| CaError::InvalidCert(e.to_string()))?;
    let start = x509.validity().not_before.timestamp();
    let start = u64::try_from(start).unwrap_or(0);
    Ok((
        SystemTime::UNIX_EPOCH + Duration::from_secs(start),
        not_after(&x509)?,
    ))
}

/// Whether `cert_der` (a peer's leaf certificate) chains to the CA `ca_pem`, is valid now, is
/// usable for TLS client auth, and is valid for the DNS name `name`: "swarm-manager" for any
/// manager, "swarm-worker" for any node, or a node id for that node.
pub fn peer_has_name(cert_der: &[u8], ca_pem: &str, name: &str) -> bool {
    let Ok(ca_der) = cert_der_from_pem(ca_pem) else {
        return false;
    };
    let ca_der = CertificateDer::from(ca_der);
    let Ok(anchor) = webpki::anchor_from_trusted_cert(&ca_der) else {
        return false;
    };
    let leaf = CertificateDer::from(cert_der);
    let Ok(leaf) = webpki::EndEntityCert::try_from(&leaf) else {
        return false;
    };
    let Ok(name) = ServerName::try_from(name) else {
        return false;
    };
    let algorithms = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    leaf.verify_for_usage(
        algorithms,
        &[anchor],
        &[],
        UnixTime::now(),
        webpki::KeyUsage::client_auth(),
        None,
        None,
    )
    .is_ok()
        && leaf.verify_is_valid_for_subject_name(&name).is_ok()
}

/// The first value of one attribute of `name` (`what` names it in errors).
fn first<'a, I>(
    name: &'a X509Name<'a>,
    attrs: fn(&'a X509Name<'a>) -> I,
    what: &str,
) -> Result<String, CaError>
where
    I: Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
{
    let attr = attrs(name)
        .next()
        .ok_or_else(|| CaError::InvalidCert(format!("subject has no {what}")))?;
    attr.as_str()
        .map(str::to_owned)
        .map_err(|e| CaError::InvalidCert(format!("subject {what}: {e}")))
}

fn not_after(x509: &X509Certificate<'_>) -> Result<SystemTime, CaError> {
    let secs = x509.validity().not_after.timestamp();
    let secs = u64::try_from(secs)
        .map_err(|_| CaError::InvalidCert(format!("expires before 1970 ({secs})")))?;
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::super::RootCa;
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn issue(ca: &RootCa, id: &str, role: CertRole) -> Vec<u8> {
        let key = NodeKey::generate().unwrap();
        let pem = ca
            .issue(id, role, &key.public_key_der(), "cluster", DAY)
            .unwrap();
        cert_der_from_pem(&pem).unwrap()
    }

    #[test]
    fn a_node_key_round_trips_through_pem() {
        let key = NodeKey::generate().unwrap();
        let again = NodeKey::from_pem(&key.key_pem()).unwrap();
        assert_eq!(again.public_key_der(), key.public_key_der());
        assert!(!format!("{key:?}").contains("PRIVATE"));
        let err = NodeKey::from_pem("nope").unwrap_err();
        assert!(err.to_string().starts_with("invalid node key: "), "{err}");
    }

    #[test]
    fn peers_are_checked_against_the_ca_and_their_names() {
        let ca = RootCa::generate().unwrap();
        let manager = issue(&ca, "m1", CertRole::Manager);
        let worker = issue(&ca, "w1", CertRole::Worker);
        assert!(peer_has_name(&manager, ca.cert_pem(), "swarm-manager"));
        assert!(peer_has_name(&manager, ca.cert_pem(), "swarm-worker"));
        assert!(peer_has_name(&manager, ca.cert_pem(), "m1"));
        assert!(peer_has_name(&worker, ca.cert_pem(), "swarm-worker"));
        assert!(peer_has_name(&worker, ca.cert_pem(), "w1"));
        assert!(!peer_has_name(&worker, ca.cert_pem(), "swarm-manager"));
        assert!(!peer_has_name(&worker, ca.cert_pem(), "m1"));
        assert!(!peer_has_name(&manager, ca.cert_pem(), "w1"));
        assert!(!peer_has_name(&manager, ca.cert_pem(), "not a name"));

        let other = RootCa::generate().unwrap();
        let stranger = issue(&other, "m1", CertRole::Manager);
        assert!(!peer_has_name(&stranger, ca.cert_pem(), "swarm-manager"));
        assert!(!peer_has_name(&stranger, ca.cert_pem(), "m1"));
        assert!(!peer_has_name(&manager, other.cert_pem(), "swarm-manager"));
        assert!(!peer_has_name(ca.cert_der(), ca.cert_pem(), "swarm-ca"));
        assert!(!peer_has_name(b"garbage", ca.cert_pem(), "m1"));
        assert!(!peer_has_name(&manager, "garbage", "m1"));
    }

    #[test]
    fn certificates_that_are_not_node_certificates_are_refused() {
        let ca = RootCa::generate().unwrap();
        let err = cert_node_id(ca.cert_der()).unwrap_err();
        assert_eq!(err.to_string(), "invalid certificate: subject has no OU");
        assert!(cert_not_after(ca.cert_pem().as_bytes()).is_ok());
        assert!(matches!(
            cert_role(b"garbage").unwrap_err(),
            CaError::InvalidCert(_)
        ));
        assert!(matches!(
            cert_role(b"-----BEGIN CERTIFICATE-----\n").unwrap_err(),
            CaError::InvalidPem { .. }
        ));

        let mut params = rcgen::CertificateParams::new(vec!["n1".to_owned()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "n1");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationalUnitName, "swarm-admin");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "c");
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let err = cert_role(cert.der()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "certificate has unknown role \"swarm-admin\""
        );
    }
}
