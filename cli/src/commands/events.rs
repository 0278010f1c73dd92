//! `events`: streams `GET /events` with `--since`, `--until` and `--filter`, printing docker's
//! line (`<time> <type> <action> <id> (k=v, …)`) or a `--format` template per event.

use std::io::Write;

use anyhow::Result;
use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptions;
use chrono::{DateTime, FixedOffset, Local, TimeZone, Utc};
use clap::Args;
use futures_util::StreamExt;
use serde_json::Value;

use super::ps::filters;
use crate::client::Client;
use crate::output::Template;

/// `berth events`
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided (key=value)
    #[arg(short = 'f', long = "filter", value_name = "filter", value_parser = crate::parse::filter)]
    pub filter: Vec<String>,
    /// Format output using a Go template or "json"
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
}

/// Docker's `GetTimestamp` output for the API: Unix seconds, keeping fractions given as such;
/// a time without a zone is this machine's local time.
pub fn api_timestamp(s: &str, now_unix: i64) -> Result<String> {
    berth_gotime::get_timestamp(s, now_unix, *Local::now().offset()).map_err(anyhow::Error::msg)
}

/// Docker's default event line: RFC 3339 time with nanoseconds in `offset`, type, action,
/// actor id, then the attributes sorted by key.
pub fn event_line(event: &EventMessage, offset: &FixedOffset) -> String {
    let nanos = event
        .time_nano
        .or_else(|| event.time.map(|t| t * 1_000_000_000))
        .unwrap_or(0);
    let time = offset.from_utc_datetime(&DateTime::<Utc>::from_timestamp_nanos(nanos).naive_utc());
    let zone = if offset.local_minus_utc() == 0 {
        "Z".to_string()
    } else {
        time.format("%:z").to_string()
    };
    let typ = event
        .typ
        .as_ref()
        .map(|t| t.to_string())
        .unwrap_or_default();
    let actor = event.actor.clone().unwrap_or_default();
    let mut line = format!(
        "{}{zone} {typ} {} {}",
        time.format("%Y-%m-%dT%H:%M:%S%.9f"),
        event.action.as_deref().unwrap_or(""),
        actor.id.as_deref().unwrap_or("")
    );
    let mut attrs: Vec<(String, String)> =
        actor.attributes.unwrap_or_default().into_iter().collect();
    if !attrs.is_empty() {
        attrs.sort();
        let joined: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line.push_str(&format!(" ({})", joined.join(", ")));
    }
    line
}

/// `berth events`: runs until `--until` passes or the daemon ends the stream.
pub async fn events(client: &Client, args: EventsArgs) -> Result<i32> {
    let now = Utc::now().timestamp();
    let template = match args.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
    };
    let options = EventsOptions {
        since: args
            .since
            .as_deref()
            .map(|s| api_timestamp(s, now))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|s| api_timestamp(s, now))
            .transpose()?,
        filters: (!args.filter.is_empty()).then(|| filters(&args.filter)),
    };
    let docker = client.docker()?;
    let mut stream = docker.events(Some(options));
    let offset = *Local::now().offset();
    while let Some(event) = stream.next().await {
        let event = event?;
        let line = match &template {
            Some(t) => t.render(&serde_json::to_value(&event).unwrap_or(Value::Null))?,
            None => event_line(&event, &offset),
        };
        let mut out = std::io::stdout().lock();
        // A reader that went away (`| head`) ends the stream quietly, as docker does.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return Ok(0);
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{EventActor, EventMessageTypeEnum};
    use std::collections::HashMap;

    fn start_event() -> EventMessage {
        EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some("start".into()),
            actor: Some(EventActor {
                id: Some("abc123".into()),
                attributes: Some(HashMap::from([
                    ("name".to_string(), "web".to_string()),
                    ("image".to_string(), "busybox".to_string()),
                ])),
            }),
            time: Some(1_767_225_600),
            time_nano: Some(1_767_225_600_123_456_789),
            ..Default::default()
        }
    }

    #[test]
    fn event_line_matches_docker_in_utc() {
        let utc = FixedOffset::east_opt(0).unwrap();
        assert_eq!(
            event_line(&start_event(), &utc),
            "2026-01-01T00:00:00.123456789Z container start abc123 (image=busybox, name=web)"
        );
    }

    #[test]
    fn event_line_shows_local_offset_and_omits_empty_attributes() {
        let cet = FixedOffset::east_opt(3600).unwrap();
        let mut e = start_event();
        e.actor = Some(EventActor {
            id: Some("abc123".into()),
            attributes: None,
        });
        assert_eq!(
            event_line(&e, &cet),
            "2026-01-01T01:00:00.123456789+01:00 container start abc123"
        );
    }

    #[test]
    fn timestamps_reach_the_api_as_unix_seconds() {
        assert_eq!(api_timestamp("1700000000.5", 0).unwrap(), "1700000000.5");
        assert_eq!(api_timestamp("10m", 1000).unwrap(), "400");
        assert_eq!(
            api_timestamp("2026-01-01T00:00:00.25Z", 0).unwrap(),
            "1767225600.250000000"
        );
        assert!(api_timestamp("yesterday", 0).is_err());
    }

    #[test]
    fn json_format_uses_docker_field_names() {
        let t = Template::parse("{{json .Actor}} {{.Type}} {{.Action}}").unwrap();
        let v = serde_json::to_value(start_event()).unwrap();
        let out = t.render(&v).unwrap();
        assert!(out.ends_with(" container start"), "{out}");
        assert!(out.starts_with("{\"Attributes\":"), "{out}");
    }
}
