//! berthd: the berth daemon. Flags → config → `daemon::run`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

use berth_node::config::{Config, FileConfig};
use berth_node::daemon;

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
    /// Config file (TOML with hosts, data-root, exec-root, log-level).
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
}

fn main() -> anyhow::Result<()> {
    berth_node::runtime::trim::fix_mmap_threshold();
    let flags = Flags::parse();
    let file = match &flags.config_file {
        Some(p) => FileConfig::load(p, true)?,
        None => FileConfig::load(daemon::default_config_file(), false)?,
    };
    let mut config = Config::merge(
        flags.hosts,
        flags.data_root,
        flags.exec_root,
        flags.log_level,
        file,
    );
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
        let listeners = daemon::bind(&config.hosts)?;
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
        daemon::run(config, listeners, shutdown).await
    })
}
