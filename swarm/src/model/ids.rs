//! Object ids, drawn from an `IdSource` so that the pure passes' output can be compared
//! exactly in tests.

use rand::Rng;

/// Where new object ids come from.
pub trait IdSource {
    /// The next id.
    fn next_id(&mut self) -> String;
}

/// Random ids, as swarmkit's: 25 lowercase base-36 characters.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn next_id(&mut self) -> String {
        new_id()
    }
}

/// `id1`, `id2`, …: predictable ids for tests and examples.
#[derive(Debug, Default, Clone)]
pub struct SequentialIds {
    next: u64,
}

impl IdSource for SequentialIds {
    fn next_id(&mut self) -> String {
        self.next += 1;
        format!("id{}", self.next)
    }
}

/// A new random object id: 25 lowercase base-36 characters, as swarmkit's.
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..25)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_look_like_swarmkits_and_sequential_ones_count() {
        let id = RandomIds.next_id();
        assert_eq!(id.len(), 25);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
        let mut seq = SequentialIds::default();
        assert_eq!((seq.next_id(), seq.next_id()), ("id1".into(), "id2".into()));
    }
}
