//! Parsers for flag values, mirroring docker's (go-units `RAMInBytes`, `--restart`, `--env-file`,
//! `-p`, `--since`). Pure: the environment and the clock are parameters.

use bollard::models::{PortBinding, RestartPolicy, RestartPolicyNameEnum};

/// go-units `RAMInBytes`: "32m" → 33554432 (binary multiples; optional `i`/`b` suffix).
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{s}'");
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, mut suffix) = s.split_at(num_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(invalid());
    }
    let value: f64 = num.parse().map_err(|_| invalid())?;
    suffix = suffix.strip_prefix(' ').unwrap_or(suffix);
    let mut chars = suffix.chars().peekable();
    let shift = match chars.peek().map(char::to_ascii_lowercase) {
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some('t') => 40,
        Some('p') => 50,
        _ => 0,
    };
    if shift > 0 {
        chars.next();
        if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'i')) {
            chars.next();
        }
    }
    if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'b')) {
        chars.next();
    }
    if chars.next().is_some() {
        return Err(invalid());
    }
    let bytes = value * 2f64.powi(shift);
    if bytes >= 9.2e18 {
        return Err(invalid());
    }
    #[allow(
        clippy::cast_possible_truncation,
        reason = "go-units truncates to int64; range checked above"
    )]
    Ok(bytes as i64)
}

/// `--memory-swap`: a size, or -1 for unlimited.
pub fn memory_swap(s: &str) -> Result<i64, String> {
    if s == "-1" {
        Ok(-1)
    } else {
        ram_in_bytes(s)
    }
}

/// `--cpus 1.5` → NanoCpus 1500000000.
pub fn nano_cpus(s: &str) -> Result<i64, String> {
    let cpus: f64 = s
        .parse()
        .map_err(|_| format!("failed to parse {s} as a rational number"))?;
    if !(0.0..=1e9).contains(&cpus) {
        return Err(format!("invalid value for cpus: {s}"));
    }
    #[allow(clippy::cast_possible_truncation, reason = "bounded to 1e18 above")]
    Ok((cpus * 1e9).round() as i64)
}

/// `--restart no|always|unless-stopped|on-failure[:N]`.
pub fn restart_policy(s: &str) -> Result<RestartPolicy, String> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    let name = match name {
        "" | "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        other => return Err(format!("invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")),
    };
    let maximum_retry_count = match count {
        None => None,
        Some(_) if name != RestartPolicyNameEnum::ON_FAILURE => {
            return Err(format!("invalid restart policy: maximum retry count can only be used with 'on-failure': {s}"));
        }
        Some(c) => {
            Some(c.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                format!("invalid restart policy: invalid maximum retry count: {c}")
            })?)
        }
    };
    Ok(RestartPolicy {
        name: Some(name),
        maximum_retry_count,
    })
}

/// A `--filter` value: `name=value`, as docker's CLI requires.
pub fn filter(s: &str) -> Result<String, String> {
    match s.split_once('=') {
        Some((k, _)) if !k.trim().is_empty() => Ok(s.to_string()),
        _ => Err("bad format of filter (expected name=value)".to_string()),
    }
}

/// `-e KEY=VAL` is kept; `-e KEY` takes KEY's value from `lookup`, or stays `KEY` when unset.
pub fn env_value(s: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    match s.split_once('=') {
        Some(("", _)) => Err(format!("invalid environment variable: {s}")),
        Some(_) => Ok(s.to_string()),
        None if s.is_empty() => Err(format!("invalid environment variable: {s}")),
        None => Ok(lookup(s).map_or_else(|| s.to_string(), |v| format!("{s}={v}"))),
    }
}

/// Docker's `ParseEnvFile` over a file's text: `#` comments and blank lines skipped, `KEY=VAL`
/// kept verbatim, bare `KEY` taken from `lookup` (dropped when unset), names without spaces.
pub fn env_file(
    content: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    for (n, raw) in content.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (line, None),
        };
        if name.is_empty() {
            return Err(format!("no variable name on line '{line}'"));
        }
        let name = name.trim_start();
        if name.contains(char::is_whitespace) {
            return Err(format!(
                "variable '{name}' contains whitespaces (line {})",
                n + 1
            ));
        }
        match value {
            Some(v) => out.push(format!("{name}={v}")),
            None => out.extend(lookup(name).map(|v| format!("{name}={v}"))),
        }
    }
    Ok(out)
}

/// `-p [ip:][hostPort:]containerPort[/proto]` → ("80/tcp", binding).
pub fn port_spec(s: &str) -> Result<(String, PortBinding), String> {
    let (addr, proto) = s.rsplit_once('/').unwrap_or((s, "tcp"));
    let parts: Vec<&str> = if addr.starts_with('[') {
        let (ip, rest) = addr
            .split_once(']')
            .ok_or_else(|| format!("invalid port spec: {s}"))?;
        let mut v = vec![&ip[1..]];
        v.extend(rest.trim_start_matches(':').split(':'));
        v
    } else {
        addr.split(':').collect()
    };
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => return Err(format!("invalid port spec: {s}")),
    };
    if container.is_empty() || !container.chars().all(|c| c.is_ascii_digit() || c == '-') {
        return Err(format!("invalid containerPort: {container}"));
    }
    let binding = PortBinding {
        host_ip: (!ip.is_empty()).then(|| ip.to_string()),
        host_port: (!host.is_empty()).then(|| host.to_string()),
    };
    Ok((format!("{container}/{proto}"), binding))
}

