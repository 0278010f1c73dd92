//! Finds the line of a key path (`services.web.deploy.replicas`) in a Compose file's text, so
//! an error can say where it is. Block and flow mappings; it stops at a list index and then
//! gives the line of the list's key. A heuristic over the text: `None` when it cannot tell.

/// The 1-based line of `path` in `text`, or of the longest prefix of it found.
pub fn line_of(text: &str, path: &[String]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0usize;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for (depth, seg) in path.iter().enumerate() {
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(from) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if i > from && parent_indent.is_some_and(|p| indent <= p) && depth > 0 {
                break;
            }
            if has_key(trimmed, seg) {
                hit = Some((i, indent));
                break;
            }
            // A flow mapping on the parent's line: `deploy: {replicas: many}`.
            if i == from && depth > 0 && line.contains('{') && contains_key(line, seg) {
                hit = Some((i, indent));
                break;
            }
        }
        let Some((i, indent)) = hit else { break };
        found = Some(i + 1);
        from = i;
        parent_indent = Some(indent);
    }
    found
}

/// Whether a line starts with `key:` (bare, or quoted, or as a list item `- key:`).
fn has_key(trimmed: &str, key: &str) -> bool {
    let t = trimmed.strip_prefix("- ").unwrap_or(trimmed);
    [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ]
    .iter()
    .any(|k| t.starts_with(k.as_str()))
}

/// Whether `key:` appears after a `{` or `,` in a flow mapping on the line.
fn contains_key(line: &str, key: &str) -> bool {
    line.split(['{', ','])
        .skip(1)
        .any(|part| part.trim_start().starts_with(&format!("{key}:")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(str::to_string).collect()
    }

    #[test]
    fn block_and_flow_keys_are_found_and_a_missing_one_gives_its_parent() {
        let text = "services:\n  web:\n    image: x\n    deploy: {replicas: many}\n  db:\n    deploy:\n      replicas: two\n";
        assert_eq!(line_of(text, &p("services.web.deploy.replicas")), Some(4));
        assert_eq!(line_of(text, &p("services.db.deploy.replicas")), Some(7));
        assert_eq!(line_of(text, &p("services.db.image")), Some(5));
        assert_eq!(line_of(text, &p("networks")), None);
    }
}
