//! Containers: `ContainerCreateBody` → `CreateContainer`, and records → `ContainerSummary` /
//! `ContainerInspectResponse`.

use std::collections::HashMap;

use bollard_stubs::models::{
    ContainerConfig as DockerConfig, ContainerCreateBody, ContainerInspectResponse,
    ContainerState as DockerState, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryHostConfig, ContainerSummaryNetworkSettings, ContainerSummaryStateEnum,
    HostConfig, RestartPolicy as DockerRestart, RestartPolicyNameEnum,
};

use crate::api::error::ApiError;
use crate::engine::container::{ContainerRecord, ContainerStatus, HostSettings, RestartPolicy};
use crate::engine::req::CreateContainer;

/// The create request. Fields berth does not support yet are refused when set, not ignored.
pub fn create_request(
    body: ContainerCreateBody,
    name: Option<String>,
    version: crate::api::ApiVersion,
) -> Result<CreateContainer, ApiError> {
    let image = body
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("config cannot be empty in order to create a container")
        })?;
    let host_config = body.host_config.unwrap_or_default();
    let mounts = super::mounts::collect(
        host_config.binds.as_deref(),
        host_config.mounts.as_deref(),
        host_config.tmpfs.as_ref(),
        body.volumes.as_deref(),
        version,
    )?;
    let mut host = host_settings(host_config)?;
    if body.network_disabled == Some(true) {
        host.network_mode = "none".into();
    }
    let hostname_set = body.hostname.as_deref().is_some_and(|h| !h.is_empty());
    super::host_extra::check_container_network(&host.network_mode, hostname_set, &host)?;
    host.net.endpoints = super::network::endpoints(body.networking_config.as_ref())?;
    super::network::check_default_bridge_endpoint(&host.network_mode, &host.net.endpoints)?;
    place_links(&mut host)?;
    host.mounts = mounts;
    Ok(CreateContainer {
        name: name.filter(|n| !n.is_empty()),
        image,
        entrypoint: body.entrypoint,
        cmd: body.cmd,
        env: body.env.unwrap_or_default(),
        working_dir: body.working_dir,
        user: body.user,
        hostname: body.hostname,
        domainname: body.domainname,
        labels: body.labels.unwrap_or_default().into_iter().collect(),
        tty: body.tty.unwrap_or(false),
        open_stdin: body.open_stdin.unwrap_or(false),
        stdin_once: body.stdin_once.unwrap_or(false),
        attach: crate::engine::container::types::AttachFlags {
            stdin: body.attach_stdin.unwrap_or(false),
            stdout: body.attach_stdout.unwrap_or(false),
            stderr: body.attach_stderr.unwrap_or(false),
        },
        stop_signal: body.stop_signal,
        stop_timeout: body.stop_timeout,
        exposed_ports: body.exposed_ports.unwrap_or_default(),
        healthcheck: body
            .healthcheck
            .map(|h| crate::engine::container::types::HealthConfig {
                test: h.test.unwrap_or_default(),
                interval: h.interval.unwrap_or(0),
                timeout: h.timeout.unwrap_or(0),
                start_period: h.start_period.unwrap_or(0),
                retries: h.retries.unwrap_or(0),
                start_interval: h.start_interval.unwrap_or(0),
            }),
        host,
        platform: None,
    })
}

/// Where `HostConfig.Links` act: on the default bridge they stay (hosts entries and variables);
/// on a user-defined network they become that endpoint's links (names only this container
/// resolves), as docker's CLI also sends them; with no network of its own a container has
/// nothing to link (Docker's words).
fn place_links(host: &mut HostSettings) -> Result<(), ApiError> {
    if host.net.links.is_empty() {
        return Ok(());
    }
    let mode = host.network_mode.clone();
    match mode.as_str() {
        "default" | "bridge" => Ok(()),
        "host" => Err(ApiError::bad_request(
            "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
        )),
        "none" => Err(ApiError::bad_request(
            "conflicting options: none type networking can't be used with links",
        )),
        m if m.starts_with("container:") => Err(ApiError::bad_request(
            "conflicting options: container type network can't be used with links. This would result in undefined behavior",
        )),
        net => {
            let links = std::mem::take(&mut host.net.links);
            let ep = host.net.endpoints.entry(net.to_string()).or_default();
            for l in links {
                if !ep.links.contains(&l) {
                    ep.links.push(l);
                }
            }
            Ok(())
        }
    }
}

