//! Docker's inspect JSON: re-indents JSON text with four spaces without parsing it into values,
//! so key order and number spelling stay as the daemon sent them, and escapes `<`, `>`, `&` in
//! strings as Go's encoder does (docker's CLI re-encodes what it inspects). Pure.

use anyhow::{bail, Result};

/// `raw` (one JSON text) indented by four spaces per level; `{}` and `[]` stay on one line.
pub fn indent(raw: &[u8]) -> Result<String> {
    let text = std::str::from_utf8(raw)?;
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {}
            '"' => {
                out.push('"');
                loop {
                    match chars.next() {
                        Some('\\') => {
                            out.push('\\');
                            out.extend(chars.next());
                        }
                        Some('"') => break,
                        // Go's encoder escapes these; docker's CLI re-encodes what it inspects.
                        Some('<') => out.push_str("\\u003c"),
                        Some('>') => out.push_str("\\u003e"),
                        Some('&') => out.push_str("\\u0026"),
                        Some('\u{2028}') => out.push_str("\\u2028"),
                        Some('\u{2029}') => out.push_str("\\u2029"),
                        Some(ch) => out.push(ch),
                        None => bail!("unterminated string in JSON"),
                    }
                }
                out.push('"');
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(|n| n.is_ascii_whitespace()) {
                    chars.next();
                }
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| anyhow::anyhow!("unbalanced JSON"))?;
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            other => out.push(other),
        }
    }
    Ok(out)
}

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n("    ", depth));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_like_go_and_keeps_order_and_numbers() {
        let raw = br#"[{"Name":"web","Spec":{"Labels":{},"Args":["a, b","c\"d"],"Ratio":0,"X":[ ]}}
]"#;
        let want = "[\n    {\n        \"Name\": \"web\",\n        \"Spec\": {\n            \"Labels\": {},\n            \"Args\": [\n                \"a, b\",\n                \"c\\\"d\"\n            ],\n            \"Ratio\": 0,\n            \"X\": []\n        }\n    }\n]";
        assert_eq!(indent(raw).unwrap(), want);
        assert_eq!(indent(b"[]").unwrap(), "[]");
        assert!(indent(b"}").is_err());
        assert_eq!(
            indent(br#"["a>b&c<d"]"#).unwrap(),
            "[\n    \"a\\u003eb\\u0026c\\u003cd\"\n]"
        );
    }
}
