//! The pure side of `berth swarm`: cluster settings flags and how they change a `SwarmSpec`,
//! listen addresses as docker parses them, and the join and unlock-key texts.

use bollard::models::{
    SwarmSpec, SwarmSpecCaConfig, SwarmSpecDispatcher, SwarmSpecEncryptionConfig,
    SwarmSpecOrchestration, SwarmSpecRaft,
};
use clap::Args;

use super::service::parse::duration;

/// Cluster settings `init` and `update` take (only given flags change the spec).
#[derive(Debug, Default, Args)]
pub struct SpecFlags {
    /// Task history retention limit (default 5)
    #[arg(long = "task-history-limit", value_name = "int")]
    pub task_history_limit: Option<i64>,
    /// Dispatcher heartbeat period (ns|us|ms|s|m|h) (default 5s)
    #[arg(long = "dispatcher-heartbeat", value_parser = duration, value_name = "duration")]
    pub dispatcher_heartbeat: Option<i64>,
    /// Validity period for node certificates (ns|us|ms|s|m|h) (default 2160h0m0s)
    #[arg(long = "cert-expiry", value_parser = duration, value_name = "duration")]
    pub cert_expiry: Option<i64>,
    /// Number of additional Raft snapshots to retain
    #[arg(long = "max-snapshots", value_name = "uint")]
    pub max_snapshots: Option<u64>,
    /// Number of log entries between Raft snapshots (default 10000)
    #[arg(long = "snapshot-interval", value_name = "uint")]
    pub snapshot_interval: Option<u64>,
    /// Enable or disable manager autolocking (requiring an unlock key to start a stopped manager)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "bool")]
    pub autolock: Option<bool>,
}

/// Docker's `mergeSwarmSpec`: only the flags given change the spec.
pub fn merge_spec(spec: &mut SwarmSpec, f: &SpecFlags) {
    if let Some(limit) = f.task_history_limit {
        spec.orchestration
            .get_or_insert_with(SwarmSpecOrchestration::default)
            .task_history_retention_limit = Some(limit);
    }
    if let Some(period) = f.dispatcher_heartbeat {
        spec.dispatcher
            .get_or_insert_with(SwarmSpecDispatcher::default)
            .heartbeat_period = Some(period);
    }
    if let Some(expiry) = f.cert_expiry {
        spec.ca_config
            .get_or_insert_with(SwarmSpecCaConfig::default)
            .node_cert_expiry = Some(expiry);
    }
    if let Some(keep) = f.max_snapshots {
        spec.raft
            .get_or_insert_with(SwarmSpecRaft::default)
            .keep_old_snapshots = Some(keep);
    }
    if let Some(interval) = f.snapshot_interval {
        spec.raft
            .get_or_insert_with(SwarmSpecRaft::default)
            .snapshot_interval = Some(interval);
    }
    if let Some(lock) = f.autolock {
        spec.encryption_config
            .get_or_insert_with(SwarmSpecEncryptionConfig::default)
            .auto_lock_managers = Some(lock);
    }
}

/// The block telling how to join as `role`.
pub fn join_text(role: &str, token: &str, addr: &str) -> String {
    format!("To add a {role} to this swarm, run the following command:\n\n    berth swarm join --token {token} {addr}\n\n")
}

/// The block showing the unlock key.
pub fn unlock_text(key: &str) -> String {
    if key.is_empty() {
        return String::new();
    }
    format!(
        "To unlock a swarm manager after it restarts, run the `berth swarm unlock`\n\
         command and provide the following key:\n\n    {key}\n\n\
         Remember to store this key in a password manager, since without it you\n\
         will not be able to restart the manager.\n"
    )
}

/// Docker's `ParseTCPAddr` with default `0.0.0.0:2377`: `[tcp://][host][:port]`.
pub fn node_addr(s: &str) -> Result<String, String> {
    let bad = || format!("invalid bind address format: {s}");
    let rest = s.strip_prefix("tcp://").unwrap_or(s);
    if rest.contains("://") || rest.contains('/') {
        return Err(bad());
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, p),
        Some(_) if rest.starts_with('[') => return Err(bad()),
        _ => (rest, ""),
    };
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let port = if port.is_empty() { "2377" } else { port };
    port.parse::<u16>().map_err(|_| bad())?;
    Ok(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_fill_host_and_port() {
        assert_eq!(node_addr("0.0.0.0:2377"), Ok("0.0.0.0:2377".into()));
        assert_eq!(node_addr("10.0.0.1"), Ok("10.0.0.1:2377".into()));
        assert_eq!(node_addr(":4000"), Ok("0.0.0.0:4000".into()));
        assert_eq!(node_addr("tcp://eth0:4500"), Ok("eth0:4500".into()));
        assert_eq!(node_addr("[::1]:2377"), Ok("[::1]:2377".into()));
        assert!(node_addr("udp://x:1").is_err());
        assert!(node_addr("host:port").is_err());
    }

    #[test]
    fn only_given_flags_change_the_spec() {
        let mut spec = SwarmSpec::default();
        merge_spec(&mut spec, &SpecFlags::default());
        assert_eq!(spec, SwarmSpec::default());
        let flags = SpecFlags {
            task_history_limit: Some(3),
            dispatcher_heartbeat: Some(10_000_000_000),
            cert_expiry: Some(360_000_000_000_000),
            autolock: Some(true),
            ..Default::default()
        };
        merge_spec(&mut spec, &flags);
        assert_eq!(
            spec.orchestration.unwrap().task_history_retention_limit,
            Some(3)
        );
        assert_eq!(
            spec.dispatcher.unwrap().heartbeat_period,
            Some(10_000_000_000)
        );
        assert_eq!(
            spec.ca_config.unwrap().node_cert_expiry,
            Some(360_000_000_000_000)
        );
        assert_eq!(
            spec.encryption_config.unwrap().auto_lock_managers,
            Some(true)
        );
        assert_eq!(spec.raft, None);
    }

    #[test]
    fn texts_name_berth_commands() {
        assert_eq!(
            join_text("worker", "SWMTKN-1-x", "10.0.0.1:2377"),
            "To add a worker to this swarm, run the following command:\n\n    berth swarm join --token SWMTKN-1-x 10.0.0.1:2377\n\n"
        );
        let unlock = unlock_text("SWMKEY-1-abc");
        assert!(unlock.starts_with("To unlock a swarm manager after it restarts, run the `berth swarm unlock`\ncommand and provide the following key:\n\n    SWMKEY-1-abc\n\n"));
        assert!(unlock.ends_with("will not be able to restart the manager.\n"));
        assert_eq!(unlock_text(""), "");
    }
}
