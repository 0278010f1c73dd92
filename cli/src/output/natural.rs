//! Natural ordering ("web2" before "web10"), as docker sorts node, service and task names
//! (fvbommel/sortorder). Pure.

use std::cmp::Ordering;

/// Compares runs of digits by value and everything else byte by byte.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = split_digits(a);
                let (db, rb) = split_digits(b);
                let (ta, tb) = (trim_zeros(da), trim_zeros(db));
                let by_value = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                // Equal values: fewer leading zeros first, as sortorder does.
                let order = by_value.then_with(|| da.len().cmp(&db.len()));
                if order != Ordering::Equal {
                    return order;
                }
                (a, b) = (ra, rb);
            }
            // Digits sort before other characters, as sortorder does.
            (Some(x), Some(y)) if x.is_ascii_digit() != y.is_ascii_digit() => {
                return if x.is_ascii_digit() {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

fn split_digits(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    s.split_at(n)
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| **c == b'0').count();
    &s[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_runs_compare_by_value() {
        let mut names = vec![
            "node-10-foo",
            "node-2-foo",
            "node-1-foo",
            "a",
            "node-02-foo",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            vec![
                "a",
                "node-1-foo",
                "node-2-foo",
                "node-02-foo",
                "node-10-foo"
            ]
        );
        assert_eq!(natural_cmp("web.1", "web.1"), Ordering::Equal);
        assert_eq!(natural_cmp("web", "web.1"), Ordering::Less);
        assert_eq!(natural_cmp("web2.1", "web.1"), Ordering::Less);
    }
}