/// `REPOSITORY[:TAG]` → (repository, tag); the tag defaults to "latest" and a registry port
/// (`localhost:5000/x`) is not a tag.
pub fn repo_tag(s: &str) -> (String, String) {
    let name = s.split_once('@').map_or(s, |(n, _)| n);
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (name.to_string(), "latest".to_string()),
    }
}

/// Docker's `GetTimestamp` for `--since`/`--until` as whole Unix seconds: a Go duration before
/// `now_unix`, a time (one without a zone is this machine's local time, as docker reads it), or
/// Unix seconds.
pub fn timestamp(s: &str, now_unix: i64) -> Result<i64, String> {
    berth_gotime::timestamp_at(s, now_unix, *chrono::Local::now().offset()).map(|(secs, _)| secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_are_binary_multiples() {
        assert_eq!(ram_in_bytes("32m"), Ok(33_554_432));
        assert_eq!(ram_in_bytes("32M"), Ok(33_554_432));
        assert_eq!(ram_in_bytes("1g"), Ok(1_073_741_824));
        assert_eq!(ram_in_bytes("1.5k"), Ok(1536));
        assert_eq!(ram_in_bytes("512"), Ok(512));
        assert_eq!(ram_in_bytes("10b"), Ok(10));
        assert_eq!(ram_in_bytes("2GiB"), Ok(2_147_483_648));
        assert_eq!(ram_in_bytes("64 MB"), Ok(67_108_864));
        assert_eq!(ram_in_bytes("abc"), Err("invalid size: 'abc'".to_string()));
        assert!(ram_in_bytes("").is_err());
        assert!(ram_in_bytes("32x").is_err());
        assert!(ram_in_bytes("-5m").is_err());
        assert_eq!(memory_swap("-1"), Ok(-1));
        assert_eq!(nano_cpus("0.5"), Ok(500_000_000));
        assert!(nano_cpus("x").is_err());
    }

    #[test]
    fn restart_policies_parse_like_docker() {
        let p = restart_policy("on-failure:3").unwrap();
        assert_eq!(p.name, Some(RestartPolicyNameEnum::ON_FAILURE));
        assert_eq!(p.maximum_retry_count, Some(3));
        assert_eq!(
            restart_policy("always").unwrap().name,
            Some(RestartPolicyNameEnum::ALWAYS)
        );
        assert_eq!(
            restart_policy("unless-stopped")
                .unwrap()
                .maximum_retry_count,
            None
        );
        assert_eq!(
            restart_policy("no").unwrap().name,
            Some(RestartPolicyNameEnum::NO)
        );
        assert_eq!(
            restart_policy("on-failure").unwrap().maximum_retry_count,
            None
        );
        assert!(restart_policy("always:2").is_err());
        assert!(restart_policy("on-failure:x").is_err());
        assert!(restart_policy("sometimes").is_err());
    }

    #[test]
    fn env_file_skips_comments_and_resolves_bare_names() {
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
        let text = "\u{feff}# comment\n\nFOO=bar\n  SPACED=a b \nHOME\nUNSET\nEMPTY=\nURL=a=b\n";
        let got = env_file(text, lookup).unwrap();
        assert_eq!(
            got,
            vec!["FOO=bar", "SPACED=a b ", "HOME=/root", "EMPTY=", "URL=a=b"]
        );
        assert!(env_file("BAD NAME=1\n", lookup).is_err());
        assert!(env_file("=value\n", lookup).is_err());
        assert_eq!(env_value("HOME", lookup), Ok("HOME=/root".to_string()));
        assert_eq!(env_value("UNSET", lookup), Ok("UNSET".to_string()));
        assert_eq!(filter("label=a"), Ok("label=a".to_string()));
        assert_eq!(filter("dangling=").unwrap(), "dangling=");
        for bad in ["dangling", "=x", ""] {
            assert_eq!(
                filter(bad),
                Err("bad format of filter (expected name=value)".to_string()),
                "{bad}"
            );
        }
        assert_eq!(env_value("A=1", lookup), Ok("A=1".to_string()));
        assert!(env_value("=1", lookup).is_err());
    }

    #[test]
    fn ports_tags_and_timestamps() {
        let (key, b) = port_spec("127.0.0.1:18080:8080").unwrap();
        assert_eq!(key, "8080/tcp");
        assert_eq!(b.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(b.host_port.as_deref(), Some("18080"));
        assert_eq!(port_spec("53/udp").unwrap().0, "53/udp");
        assert!(port_spec("a:b:c:d").is_err());
        assert_eq!(repo_tag("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(repo_tag("busybox:1.36"), ("busybox".into(), "1.36".into()));
        assert_eq!(
            repo_tag("localhost:5000/x"),
            ("localhost:5000/x".into(), "latest".into())
        );
        assert_eq!(timestamp("10m", 1000), Ok(400));
        assert_eq!(timestamp("1h30m", 10_000), Ok(4600));
        assert_eq!(timestamp("1700000000", 0), Ok(1_700_000_000));
        assert_eq!(timestamp("1970-01-01T00:01:00Z", 0), Ok(60));
        assert!(timestamp("yesterday", 0).is_err());
    }
}