fn host_settings(h: HostConfig) -> Result<HostSettings, ApiError> {
    // Whether a named network exists is the engine's check (404 at create).
    let network_mode = h.network_mode.clone().unwrap_or_default();
    let net = super::network::host_net(&h)?;
    let runtime = super::host_extra::runtime_settings(&h)?;
    let (restart_policy, restart_max) = match h.restart_policy {
        None => (RestartPolicy::No, 0),
        Some(p) => (
            match p.name {
                None | Some(RestartPolicyNameEnum::EMPTY) | Some(RestartPolicyNameEnum::NO) => {
                    RestartPolicy::No
                }
                Some(RestartPolicyNameEnum::ALWAYS) => RestartPolicy::Always,
                Some(RestartPolicyNameEnum::UNLESS_STOPPED) => RestartPolicy::UnlessStopped,
                Some(RestartPolicyNameEnum::ON_FAILURE) => RestartPolicy::OnFailure,
            },
            p.maximum_retry_count.unwrap_or(0),
        ),
    };
    if restart_policy != RestartPolicy::OnFailure && restart_max != 0 {
        return Err(ApiError::bad_request(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ));
    }
    if restart_policy != RestartPolicy::No && h.auto_remove == Some(true) {
        return Err(ApiError::bad_request(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    let security_opt = h.security_opt.clone().unwrap_or_default();
    let parsed = super::security_opt::parse(&security_opt)?;
    // `systempaths=unconfined` from a client other than the docker CLI, which sends this itself.
    let (masked_paths, readonly_paths) = if parsed.unconfined_paths {
        (Some(Vec::new()), Some(Vec::new()))
    } else {
        (h.masked_paths.clone(), h.readonly_paths.clone())
    };
    Ok(HostSettings {
        runtime,
        memory: h.memory.unwrap_or(0),
        memory_swap: h.memory_swap.unwrap_or(0),
        nano_cpus: h.nano_cpus.unwrap_or(0),
        cpu_shares: h.cpu_shares.unwrap_or(0),
        cpu_period: h.cpu_period.unwrap_or(0),
        cpu_quota: h.cpu_quota.unwrap_or(0),
        pids_limit: h.pids_limit.filter(|p| *p != 0),
        read_only: h.readonly_rootfs.unwrap_or(false),
        network_mode: if network_mode.is_empty() {
            "default".into()
        } else {
            network_mode
        },
        init: h.init.unwrap_or(false),
        auto_remove: h.auto_remove.unwrap_or(false),
        restart_policy,
        restart_max,
        // Privileged is refused by the runtime: see HostFacts; recorded to report it back.
        privileged: h.privileged.unwrap_or(false),
        cap_add: h.cap_add.unwrap_or_default(),
        cap_drop: h.cap_drop.unwrap_or_default(),
        shm_size: h.shm_size.unwrap_or(0),
        console_size: console_size(h.console_size.as_deref()),
        // Filled by `create_request` from Binds, Mounts, Tmpfs and Config.Volumes.
        mounts: Vec::new(),
        net,
        security_opt,
        security: parsed.security,
        masked_paths,
        readonly_paths,
    })
}

/// `[rows, columns]`; an absent, malformed or zero size means "leave the default".
pub fn console_size(size: Option<&[usize]>) -> Option<[u16; 2]> {
    match size? {
        [h, w] if *h > 0 && *w > 0 => Some([
            u16::try_from(*h).unwrap_or(u16::MAX),
            u16::try_from(*w).unwrap_or(u16::MAX),
        ]),
        _ => None,
    }
}

fn restart_name(p: RestartPolicy) -> RestartPolicyNameEnum {
    match p {
        RestartPolicy::No => RestartPolicyNameEnum::NO,
        RestartPolicy::Always => RestartPolicyNameEnum::ALWAYS,
        RestartPolicy::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
        RestartPolicy::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
    }
}

/// `-p` requests as Docker's `HostConfig.PortBindings` (`None` when nothing is published).
fn port_bindings(
    ports: &[crate::network::PortRequest],
) -> Option<HashMap<String, Option<Vec<bollard_stubs::models::PortBinding>>>> {
    if ports.is_empty() {
        return None;
    }
    let mut out: HashMap<String, Option<Vec<bollard_stubs::models::PortBinding>>> = HashMap::new();
    for p in ports {
        out.entry(format!("{}/{}", p.container_port, p.proto))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(bollard_stubs::models::PortBinding {
                host_ip: Some(p.host_ip.clone()),
                host_port: Some(p.host_port.clone()),
            });
    }
    Some(out)
}

/// The published ports of a running container as `docker ps` lists them.
pub fn port_summaries(
    nets: &[crate::network::engine_ops::ContainerNetwork],
    exposed: &[String],
) -> Vec<bollard_stubs::models::PortSummary> {
    use bollard_stubs::models::{PortSummary, PortSummaryTypeEnum};
    let typ = |proto: &str| {
        Some(match proto {
            "udp" => PortSummaryTypeEnum::UDP,
            "sctp" => PortSummaryTypeEnum::SCTP,
            _ => PortSummaryTypeEnum::TCP,
        })
    };
    let mut out: Vec<PortSummary> = nets
        .iter()
        .filter_map(|n| n.endpoint.as_ref())
        .flat_map(|e| e.ports.iter())
        .flat_map(|p| {
            super::network::shown_host_ips(p).map(|ip| PortSummary {
                ip: Some(ip),
                private_port: p.container_port,
                public_port: Some(p.host_port),
                typ: typ(&p.proto),
            })
        })
        .collect();
    // An exposed port without a binding is listed bare, as Docker's `80/tcp`.
    for key in exposed.iter().map(|p| super::network::exposed_key(p)) {
        let Some((port, proto)) = key.split_once('/') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        let bound = out
            .iter()
            .any(|p| p.private_port == port && p.typ == typ(proto));
        if !bound {
            out.push(PortSummary {
                private_port: port,
                typ: typ(proto),
                ..Default::default()
            });
        }
    }
    out.sort_by_key(|p| (p.private_port, p.public_port));
    out.dedup();
    out
}

/// The HostConfig as inspect shows it.
pub fn host_config(h: &HostSettings) -> HostConfig {
    HostConfig {
        memory: Some(h.memory),
        memory_swap: Some(h.memory_swap),
        nano_cpus: Some(h.nano_cpus),
        cpu_shares: Some(h.cpu_shares),
        cpu_period: Some(h.cpu_period),
        cpu_quota: Some(h.cpu_quota),
        pids_limit: h.pids_limit,
        readonly_rootfs: Some(h.read_only),
        network_mode: Some(h.network_mode.clone()),
        port_bindings: port_bindings(&h.net.ports),
        publish_all_ports: Some(h.net.publish_all),
        // Docker's `*bool`: absent unless `--init` was given.
        init: h.init.then_some(true),
        auto_remove: Some(h.auto_remove),
        restart_policy: Some(DockerRestart {
            name: Some(restart_name(h.restart_policy)),
            maximum_retry_count: Some(h.restart_max),
        }),
        privileged: Some(h.privileged),
        cap_add: (!h.cap_add.is_empty()).then(|| h.cap_add.clone()),
        cap_drop: (!h.cap_drop.is_empty()).then(|| h.cap_drop.clone()),
        security_opt: (!h.security_opt.is_empty()).then(|| h.security_opt.clone()),
        masked_paths: h.masked_paths.clone(),
        readonly_paths: h.readonly_paths.clone(),
        shm_size: Some(if h.shm_size > 0 {
            h.shm_size
        } else {
            64 * 1024 * 1024
        }),
        ..super::host_extra::echo(h)
    }
}

/// `docker ps`'s STATUS text, e.g. `Up 5 seconds`, `Exited (0) 3 minutes ago`.
pub fn status_text(rec: &ContainerRecord, now: chrono::DateTime<chrono::Utc>) -> String {
    let since = |t: &Option<String>| {
        t.as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| human_duration(now.signed_duration_since(t).num_seconds()))
            .unwrap_or_else(|| "Less than a second".into())
    };
    match rec.state.status {
        ContainerStatus::Running => {
            let health = match rec.state.health.as_ref().map(|h| h.status.as_str()) {
                Some("starting") => " (health: starting)",
                Some("healthy") => " (healthy)",
                Some("unhealthy") => " (unhealthy)",
                _ => "",
            };
            format!("Up {}{health}", since(&rec.state.started_at))
        }
        ContainerStatus::Paused => format!("Up {} (Paused)", since(&rec.state.started_at)),
        ContainerStatus::Restarting => format!(
            "Restarting ({}) {} ago",
            rec.state.exit_code,
            since(&rec.state.finished_at)
        ),
        ContainerStatus::Exited => format!(
            "Exited ({}) {} ago",
            rec.state.exit_code,
            since(&rec.state.finished_at)
        ),
        ContainerStatus::Created => "Created".into(),
        ContainerStatus::Removing => "Removal In Progress".into(),
        ContainerStatus::Dead => "Dead".into(),
    }
}

/// Go's `units.HumanDuration`, which docker uses.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        _ if s < 3600 => format!("{} minutes", s / 60),
        _ if s < 7200 => "About an hour".into(),
        _ if s < 48 * 3600 => format!("{} hours", s / 3600),
        _ if s < 7 * 24 * 3600 * 2 => format!("{} days", s / 86400),
        _ if s < 30 * 24 * 3600 * 3 => format!("{} weeks", s / (7 * 86400)),
        _ if s < 365 * 24 * 3600 * 2 => format!("{} months", s / (30 * 86400)),
        _ => format!("{} years", s / (365 * 86400)),
    }
}

