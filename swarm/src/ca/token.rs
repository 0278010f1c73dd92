//! Join tokens: `SWMTKN-1-<CA digest>-<secret>`, as `docker swarm join-token` prints them. The
//! digest pins the cluster's root CA for a node that has nothing else yet; the secret says which
//! role (worker or manager token) the node may join as.

use std::fmt;
use std::str::FromStr;

use rand::Rng as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::{CaError, RootCa};

const PREFIX: &str = "SWMTKN";
const VERSION: &str = "1";
/// Characters in a token's CA digest: a sha256 in base 36 needs at most 50.
const DIGEST_LEN: usize = 50;
/// Characters in a token's secret (25 base-36 characters hold 129 bits).
const SECRET_LEN: usize = 25;
const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const EXPECTED: &str = "expected SWMTKN-1-<digest>-<secret>";

/// The digest a join token carries for a CA certificate: the sha256 of its DER as one big-endian
/// number in lowercase base 36, left-padded with '0' to 50 characters.
pub fn ca_digest(cert_der: &[u8]) -> String {
    base36(&Sha256::digest(cert_der), DIGEST_LEN)
}

/// A parsed swarm join token.
#[derive(Clone)]
pub struct JoinToken {
    /// The root CA's digest ([`ca_digest`]).
    pub digest: String,
    /// The random secret; compare it with [`JoinToken::secret_matches`].
    pub secret: String,
}

impl JoinToken {
    /// A token for `ca` with a fresh random secret.
    pub fn new(ca: &RootCa) -> JoinToken {
        let mut rng = rand::rng();
        let secret = (0..SECRET_LEN)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        JoinToken {
            digest: ca.digest(),
            secret,
        }
    }

    /// Whether this token names the CA certificate `ca_cert_der`.
    pub fn matches_ca(&self, ca_cert_der: &[u8]) -> bool {
        ca_digest(ca_cert_der) == self.digest
    }

    /// Whether `other` is this token's secret, compared in constant time.
    pub fn secret_matches(&self, other: &str) -> bool {
        self.secret.as_bytes().ct_eq(other.as_bytes()).into()
    }
}

/// The secret stays out of logs.
impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("digest", &self.digest)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}-{VERSION}-{}-{}", self.digest, self.secret)
    }
}

impl FromStr for JoinToken {
    type Err = CaError;

    fn from_str(s: &str) -> Result<JoinToken, CaError> {
        let parts: Vec<&str> = s.split('-').collect();
        let [prefix, version, digest, secret] = parts.as_slice() else {
            return Err(CaError::InvalidToken(EXPECTED.to_owned()));
        };
        if *prefix != PREFIX {
            return Err(CaError::InvalidToken(EXPECTED.to_owned()));
        }
        if *version != VERSION {
            return Err(CaError::InvalidToken(format!(
                "unsupported version {version:?}, expected {VERSION}"
            )));
        }
        check_base36("CA digest", digest, DIGEST_LEN)?;
        check_base36("secret", secret, SECRET_LEN)?;
        Ok(JoinToken {
            digest: (*digest).to_owned(),
            secret: (*secret).to_owned(),
        })
    }
}

/// `field` must be exactly `len` characters of 0-9 and a-z.
fn check_base36(field: &str, value: &str, len: usize) -> Result<(), CaError> {
    let count = value.chars().count();
    if count != len {
        return Err(CaError::InvalidToken(format!(
            "{field} has {count} characters, expected {len}"
        )));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !c.is_ascii_digit() && !c.is_ascii_lowercase())
    {
        return Err(CaError::InvalidToken(format!(
            "{field} contains {bad:?}, expected only 0-9 and a-z"
        )));
    }
    Ok(())
}

