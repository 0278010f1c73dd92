//! Splitting one logical line into its parts as buildkit's line parsers do: the instruction
//! word, its `--flags`, and the arguments in the form each instruction takes (JSON array,
//! whitespace-separated list, `key=value` pairs, quoted words, or the rest as one string).

use super::ParseError;

/// Instruction, `--flag[=value]` words (without the dashes removed), and the argument text.
pub fn split_command(line: &str, escape: char) -> (String, Vec<String>, String) {
    let line = line.trim();
    let (cmd, rest) = match line.split_once(is_space) {
        Some((c, r)) => (c, r),
        None => (line, ""),
    };
    let (args, flags) = extract_flags(rest, escape);
    (cmd.to_string(), flags, args.trim().to_string())
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0b' | '\x0c' | '\r')
}

/// Leading words that start with `--` are flags (quotes and the escape character work inside
/// them); a lone `--` ends them. Returns the rest of the line and the flags.
fn extract_flags(line: &str, escape: char) -> (String, Vec<String>) {
    let chars: Vec<char> = line.chars().collect();
    let mut flags = Vec::new();
    let mut pos = 0;
    loop {
        while pos < chars.len() && chars[pos].is_whitespace() {
            pos += 1;
        }
        if pos >= chars.len() {
            return (String::new(), flags);
        }
        if !(chars[pos] == '-' && chars.get(pos + 1) == Some(&'-')) {
            return (chars[pos..].iter().collect(), flags);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut blank_ok = false;
        while pos < chars.len() {
            let ch = chars[pos];
            pos += 1;
            match quote {
                None if ch.is_whitespace() => break,
                None if ch == '\'' || ch == '"' => {
                    quote = Some(ch);
                    blank_ok = true;
                }
                Some(q) if ch == q => quote = None,
                _ if ch == escape => {
                    if let Some(&next) = chars.get(pos) {
                        word.push(next);
                        pos += 1;
                    }
                }
                _ => word.push(ch),
            }
        }
        if word == "--" {
            return (chars[pos.min(chars.len())..].iter().collect(), flags);
        }
        if blank_ok || !word.is_empty() {
            flags.push(word);
        }
    }
}

/// Words separated by whitespace; quotes group but are kept, and an escape character keeps
/// the next character (both stay in the word: variable substitution removes them later).
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match quote {
            None if ch.is_whitespace() => {
                if in_word && (blank_ok || !word.is_empty()) {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                in_word = false;
                blank_ok = false;
            }
            None => {
                in_word = true;
                if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                    blank_ok = true;
                }
                if ch == escape {
                    if i == chars.len() {
                        continue;
                    }
                    word.push(ch);
                    word.push(chars[i]);
                    i += 1;
                    continue;
                }
                word.push(ch);
            }
            Some(q) => {
                if ch == q {
                    quote = None;
                }
                if ch == escape && q != '\'' {
                    if i == chars.len() {
                        quote = None;
                        continue;
                    }
                    word.push(ch);
                    word.push(chars[i]);
                    i += 1;
                    continue;
                }
                word.push(ch);
            }
        }
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// Whether `rest` is a JSON array of strings (the exec form).
pub fn is_json_array(rest: &str) -> bool {
    matches!(parse_json(rest), Ok(Some(_)))
}

/// `rest` as a JSON array of strings; `Ok(None)` when it is not JSON at all, an error when it
/// is an array with something else than strings in it.
pub fn parse_json(rest: &str) -> Result<Option<Vec<String>>, ParseError> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(ParseError::plain(
                "when using JSON array syntax, arrays must be comprised of strings only",
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Whitespace-separated words (no quote handling), as EXPOSE and FROM take them.
pub fn whitespace_words(rest: &str) -> Vec<String> {
    rest.split(is_space)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// ENV and LABEL arguments: `k=v k2="v 2"` pairs, or the legacy `key value with spaces`.
/// Values keep their quotes (substitution removes them). The flag says the legacy form was
/// used (no `=`).
pub fn parse_name_values(
    rest: &str,
    keyword: &str,
    escape: char,
) -> Result<Vec<(String, String, bool)>, ParseError> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let Some((key, value)) = rest.split_once(is_space) else {
            return Err(ParseError::plain(format!(
                "{keyword} must have two arguments"
            )));
        };
        return Ok(vec![(
            key.to_string(),
            value.trim_start_matches(is_space).to_string(),
            true,
        )]);
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string(), false)),
            None => Err(ParseError::plain(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_come_off_the_front() {
        let (cmd, flags, args) = split_command("COPY --from=base --chown=\"a b\":c src /dst", '\\');
        assert_eq!(cmd, "COPY");
        assert_eq!(flags, ["--from=base", "--chown=a b:c"]);
        assert_eq!(args, "src /dst");
        let (_, flags, args) = split_command("RUN --mount=type=cache -- --not-a-flag", '\\');
        assert_eq!(flags, ["--mount=type=cache"]);
        assert_eq!(args, "--not-a-flag");
        let (cmd, flags, args) = split_command("  from\tbusybox  AS b ", '\\');
        assert_eq!(
            (cmd.as_str(), flags.len(), args.as_str()),
            ("from", 0, "busybox  AS b")
        );
        let (_, flags, args) = split_command("HEALTHCHECK --interval=5s", '\\');
        assert_eq!((flags.len(), args.as_str()), (1, ""));
    }

    #[test]
    fn words_keep_quotes_and_escapes_for_substitution() {
        assert_eq!(
            parse_words(r#"A=1 B="two words" C=x\ y 'q r'"#, '\\'),
            [r#"A=1"#, r#"B="two words""#, r#"C=x\ y"#, "'q r'"]
        );
        assert_eq!(parse_words("a ''", '\\'), ["a", "''"]);
        assert_eq!(parse_words("a \\", '\\'), ["a"]);
    }

    #[test]
    fn json_arrays_are_the_exec_form() {
        assert_eq!(
            parse_json(r#" ["sh", "-c", "x"]"#).unwrap(),
            Some(vec!["sh".into(), "-c".into(), "x".into()])
        );
        assert_eq!(parse_json("sh -c x").unwrap(), None);
        assert_eq!(parse_json("[not json").unwrap(), None);
        assert!(parse_json("[1, 2]").is_err());
        assert!(!is_json_array("['single']"));
    }

    #[test]
    fn name_values_in_both_forms() {
        assert_eq!(
            parse_name_values("A=1 B=\"2 3\"", "ENV", '\\').unwrap(),
            [
                ("A".to_string(), "1".to_string(), false),
                ("B".to_string(), "\"2 3\"".to_string(), false)
            ]
        );
        assert_eq!(
            parse_name_values("KEY  some value ", "ENV", '\\').unwrap(),
            [("KEY".to_string(), "some value ".to_string(), true)]
        );
        assert_eq!(
            parse_name_values("KEY", "ENV", '\\')
                .unwrap_err()
                .to_string(),
            "ENV must have two arguments"
        );
        assert!(parse_name_values("A=1 B", "LABEL", '\\')
            .unwrap_err()
            .to_string()
            .contains("can't find = in \"B\""));
    }
}
