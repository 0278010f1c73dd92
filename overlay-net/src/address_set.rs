//! A set of IPv4 addresses held as sorted runs, in memory as on disk. A node's allocation
//! record is read, changed and written on every container start and exit; as a set of
//! single addresses that meant building and dropping a thousand-node tree per start with a
//! thousand containers running. Addresses are handed out in order, so a network's set is a
//! handful of runs however many are in use.

use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};
use std::net::Ipv4Addr;

/// The most addresses one record may hold: a /16's worth, far above a bridge's 1,023 ports.
const MAX: u64 = 1 << 16;

/// Sorted, disjoint, never adjacent (`[a, b]` and `[b + 1, c]` are one run).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressSet {
    runs: Vec<(u32, u32)>,
}

impl AddressSet {
    /// The index of the run holding `x`, or where a run starting at `x` would go.
    fn find(&self, x: u32) -> Result<usize, usize> {
        let i = self.runs.partition_point(|&(_, end)| end < x);
        match self.runs.get(i) {
            Some(&(start, _)) if start <= x => Ok(i),
            _ => Err(i),
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.find(u32::from(ip)).is_ok()
    }

    /// The last address of the run holding `ip` (`None`: `ip` is not in the set).
    pub fn run_end(&self, ip: Ipv4Addr) -> Option<Ipv4Addr> {
        let i = self.find(u32::from(ip)).ok()?;
        self.runs.get(i).map(|&(_, end)| Ipv4Addr::from(end))
    }

    /// Adds `ip`; false when it was there already.
    pub fn insert(&mut self, ip: Ipv4Addr) -> bool {
        let x = u32::from(ip);
        let Err(i) = self.find(x) else {
            return false;
        };
        let joins_prev = i > 0 && self.runs[i - 1].1.checked_add(1) == Some(x);
        let joins_next = self
            .runs
            .get(i)
            .is_some_and(|&(start, _)| x.checked_add(1) == Some(start));
        match (joins_prev, joins_next) {
            (true, true) => {
                self.runs[i - 1].1 = self.runs[i].1;
                self.runs.remove(i);
            }
            (true, false) => self.runs[i - 1].1 = x,
            (false, true) => self.runs[i].0 = x,
            (false, false) => self.runs.insert(i, (x, x)),
        }
        true
    }

    /// Takes `ip` out; false when it was not there.
    pub fn remove(&mut self, ip: Ipv4Addr) -> bool {
        let x = u32::from(ip);
        let Ok(i) = self.find(x) else {
            return false;
        };
        let (start, end) = self.runs[i];
        // `start <= x <= end`, so the ±1 below stay inside the run.
        match (x == start, x == end) {
            (true, true) => {
                self.runs.remove(i);
            }
            (true, false) => self.runs[i].0 = x + 1,
            (false, true) => self.runs[i].1 = x - 1,
            (false, false) => {
                self.runs[i].1 = x - 1;
                self.runs.insert(i + 1, (x + 1, end));
            }
        }
        true
    }

    /// Every address, in order.
    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.runs
            .iter()
            .flat_map(|&(a, b)| (a..=b).map(Ipv4Addr::from))
    }

    /// How many addresses.
    pub fn len(&self) -> u64 {
        self.runs.iter().map(|&(a, b)| u64::from(b - a) + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

impl FromIterator<Ipv4Addr> for AddressSet {
    fn from_iter<I: IntoIterator<Item = Ipv4Addr>>(iter: I) -> Self {
        let mut set = AddressSet::default();
        for ip in iter {
            set.insert(ip);
        }
        set
    }
}

/// `["10.0.0.2-10.0.0.250", "10.0.0.252"]`.
impl Serialize for AddressSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.runs.iter().map(|&(a, b)| {
            if a == b {
                Ipv4Addr::from(a).to_string()
            } else {
                format!("{}-{}", Ipv4Addr::from(a), Ipv4Addr::from(b))
            }
        }))
    }
}

/// Runs or single addresses in any order, overlapping or not (the older form was a list of
/// addresses); more than `MAX` addresses is refused, so that a hostile record cannot make a
/// caller walk or copy billions.
impl<'de> Deserialize<'de> for AddressSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut runs = Vec::new();
        let mut total: u64 = 0;
        for run in Vec::<String>::deserialize(d)? {
            let (a, b) = run.split_once('-').unwrap_or((&run, &run));
            let parse = |t: &str| {
                t.parse::<Ipv4Addr>()
                    .map(u32::from)
                    .map_err(|_| D::Error::custom(format!("bad address run {run:?}")))
            };
            let (a, b) = (parse(a)?, parse(b)?);
            if b < a {
                return Err(D::Error::custom(format!("bad address run {run:?}")));
            }
            total += u64::from(b - a) + 1;
            if total > MAX {
                return Err(D::Error::custom("too many addresses in use"));
            }
            runs.push((a, b));
        }
        runs.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(runs.len());
        for (a, b) in runs {
            match merged.last_mut() {
                Some((_, end)) if u64::from(a) <= u64::from(*end) + 1 => *end = (*end).max(b),
                _ => merged.push((a, b)),
            }
        }
        Ok(AddressSet { runs: merged })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn ip(h: u32) -> Ipv4Addr {
        Ipv4Addr::from(0x0a00_0000 + h)
    }

    #[test]
    fn runs_join_and_split_as_a_plain_set_would() {
        // Against a BTreeSet, over an order that joins, splits and empties runs.
        let mut set = AddressSet::default();
        let mut plain = BTreeSet::new();
        let steps: Vec<(bool, u32)> = (0..40u32)
            .map(|i| (true, (i * 7) % 23))
            .chain((0..30u32).map(|i| (false, (i * 5) % 23)))
            .chain((0..10u32).map(|i| (true, i * 2)))
            .collect();
        for (add, h) in steps {
            if add {
                assert_eq!(set.insert(ip(h)), plain.insert(ip(h)), "insert {h}");
            } else {
                assert_eq!(set.remove(ip(h)), plain.remove(&ip(h)), "remove {h}");
            }
            assert_eq!(
                set.iter().collect::<Vec<_>>(),
                plain.iter().copied().collect::<Vec<_>>()
            );
            assert_eq!(set.len(), plain.len() as u64);
            for w in set.runs.windows(2) {
                assert!(w[0].1 + 1 < w[1].0, "runs stay apart: {:?}", set.runs);
            }
        }
    }

    #[test]
    fn the_ends_of_the_address_space_neither_wrap_nor_overflow() {
        let mut set: AddressSet = [Ipv4Addr::BROADCAST, Ipv4Addr::UNSPECIFIED]
            .into_iter()
            .collect();
        assert!(set.insert(Ipv4Addr::from(u32::MAX - 1)));
        assert_eq!(
            set.run_end(Ipv4Addr::from(u32::MAX - 1)),
            Some(Ipv4Addr::BROADCAST)
        );
        assert!(set.remove(Ipv4Addr::BROADCAST));
        assert!(set.remove(Ipv4Addr::UNSPECIFIED));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [Ipv4Addr::from(u32::MAX - 1)]
        );
    }

    #[test]
    fn overlapping_and_unordered_runs_read_as_one_set() {
        let set: AddressSet = serde_json::from_str(
            r#"["10.0.0.9","10.0.0.2-10.0.0.5","10.0.0.4-10.0.0.6","10.0.0.7"]"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            r#"["10.0.0.2-10.0.0.7","10.0.0.9"]"#
        );
    }
}