/// `bytes` as one big-endian number in lowercase base 36, left-padded with '0' to `width`.
fn base36(bytes: &[u8], width: usize) -> String {
    let mut number = bytes.to_vec();
    let mut digits = Vec::new();
    while number.iter().any(|&b| b != 0) {
        let mut rem = 0u16;
        for byte in &mut number {
            let acc = (rem << 8) | u16::from(*byte);
            // acc < 36 * 256, so the quotient fits in a byte.
            *byte = u8::try_from(acc / 36).unwrap_or(u8::MAX);
            rem = acc % 36;
        }
        digits.push(ALPHABET[usize::from(rem)]);
    }
    while digits.len() < width {
        digits.push(b'0');
    }
    digits.iter().rev().map(|&d| char::from(d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(token: &str) -> String {
        token.parse::<JoinToken>().unwrap_err().to_string()
    }

    #[test]
    fn base36_is_a_big_number_padded_to_width() {
        assert_eq!(base36(&[], 3), "000");
        assert_eq!(base36(&[0, 35], 0), "z");
        assert_eq!(base36(&[1, 0], 4), "0074"); // 256 = 7 * 36 + 4
        assert_eq!(base36(&[0xff; 32], 0).len(), 50);
        // 2^256 - 1 in base 36, computed independently with Python integers.
        assert_eq!(
            base36(&[0xff; 32], 50),
            "6dp5qcb22im238nr3wvp0ic7q99w035jmy2iw7i6n43d37jtof"
        );
    }

    #[test]
    fn a_token_round_trips_and_names_its_ca() {
        let ca = RootCa::generate().unwrap();
        let token = JoinToken::new(&ca);
        let text = token.to_string();
        assert!(text.starts_with("SWMTKN-1-"), "{text}");
        assert_eq!(text.len(), "SWMTKN-1-".len() + DIGEST_LEN + 1 + SECRET_LEN);
        let parsed: JoinToken = text.parse().unwrap();
        assert_eq!(parsed.digest, token.digest);
        assert!(parsed.secret_matches(&token.secret));
        assert_eq!(parsed.to_string(), text);
        assert_eq!(parsed.digest, ca.digest());
        assert_eq!(ca.digest(), ca_digest(ca.cert_der()));
        assert!(parsed.matches_ca(ca.cert_der()));
        let other = RootCa::generate().unwrap();
        assert!(!parsed.matches_ca(other.cert_der()));
        assert_ne!(JoinToken::new(&ca).secret, token.secret);
        assert!(!format!("{token:?}").contains(&token.secret));
    }

    #[test]
    fn secrets_compare_whole() {
        let token = JoinToken {
            digest: "0".repeat(DIGEST_LEN),
            secret: "abcdefghijklmnopqrstuvwxy".to_owned(),
        };
        assert!(token.secret_matches("abcdefghijklmnopqrstuvwxy"));
        assert!(!token.secret_matches("abcdefghijklmnopqrstuvwxz"));
        assert!(!token.secret_matches("abcdefghijklmnopqrstuvwx"));
        assert!(!token.secret_matches(""));
    }

    #[test]
    fn every_malformation_is_named() {
        let digest = "1".repeat(DIGEST_LEN);
        let secret = "s".repeat(SECRET_LEN);
        let expected = "invalid join token: expected SWMTKN-1-<digest>-<secret>";
        assert_eq!(err(""), expected);
        assert_eq!(err("SWMTKN"), expected);
        assert_eq!(err(&format!("SWMTKN-1-{digest}")), expected);
        assert_eq!(err(&format!("SWMTKN-1-{digest}-{secret}-x")), expected);
        assert_eq!(err(&format!("SWMTKX-1-{digest}-{secret}")), expected);
        assert_eq!(err(&format!(" SWMTKN-1-{digest}-{secret}")), expected);
        assert_eq!(
            err(&format!("SWMTKN-2-{digest}-{secret}")),
            "invalid join token: unsupported version \"2\", expected 1"
        );
        assert_eq!(
            err(&format!("SWMTKN-1-{}-{secret}", &digest[1..])),
            "invalid join token: CA digest has 49 characters, expected 50"
        );
        assert_eq!(
            err(&format!("SWMTKN-1-{}A-{secret}", &digest[1..])),
            "invalid join token: CA digest contains 'A', expected only 0-9 and a-z"
        );
        assert_eq!(
            err(&format!("SWMTKN-1-{digest}-{secret}s")),
            "invalid join token: secret has 26 characters, expected 25"
        );
        assert_eq!(
            err(&format!("SWMTKN-1-{digest}-{}_", &secret[1..])),
            "invalid join token: secret contains '_', expected only 0-9 and a-z"
        );
        assert_eq!(
            err(&format!("SWMTKN-1-{digest}-{secret}\n")),
            "invalid join token: secret has 26 characters, expected 25"
        );
        assert!(format!("SWMTKN-1-{digest}-{secret}")
            .parse::<JoinToken>()
            .is_ok());
    }
}
