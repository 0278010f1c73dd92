//! The cluster's root CA: an ECDSA P-256 key and a self-signed certificate that signs every node
//! certificate. Nodes send only their public key; their private keys never leave them.

use std::fmt;
use std::time::Duration;

use rand::Rng as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData as _, SanType, SerialNumber,
    SubjectPublicKeyInfo, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::{CertificateDer, DnsName};
use time::OffsetDateTime;

use super::pem::cert_der_from_pem;
use super::{ca_digest, CaError, CertRole, CA_COMMON_NAME};

/// How long a root CA certificate is valid: 20 years, as Docker's.
const CA_VALIDITY: time::Duration = time::Duration::days(20 * 365);
/// Certificates start this long before they are made, so peers with slow clocks accept them.
const BACKDATE: time::Duration = time::Duration::hours(1);

/// The cluster's root certificate authority (certificate and signing key).
pub struct RootCa {
    cert_pem: String,
    cert_der: Vec<u8>,
    key_pem: String,
    not_after: OffsetDateTime,
    issuer: Issuer<'static, KeyPair>,
}

impl RootCa {
    /// A new root CA: fresh P-256 key, CN "swarm-ca", valid for 20 years.
    pub fn generate() -> Result<RootCa, CaError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, CA_COMMON_NAME);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_VALIDITY;
        params.serial_number = Some(random_serial());
        let cert = params.self_signed(&key)?;
        Ok(RootCa {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
            not_after: params.not_after,
            issuer: Issuer::new(params, key),
        })
    }

    /// A root CA loaded from its certificate and PKCS#8 key, as stored by [`RootCa::cert_pem`] and
    /// [`RootCa::key_pem`]. Fails if the certificate is not a CA or the key is not its key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<RootCa, CaError> {
        let cert_der = cert_der_from_pem(cert_pem)?;
        let key = KeyPair::from_pem(key_pem).map_err(|e| CaError::InvalidPem {
            what: "CA key",
            reason: e.to_string(),
        })?;
        let (_, x509) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| CaError::InvalidCert(e.to_string()))?;
        if !x509.is_ca() {
            return Err(CaError::InvalidCert("not a CA certificate".to_owned()));
        }
        if x509.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(CaError::KeyMismatch);
        }
        let not_after = OffsetDateTime::from_unix_timestamp(x509.validity().not_after.timestamp())
            .map_err(|e| CaError::InvalidCert(format!("not after: {e}")))?;
        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(cert_der.as_slice()), key)?;
        Ok(RootCa {
            cert_pem: super::cert_pem_from_der(&cert_der),
            key_pem: key_pem.to_owned(),
            cert_der,
            not_after,
            issuer,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA's private key, PKCS#8 PEM. Only managers keep it.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The CA's digest as join tokens carry it ([`ca_digest`] of the certificate DER).
    pub fn digest(&self) -> String {
        ca_digest(&self.cert_der)
    }

    /// Signs a certificate for node `node_id` over its public key (`public_key_der`, the
    /// SubjectPublicKeyInfo DER of the node's key, see [`NodeKey::public_key_der`]). Subject:
    /// CN = node id, OU = role, O = cluster id; DNS names: the node id and the role's names
    /// (managers are also "swarm-worker"); usable for TLS server and client auth. Valid from an
    /// hour ago for `validity`, but never beyond the CA's own expiry.
    ///
    /// [`NodeKey::public_key_der`]: super::NodeKey::public_key_der
    pub fn issue(
        &self,
        node_id: &str,
        role: CertRole,
        public_key_der: &[u8],
        cluster_id: &str,
        validity: Duration,
    ) -> Result<String, CaError> {
        check_name("node id", node_id)?;
        check_name("cluster id", cluster_id)?;
        let public_key = SubjectPublicKeyInfo::from_der(public_key_der)
            .map_err(|e| CaError::InvalidPublicKey(e.to_string()))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, node_id);
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, role.ou());
        params
            .distinguished_name
            .push(DnType::OrganizationName, cluster_id);
        params.subject_alt_names = std::iter::once(node_id)
            .chain(role.dns_names().iter().copied())
            .map(|name| name.try_into().map(SanType::DnsName))
            .collect::<Result<_, _>>()?;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = time::Duration::try_from(validity)
            .ok()
            .and_then(|v| now.checked_add(v))
            .map_or(self.not_after, |end| end.min(self.not_after));
        params.serial_number = Some(random_serial());
        Ok(params.signed_by(&public_key, &self.issuer)?.pem())
    }
}

