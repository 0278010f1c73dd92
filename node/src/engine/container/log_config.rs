//! Log drivers and their options (`--log-driver`, `--log-opt`, the daemon's `log-driver` and
//! `log-opts`), checked with Docker's words. Every driver berth has keeps the json-file format
//! on disk, which `logs` and attach read: `json-file` (rotated when asked), `local` (Docker's
//! defaults: 20 MB, 5 files, compressed) and `none` (a 1 MiB window that only attach reads;
//! `logs` refuses, as Docker's).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::runtime::log_rotate::Rotation;

/// A container's logging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSettings {
    /// `json-file`, `local` or `none`.
    pub driver: String,
    /// The options as given (inspect shows them).
    pub opts: BTreeMap<String, String>,
    pub rotation: Rotation,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            driver: "json-file".into(),
            opts: BTreeMap::new(),
            rotation: Rotation::default(),
        }
    }
}

impl LogSettings {
    /// Whether `logs` may read the log (not with `none`).
    pub fn is_readable(&self) -> bool {
        self.driver != "none"
    }
}

/// What `none` keeps for attach: one file of this size at most.
const NONE_WINDOW: u64 = 1 << 20;

/// Checks `driver` (empty: `json-file`) and `opts` as Docker does and resolves the rotation.
pub fn log_settings(driver: &str, opts: &BTreeMap<String, String>) -> Result<LogSettings> {
    let driver = if driver.is_empty() {
        "json-file"
    } else {
        driver
    };
    let bad = |m: String| EngineError::InvalidArgument(m);
    let (mut rotation, allowed): (Rotation, &[&str]) = match driver {
        "json-file" => (
            Rotation {
                max_size: 0,
                max_file: 1,
                compress: false,
            },
            &["max-size", "max-file", "compress"],
        ),
        "local" => (
            Rotation {
                max_size: 20 << 20,
                max_file: 5,
                compress: true,
            },
            &["max-size", "max-file", "compress"],
        ),
        "none" => (
            Rotation {
                max_size: NONE_WINDOW,
                max_file: 1,
                compress: false,
            },
            &[],
        ),
        other => {
            return Err(bad(format!(
                "logger: no log driver named '{other}' is registered"
            )))
        }
    };
    for key in opts.keys() {
        let attribute = driver != "none" && super::log_attrs::KEYS.contains(&key.as_str());
        if !(allowed.contains(&key.as_str()) || attribute) {
            return Err(bad(format!(
                "unknown log opt '{key}' for {driver} log driver"
            )));
        }
    }
    super::log_attrs::check(opts)?;
    if let Some(v) = opts.get("max-size") {
        rotation.max_size = if v == "-1" { 0 } else { parse_size(v)? };
    }
    if let Some(v) = opts.get("max-file") {
        let n: u32 = v
            .parse()
            .map_err(|_| bad(format!("invalid max-file: {v}")))?;
        if n < 1 {
            return Err(bad("max-file cannot be less than 1".into()));
        }
        rotation.max_file = n;
    }
    if let Some(v) = opts.get("compress") {
        rotation.compress = match v.as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(bad(format!("invalid compress value: {v}"))),
        };
    }
    // `max-file` without `max-size` is taken (docker-py's tests set only it); the file is never
    // rotated then.
    if rotation.compress && driver == "local" && rotation.max_file < 2 {
        return Err(bad(
            "compression cannot be enabled when max file count is 1".into(),
        ));
    }
    if rotation.compress && (rotation.max_file < 2 || rotation.max_size == 0) {
        return Err(bad(
            "compress cannot be true when max-file is less than 2 or max-size is not set".into(),
        ));
    }
    Ok(LogSettings {
        driver: driver.into(),
        opts: opts.clone(),
        rotation,
    })
}

/// Docker's human sizes: `10k`, `10m`, `1g` (binary multiples, as `units.RAMInBytes`).
fn parse_size(v: &str) -> Result<u64> {
    let lower = v.trim().to_ascii_lowercase();
    let lower = lower.trim_end_matches('b').trim_end_matches('i');
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => lower.split_at(i),
        None => (lower, ""),
    };
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => {
            return Err(EngineError::InvalidArgument(format!(
                "failed to parse max-size: invalid size: '{v}'"
            )))
        }
    };
    let n: f64 = digits.parse().map_err(|_| {
        EngineError::InvalidArgument(format!("failed to parse max-size: invalid size: '{v}'"))
    })?;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a size in bytes from a human size, rounded down"
    )]
    let bytes = (n * (1u64 << shift) as f64) as u64;
    if bytes == 0 {
        return Err(EngineError::InvalidArgument(format!(
            "failed to parse max-size: invalid size: '{v}'"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Log options from pairs.
    pub(crate) fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn drivers_resolve_their_rotation() {
        let j = log_settings("", &opts(&[("max-size", "10m"), ("max-file", "3")])).unwrap();
        assert_eq!(j.driver, "json-file");
        assert_eq!(
            j.rotation,
            Rotation {
                max_size: 10 << 20,
                max_file: 3,
                compress: false
            }
        );
        let l = log_settings("local", &BTreeMap::new()).unwrap();
        assert_eq!(
            l.rotation,
            Rotation {
                max_size: 20 << 20,
                max_file: 5,
                compress: true
            }
        );
        let n = log_settings("none", &BTreeMap::new()).unwrap();
        assert!(!n.is_readable());
        assert_eq!(
            log_settings("json-file", &opts(&[("max-size", "1k")]))
                .unwrap()
                .rotation
                .max_size,
            1024
        );
    }

    #[test]
    fn bad_drivers_and_options_are_refused_with_dockers_words() {
        let e = |d: &str, o: &[(&str, &str)]| log_settings(d, &opts(o)).unwrap_err().to_string();
        assert!(e("syslog", &[]).contains("no log driver named 'syslog'"));
        assert!(e("json-file", &[("labels-regex", "(")]).contains("error parsing regexp"));
        assert!(e("none", &[("labels", "a")]).contains("unknown log opt 'labels'"));
        assert!(e("json-file", &[("bogus", "a")]).contains("unknown log opt 'bogus'"));
        assert!(e("none", &[("max-size", "1m")]).contains("unknown log opt"));
        assert!(e("json-file", &[("max-size", "ten")]).contains("max-size"));
        assert!(e("json-file", &[("max-file", "0")]).contains("less than 1"));
        assert!(log_settings("", &opts(&[("max-file", "3")])).is_ok());
        assert!(e("json-file", &[("max-file", "3"), ("compress", "true")]).contains("max-size"));
        assert!(e("local", &[("max-file", "1")]).contains("max file count is 1"));
        assert!(e("json-file", &[("max-size", "1m"), ("compress", "true")]).contains("compress"));
    }
}
