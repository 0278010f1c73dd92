//! Flag values of the service commands, parsed as docker's CLI parses them: Go durations,
//! `-p/--publish` (short `8080:80/udp` and long `published=8080,target=80,mode=host`), CSV
//! fields (for `--mount`, see `mount.rs`), `--placement-pref`, shell-quoted `--args`, `SERVICE=REPLICAS`.
//! Pure: no daemon calls, no environment reads.

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum as Protocol,
    EndpointPortConfigPublishModeEnum as PublishMode, TaskSpecPlacementPreferences,
    TaskSpecPlacementSpread,
};

/// The ports one `-p` value publishes (short syntax ranges give several).
#[derive(Debug, Clone, PartialEq)]
pub struct Ports(pub Vec<EndpointPortConfig>);

/// Words of a shell-quoted value (`--args "sh -c 'sleep 1'"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words(pub Vec<String>);

/// A Go duration in nanoseconds (`10s`, `1m30s`, `500ms`; a bare `0` as Go allows).
pub use berth_gotime::parse_duration as duration;

/// A `key[=value]` label; the key may not be empty (docker's `ValidateLabel`).
pub fn label(s: &str) -> Result<String, String> {
    let key = s.split_once('=').map_or(s, |(k, _)| k);
    if key.trim().is_empty() {
        return Err(format!("invalid label '{s}': empty name"));
    }
    Ok(s.to_string())
}

/// `key=value` strings as a map; a bare `key` maps to "" (docker's `ConvertKVStringsToMap`).
pub fn to_map(list: &[String]) -> std::collections::HashMap<String, String> {
    list.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect()
}

/// `SERVICE=REPLICAS`: both sides non-empty; the number is checked when scaling, as docker does.
pub fn scale_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("invalid scale specifier '{s}'")),
    }
}

/// `--placement-pref spread=node.labels.dc`.
pub fn placement_pref(s: &str) -> Result<TaskSpecPlacementPreferences, String> {
    let (strategy, arg) = s
        .split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| {
            "placement preference must be of the format \"<strategy>=<arg>\"".to_string()
        })?;
    if strategy != "spread" {
        return Err(format!(
            "unsupported placement preference {strategy} (only spread is supported)"
        ));
    }
    Ok(TaskSpecPlacementPreferences {
        spread: Some(TaskSpecPlacementSpread {
            spread_descriptor: Some(arg.to_string()),
        }),
    })
}

/// Splits like a POSIX shell (google/shlex): blanks separate, quotes group, `\` escapes.
pub fn shell_words(s: &str) -> Result<Words, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\\' => {
                let next = chars.next().ok_or("EOF found after escape character")?;
                word.get_or_insert_with(String::new).push(next);
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => w.push(ch),
                        None => return Err("EOF found when expecting closing quote".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => {
                            let next = chars.next().ok_or("EOF found after escape character")?;
                            w.push(next);
                        }
                        Some(ch) => w.push(ch),
                        None => return Err("EOF found when expecting closing quote".into()),
                    }
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(Words(words))
}

/// One record of Go's `encoding/csv`: comma-separated, `"…"` quoting with `""` for a quote.
pub fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => {
                        return Err("parse error: extraneous or missing \" in quoted-field".into())
                    }
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(_) => {
                    return Err("parse error: extraneous or missing \" in quoted-field".into())
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("parse error: bare \" in non-quoted-field".into()),
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

/// `-p/--publish`: long syntax when the value has `key=value` fields, else docker's short form
/// `[published:]target[/protocol]` with optional ranges (a host IP is refused).
pub fn publish(s: &str) -> Result<Ports, String> {
    if s.contains('=') {
        return publish_long(s).map(|p| Ports(vec![p]));
    }
    let (addr, proto) = s.rsplit_once('/').unwrap_or((s, "tcp"));
    let protocol = protocol(proto).ok_or_else(|| format!("invalid proto: {proto}"))?;
    let parts: Vec<&str> = addr.split(':').collect();
    let (published, target) = match parts.as_slice() {
        [t] => ("", *t),
        [p, t] => (*p, *t),
        [ip, _, _] if !ip.is_empty() => return Err("hostip is not supported".into()),
        [_, p, t] => (*p, *t),
        _ => return Err(format!("invalid port format: {s}")),
    };
    let (t0, t1) = port_range(target).ok_or_else(|| format!("invalid containerPort: {target}"))?;
    let published_range = if published.is_empty() {
        None
    } else {
        Some(port_range(published).ok_or_else(|| format!("invalid hostPort: {published}"))?)
    };
    let config = |target: u16, published: u16| EndpointPortConfig {
        protocol: Some(protocol),
        target_port: Some(i64::from(target)),
        published_port: Some(i64::from(published)),
        publish_mode: Some(PublishMode::INGRESS),
        ..Default::default()
    };
    let ports = match published_range {
        None => (t0..=t1).map(|t| config(t, 0)).collect(),
        Some((p0, p1)) if t0 == t1 => (p0..=p1).map(|p| config(t0, p)).collect(),
        Some((p0, p1)) if p1 - p0 == t1 - t0 => {
            (t0..=t1).zip(p0..=p1).map(|(t, p)| config(t, p)).collect()
        }
        Some(_) => {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {target} and {published}"
            ))
        }
    };
    Ok(Ports(ports))
}

