//! The composition root: finds what the host supports, opens the engine, serves the API on the
//! listeners of `listen::bind` until the shutdown future resolves. Containers outlive it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tower::ServiceExt as _;

use crate::config::Config;
use crate::engine::container::spec::HostFacts;
use crate::engine::{Engine, Paths};
use crate::listen::{Listener, TlsListener};
use crate::runtime::launch::Launcher;

/// What this host supports, and the warnings about what it does not.
pub fn host_facts(cgroups: &[PathBuf]) -> (HostFacts, Vec<String>) {
    use crate::engine::container::security;
    let swap = cgroups.iter().any(|r| {
        r.join("memory.memsw.limit_in_bytes").exists() || r.join("cgroup.controllers").exists()
    });
    let mut warnings = Vec::new();
    if !swap {
        warnings.push("WARNING: No swap limit support".to_string());
    }
    (
        HostFacts {
            swap_accounting: swap,
            seccomp: true,
            cap_bounding: crate::engine::container::caps::host_bounding(
                &std::fs::read_to_string("/proc/self/status").unwrap_or_default(),
            ),
            default_pids_limit: 0,
            default_cgroup_parent: "",
            nofile_hard: nofile_hard(),
            kernel: security::kernel_version(
                &std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default(),
            ),
            apparmor: security::host_has_apparmor(Path::new("/sys")),
            selinux: security::host_has_selinux(Path::new("/sys")),
        },
        warnings,
    )
}

/// berthd's hard `RLIMIT_NOFILE`, at most Docker's 1048576: the most a container can get
/// without CAP_SYS_RESOURCE.
fn nofile_hard() -> i64 {
    const DOCKER_MAX: i64 = 1 << 20;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into `limit`, which outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return DOCKER_MAX;
    }
    i64::try_from(limit.rlim_max)
        .unwrap_or(DOCKER_MAX)
        .min(DOCKER_MAX)
}

/// Runs the daemon until `shutdown` resolves.
pub async fn run(
    config: Config,
    listeners: Vec<Listener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").context("read /proc/self/mountinfo")?;
    let mut cgroups = crate::runtime::cgroups::hierarchies(&mountinfo);
    cgroups.own_procs = crate::runtime::cgroup_primer::own_procs_file(
        &mountinfo,
        &std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
    );
    let (mut facts, warnings) = host_facts(&cgroups.memory);
    if config.default_pids_limit < 0 {
        anyhow::bail!(
            "default-pids-limit {} is negative: use 0 for no limit",
            config.default_pids_limit
        );
    }
    facts.default_pids_limit = config.default_pids_limit;
    let parent = crate::engine::container::settings::clean_cgroup_parent(&config.cgroup_parent)
        .ok_or_else(|| anyhow::anyhow!("invalid cgroup-parent: {:?}", config.cgroup_parent))?;
    facts.default_cgroup_parent = Box::leak(parent.into_boxed_str());
    // As Docker's: root and its group may enter, nobody else (keys, specs with environment
    // variables, logs and images live below).
    crate::runtime::files::ensure_dir_mode(&config.data_root, 0o710)
        .with_context(|| format!("create {}", config.data_root.display()))?;
    // Used by its real path, as moby uses its root: a bind source is compared with it
    // (`volume::mounts::daemon_root_propagation`), and a relative root would move with the
    // working directory.
    let data_root = std::fs::canonicalize(&config.data_root)
        .with_context(|| format!("resolve {}", config.data_root.display()))?;
    let paths = Paths {
        data_root,
        exec_root: config.exec_root.clone(),
        cgroups,
    };
    let kernel = crate::network::NetKernel {
        netlink: std::sync::Arc::new(
            berth_overlay::RtNetlink::new().context("open a netlink socket")?,
        ),
        firewall: std::sync::Arc::new(crate::network::nft::NftFirewall),
        netns: std::sync::Arc::new(crate::network::KernelNetns),
    };
    let engine = Engine::open_with_network(
        paths,
        Launcher::beside_current_exe(),
        facts,
        warnings,
        config.network.clone(),
        Some(kernel),
    )
    .await
    .context("open engine")?;
    engine
        .images()
        .set_registry_config(config.registry.clone())
        .context("registry settings")?;
    engine
        .set_log_default(&config.log_driver, &config.log_opts)
        .context("log-driver and log-opts")?;
    serve(engine, listeners, config.node_generic_resources, shutdown).await
}

/// Serves the API of `engine` on `listeners`; swarm tasks may reserve `generic_resources`.
pub async fn serve(
    engine: Arc<Engine>,
    listeners: Vec<Listener>,
    generic_resources: Vec<bollard_stubs::models::GenericResourcesInner>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let executor = Arc::new(crate::swarm_executor::EngineExecutor::new(
        engine.clone(),
        generic_resources,
    ));
    let swarm = berth_swarm::Swarm::new(executor, &engine.paths().data_root);
    engine
        .networks()
        .set_swarm(Arc::new(crate::swarm_executor::SwarmNetworkHook(
            Arc::downgrade(&swarm),
        )));
    if let Err(e) = swarm.restore().await {
        tracing::error!(error = %e, "could not rejoin the swarm; swarm mode is inactive");
    }
    tokio::spawn(crate::swarm_events::forward(
        Arc::downgrade(&swarm),
        Arc::downgrade(&engine),
    ));
    let app = crate::api::router(engine, swarm.clone()).map_request(crate::api::strip_version);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut sockets: Vec<PathBuf> = Vec::new();
    for l in listeners {
        let mut rx = stop_rx.clone();
        let app = app.clone();
        let stop = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        match l {
            Listener::Unix(l, path) => {
                sockets.push(path);
                // The connection's socket, for attach and exec streams (`api::stream`).
                let app = axum::ServiceExt::into_make_service_with_connect_info::<
                    crate::listen::UnixConnFd,
                >(app);
                tasks.spawn(async move { axum::serve(l, app).with_graceful_shutdown(stop).await });
            }
            Listener::Tcp(l) => {
                tasks.spawn(async move {
                    axum::serve(l, axum::ServiceExt::into_make_service(app))
                        .with_graceful_shutdown(stop)
                        .await
                });
            }
            Listener::Tls(l, config) => {
                let l = TlsListener::new(l, config)?;
                tasks.spawn(async move {
                    axum::serve(l, axum::ServiceExt::into_make_service(app))
                        .with_graceful_shutdown(stop)
                        .await
                });
            }
        }
    }
    tracing::info!("berthd is serving the API");
    // Start-up (config, restore, image store, libcontainer's and the swarm's set-up code)
    // runs once; an idle daemon should not keep those code pages mapped. Later requests fault
    // back the few pages they use from the page cache.
    tokio::spawn(async {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let _ = tokio::task::spawn_blocking(crate::runtime::trim::release_startup_pages).await;
    });
    shutdown.await;
    swarm.shutdown().await;
    let _ = stop_tx.send(true);
    // Streams (logs -f, attach) may hold connections open; do not wait on them for long.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    for s in sockets {
        let _ = std::fs::remove_file(&s);
    }
    Ok(())
}

/// The default config file.
pub fn default_config_file() -> &'static Path {
    Path::new("/etc/berth/daemon.toml")
}