/// The key stays out of logs.
impl fmt::Debug for RootCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootCa")
            .field("digest", &self.digest())
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Node and cluster ids become DNS names and subject fields: they must be valid DNS names.
fn check_name(what: &'static str, value: &str) -> Result<(), CaError> {
    let invalid = |reason| CaError::InvalidName {
        what,
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() {
        return Err(invalid("empty"));
    }
    DnsName::try_from(value).map_err(|_| invalid("not a valid DNS name"))?;
    Ok(())
}

/// 16 random bytes, positive.
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

#[cfg(test)]
mod tests {
    use super::super::{cert_cluster_id, cert_node_id, cert_not_after, cert_role, NodeKey};
    use super::*;
    use x509_parser::extensions::GeneralName;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn a_root_ca_is_a_p256_ca_named_swarm_ca_for_20_years() {
        let ca = RootCa::generate().unwrap();
        let (_, x509) = x509_parser::parse_x509_certificate(ca.cert_der()).unwrap();
        assert!(x509.is_ca());
        let cn = x509.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), "swarm-ca");
        let years = (x509.validity().not_after.timestamp()
            - x509.validity().not_before.timestamp())
            / (365 * 24 * 3600);
        assert_eq!(years, 20);
        assert!(ca.key_pem().contains("PRIVATE KEY"));
        assert_eq!(ca.digest().len(), 50);
    }

    #[test]
    fn a_root_ca_reloads_from_pem_and_keeps_its_digest() {
        let ca = RootCa::generate().unwrap();
        let again = RootCa::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
        assert_eq!(again.digest(), ca.digest());
        assert_eq!(again.cert_pem(), ca.cert_pem());
        // Certificates from the reloaded CA chain to the original certificate.
        let key = NodeKey::generate().unwrap();
        let cert = again
            .issue("node1", CertRole::Worker, &key.public_key_der(), "c1", DAY)
            .unwrap();
        assert!(super::super::peer_has_name(
            &cert_der_from_pem(&cert).unwrap(),
            ca.cert_pem(),
            "swarm-worker"
        ));

        let other = RootCa::generate().unwrap();
        let err = RootCa::from_pem(ca.cert_pem(), other.key_pem()).unwrap_err();
        assert!(matches!(err, CaError::KeyMismatch), "{err}");
        let err = RootCa::from_pem("nonsense", ca.key_pem()).unwrap_err();
        assert!(matches!(err, CaError::InvalidPem { .. }), "{err}");
        let err = RootCa::from_pem(ca.cert_pem(), "nonsense").unwrap_err();
        assert!(err.to_string().starts_with("invalid CA key: "), "{err}");
        let err = RootCa::from_pem(&cert, &key.key_pem()).unwrap_err();
        assert_eq!(err.to_string(), "invalid certificate: not a CA certificate");
    }

    #[test]
    fn issued_certificates_carry_id_role_cluster_and_names() {
        let ca = RootCa::generate().unwrap();
        let key = NodeKey::generate().unwrap();
        for (role, ou, names) in [
            (
                CertRole::Manager,
                "swarm-manager",
                vec!["node1", "swarm-manager", "swarm-worker"],
            ),
            (
                CertRole::Worker,
                "swarm-worker",
                vec!["node1", "swarm-worker"],
            ),
        ] {
            let pem = ca
                .issue("node1", role, &key.public_key_der(), "cluster7", 90 * DAY)
                .unwrap();
            let der = cert_der_from_pem(&pem).unwrap();
            let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
            let ou_value = x509.subject().iter_organizational_unit().next().unwrap();
            assert_eq!(ou_value.as_str().unwrap(), ou);
            let sans: Vec<&str> = x509
                .subject_alternative_name()
                .unwrap()
                .unwrap()
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(name) => Some(*name),
                    _ => None,
                })
                .collect();
            assert_eq!(sans, names);
            assert_eq!(x509.public_key().raw, key.public_key_der().as_slice());
            assert!(!x509.is_ca());
            assert_eq!(cert_node_id(pem.as_bytes()).unwrap(), "node1");
            assert_eq!(cert_node_id(&der).unwrap(), "node1");
            assert_eq!(cert_role(&der).unwrap(), role);
            assert_eq!(cert_cluster_id(&der).unwrap(), "cluster7");
            let left = cert_not_after(&der)
                .unwrap()
                .duration_since(std::time::SystemTime::now())
                .unwrap();
            assert!(left > 89 * DAY && left <= 90 * DAY, "{left:?}");
        }
    }

    #[test]
    fn validity_never_outlives_the_ca_and_bad_inputs_are_refused() {
        let ca = RootCa::generate().unwrap();
        let key = NodeKey::generate().unwrap();
        let pem = ca
            .issue(
                "n",
                CertRole::Worker,
                &key.public_key_der(),
                "c",
                Duration::MAX,
            )
            .unwrap();
        let der = cert_der_from_pem(&pem).unwrap();
        let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(
            x509.validity().not_after.timestamp(),
            ca.not_after.unix_timestamp()
        );
        let spki = key.public_key_der();
        let err = ca.issue("", CertRole::Worker, &spki, "c", DAY).unwrap_err();
        assert_eq!(err.to_string(), "invalid node id \"\": empty");
        let err = ca
            .issue("a b", CertRole::Worker, &spki, "c", DAY)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid node id \"a b\": not a valid DNS name"
        );
        let err = ca
            .issue("n", CertRole::Worker, &spki[1..], "c", DAY)
            .unwrap_err();
        assert!(matches!(err, CaError::InvalidPublicKey(_)), "{err}");
    }
}
