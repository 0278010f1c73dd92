//! Variable substitution and word splitting in Dockerfile arguments, as buildkit's `shell.Lex`
//! does them: `$VAR`, `${VAR}`, `${VAR:-word}` and friends, single and double quotes, and the
//! Dockerfile's escape character. Pure; the caller passes the variables.

use super::shell_words::{glob_regex, trim_pattern, Words};
use super::ParseError;

/// Variables visible to a substitution; the last definition of a name wins.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    entries: Vec<(String, String)>,
}

impl Vars {
    /// From `KEY=value` strings (a `KEY` without `=` is set and empty).
    pub fn from_env<S: AsRef<str>>(env: &[S]) -> Self {
        let entries = env
            .iter()
            .map(|e| {
                let (k, v) = e.as_ref().split_once('=').unwrap_or((e.as_ref(), ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        Vars { entries }
    }

    /// Adds (or replaces) `key`.
    pub fn set(&mut self, key: &str, value: &str) {
        self.entries.push((key.to_string(), value.to_string()));
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A lexer for one escape character (`\` or `` ` ``) with buildkit's switches.
#[derive(Debug, Clone, Copy)]
pub struct Lex {
    /// The escape character (`\\` or `` ` ``).
    pub escape: char,
    /// Keep quote characters in the result.
    pub raw_quotes: bool,
    /// Keep escape characters in the result.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset: bool,
}

impl Lex {
    /// A lexer that removes quotes and escapes and substitutes every variable.
    pub fn new(escape: char) -> Self {
        Lex {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
        }
    }

    /// `word` with quotes processed and variables substituted, as one string.
    pub fn process_word(&self, word: &str, vars: &Vars) -> Result<String, ParseError> {
        self.run(word, vars).map(|(s, _)| s)
    }

    /// `word` split into words on unquoted whitespace (also whitespace coming from a
    /// variable's value), as EXPOSE and heredoc detection need.
    pub fn process_words(&self, word: &str, vars: &Vars) -> Result<Vec<String>, ParseError> {
        self.run(word, vars).map(|(_, w)| w)
    }

    fn run(&self, word: &str, vars: &Vars) -> Result<(String, Vec<String>), ParseError> {
        let mut w = Word {
            lex: *self,
            chars: word.chars().collect(),
            pos: 0,
            vars,
            raw_escapes: self.raw_escapes,
        };
        w.stop_on(None, self.raw_escapes)
            .map_err(|e| ParseError::plain(format!("failed to process {word:?}: {e}")))
    }
}

struct Word<'a> {
    lex: Lex,
    chars: Vec<char>,
    pos: usize,
    vars: &'a Vars,
    raw_escapes: bool,
}

impl Word<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn stop_on(&mut self, stop: Option<char>, raw: bool) -> Result<(String, Vec<String>), String> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw;
        let out = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        out
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let v = self.dollar()?;
                    result.push_str(&v);
                    words.add_string(&v);
                }
                '<' => {
                    let v = self.possible_heredoc();
                    result.push_str(&v);
                    words.add_raw_string(&v);
                }
                '\'' => {
                    let v = self.single_quote()?;
                    result.push_str(&v);
                    words.add_raw_string(&v);
                }
                '"' => {
                    let v = self.double_quote()?;
                    result.push_str(&v);
                    words.add_raw_string(&v);
                }
                _ => {
                    self.pos += 1;
                    let mut ch = ch;
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        match self.next() {
                            Some(c) => ch = c,
                            None => break,
                        }
                        words.add_raw_char(ch);
                    } else {
                        words.add_char(ch);
                    }
                    result.push(ch);
                }
            }
        }
        if let Some(c) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {c}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let open = self.next().unwrap_or('\'');
        if self.lex.raw_quotes {
            out.push(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let open = self.next().unwrap_or('"');
        if self.lex.raw_quotes {
            out.push(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.pos += 1;
                    if self.lex.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            out.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                self.pos += 1;
                                ch = c;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    fn possible_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.pos += 1;
        let mut out = String::from("<<");
        while let Some(c) = self.peek().filter(|c| *c == ' ' || *c == '\t') {
            out.push(c);
            self.pos += 1;
        }
        out
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(str::to_string)
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        let Some(ch) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        match ch {
            '}' => Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => self.modifier(&name, ch),
            '/' => self.replace(&name),
            other => Err(format!("unsupported modifier ({other}) in substitution")),
        }
    }

    fn modifier(&mut self, name: &str, first: char) -> Result<String, String> {
        let (null_is_unset, op) = if first == ':' {
            let Some(op) = self.next() else {
                return Err("syntax error: missing '}'".into());
            };
            (true, op)
        } else {
            (false, first)
        };
        let shown = if null_is_unset {
            format!(":{op}")
        } else {
            op.to_string()
        };
        let pattern_op = op == '#' || op == '%';
        if null_is_unset && pattern_op || !matches!(op, '+' | '-' | '?' | '#' | '%') {
            return Err(format!("unsupported modifier ({shown}) in substitution"));
        }
        let (word, _) = self.stop_on(Some('}'), pattern_op).map_err(|e| {
            if self.peek().is_none() {
                "syntax error: missing '}'".to_string()
            } else {
                e
            }
        })?;
        let value = self.lookup(name);
        if self.lex.skip_unset && value.is_none() {
            return Ok(format!("${{{name}{shown}{word}}}"));
        }
        let empty = value
            .as_deref()
            .is_none_or(|v| null_is_unset && v.is_empty());
        match op {
            '-' => Ok(if empty {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if empty { String::new() } else { word }),
            '?' => match value {
                None => Err(format!(
                    "{name}: {}",
                    non_empty(word, "is not allowed to be unset")
                )),
                Some(v) if null_is_unset && v.is_empty() => Err(format!(
                    "{name}: {}",
                    non_empty(word, "is not allowed to be empty")
                )),
                Some(v) => Ok(v),
            },
            _ => {
                let value = value.unwrap_or_default();
                let (greedy, pat) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, word),
                };
                trim_pattern(&value, &pat, greedy, op == '#')
            }
        }
    }

    fn replace(&mut self, name: &str) -> Result<String, String> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let missing = |w: &Word<'_>, e: String, what: &str| {
            if w.peek().is_none() {
                format!("syntax error: missing {what}")
            } else {
                e
            }
        };
        let (pattern, _) = self
            .stop_on(Some('/'), true)
            .map_err(|e| missing(self, e, "'/' in ${}"))?;
        let (replacement, _) = self
            .stop_on(Some('}'), true)
            .map_err(|e| missing(self, e, "'}'"))?;
        let Some(value) = self.lookup(name) else {
            if self.lex.skip_unset {
                return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
            }
            return Ok(String::new());
        };
        let re = glob_regex(&pattern, true, false)
            .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
        Ok(if all {
            re.replace_all(&value, regex::NoExpand(&replacement))
                .into_owned()
        } else {
            re.replace(&value, regex::NoExpand(&replacement))
                .into_owned()
        })
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && "@*#?-$!0".contains(ch) {
                self.pos += 1;
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

fn non_empty(word: String, default: &str) -> String {
    if word.is_empty() {
        default.to_string()
    } else {
        word
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(s: &str, env: &[&str]) -> String {
        Lex::new('\\')
            .process_word(s, &Vars::from_env(env))
            .unwrap()
    }

    fn words(s: &str, env: &[&str]) -> Vec<String> {
        Lex::new('\\')
            .process_words(s, &Vars::from_env(env))
            .unwrap()
    }

    #[test]
    fn variables_are_substituted_in_every_form() {
        let env = ["A=a", "E=", "PATH=/bin"];
        for (input, want) in [
            ("$A", "a"),
            ("${A}b", "ab"),
            ("x$Ay", "x"),
            ("$NOPE-", "-"),
            ("${NOPE:-dflt}", "dflt"),
            ("${E:-dflt}", "dflt"),
            ("${E-dflt}", ""),
            ("${A:+alt}", "alt"),
            ("${E+alt}", "alt"),
            ("${E:+alt}", ""),
            ("${NOPE+alt}", ""),
            ("$PATH:/usr/bin", "/bin:/usr/bin"),
            ("$", "$"),
            ("a$", "a$"),
            ("$1x", "x"),
        ] {
            assert_eq!(word(input, &env), want, "{input}");
        }
    }

    #[test]
    fn quotes_and_escapes_follow_the_shell() {
        let env = ["A=a b"];
        assert_eq!(word("'$A'", &env), "$A");
        assert_eq!(word("\"$A\"", &env), "a b");
        assert_eq!(word("\\$A", &env), "$A");
        assert_eq!(word("\"x\\\"y\"", &env), "x\"y");
        assert_eq!(word("\"a\\b\"", &env), "a\\b");
        assert_eq!(word("a\\ b", &env), "a b");
        let tick = Lex::new('`');
        assert_eq!(
            tick.process_word("`$A and c:\\dir", &Vars::from_env(&env))
                .unwrap(),
            "$A and c:\\dir"
        );
    }

    #[test]
    fn words_split_on_whitespace_also_inside_values_but_not_quotes() {
        let env = ["PORTS=80 443"];
        assert_eq!(words("$PORTS 8080", &env), ["80", "443", "8080"]);
        assert_eq!(words("\"$PORTS\" x", &env), ["80 443", "x"]);
        assert_eq!(words("  a   'b c'  ", &env), ["a", "b c"]);
    }

    #[test]
    fn required_variables_fail_with_their_message() {
        let lex = Lex::new('\\');
        let vars = Vars::from_env(&["E="]);
        let err = lex.process_word("${NOPE?}", &vars).unwrap_err();
        assert!(err.to_string().contains("NOPE: is not allowed to be unset"));
        let err = lex.process_word("${E:?must be set}", &vars).unwrap_err();
        assert!(err.to_string().contains("E: must be set"));
        assert_eq!(lex.process_word("${E?x}", &vars).unwrap(), "");
    }

    #[test]
    fn pattern_trims_and_replacements() {
        let env = ["F=archive.tar.gz", "P=/usr/local/bin"];
        assert_eq!(word("${F%.*}", &env), "archive.tar");
        assert_eq!(word("${F%%.*}", &env), "archive");
        assert_eq!(word("${F#*.}", &env), "tar.gz");
        assert_eq!(word("${F##*.}", &env), "gz");
        assert_eq!(word("${P/local/opt}", &env), "/usr/opt/bin");
        assert_eq!(word("${P//\\//_}", &env), "_usr_local_bin");
    }

    #[test]
    fn malformed_substitutions_are_errors() {
        let lex = Lex::new('\\');
        let vars = Vars::default();
        for bad in [
            "${A", "${}", "${:x}", "'open", "\"open", "${A:#x}", "${A=x}",
        ] {
            assert!(lex.process_word(bad, &vars).is_err(), "{bad}");
        }
        let err = lex.process_word("\"open", &vars).unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to process \"\\\"open\": unexpected end of statement while looking for matching double-quote"
        );
    }

    #[test]
    fn unset_variables_can_be_left_as_written() {
        let lex = Lex {
            skip_unset: true,
            raw_quotes: true,
            raw_escapes: true,
            ..Lex::new('\\')
        };
        let vars = Vars::default();
        assert_eq!(
            lex.process_words("cat <<\"EOF\" $X ${Y:-z}", &vars)
                .unwrap(),
            ["cat", "<<\"EOF\"", "$X", "${Y:-z}"]
        );
    }
}