fn publish_long(s: &str) -> Result<EndpointPortConfig, String> {
    let mut config = EndpointPortConfig {
        protocol: Some(Protocol::TCP),
        publish_mode: Some(PublishMode::INGRESS),
        ..Default::default()
    };
    for field in csv_fields(s)? {
        let lower = field.to_lowercase();
        let (key, value) = lower
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| format!("invalid field: {field}"))?;
        match key {
            "protocol" => {
                config.protocol = Some(
                    protocol(value).ok_or_else(|| format!("invalid protocol value '{value}'"))?,
                );
            }
            "mode" => {
                config.publish_mode = Some(match value {
                    "ingress" => PublishMode::INGRESS,
                    "host" => PublishMode::HOST,
                    _ => {
                        return Err(format!(
                        "invalid publish mode value ({value}): must be either 'ingress' or 'host'"
                    ))
                    }
                });
            }
            "target" => {
                let port: u16 = value.parse().map_err(|_| {
                    format!(
                        "invalid target port ({value}): value must be an integer: invalid syntax"
                    )
                })?;
                config.target_port = Some(i64::from(port));
            }
            "published" => {
                let port: u16 = value.parse().map_err(|_| {
                    format!("invalid published port ({value}): value must be an integer: invalid syntax")
                })?;
                config.published_port = Some(i64::from(port));
            }
            _ => return Err(format!("invalid field key: {key}")),
        }
    }
    if config.target_port.unwrap_or(0) == 0 {
        return Err("missing mandatory field 'target'".into());
    }
    Ok(config)
}

fn protocol(s: &str) -> Option<Protocol> {
    match s.to_lowercase().as_str() {
        "tcp" => Some(Protocol::TCP),
        "udp" => Some(Protocol::UDP),
        "sctp" => Some(Protocol::SCTP),
        _ => None,
    }
}

