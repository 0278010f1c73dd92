//! Pieces of `shell.rs`: the word splitter of a substitution's result, and shell patterns
//! (`*`, `?`, `\\` escapes) as regular expressions for `${v#pat}`, `${v%pat}` and `${v/pat/r}`.

use regex::Regex;

/// The words of a substitution's result, split as the shell would.
#[derive(Default)]
pub(super) struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    pub(super) fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    pub(super) fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }

    pub(super) fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    pub(super) fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    pub(super) fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

/// `${v#pat}`, `${v##pat}`, `${v%pat}`, `${v%%pat}`: the shortest (or, greedy, longest) match
/// of the shell pattern removed from the start or the end.
pub(super) fn trim_pattern(
    value: &str,
    pattern: &str,
    greedy: bool,
    prefix: bool,
) -> Result<String, String> {
    let re = glob_regex(pattern, greedy, true).map_err(|e| e.to_string())?;
    if prefix {
        return Ok(match re.find(value) {
            Some(m) => value[m.end()..].to_string(),
            None => value.to_string(),
        });
    }
    // A suffix match is a prefix match of the reversed value against the reversed pattern.
    let rev_value: String = value.chars().rev().collect();
    let rev_pattern: String = pattern.chars().rev().collect();
    let re = glob_regex(&rev_pattern, greedy, true).map_err(|e| e.to_string())?;
    Ok(match re.find(&rev_value) {
        Some(m) => rev_value[m.end()..].chars().rev().collect(),
        None => value.to_string(),
    })
}

/// A shell pattern (`*`, `?`, `\` escapes) as a regular expression.
pub(super) fn glob_regex(pattern: &str, greedy: bool, anchored: bool) -> Result<Regex, String> {
    let mut out = String::from(if anchored { "^" } else { "" });
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(if greedy { ".*" } else { ".*?" }),
            '?' => out.push('.'),
            '\\' => match chars.next() {
                Some(n @ ('*' | '?' | '\\')) => out.push_str(&regex::escape(&n.to_string())),
                Some(n @ ('}' | '/')) => out.push_str(&regex::escape(&n.to_string())),
                Some(n) => return Err(format!("invalid escape '\\{n}'")),
                None => out.push_str("\\\\"),
            },
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    Regex::new(&out).map_err(|e| e.to_string())
}
