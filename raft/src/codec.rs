//! The versioned encoding of everything berth-raft stores or sends: one format byte, then the
//! serde JSON body. A newer release reads every older format (the match in `decode` grows a
//! migration arm per format); an older one refuses a newer format instead of misreading it.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::RaftError;

/// The format this build writes.
pub(crate) const FORMAT: u8 = 1;

/// Encodes `value` in the current format.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(128);
    out.push(FORMAT);
    serde_json::to_writer(&mut out, value)?;
    Ok(out)
}

/// Decodes a value written by this or an older release.
pub(crate) fn decode<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, RaftError> {
    match bytes.split_first() {
        Some((&FORMAT, body)) => {
            serde_json::from_slice(body).map_err(|e| RaftError::decode(what, e))
        }
        Some((&found, _)) => Err(RaftError::UnsupportedFormat {
            what,
            found: u32::from(found),
            supported: u32::from(FORMAT),
        }),
        None => Err(RaftError::decode(what, "empty record")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_round_trips_through_the_current_format() {
        let bytes = encode(&vec![1u64, 2, 3]).unwrap();
        assert_eq!(bytes[0], FORMAT);
        assert_eq!(decode::<Vec<u64>>("list", &bytes).unwrap(), [1, 2, 3]);
    }

    #[test]
    fn a_newer_format_is_refused_not_misread() {
        let mut bytes = encode(&1u64).unwrap();
        bytes[0] = FORMAT + 1;
        let err = decode::<u64>("number", &bytes).unwrap_err();
        assert!(matches!(
            err,
            RaftError::UnsupportedFormat {
                found: 2,
                supported: 1,
                ..
            }
        ));
    }
}
