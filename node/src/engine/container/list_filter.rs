//! The `ps` filters beyond names and labels: `network`, `volume`, `publish`, `expose`,
//! `health`, `isolation`, `is-task`, and the checks Docker makes on filter values.

use super::types::ContainerRecord;
use crate::error::{EngineError, Result};

/// Docker's state names for `status=`.
const STATUSES: [&str; 7] = [
    "created",
    "running",
    "paused",
    "restarting",
    "removing",
    "exited",
    "dead",
];

/// Refuses filter values Docker refuses, with its words.
pub fn validate(status: &[String], health: &[String], ports: &[&String]) -> Result<()> {
    if let Some(s) = status.iter().find(|s| !STATUSES.contains(&s.as_str())) {
        return Err(EngineError::InvalidArgument(format!(
            "invalid filter 'status={s}'"
        )));
    }
    let healths = ["starting", "healthy", "unhealthy", "none"];
    if let Some(h) = health.iter().find(|h| !healths.contains(&h.as_str())) {
        return Err(EngineError::InvalidArgument(format!(
            "Unrecognised filter value for health: {h}"
        )));
    }
    if let Some(p) = ports.iter().find(|p| PortFilter::parse(p).is_none()) {
        return Err(EngineError::InvalidArgument(format!(
            "invalid port specification: \"{p}\""
        )));
    }
    Ok(())
}

/// `80`, `80/udp`, `8000-8080/tcp`.
#[derive(Debug, PartialEq, Eq)]
struct PortFilter {
    first: u16,
    last: u16,
    proto: String,
}

impl PortFilter {
    fn parse(s: &str) -> Option<PortFilter> {
        let (range, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        let (first, last) = range.split_once('-').unwrap_or((range, range));
        let (first, last) = (first.parse().ok()?, last.parse().ok()?);
        (first <= last && matches!(proto, "tcp" | "udp" | "sctp")).then(|| PortFilter {
            first,
            last,
            proto: proto.to_string(),
        })
    }

    fn matches(&self, port: u16, proto: &str) -> bool {
        (self.first..=self.last).contains(&port) && self.proto == proto
    }
}

/// Whether any of `filters` (parsed ports) matches one of `ports` (`80/tcp`).
/// Whether one of `ports` (read only when there are filters: most lists have none) matches
/// one of `filters`.
fn any_port(filters: &[String], ports: impl FnOnce() -> Vec<(u16, String)>) -> bool {
    if filters.is_empty() {
        return true;
    }
    let ports = ports();
    filters
        .iter()
        .filter_map(|f| PortFilter::parse(f))
        .any(|f| ports.iter().any(|(port, proto)| f.matches(*port, proto)))
}

/// The container's exposed ports (image and `--expose`, plus published ones).
fn exposed(r: &ContainerRecord) -> Vec<(u16, String)> {
    let mut out: Vec<(u16, String)> = r
        .config
        .exposed_ports
        .iter()
        .filter_map(|p| {
            let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            Some((port.parse().ok()?, proto.to_string()))
        })
        .collect();
    out.extend(published(r));
    out
}

/// The ports published to the host (`-p`, or every exposed one with `-P`).
fn published(r: &ContainerRecord) -> Vec<(u16, String)> {
    let mut out: Vec<(u16, String)> = r
        .host
        .net
        .ports
        .iter()
        .map(|p| (p.container_port, p.proto.clone()))
        .collect();
    if r.host.net.publish_all {
        out.extend(r.config.exposed_ports.iter().filter_map(|p| {
            let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            Some((port.parse().ok()?, proto.to_string()))
        }));
    }
    out
}

/// `publish=`, `expose=`, `health=`, `volume=`, `isolation=` and `is-task=` on one container.
pub fn matches_settings(r: &ContainerRecord, f: &crate::engine::req::ListFilters) -> bool {
    let health = r
        .state
        .health
        .as_ref()
        .map_or("none", |h| h.status.as_str());
    let volume = |v: &str| {
        r.host
            .mounts
            .iter()
            .any(|m| (!m.source.is_empty() && m.source == v) || m.target == v)
    };
    let is_task = || {
        r.config
            .labels
            .contains_key(berth_swarm::model::LABEL_TASK_ID)
    };
    any_port(&f.publish, || published(r))
        && any_port(&f.expose, || exposed(r))
        && (f.health.is_empty() || f.health.iter().any(|h| h == health))
        && (f.volume.is_empty() || f.volume.iter().any(|v| volume(v)))
        && (f.isolation.is_empty() || f.isolation.contains(&r.host.runtime.isolation))
        && f.is_task.is_none_or(|t| t == is_task())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_filters_read_as_docker_writes_them() {
        let f = PortFilter::parse("8000-8080/udp").unwrap();
        assert!(f.matches(8080, "udp") && !f.matches(8080, "tcp") && !f.matches(7999, "udp"));
        assert!(PortFilter::parse("80").unwrap().matches(80, "tcp"));
        for bad in ["", "x", "80/xyz", "90-80", "70000"] {
            assert!(PortFilter::parse(bad).is_none(), "{bad}");
        }
        assert!(validate(&["up".into()], &[], &[]).is_err());
        assert!(validate(&[], &["sick".into()], &[]).is_err());
        assert!(validate(
            &["exited".into()],
            &["none".into()],
            &[&"80/tcp".to_string()]
        )
        .is_ok());
    }
}