/// `80` or `8080-8090` as an inclusive range.
fn port_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
    (a <= b).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(published: i64, target: i64, proto: Protocol, mode: PublishMode) -> EndpointPortConfig {
        EndpointPortConfig {
            protocol: Some(proto),
            target_port: Some(target),
            published_port: Some(published),
            publish_mode: Some(mode),
            ..Default::default()
        }
    }

    #[test]
    fn durations_sizes_and_cpus_parse_like_docker() {
        assert_eq!(duration("10s"), Ok(10_000_000_000));
        assert_eq!(duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(duration("500ms"), Ok(500_000_000));
        assert_eq!(duration("0"), Ok(0));
        assert_eq!(
            duration("10"),
            Err("time: missing unit in duration \"10\"".to_string())
        );
        assert_eq!(crate::parse::ram_in_bytes("512M"), Ok(536_870_912));
        assert_eq!(crate::parse::nano_cpus("0.5"), Ok(500_000_000));
        assert_eq!(crate::parse::nano_cpus("2"), Ok(2_000_000_000));
        assert!(crate::parse::nano_cpus("half").is_err());
    }

    #[test]
    fn labels_and_maps_follow_docker_rules() {
        assert_eq!(label("a=b"), Ok("a=b".to_string()));
        assert_eq!(label("flag"), Ok("flag".to_string()));
        assert_eq!(
            label("=v"),
            Err("invalid label '=v': empty name".to_string())
        );
        let map = to_map(&["a=b=c".into(), "flag".into()]);
        assert_eq!(map["a"], "b=c");
        assert_eq!(map["flag"], "");
    }

    #[test]
    fn scale_arguments_need_both_sides() {
        assert_eq!(scale_arg("web=3"), Ok(("web".into(), "3".into())));
        assert_eq!(scale_arg("web=x"), Ok(("web".into(), "x".into())));
        assert!(scale_arg("web").is_err());
        assert!(scale_arg("=3").is_err());
        assert!(scale_arg("web=").is_err());
    }

    #[test]
    fn placement_preferences_only_spread() {
        let p = placement_pref("spread=node.labels.dc").unwrap();
        assert_eq!(
            p.spread.unwrap().spread_descriptor.as_deref(),
            Some("node.labels.dc")
        );
        assert_eq!(
            placement_pref("pack=x").unwrap_err(),
            "unsupported placement preference pack (only spread is supported)"
        );
        assert!(placement_pref("spread").is_err());
    }

    #[test]
    fn shell_words_group_quotes_and_escapes() {
        let w = shell_words(r#"sh -c 'echo "a b"' x\ y "q\"d""#).unwrap();
        assert_eq!(w.0, vec!["sh", "-c", "echo \"a b\"", "x y", "q\"d"]);
        assert_eq!(shell_words("").unwrap().0, Vec::<String>::new());
        assert!(shell_words("'open").is_err());
    }

    #[test]
    fn csv_fields_handle_quotes() {
        assert_eq!(csv_fields("a=1,b=2").unwrap(), vec!["a=1", "b=2"]);
        assert_eq!(csv_fields(r#""a=1,2",b"#).unwrap(), vec!["a=1,2", "b"]);
        assert_eq!(csv_fields(r#""say ""hi""""#).unwrap(), vec![r#"say "hi""#]);
        assert_eq!(csv_fields("a,,b").unwrap(), vec!["a", "", "b"]);
        assert!(csv_fields(r#"a"b"#).is_err());
        assert!(csv_fields(r#""open"#).is_err());
    }

    #[test]
    fn short_publish_syntax() {
        use PublishMode::INGRESS;
        assert_eq!(
            publish("8080:80").unwrap().0,
            vec![port(8080, 80, Protocol::TCP, INGRESS)]
        );
        assert_eq!(
            publish("80").unwrap().0,
            vec![port(0, 80, Protocol::TCP, INGRESS)]
        );
        assert_eq!(
            publish("53:53/udp").unwrap().0,
            vec![port(53, 53, Protocol::UDP, INGRESS)]
        );
        assert_eq!(
            publish("7000-7001:70-71/udp").unwrap().0,
            vec![
                port(7000, 70, Protocol::UDP, INGRESS),
                port(7001, 71, Protocol::UDP, INGRESS)
            ]
        );
        assert_eq!(
            publish("8080-8081:80").unwrap().0,
            vec![
                port(8080, 80, Protocol::TCP, INGRESS),
                port(8081, 80, Protocol::TCP, INGRESS)
            ]
        );
        assert_eq!(
            publish("1.2.3.4:80:80").unwrap_err(),
            "hostip is not supported"
        );
        assert!(publish("8080-8082:80-81").is_err());
        assert_eq!(publish("80/xyz").unwrap_err(), "invalid proto: xyz");
        assert_eq!(publish("a:80").unwrap_err(), "invalid hostPort: a");
    }

    #[test]
    fn long_publish_syntax() {
        assert_eq!(
            publish("published=8080,target=80,mode=host,protocol=udp")
                .unwrap()
                .0,
            vec![port(8080, 80, Protocol::UDP, PublishMode::HOST)]
        );
        let p = publish("target=80").unwrap().0;
        assert_eq!(p[0].published_port, None);
        assert_eq!(p[0].publish_mode, Some(PublishMode::INGRESS));
        assert_eq!(
            publish("published=80").unwrap_err(),
            "missing mandatory field 'target'"
        );
        assert_eq!(
            publish("target=80,mode=x").unwrap_err(),
            "invalid publish mode value (x): must be either 'ingress' or 'host'"
        );
        assert_eq!(
            publish("target=80,foo=1").unwrap_err(),
            "invalid field key: foo"
        );
        assert!(publish("target=99999").is_err());
    }
}
