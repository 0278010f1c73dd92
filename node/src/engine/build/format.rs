//! Go's `fmt` verbs as the classic builder uses them in history entries (`CMD %q`, `VOLUME %v`,
//! `HEALTHCHECK %q`), so `created_by` reads exactly as Docker writes it.

/// `strconv.Quote`: double quotes, Go escapes for quotes, backslashes and control characters.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ => escape_into(&mut out, c),
        }
    }
    out.push('"');
    out
}

/// `strconv.QuoteRune` of an integer, as `%q` prints an `int` (HEALTHCHECK's retries).
pub fn quote_rune(n: i64) -> String {
    let mut out = String::from("'");
    match u32::try_from(n).ok().and_then(char::from_u32) {
        Some('\'') => out.push_str("\\'"),
        Some('\\') => out.push_str("\\\\"),
        Some(c) => escape_into(&mut out, c),
        None => out.push('\u{fffd}'),
    }
    out.push('\'');
    out
}

fn escape_into(out: &mut String, c: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push(c),
    }
}

/// `%q` of a `[]string`: `["a" "b"]`.
pub fn quote_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", inner.join(" "))
}

/// `%v` of a `[]string`: `[a b]`.
pub fn plain_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn quoting_matches_go() {
        assert_eq!(quote("echo \"hi\" \\ $X"), r#""echo \"hi\" \\ $X""#);
        assert_eq!(quote("a\nb\tc\x01é"), r#""a\nb\tc\x01é""#);
        assert_eq!(quote_list(&s(&["sh", "-c", "x y"])), r#"["sh" "-c" "x y"]"#);
        assert_eq!(plain_list(&s(&["/bin/sh", "-c"])), "[/bin/sh -c]");
        assert_eq!(quote_rune(3), r"'\x03'");
        assert_eq!(quote_rune(0), r"'\x00'");
        assert_eq!(quote_rune(65), "'A'");
    }
}
