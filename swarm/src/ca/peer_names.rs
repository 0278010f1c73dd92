//! Peer certificates already verified, remembered for a minute. Every call of a node's
//! session and every Raft message is authorized by its client certificate; verifying the
//! chain (an ECDSA signature) on each one was a tenth of the leader's CPU with 1,000 nodes.
//! Only a success is remembered, and only for `FOR`, so an expired certificate is refused
//! within that time as before; a failure is verified again each time.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::peer_has_name;

/// How long a verified (certificate, name) pair is trusted without verifying it again.
const FOR: Duration = Duration::from_secs(60);
/// More pairs than this (a thousand nodes, each with a few names) and the memory starts over.
const MOST: usize = 16_384;

/// Per certificate (DER): the names it was verified for, and when.
type Verified = HashMap<Vec<u8>, Vec<(String, Instant)>>;

/// [`peer_has_name`] for one CA, remembering its successes.
#[derive(Debug)]
pub struct PeerNames {
    ca_pem: String,
    verified: Mutex<Verified>,
}

impl PeerNames {
    /// Verifies against the CA `ca_pem`.
    pub fn new(ca_pem: String) -> Self {
        PeerNames {
            ca_pem,
            verified: Mutex::default(),
        }
    }

    /// Whether `cert_der` chains to the CA, is valid and is valid for `name`.
    pub fn has_name(&self, cert_der: &[u8], name: &str) -> bool {
        let now = Instant::now();
        {
            let verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
            let known = verified.get(cert_der).is_some_and(|names| {
                names
                    .iter()
                    .any(|(n, at)| n == name && now.duration_since(*at) < FOR)
            });
            if known {
                return true;
            }
        }
        if !peer_has_name(cert_der, &self.ca_pem, name) {
            return false;
        }
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= MOST {
            verified.clear();
        }
        let names = verified.entry(cert_der.to_vec()).or_default();
        names.retain(|(n, at)| n != name && now.duration_since(*at) < FOR);
        names.push((name.to_string(), now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::pem::cert_der_from_pem;
    use crate::ca::{CertRole, NodeKey, RootCa};

    #[test]
    fn a_remembered_success_is_only_for_its_name_and_a_failure_is_never_remembered() {
        let ca = RootCa::generate().unwrap();
        let key = NodeKey::generate().unwrap();
        let day = std::time::Duration::from_secs(86_400);
        let pem = ca
            .issue(
                "w1",
                CertRole::Worker,
                &key.public_key_der(),
                "cluster",
                day,
            )
            .unwrap();
        let worker = cert_der_from_pem(&pem).unwrap();
        let other = RootCa::generate().unwrap();
        let peers = PeerNames::new(ca.cert_pem().to_string());
        assert!(peers.has_name(&worker, "w1"));
        assert!(peers.has_name(&worker, "w1"), "remembered");
        assert!(peers.has_name(&worker, "swarm-worker"));
        assert!(!peers.has_name(&worker, "swarm-manager"));
        assert!(!peers.has_name(&worker, "w2"));
        let strangers = PeerNames::new(other.cert_pem().to_string());
        assert!(!strangers.has_name(&worker, "w1"));
        assert!(
            !strangers.has_name(&worker, "w1"),
            "a failure is not remembered"
        );
    }
}
