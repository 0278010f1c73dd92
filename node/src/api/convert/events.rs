//! Events in Docker's JSON shape, the `filters` Docker clients send for them, and the
//! `since`/`until` times they use (Unix seconds with an optional fraction, or RFC 3339).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::api::error::ApiError;
use crate::engine::events::Event;

/// One event as `GET /events` streams it.
pub fn event_json(e: &Event) -> Value {
    let mut v = json!({
        "Type": e.kind,
        "Action": e.action,
        "Actor": {"ID": e.actor_id, "Attributes": e.attributes},
        "scope": scope(e),
        "time": e.time_nano / 1_000_000_000,
        "timeNano": e.time_nano,
    });
    // The pre-1.22 fields, still read by older clients for container events.
    if e.kind == "container" {
        v["status"] = json!(e.action);
        v["id"] = json!(e.actor_id);
        if let Some(image) = e.attributes.get("image") {
            v["from"] = json!(image);
        }
    }
    v
}

/// `swarm` for the cluster's objects (replicated by Raft, reported by every manager), `local`
/// for this daemon's own.
fn scope(e: &Event) -> &'static str {
    match e.kind.as_str() {
        _ if e.swarm => "swarm",
        "service" | "node" | "secret" | "config" => "swarm",
        _ => "local",
    }
}

/// Parses `1700000000`, `1700000000.5` or an RFC 3339 time into Unix nanoseconds.
pub fn parse_time(raw: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::bad_request(format!("invalid time: {raw}"));
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return t.timestamp_nanos_opt().ok_or_else(bad);
    }
    let (secs, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let mut nanos = 0i64;
    if !frac.is_empty() {
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = digits.parse().map_err(|_| bad())?;
    }
    Ok(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

/// Docker's event filters: every named key must match (any of its values).
#[derive(Debug, Clone, Default)]
pub struct EventFilter(BTreeMap<String, Vec<String>>);

const KEYS: [&str; 14] = [
    "type",
    "event",
    "container",
    "image",
    "label",
    "volume",
    "network",
    "daemon",
    "scope",
    "node",
    "service",
    "secret",
    "config",
    "plugin",
];

impl EventFilter {
    /// Checks the keys; an unknown one is a 400, as in Docker.
    pub fn new(filters: BTreeMap<String, Vec<String>>) -> Result<Self, ApiError> {
        if let Some(k) = filters.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
        }
        Ok(EventFilter(filters))
    }

    /// Whether `e` passes.
    pub fn matches(&self, e: &Event) -> bool {
        self.0.iter().all(|(key, wanted)| {
            let name = e.attributes.get("name").map(String::as_str).unwrap_or("");
            wanted.iter().any(|w| match key.as_str() {
                "type" => e.kind == *w,
                // `exec_create: sh -c …` matches `exec_create`.
                "event" => e.action == *w || e.action.split(':').next() == Some(w.as_str()),
                "container" => {
                    e.kind == "container" && (e.actor_id.starts_with(w.as_str()) || name == w)
                }
                "image" => {
                    e.actor_id == *w
                        || e.attributes.get("image").is_some_and(|i| i == w)
                        || (e.kind == "image" && name == w)
                }
                "label" => match w.split_once('=') {
                    Some((k, v)) => e.attributes.get(k).is_some_and(|x| x == v),
                    None => e.attributes.contains_key(w.as_str()),
                },
                "volume" => e.kind == "volume" && (e.actor_id == *w || name == w),
                "scope" => scope(e) == w,
                // The object kinds named by id (or its prefix) or name, as Docker's fuzzy match.
                _ => {
                    e.kind == *key
                        && (e.actor_id.starts_with(w.as_str()) || name.starts_with(w.as_str()))
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, action: &str, id: &str, name: &str) -> Event {
        Event {
            kind: kind.into(),
            action: action.into(),
            actor_id: id.into(),
            attributes: BTreeMap::from([
                ("name".to_string(), name.to_string()),
                ("image".to_string(), "busybox".to_string()),
                ("tier".to_string(), "web".to_string()),
            ]),
            time_nano: 1_700_000_000_123_456_789,
            swarm: false,
        }
    }

    #[test]
    fn times_parse_as_seconds_fractions_or_rfc3339() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000_000_000);
        assert_eq!(
            parse_time("1700000000.5").unwrap(),
            1_700_000_000_500_000_000
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000_000_000
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn filters_match_by_name_id_prefix_event_and_label() {
        let e = ev("container", "exec_create: sh -c true", "abcdef", "web1");
        let f = |k: &str, v: &str| {
            EventFilter::new(BTreeMap::from([(k.to_string(), vec![v.to_string()])])).unwrap()
        };
        assert!(f("container", "web1").matches(&e));
        assert!(f("container", "abc").matches(&e));
        assert!(!f("container", "web2").matches(&e));
        assert!(f("event", "exec_create").matches(&e));
        assert!(f("label", "tier=web").matches(&e));
        assert!(!f("type", "image").matches(&e));
        assert!(f("image", "busybox").matches(&e));
        assert!(EventFilter::new(BTreeMap::from([("colour".to_string(), vec![])])).is_err());
        // `daemon=` names the daemon; it matched every daemon event before.
        let reload = ev("daemon", "reload", "ABCD:EFGH", "node-1");
        assert!(f("daemon", "node-1").matches(&reload));
        assert!(f("daemon", "ABCD").matches(&reload));
        assert!(!f("daemon", "node-2").matches(&reload));
        assert!(f("scope", "local").matches(&e) && !f("scope", "swarm").matches(&e));
        let svc = ev("service", "create", "svc1", "web");
        assert!(f("scope", "swarm").matches(&svc) && f("service", "web").matches(&svc));
        assert!(!f("service", "db").matches(&svc) && !f("node", "web").matches(&svc));
        assert_eq!(event_json(&svc)["scope"], "swarm");
    }

    #[test]
    fn container_events_carry_the_old_fields_too() {
        let v = event_json(&ev("container", "start", "abc", "web1"));
        assert_eq!(v["Action"], "start");
        assert_eq!(v["status"], "start");
        assert_eq!(v["Actor"]["Attributes"]["name"], "web1");
        assert_eq!(v["time"], 1_700_000_000);
        assert_eq!(v["timeNano"], 1_700_000_000_123_456_789i64);
    }
}
