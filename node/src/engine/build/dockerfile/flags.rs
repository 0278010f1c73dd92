//! An instruction's `--flag` words checked against the flags it takes, as buildkit's `BFlags`
//! does: unknown, repeated and malformed flags are errors with buildkit's wording.

use super::ParseError;

/// The value kind of one flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// `--name=value`.
    Text,
    /// `--name` or `--name=true|false`.
    Bool,
    /// `--name=value`, may repeat.
    List,
}

/// Parsed flags: name → values given (in order).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Flags {
    values: Vec<(String, String)>,
}

impl Flags {
    /// Checks `words` (`--a=b`, `--c`) against `known`.
    pub fn parse(words: &[String], known: &[(&str, FlagKind)]) -> Result<Flags, ParseError> {
        let mut out = Flags::default();
        for word in words {
            let Some(body) = word.strip_prefix("--") else {
                return Err(ParseError::plain(format!(
                    "arg should start with -- : {word}"
                )));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(_, kind)) = known.iter().find(|(n, _)| *n == name) else {
                return Err(ParseError::plain(format!("unknown flag: {name}")));
            };
            if kind != FlagKind::List && out.values.iter().any(|(n, _)| n == name) {
                return Err(ParseError::plain(format!(
                    "duplicate flag specified: {name}"
                )));
            }
            let value = match (kind, value) {
                (FlagKind::Bool, None) => "true".to_string(),
                (FlagKind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" | "false" => v.to_ascii_lowercase(),
                    _ => {
                        return Err(ParseError::plain(format!(
                            "expecting boolean value for flag {name}, not: {v}"
                        )))
                    }
                },
                (_, Some(v)) => v.to_string(),
                (_, None) => {
                    return Err(ParseError::plain(format!(
                        "missing a value on flag: {name}"
                    )))
                }
            };
            out.values.push((name.to_string(), value));
        }
        Ok(out)
    }

    /// The value of a text flag, when given.
    pub fn text(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// Whether a bool flag was given as true.
    pub fn is_true(&self, name: &str) -> bool {
        self.values.iter().any(|(n, v)| n == name && v == "true")
    }

    /// Every value of a list flag.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The names of the flags given, in order, once each.
    pub fn used(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (n, _) in &self.values {
            if !out.contains(n) {
                out.push(n.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [(&str, FlagKind); 3] = [
        ("from", FlagKind::Text),
        ("link", FlagKind::Bool),
        ("exclude", FlagKind::List),
    ];

    fn parse(words: &[&str]) -> Result<Flags, ParseError> {
        let owned: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        Flags::parse(&owned, &KNOWN)
    }

    #[test]
    fn values_bools_and_lists() {
        let f = parse(&["--from=base", "--link", "--exclude=a", "--exclude=b"]).unwrap();
        assert_eq!(f.text("from").as_deref(), Some("base"));
        assert!(f.is_true("link"));
        assert_eq!(f.all("exclude"), ["a", "b"]);
        assert_eq!(f.used(), ["from", "link", "exclude"]);
        assert!(!parse(&["--link=FALSE"]).unwrap().is_true("link"));
    }

    #[test]
    fn mistakes_are_worded_as_buildkit_words_them() {
        for (words, want) in [
            (&["--chown=1"][..], "unknown flag: chown"),
            (
                &["--from=a", "--from=b"][..],
                "duplicate flag specified: from",
            ),
            (&["--from"][..], "missing a value on flag: from"),
            (
                &["--link=maybe"][..],
                "expecting boolean value for flag link, not: maybe",
            ),
        ] {
            assert_eq!(parse(words).unwrap_err().to_string(), want);
        }
    }
}
