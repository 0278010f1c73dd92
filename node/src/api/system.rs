//! `/_ping`, `/version`, `/info`.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use axum::Json;
use bollard_stubs::models::{
    SystemInfo, SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum, SystemVersion,
    SystemVersionComponents,
};

use super::error::ApiResult;
use super::{AppState, API_VERSION, MIN_API_VERSION};
use crate::engine::container::ContainerStatus;
use crate::engine::req::ListContainers;

/// berth's release version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The drivers berthd has, by Docker's plugin type (`/info`'s `Plugins`, a swarm node's
/// `Engine.Plugins`).
pub const PLUGINS: [(&str, &[&str]); 3] = [
    ("Log", &["json-file", "local", "none"]),
    ("Network", &["bridge", "host", "null", "overlay"]),
    ("Volume", &["local"]),
];

fn api_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h
}

/// `GET|HEAD /_ping`, with Docker's `Swarm` header (`inactive`, `active/worker`,
/// `active/manager`).
pub async fn ping(State(swarm): State<super::swarm::SwarmState>) -> impl IntoResponse {
    let mut h = api_headers();
    let state = match swarm.member() {
        None => "inactive",
        Some(m) if m.manager.is_some() => "active/manager",
        Some(_) => "active/worker",
    };
    h.insert("Swarm", HeaderValue::from_static(state));
    (h, "OK")
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The commit berth was built from (7 hex digits, or `unknown` outside a git checkout).
pub const GIT_COMMIT: &str = env!("BERTH_GIT_COMMIT");
/// When the source was committed (RFC 3339), or `SOURCE_DATE_EPOCH`'s time; empty if unknown.
const BUILD_TIME: &str = env!("BERTH_BUILD_TIME");

/// `GET /version`
pub async fn version() -> impl IntoResponse {
    let v = SystemVersion {
        version: Some(VERSION.into()),
        api_version: Some(API_VERSION.into()),
        min_api_version: Some(MIN_API_VERSION.into()),
        git_commit: Some(GIT_COMMIT.into()),
        go_version: Some("n/a (rust)".into()),
        os: Some("linux".into()),
        arch: Some(arch().into()),
        kernel_version: Some(kernel_version()),
        experimental: Some(false),
        build_time: Some(BUILD_TIME.into()).filter(|t: &String| !t.is_empty()),
        platform: Some(bollard_stubs::models::SystemVersionPlatform {
            name: "berth".into(),
        }),
        components: Some(components()),
    };
    (api_headers(), Json(v))
}

/// Docker's `Components`: the engine with its details, then what runs containers. berth has no
/// containerd; the monitor (in the runtime's place, runc's) and the init come from this build.
fn components() -> Vec<SystemVersionComponents> {
    let engine: HashMap<String, String> = [
        ("ApiVersion", API_VERSION.to_string()),
        ("Arch", arch().to_string()),
        ("BuildTime", BUILD_TIME.to_string()),
        ("Experimental", "false".to_string()),
        ("GitCommit", GIT_COMMIT.to_string()),
        ("GoVersion", "n/a (rust)".to_string()),
        ("KernelVersion", kernel_version()),
        ("MinAPIVersion", MIN_API_VERSION.to_string()),
        ("Os", "linux".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let built_here = || {
        Some(HashMap::from([(
            "GitCommit".to_string(),
            GIT_COMMIT.to_string(),
        )]))
    };
    vec![
        SystemVersionComponents {
            name: "Engine".into(),
            version: VERSION.into(),
            details: Some(engine),
        },
        SystemVersionComponents {
            name: "berth-monitor".into(),
            version: VERSION.into(),
            details: built_here(),
        },
        SystemVersionComponents {
            name: "berth-init".into(),
            version: VERSION.into(),
            details: built_here(),
        },
    ]
}

fn os_name() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

/// The host's memory in bytes.
pub fn mem_total() -> i64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// `GET /info`
pub async fn info(
    State(engine): State<AppState>,
    State(swarm): State<super::swarm::SwarmState>,
) -> ApiResult<impl IntoResponse> {
    let all = engine
        .list_containers(&ListContainers {
            all: true,
            ..Default::default()
        })
        .await?;
    let count = |s: &[ContainerStatus]| {
        i64::try_from(all.iter().filter(|r| s.contains(&r.state.status)).count()).unwrap_or(0)
    };
    let running = count(&[ContainerStatus::Running, ContainerStatus::Restarting]);
    let paused = count(&[ContainerStatus::Paused]);
    let total = i64::try_from(all.len()).unwrap_or(0);
    let images = i64::try_from(engine.images().list()?.len()).unwrap_or(0);
    let v2 = engine
        .paths()
        .cgroups
        .memory
        .iter()
        .any(|r| !r.ends_with("memory"));
    let host = engine.host_facts();
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let info = SystemInfo {
        id: Some(engine.daemon_id().to_string()),
        containers: Some(total),
        containers_running: Some(running),
        containers_paused: Some(paused),
        containers_stopped: Some(total - running - paused),
        images: Some(images),
        driver: Some("overlay2".into()),
        driver_status: Some(super::system_info::driver_status(&engine.paths().data_root)),
        docker_root_dir: Some(engine.paths().data_root.display().to_string()),
        memory_limit: Some(true),
        swap_limit: Some(host.swap_accounting),
        cpu_cfs_period: Some(true),
        cpu_cfs_quota: Some(true),
        cpu_shares: Some(true),
        pids_limit: Some(true),
        logging_driver: Some("json-file".into()),
        cgroup_driver: Some(SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: Some(if v2 {
            SystemInfoCgroupVersionEnum::_2
        } else {
            SystemInfoCgroupVersionEnum::_1
        }),
        kernel_version: Some(kernel_version()),
        operating_system: Some(os_name()),
        os_type: Some("linux".into()),
        architecture: Some(std::env::consts::ARCH.into()),
        ncpu: Some(i64::try_from(ncpu).unwrap_or(1)),
        mem_total: Some(mem_total()),
        name: Some(
            nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
        server_version: Some(VERSION.into()),
        // The name `--runtime` takes (Docker's); berth's monitor runs it.
        default_runtime: Some("runc".into()),
        live_restore_enabled: Some(true),
        security_options: Some(if host.seccomp {
            vec!["name=seccomp,profile=builtin".into()]
        } else {
            vec![]
        }),
        warnings: Some(engine.warnings()),
        n_events_listener: Some(i64::try_from(engine.events().listeners()).unwrap_or(i64::MAX)),
        // Docker counts its goroutines; berthd's counterpart is its live async tasks.
        n_goroutines: Some(
            i64::try_from(
                tokio::runtime::Handle::current()
                    .metrics()
                    .num_alive_tasks(),
            )
            .unwrap_or(i64::MAX),
        ),
        generic_resources: swarm
            .node_description()
            .await
            .resources
            .and_then(|r| r.generic_resources),
        swarm: serde_json::from_value(super::convert::swarm::info(
            swarm.info().as_ref(),
            swarm.is_locked(),
        ))
        .ok(),
        ..Default::default()
    };
    let mut v = serde_json::to_value(info).unwrap_or_default();
    let registry = engine.images().registry_config()?;
    let init_binary = engine.paths().init_binary();
    super::system_info::add(
        &mut v,
        &super::system_info::InfoFacts {
            registry: &registry,
            init_binary: &init_binary,
            cgroup_v1: !v2,
        },
    );
    Ok(Json(v))
}