fn summary_state(s: ContainerStatus) -> ContainerSummaryStateEnum {
    serde_json::from_value(serde_json::Value::String(s.as_str().into()))
        .unwrap_or(ContainerSummaryStateEnum::EMPTY)
}

fn state_enum(s: ContainerStatus) -> ContainerStateStatusEnum {
    serde_json::from_value(serde_json::Value::String(s.as_str().into()))
        .unwrap_or(ContainerStateStatusEnum::EMPTY)
}

/// The list's `Command` as moby writes it: the path, then the arguments, one holding a space
/// in single quotes (`sh -c 'while true; …'`).
fn command_line(rec: &ContainerRecord) -> String {
    rec.args()
        .iter()
        .enumerate()
        .map(|(i, a)| match i > 0 && a.contains(' ') {
            true => format!("'{a}'"),
            false => a.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn created_unix(rec: &ContainerRecord) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&rec.created)
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// Who `rec` is, for its endpoints' names.
pub fn named(rec: &ContainerRecord) -> super::network::Named<'_> {
    super::network::Named {
        name: &rec.name,
        id: &rec.id,
        hostname: &rec.config.hostname,
    }
}

/// One row of `GET /containers/json`: `nets` are its networks (`Engine::container_networks`),
/// `volumes_root` where named volumes live (for `Mounts`).
pub fn summary(
    rec: &ContainerRecord,
    nets: &[crate::network::engine_ops::ContainerNetwork],
    volumes_root: &std::path::Path,
) -> ContainerSummary {
    ContainerSummary {
        id: Some(rec.id.clone()),
        names: Some(vec![format!("/{}", rec.name)]),
        image: Some(rec.config.image.clone()),
        image_id: Some(rec.config.image_id.clone()),
        command: Some(command_line(rec)),
        created: Some(created_unix(rec)),
        ports: Some(Vec::new()),
        labels: Some(rec.config.labels.clone().into_iter().collect()),
        state: Some(summary_state(rec.state.status)),
        status: Some(status_text(rec, chrono::Utc::now())),
        host_config: Some(ContainerSummaryHostConfig {
            network_mode: Some(rec.host.network_mode.clone()),
            ..Default::default()
        }),
        network_settings: Some(ContainerSummaryNetworkSettings {
            // moby keeps the pre-1.45 `Aliases` for older clients in its inspect only.
            networks: Some(super::network::endpoint_settings(
                nets,
                &named(rec),
                crate::api::ApiVersion::CURRENT,
            )),
        }),
        mounts: Some(super::mounts::mount_points(&rec.host.mounts, volumes_root)),
        ..Default::default()
    }
}

/// A list row (or `system df`'s) as JSON, with the endpoint fields Go encodes even when unset,
/// as inspect has them.
pub fn summary_value(s: &ContainerSummary) -> serde_json::Result<serde_json::Value> {
    let mut v = serde_json::to_value(s)?;
    super::network::fill_endpoint_nulls(v.pointer_mut("/NetworkSettings/Networks"));
    Ok(v)
}

/// `GET /containers/{id}/json`.
pub fn inspect(rec: &ContainerRecord, dir: &std::path::Path) -> ContainerInspectResponse {
    let zero_time = "0001-01-01T00:00:00Z".to_string();
    let s = &rec.state;
    let args = rec.args();
    ContainerInspectResponse {
        id: Some(rec.id.clone()),
        created: Some(rec.created.clone()),
        path: args.first().cloned(),
        args: Some(args.iter().skip(1).cloned().collect()),
        state: Some(DockerState {
            status: Some(state_enum(s.status)),
            running: Some(s.status.is_running()),
            paused: Some(s.status == ContainerStatus::Paused),
            restarting: Some(s.status == ContainerStatus::Restarting),
            oom_killed: Some(s.oom_killed),
            dead: Some(s.status == ContainerStatus::Dead),
            pid: Some(i64::from(s.pid)),
            exit_code: Some(s.exit_code),
            error: Some(s.error.clone()),
            started_at: Some(s.started_at.clone().unwrap_or_else(|| zero_time.clone())),
            finished_at: Some(s.finished_at.clone().unwrap_or(zero_time)),
            health: s.health.as_ref().map(health),
        }),
        image: Some(rec.config.image_id.clone()),
        resolv_conf_path: Some(dir.join("resolv.conf").display().to_string()),
        hostname_path: Some(dir.join("hostname").display().to_string()),
        hosts_path: Some(dir.join("hosts").display().to_string()),
        log_path: Some(dir.join("container.log").display().to_string()),
        name: Some(format!("/{}", rec.name)),
        restart_count: Some(rec.restart_count),
        driver: Some("overlay2".into()),
        platform: Some("linux".into()),
        host_config: Some(HostConfig {
            // As Docker shows a default-bridge link: `/linked:/linking/alias`.
            links: (!rec.host.net.links.is_empty()).then(|| {
                rec.host
                    .net
                    .links
                    .iter()
                    .map(|l| format!("/{}:/{}/{}", l.name, rec.name, l.alias))
                    .collect()
            }),
            ..host_config(&rec.host)
        }),
        // dir is <data-root>/containers/<id>; volumes live in <data-root>/volumes.
        mounts: Some(super::mounts::mount_points(
            &rec.host.mounts,
            &dir.parent()
                .and_then(std::path::Path::parent)
                .map(|d| d.join("volumes"))
                .unwrap_or_default(),
        )),
        config: Some(DockerConfig {
            hostname: Some(rec.config.hostname.clone()),
            domainname: Some(rec.config.domainname.clone()),
            user: Some(rec.config.user.clone()),
            tty: Some(rec.config.tty),
            open_stdin: Some(rec.config.open_stdin),
            stdin_once: Some(rec.config.stdin_once),
            attach_stdin: Some(rec.config.attach.stdin),
            attach_stdout: Some(rec.config.attach.stdout),
            attach_stderr: Some(rec.config.attach.stderr),
            // Go's nil slice: no variables from the image or the run show as null.
            env: (!rec.config.env.is_empty()).then(|| rec.config.env.clone()),
            cmd: Some(rec.config.cmd.clone()),
            image: Some(rec.config.image.clone()),
            working_dir: Some(rec.config.working_dir.clone()),
            entrypoint: (!rec.config.entrypoint.is_empty()).then(|| rec.config.entrypoint.clone()),
            labels: Some(rec.config.labels.clone().into_iter().collect()),
            stop_signal: rec.config.stop_signal.clone(),
            stop_timeout: rec.config.stop_timeout,
            exposed_ports: (!rec.config.exposed_ports.is_empty())
                .then(|| rec.config.exposed_ports.clone()),
            volumes: super::mounts::config_volumes(&rec.host.mounts),
            healthcheck: rec.config.healthcheck.as_ref().map(|h| {
                // Go's `omitempty`: a duration or count left at 0 is not shown.
                let set = |n: i64| (n != 0).then_some(n);
                bollard_stubs::models::HealthConfig {
                    test: Some(h.test.clone()),
                    interval: set(h.interval),
                    timeout: set(h.timeout),
                    retries: set(h.retries),
                    start_period: set(h.start_period),
                    start_interval: set(h.start_interval),
                }
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `State.Health`.
fn health(h: &crate::engine::container::types::HealthState) -> bollard_stubs::models::Health {
    use bollard_stubs::models::{Health, HealthStatusEnum, HealthcheckResult};
    let status = match h.status.as_str() {
        "starting" => HealthStatusEnum::STARTING,
        "healthy" => HealthStatusEnum::HEALTHY,
        "unhealthy" => HealthStatusEnum::UNHEALTHY,
        _ => HealthStatusEnum::NONE,
    };
    let time = |t: &str| Some(t.to_string());
    Health {
        status: Some(status),
        failing_streak: Some(h.failing_streak),
        log: Some(
            h.log
                .iter()
                .map(|p| HealthcheckResult {
                    start: time(&p.start),
                    end: time(&p.end),
                    exit_code: Some(p.exit_code),
                    output: Some(p.output.clone()),
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policy_and_limits_map_from_host_config() {
        let body: ContainerCreateBody = serde_json::from_value(serde_json::json!({
            "Image": "busybox", "Cmd": ["true"], "Unknown": 1,
            "HostConfig": {"Memory": 33554432, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}
        }))
        .unwrap();
        let req =
            create_request(body, Some("web".into()), crate::api::ApiVersion::CURRENT).unwrap();
        assert_eq!(req.host.memory, 33554432);
        assert_eq!(
            (req.host.restart_policy, req.host.restart_max),
            (RestartPolicy::OnFailure, 2)
        );
        assert_eq!(req.host.network_mode, "default");
    }

    #[test]
    fn unsupported_options_are_refused_not_ignored() {
        let body: ContainerCreateBody = serde_json::from_value(serde_json::json!({
            "Image": "busybox", "HostConfig": {"Mounts": [{"Type": "npipe", "Source": "x", "Target": "/b"}]}
        }))
        .unwrap();
        assert_eq!(
            create_request(body, None, crate::api::ApiVersion::CURRENT)
                .unwrap_err()
                .status,
            axum::http::StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn security_opt_is_parsed_kept_as_given_and_echoed() {
        let body: ContainerCreateBody = serde_json::from_value(serde_json::json!({
            "Image": "busybox",
            "HostConfig": {"SecurityOpt": ["no-new-privileges:true", "systempaths=unconfined"]}
        }))
        .unwrap();
        let req = create_request(body, None, crate::api::ApiVersion::CURRENT).unwrap();
        assert!(req.host.security.no_new_privileges);
        assert_eq!(req.host.masked_paths, Some(Vec::new()));
        let echoed = host_config(&req.host);
        assert_eq!(
            echoed.security_opt.unwrap(),
            vec!["no-new-privileges:true", "systempaths=unconfined"]
        );
        assert_eq!(echoed.readonly_paths, Some(Vec::new()));
        let bad: ContainerCreateBody = serde_json::from_value(serde_json::json!({
            "Image": "busybox", "HostConfig": {"SecurityOpt": ["seccomp"]}
        }))
        .unwrap();
        assert_eq!(
            create_request(bad, None, crate::api::ApiVersion::CURRENT)
                .unwrap_err()
                .message,
            r#"invalid --security-opt 1: "seccomp""#
        );
    }

    #[test]
    fn status_text_reads_like_docker() {
        let mut rec = ContainerRecord::default();
        rec.state.status = ContainerStatus::Exited;
        rec.state.exit_code = 3;
        rec.state.finished_at = Some("2026-01-01T00:00:00Z".into());
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:05:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(status_text(&rec, now), "Exited (3) 5 minutes ago");
        assert_eq!(human_duration(61), "About a minute");
    }
}
