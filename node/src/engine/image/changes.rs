//! Dockerfile-style `changes` for `docker import` / `docker commit` (CMD, ENV, ...) applied to
//! a [`RunConfig`]. Pure parsing; never touches the store.

use super::RunConfig;
use crate::error::{EngineError, Result};

const KNOWN: [&str; 9] = [
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "LABEL",
    "WORKDIR",
    "USER",
    "STOPSIGNAL",
    "EXPOSE",
    "VOLUME",
];

/// Applies each instruction in `changes` (one or more lines each) to `cfg`, in order.
/// Docker's refusal of an instruction `docker commit` and `docker import` cannot apply.
pub fn not_a_change(instruction: &str) -> String {
    format!(
        "{} is not a valid change command",
        instruction.to_ascii_lowercase()
    )
}

/// Supports CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL;
/// anything else is InvalidArgument, as Docker refuses it.
pub fn apply_changes(cfg: &mut RunConfig, changes: &[String]) -> Result<()> {
    let mut cmd_set = false;
    for change in changes {
        for line in logical_lines(change) {
            let (keyword, rest) = match line.split_once(char::is_whitespace) {
                Some((k, r)) => (k, r.trim()),
                None => (line.as_str(), ""),
            };
            let keyword = keyword.to_ascii_uppercase();
            if !KNOWN.contains(&keyword.as_str()) {
                // Docker names the instruction as its parser keeps it: lower case.
                return Err(bad(not_a_change(&keyword)));
            }
            if rest.is_empty() {
                return Err(bad(format!("{keyword} requires at least one argument")));
            }
            match keyword.as_str() {
                "CMD" => {
                    cfg.cmd = Some(command_form(rest));
                    cmd_set = true;
                }
                "ENTRYPOINT" => {
                    cfg.entrypoint = Some(command_form(rest));
                    // Docker: a new ENTRYPOINT drops an inherited CMD unless CMD was also given.
                    if !cmd_set {
                        cfg.cmd = None;
                    }
                }
                "ENV" => {
                    for (k, v) in key_values(&keyword, rest)? {
                        set_env(&mut cfg.env, &k, &v);
                    }
                }
                "LABEL" => cfg.labels.extend(key_values(&keyword, rest)?),
                "WORKDIR" => cfg.working_dir = join_workdir(&cfg.working_dir, rest),
                "USER" => cfg.user = rest.to_string(),
                "STOPSIGNAL" => cfg.stop_signal = Some(rest.to_string()),
                "EXPOSE" => {
                    for spec in split_words(rest)? {
                        for port in expand_port(&spec)? {
                            cfg.exposed_ports.insert(port, serde_json::json!({}));
                        }
                    }
                }
                "VOLUME" => {
                    let paths = json_array(rest).map_or_else(|| split_words(rest), Ok)?;
                    for p in paths.into_iter().filter(|p| !p.is_empty()) {
                        cfg.volumes.insert(p, serde_json::json!({}));
                    }
                }
                _ => return Err(bad(not_a_change(&keyword))),
            }
        }
    }
    Ok(())
}

fn bad(msg: String) -> EngineError {
    EngineError::InvalidArgument(msg)
}

/// Splits on newlines, joining `\`-continued lines and dropping blanks and `#` comments.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current).trim().to_string());
            }
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// Exec form when `rest` is a JSON array of strings, otherwise shell form via `/bin/sh -c`.
fn command_form(rest: &str) -> Vec<String> {
    json_array(rest).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), rest.to_string()])
}

fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest).ok()
}

/// `k=v k2="v 2"` pairs, or the legacy `k value with spaces` form when the first word has no `=`.
fn key_values(keyword: &str, rest: &str) -> Result<Vec<(String, String)>> {
    let first = rest.split_whitespace().next().unwrap_or_default();
    if !first.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let v = split_words(v.trim())?.join(" ");
        return Ok(vec![(k.to_string(), v)]);
    }
    split_words(rest)?
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(bad(format!("{keyword} names can not be blank: {word:?}"))),
        })
        .collect()
}

/// Shell-like word splitting: whitespace separates, quotes group, `\` escapes outside `'...'`.
fn split_words(s: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(bad(format!("unmatched quote in {s:?}")));
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(existing) => *existing = entry,
        None => env.push(entry),
    }
}

