//! sha256 digests: computing them over bytes and checking `sha256:<hex>` strings.
//! Knows nothing about where blobs live.

use sha2::{Digest as _, Sha256};

use crate::error::{EngineError, Result};

/// `sha256:<hex>` of `bytes`.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `sha256:<hex>` of what `hasher` has taken so far (it can go on taking more).
pub(crate) fn hasher_digest(hasher: &Sha256) -> String {
    format!("sha256:{}", hex::encode(hasher.clone().finalize()))
}

/// The hex part of a `sha256:<64 lowercase hex>` digest; InvalidArgument for anything else,
/// because the hex becomes a file name and must never contain a path separator.
pub(crate) fn digest_hex(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(h) if is_sha256_hex(h) => Ok(h),
        _ => Err(EngineError::InvalidArgument(format!(
            "invalid digest: {digest:?}"
        ))),
    }
}

/// True for exactly 64 lowercase hex characters.
pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_hex_rejects_paths_and_other_algorithms() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(digest_hex(&good).unwrap(), "a".repeat(64));
        assert!(digest_hex("sha256:../../etc").is_err());
        assert!(digest_hex(&format!("sha512:{}", "a".repeat(64))).is_err());
        assert!(digest_hex(&format!("sha256:{}", "A".repeat(64))).is_err());
    }
}
