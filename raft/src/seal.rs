//! Encryption at rest of what the store writes that carries cluster objects: log entries and
//! snapshot images are sealed with the member's data key (ChaCha20-Poly1305, a random nonce
//! per record) before they reach sled, and opened when read back. Each member has its own key
//! (swarmkit's raft DEK); replication and snapshot transfer carry plaintext over mutual TLS
//! and each member seals with its own key. Who holds the key and how it is wrapped is the
//! swarm layer's business; this module only uses it. Records written without a key (an older
//! release, or a store opened with `Sealer::none`) still read.

use std::borrow::Cow;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::error::RaftError;

/// The first byte of a sealed record; never a codec format byte.
const SEALED: u8 = 0xE5;
/// Bound into every record, so bytes sealed for another purpose do not open here.
const CONTEXT: &[u8] = b"berth-raft-record-v1";
const NONCE_LEN: usize = 12;

/// A 256-bit data key.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey(pub [u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        DataKey(rand::random())
    }
}

/// Seals and opens stored records with a data key, or passes them through without one.
#[derive(Clone, Default)]
pub struct Sealer {
    cipher: Option<Arc<ChaCha20Poly1305>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("sealing", &self.cipher.is_some())
            .finish()
    }
}

impl Sealer {
    /// Seals with `key`.
    pub fn new(key: &DataKey) -> Self {
        Sealer {
            cipher: Some(Arc::new(ChaCha20Poly1305::new(Key::from_slice(&key.0)))),
        }
    }

    /// Stores plaintext (tests, the standalone raft node).
    pub fn none() -> Self {
        Sealer::default()
    }

    /// The stored form of `plain` (itself when there is no key).
    pub(crate) fn seal(&self, plain: Vec<u8>) -> Result<Vec<u8>, RaftError> {
        let Some(cipher) = &self.cipher else {
            return Ok(plain);
        };
        let nonce: [u8; NONCE_LEN] = rand::random();
        let payload = Payload {
            msg: &plain,
            aad: CONTEXT,
        };
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| RaftError::decode("sealed record", "encryption failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(SEALED);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The plaintext of a stored record.
    pub(crate) fn open<'a>(
        &self,
        what: &'static str,
        stored: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, RaftError> {
        let Some(rest) = stored.strip_prefix(&[SEALED]) else {
            return Ok(Cow::Borrowed(stored));
        };
        let Some(cipher) = &self.cipher else {
            return Err(RaftError::decode(
                what,
                "the record is encrypted and no key is loaded",
            ));
        };
        if rest.len() < NONCE_LEN {
            return Err(RaftError::decode(what, "sealed record too short"));
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let payload = Payload {
            msg: sealed,
            aad: CONTEXT,
        };
        cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map(Cow::Owned)
            .map_err(|_| RaftError::decode(what, "the record does not open with this member's key"))
    }
}

/// Bound into a wrapped key, so a sealed record never passes for one.
const WRAP_CONTEXT: &[u8] = b"berth-raft-dek-v1";

/// `key` encrypted with `kek` (nonce first), for the swarm layer to keep on disk.
pub fn wrap_key(kek: &DataKey, key: &DataKey) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&kek.0));
    let nonce: [u8; NONCE_LEN] = rand::random();
    let payload = Payload {
        msg: &key.0,
        aad: WRAP_CONTEXT,
    };
    // Encrypting 32 bytes in memory cannot fail (the AEAD's only error is a length limit).
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), payload)
        .unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    out
}

/// The key `wrap_key` wrapped with `kek`; `None` when `kek` is not the key it was wrapped with.
pub fn unwrap_key(kek: &DataKey, wrapped: &[u8]) -> Option<DataKey> {
    if wrapped.len() < NONCE_LEN {
        return None;
    }
    let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&kek.0));
    let payload = Payload {
        msg: sealed,
        aad: WRAP_CONTEXT,
    };
    let plain = cipher.decrypt(Nonce::from_slice(nonce), payload).ok()?;
    Some(DataKey(plain.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_record_opens_with_its_key_only() {
        let key = DataKey::generate();
        let sealer = Sealer::new(&key);
        let plain = b"\x01{\"secret\":\"s3cr3t\"}".to_vec();
        let stored = sealer.seal(plain.clone()).unwrap();
        assert_eq!(stored[0], SEALED);
        assert!(!stored.windows(6).any(|w| w == b"s3cr3t"));
        assert_eq!(
            sealer.open("r", &stored).unwrap().as_ref(),
            plain.as_slice()
        );
        let other = Sealer::new(&DataKey::generate());
        assert!(other.open("r", &stored).is_err());
        assert!(Sealer::none().open("r", &stored).is_err());
    }

    #[test]
    fn plaintext_records_pass_through_both_ways() {
        let plain = b"\x01[1,2]".to_vec();
        assert_eq!(Sealer::none().seal(plain.clone()).unwrap(), plain);
        let sealer = Sealer::new(&DataKey::generate());
        assert_eq!(sealer.open("r", &plain).unwrap().as_ref(), plain.as_slice());
    }

    #[test]
    fn a_wrapped_key_unwraps_with_its_kek_only() {
        let (kek, key) = (DataKey::generate(), DataKey::generate());
        let wrapped = wrap_key(&kek, &key);
        assert_eq!(unwrap_key(&kek, &wrapped), Some(key));
        assert_eq!(unwrap_key(&DataKey::generate(), &wrapped), None);
        assert_eq!(unwrap_key(&kek, &wrapped[..5]), None);
    }

    #[test]
    fn two_seals_of_one_record_differ() {
        let sealer = Sealer::new(&DataKey::generate());
        let a = sealer.seal(b"x".to_vec()).unwrap();
        let b = sealer.seal(b"x".to_vec()).unwrap();
        assert_ne!(a, b, "a fresh nonce each time");
    }
}