/// WORKDIR relative paths are relative to the previous WORKDIR, as in a Dockerfile.
fn join_workdir(current: &str, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!("{}/{dir}", if current.is_empty() { "" } else { current })
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `80`, `80/udp`, `8000-8002/tcp` → `["80/tcp"]`, ...
fn expand_port(spec: &str) -> Result<Vec<String>> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad(format!("invalid proto: {proto}")));
    }
    let parse = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| bad(format!("invalid containerPort: {p}")))
    };
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(ports)?, parse(ports)?),
    };
    if end < start {
        return Err(bad(format!(
            "invalid range specified for containerPort: {ports}"
        )));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<RunConfig> {
        let mut cfg = RunConfig::default();
        let owned: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut cfg, &owned).map(|()| cfg)
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cmd_and_entrypoint_accept_exec_and_shell_forms() {
        let cfg = apply(&[
            r#"CMD ["/bin/sh", "-c", "echo hi"]"#,
            "entrypoint /init --flag",
        ])
        .unwrap();
        assert_eq!(cfg.cmd, Some(strings(&["/bin/sh", "-c", "echo hi"])));
        assert_eq!(
            cfg.entrypoint,
            Some(strings(&["/bin/sh", "-c", "/init --flag"]))
        );
        let cfg = apply(&["CMD [not json"]).unwrap();
        assert_eq!(cfg.cmd, Some(strings(&["/bin/sh", "-c", "[not json"])));
    }

    #[test]
    fn entrypoint_alone_clears_cmd_but_not_when_cmd_was_given() {
        let mut cfg = RunConfig {
            cmd: Some(strings(&["sh"])),
            ..Default::default()
        };
        apply_changes(&mut cfg, &strings(&[r#"ENTRYPOINT ["/e"]"#])).unwrap();
        assert_eq!(cfg.cmd, None);
        let cfg = apply(&["CMD x", r#"ENTRYPOINT ["/e"]"#]).unwrap();
        assert!(cfg.cmd.is_some());
    }

    #[test]
    fn env_supports_pairs_quotes_legacy_form_and_replacement() {
        let cfg = apply(&[
            r#"ENV A=1 B="two words" C=x\ y"#,
            "ENV D some value",
            "ENV A=3",
        ])
        .unwrap();
        assert_eq!(
            cfg.env,
            strings(&["A=3", "B=two words", "C=x y", "D=some value"])
        );
        assert!(apply(&["ENV =x"]).is_err());
        assert!(apply(&[r#"ENV A="open"#]).is_err());
    }

    #[test]
    fn workdir_user_label_stopsignal_volume_expose() {
        let cfg = apply(&[
            "WORKDIR /app",
            "WORKDIR sub/../src",
            "USER 1000:1000",
            r#"LABEL a=b "c d"=e"#,
            "STOPSIGNAL SIGINT",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /cache",
            "EXPOSE 80 53/udp 8000-8001",
        ])
        .unwrap();
        assert_eq!(cfg.working_dir, "/app/src");
        assert_eq!(cfg.user, "1000:1000");
        assert_eq!(cfg.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(cfg.labels.get("c d").map(String::as_str), Some("e"));
        assert_eq!(cfg.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(
            cfg.volumes.keys().collect::<Vec<_>>(),
            ["/cache", "/data", "/logs"]
        );
        assert_eq!(
            cfg.exposed_ports.keys().collect::<Vec<_>>(),
            ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]
        );
    }

    #[test]
    fn one_change_may_hold_several_lines_with_continuations() {
        let cfg = apply(&["# comment\nENV A=1 \\\n  B=2\n\nUSER nobody"]).unwrap();
        assert_eq!(cfg.env, strings(&["A=1", "B=2"]));
        assert_eq!(cfg.user, "nobody");
    }

    #[test]
    fn unknown_and_empty_instructions_are_invalid_argument() {
        for bad in [
            "RUN echo hi",
            "FROM scratch",
            "ONBUILD RUN x",
            "CMD",
            "EXPOSE 80/foo",
            "EXPOSE x",
        ] {
            let err = apply(&[bad]).unwrap_err();
            assert!(
                matches!(err, EngineError::InvalidArgument(_)),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            apply(&["RUN x"]).unwrap_err().to_string(),
            "run is not a valid change command"
        );
    }
}
