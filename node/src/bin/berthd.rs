//! berthd: the berth daemon. Flags → config → `daemon::run`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

use berth_node::config::{Config, FileConfig};
use berth_node::daemon;
use berth_node::listen::ListenSettings;

/// berthd serves the Docker Engine API and runs containers.
#[derive(Debug, Parser)]
#[command(name = "berthd", version)]
struct Flags {
    /// Listen address: unix:///path or tcp://127.0.0.1:2375 (repeatable).
    #[arg(short = 'H', long = "host")]
    hosts: Vec<String>,
    /// Persistent state (default /var/lib/berth).
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Volatile state and the default socket (default /run/berth).
    #[arg(long)]
    exec_root: Option<PathBuf>,
    /// Config file (TOML with hosts, data-root, exec-root, log-level, tls, tlsverify, …).
    #[arg(long)]
    config_file: Option<PathBuf>,
    /// Log filter, e.g. info or debug.
    #[arg(long)]
    log_level: Option<String>,
    /// A registry that may be reached over plain HTTP: host, host:port or CIDR (repeatable).
    #[arg(long = "insecure-registry")]
    insecure_registries: Vec<String>,
    /// A PEM file of CA certificates trusted for every registry (repeatable).
    #[arg(long = "registry-ca-file")]
    registry_ca_files: Vec<PathBuf>,
    /// Use TLS on tcp listeners; verifies clients unless --tlsverify=false.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    tls: Option<bool>,
    /// Use TLS and require client certificates signed by --tlscacert.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    tlsverify: Option<bool>,
    /// Trust client certificates signed only by this CA (default /etc/berth/tls/ca.pem).
    #[arg(long)]
    tlscacert: Option<PathBuf>,
    /// Path to the server's TLS certificate (default /etc/berth/tls/server-cert.pem).
    #[arg(long)]
    tlscert: Option<PathBuf>,
    /// Path to the server's TLS key (default /etc/berth/tls/server-key.pem).
    #[arg(long)]
    tlskey: Option<PathBuf>,
    /// Serve tcp beyond loopback without client certificates: whoever reaches it gets root.
    #[arg(long)]
    insecure_tcp: bool,
    /// Group for the unix socket (default berth when it exists; "" keeps root's group).
    #[arg(short = 'G', long)]
    group: Option<String>,
    /// Pids limit of containers that set none (default 4096; 0 for none, as Docker).
    #[arg(long)]
    default_pids_limit: Option<i64>,
    /// Cgroup parent of containers that name none (default berth), as dockerd's.
    #[arg(long)]
    cgroup_parent: Option<String>,
    /// Default log driver of containers (json-file, local or none).
    #[arg(long)]
    log_driver: Option<String>,
    /// Default log driver option, key=value (repeatable), e.g. max-size=10m.
    #[arg(long = "log-opt")]
    log_opts: Vec<String>,
    /// A resource swarm tasks may reserve, KIND=NAME or KIND=COUNT (repeatable; replaces the
    /// config file's node-generic-resources), e.g. gpu=GPU-3f2a or ssd=2.
    #[arg(long = "node-generic-resource")]
    node_generic_resources: Vec<String>,
    /// IPv6 on the default bridge (needs --fixed-cidr-v6), as dockerd's.
    #[arg(long)]
    ipv6: bool,
    /// The default bridge's IPv6 subnet, e.g. fd00:db8:1::/64, as dockerd's.
    #[arg(long)]
    fixed_cidr_v6: Option<String>,
}

fn main() -> anyhow::Result<()> {
    berth_node::runtime::trim::tune_malloc();
    let flags = Flags::parse();
    let file = match &flags.config_file {
        Some(p) => FileConfig::load(p, true)?,
        None => FileConfig::load(daemon::default_config_file(), false)?,
    };
    let listen = ListenSettings {
        tls: flags.tls,
        tlsverify: flags.tlsverify,
        tlscacert: flags.tlscacert,
        tlscert: flags.tlscert,
        tlskey: flags.tlskey,
        insecure_tcp: flags.insecure_tcp.then_some(true),
        group: flags.group,
    };
    let file_ipv6 = (file.ipv6, file.fixed_cidr_v6.clone());
    let mut config = Config::merge(
        flags.hosts,
        flags.data_root,
        flags.exec_root,
        flags.log_level,
        listen,
        file,
    )?;
    if let Some(limit) = flags.default_pids_limit {
        config.default_pids_limit = limit;
    }
    if let Some(parent) = flags.cgroup_parent {
        config.cgroup_parent = parent;
    }
    if let Some(driver) = flags.log_driver {
        config.log_driver = driver;
        config.log_opts.clear();
    }
    for opt in flags.log_opts {
        let (k, v) = opt
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--log-opt {opt}: use key=value"))?;
        config.log_opts.insert(k.to_string(), v.to_string());
    }
    if !flags.node_generic_resources.is_empty() {
        config.node_generic_resources =
            berth_swarm::generic_resources::parse_node_resources(&flags.node_generic_resources)
                .map_err(|e| anyhow::anyhow!("--node-generic-resource: {e}"))?;
    }
    if flags.ipv6 || flags.fixed_cidr_v6.is_some() {
        config.network.fixed_cidr_v6 = berth_node::config::default_bridge_ipv6(
            flags.ipv6 || file_ipv6.0.unwrap_or(false),
            flags.fixed_cidr_v6.or(file_ipv6.1),
        )?;
    }
    config.registry.insecure.extend(flags.insecure_registries);
    config.registry.ca_files.extend(flags.registry_ca_files);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log_level).context("--log-level")?,
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listeners = berth_node::listen::bind(&config.hosts, &config.listen)?;
        let shutdown = async {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return std::future::pending().await,
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        // On the heap: the daemon's whole future is one large state machine.
        Box::pin(daemon::run(config, listeners, shutdown)).await
    })
}
