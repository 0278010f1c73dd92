//! The image settings a build changes, kept in the image store's [`RunConfig`] (so fields berth
//! does not know survive a build), with typed access to the ones stored as Docker JSON:
//! `Healthcheck`, `OnBuild`, `Shell`, `ArgsEscaped`.

use serde_json::{json, Value};

use super::dockerfile::Healthcheck;
use crate::engine::image::RunConfig;

/// The shell of shell-form commands when no SHELL was given (Linux).
pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];
/// The PATH a build adds when the base image sets none (Docker's default for Linux).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn strings(cfg: &RunConfig, key: &str) -> Vec<String> {
    cfg.extra
        .get(key)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

fn set_strings(cfg: &mut RunConfig, key: &str, v: Vec<String>) {
    if v.is_empty() {
        cfg.extra.remove(key);
    } else {
        cfg.extra.insert(key.to_string(), json!(v));
    }
}

/// The shell for shell-form commands.
pub fn shell(cfg: &RunConfig) -> Vec<String> {
    let s = strings(cfg, "Shell");
    if s.is_empty() {
        DEFAULT_SHELL.iter().map(|s| s.to_string()).collect()
    } else {
        s
    }
}

/// Sets SHELL.
pub fn set_shell(cfg: &mut RunConfig, shell: Vec<String>) {
    set_strings(cfg, "Shell", shell);
}

/// The ONBUILD triggers.
pub fn on_build(cfg: &RunConfig) -> Vec<String> {
    strings(cfg, "OnBuild")
}

/// Replaces the ONBUILD triggers.
pub fn set_on_build(cfg: &mut RunConfig, triggers: Vec<String>) {
    set_strings(cfg, "OnBuild", triggers);
}

/// `ArgsEscaped` (only Windows images set it true; kept for what base images carry).
pub fn set_args_escaped(cfg: &mut RunConfig, escaped: bool) {
    if escaped {
        cfg.extra.insert("ArgsEscaped".into(), json!(true));
    } else {
        cfg.extra.remove("ArgsEscaped");
    }
}

/// The image's healthcheck, if any.
pub fn healthcheck(cfg: &RunConfig) -> Option<Healthcheck> {
    let v = cfg.extra.get("Healthcheck").filter(|v| !v.is_null())?;
    let num = |k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    Some(Healthcheck {
        test: v
            .get("Test")
            .and_then(|t| serde_json::from_value(t.clone()).ok())
            .unwrap_or_default(),
        interval: num("Interval"),
        timeout: num("Timeout"),
        start_period: num("StartPeriod"),
        start_interval: num("StartInterval"),
        retries: num("Retries"),
    })
}

/// Sets the healthcheck in Docker's JSON shape (zero fields left out, as Go's `omitempty`).
pub fn set_healthcheck(cfg: &mut RunConfig, h: &Healthcheck) {
    let mut m = serde_json::Map::new();
    m.insert("Test".into(), json!(h.test));
    for (k, v) in [
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
        ("Retries", h.retries),
    ] {
        if v != 0 {
            m.insert(k.into(), json!(v));
        }
    }
    cfg.extra.insert("Healthcheck".into(), Value::Object(m));
}

/// The classic builder's HEALTHCHECK, quirk included: the new check's zero fields take the
/// base image's values (dockerd fills them in while creating the step's container, through a
/// pointer the build state shares), so `HEALTHCHECK NONE` keeps an inherited interval.
pub fn inherit_healthcheck_fields(new: &mut Healthcheck, parent: Option<&Healthcheck>) {
    let Some(p) = parent else { return };
    if new.test.is_empty() {
        new.test = p.test.clone();
    }
    for (field, from) in [
        (&mut new.interval, p.interval),
        (&mut new.timeout, p.timeout),
        (&mut new.start_period, p.start_period),
        (&mut new.start_interval, p.start_interval),
        (&mut new.retries, p.retries),
    ] {
        if *field == 0 {
            *field = from;
        }
    }
}

/// Adds Docker's default PATH when the image sets none, as every build stage does first.
pub fn set_default_path(cfg: &mut RunConfig) {
    if !cfg.env.iter().any(|e| e.split('=').next() == Some("PATH")) {
        cfg.env.push(format!("PATH={DEFAULT_PATH}"));
    }
}

/// Sets `KEY=value` in an environment list, replacing an entry with the same key in place.
pub fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(existing) => *existing = entry,
        None => env.push(entry),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_round_trip() {
        let mut cfg = RunConfig::default();
        assert_eq!(shell(&cfg), ["/bin/sh", "-c"]);
        set_shell(&mut cfg, vec!["/bin/bash".into(), "-c".into()]);
        assert_eq!(shell(&cfg), ["/bin/bash", "-c"]);
        set_on_build(&mut cfg, vec!["RUN x".into()]);
        assert_eq!(on_build(&cfg), ["RUN x"]);
        set_on_build(&mut cfg, vec![]);
        assert!(!cfg.extra.contains_key("OnBuild"));
        let h = Healthcheck {
            test: vec!["NONE".into()],
            interval: 0,
            timeout: 5,
            start_period: 0,
            start_interval: 0,
            retries: 3,
        };
        set_healthcheck(&mut cfg, &h);
        assert_eq!(
            cfg.extra["Healthcheck"],
            json!({"Test": ["NONE"], "Timeout": 5, "Retries": 3})
        );
        assert_eq!(healthcheck(&cfg), Some(h));
    }

    #[test]
    fn a_new_healthcheck_inherits_zero_fields() {
        let parent = Healthcheck {
            test: vec!["CMD".into(), "true".into()],
            interval: 90,
            timeout: 0,
            start_period: 0,
            start_interval: 0,
            retries: 2,
        };
        let mut none = Healthcheck {
            test: vec!["NONE".into()],
            interval: 0,
            timeout: 0,
            start_period: 0,
            start_interval: 0,
            retries: 0,
        };
        inherit_healthcheck_fields(&mut none, Some(&parent));
        assert_eq!(
            (none.test[0].as_str(), none.interval, none.retries),
            ("NONE", 90, 2)
        );
    }

    #[test]
    fn default_path_and_env_replacement() {
        let mut cfg = RunConfig::default();
        set_default_path(&mut cfg);
        set_default_path(&mut cfg);
        assert_eq!(cfg.env.len(), 1);
        set_env(&mut cfg.env, "A", "1");
        set_env(&mut cfg.env, "PATH", "/x");
        assert_eq!(cfg.env, ["PATH=/x", "A=1"]);
    }
}
