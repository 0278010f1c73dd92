//! The engine's half of a task's container: Docker's `ContainerSpec` (plus resource limits and
//! host-mode ports) as the `ContainerCreateBody` the API's create conversion takes, so a task
//! container is created, validated and refused exactly as `docker create` would be.
//! `Privileges` become security options, as moby's executor makes them (credential specs are
//! refused by the manager); `Secrets` and `Configs` become read-only binds of the task's tmpfs
//! (`files.rs`).

use std::collections::HashMap;

use berth_swarm::executor::ContainerTask;
use bollard_stubs::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, HostConfigLogConfig,
    NetworkingConfig, PortBinding, PortMap,
};

/// The create body of a task's container.
pub fn create_body(task: &ContainerTask) -> ContainerCreateBody {
    let spec = &task.spec;
    let limits = task.resources.as_ref().and_then(|r| r.limits.clone());
    let limits = limits.unwrap_or_default();
    let mut ports = PortMap::new();
    for p in &task.ports {
        // No number: the node picks a free one, as for `docker run -p 80`.
        let host_port = match p.published {
            0 => String::new(),
            n => n.to_string(),
        };
        let binding = PortBinding {
            host_ip: Some(String::new()),
            host_port: Some(host_port),
        };
        ports.insert(
            format!("{}/{}", p.target, p.protocol.name()),
            Some(vec![binding]),
        );
    }
    let dns = spec.dns_config.as_ref().and_then(|d| d.nameservers.clone());
    let dns_search = spec.dns_config.as_ref().and_then(|d| d.search.clone());
    let dns_options = spec.dns_config.as_ref().and_then(|d| d.options.clone());
    let swap = task.resources.as_ref().and_then(|r| r.swap_bytes);
    let swappiness = task.resources.as_ref().and_then(|r| r.memory_swappiness);
    // A task on overlay networks joins them (by id: names of local networks may clash), the
    // first as its main one, at the addresses the swarm allocated.
    let network_mode = task
        .networks
        .first()
        .map_or_else(|| "default".to_string(), |a| a.network_id.clone());
    let endpoints: HashMap<String, EndpointSettings> = task
        .networks
        .iter()
        .map(|a| {
            let settings = EndpointSettings {
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: Some(a.address.to_string()),
                    ..EndpointIpamConfig::default()
                }),
                aliases: (!a.aliases.is_empty()).then(|| a.aliases.clone()),
                driver_opts: (!a.driver_opts.is_empty())
                    .then(|| a.driver_opts.clone().into_iter().collect()),
                ..EndpointSettings::default()
            };
            (a.network_id.clone(), settings)
        })
        .collect();
    let host = HostConfig {
        network_mode: Some(network_mode),
        init: spec.init,
        readonly_rootfs: spec.read_only,
        mounts: spec.mounts.clone(),
        nano_cpus: limits.nano_cpus,
        memory: limits.memory_bytes,
        pids_limit: limits.pids,
        cap_add: spec.capability_add.clone(),
        cap_drop: spec.capability_drop.clone(),
        extra_hosts: spec.hosts.clone(),
        dns,
        dns_search,
        dns_options,
        // Docker's swarm executor: the swap allowed on top of the memory limit.
        memory_swap: swap.map(|s| limits.memory_bytes.unwrap_or(0) + s),
        memory_swappiness: swappiness,
        security_opt: security_opts(spec),
        log_config: task.log_driver.as_ref().map(|l| HostConfigLogConfig {
            typ: l.name.clone(),
            config: l.options.clone(),
        }),
        group_add: spec.groups.clone(),
        sysctls: spec.sysctls.clone(),
        ulimits: spec.ulimits.clone(),
        oom_score_adj: spec.oom_score_adj,
        port_bindings: (!ports.is_empty()).then_some(ports),
        ..HostConfig::default()
    };
    ContainerCreateBody {
        image: Some(task.image.clone()),
        entrypoint: spec.command.clone(),
        cmd: spec.args.clone(),
        env: spec.env.clone(),
        working_dir: spec.dir.clone(),
        user: spec.user.clone(),
        hostname: spec.hostname.clone(),
        labels: Some(task.labels.clone()),
        tty: spec.tty,
        open_stdin: spec.open_stdin,
        stop_signal: spec.stop_signal.clone(),
        stop_timeout: Some(task.stop_timeout),
        healthcheck: spec.health_check.clone(),
        host_config: Some(host),
        networking_config: (!endpoints.is_empty()).then_some(NetworkingConfig {
            endpoints_config: Some(endpoints),
        }),
        ..ContainerCreateBody::default()
    }
}

/// `Privileges` as `--security-opt` values (no-new-privileges, seccomp, AppArmor, SELinux
/// labels), which the create conversion applies as for `docker run` (labels are kept and shown,
/// as Docker keeps them on a host without SELinux); credential specs are refused by the manager
/// before a task exists.
fn security_opts(spec: &bollard_stubs::models::TaskSpecContainerSpec) -> Option<Vec<String>> {
    use bollard_stubs::models::{
        TaskSpecContainerSpecPrivilegesAppArmorModeEnum as AppArmor,
        TaskSpecContainerSpecPrivilegesSeccompModeEnum as Seccomp,
    };
    let p = spec.privileges.as_ref()?;
    let mut out = Vec::new();
    if p.no_new_privileges == Some(true) {
        out.push("no-new-privileges".to_string());
    }
    if let Some(s) = &p.seccomp {
        match s.mode {
            Some(Seccomp::UNCONFINED) => out.push("seccomp=unconfined".into()),
            Some(Seccomp::CUSTOM) => {
                out.push(format!("seccomp={}", s.profile.clone().unwrap_or_default()));
            }
            _ => {}
        }
    }
    if p.app_armor.as_ref().and_then(|a| a.mode) == Some(AppArmor::DISABLED) {
        out.push("apparmor=unconfined".into());
    }
    if let Some(s) = &p.se_linux_context {
        // moby's executor's order and words.
        if s.disable == Some(true) {
            out.push("label=disable".into());
        }
        for (part, value) in [
            ("user", &s.user),
            ("role", &s.role),
            ("type", &s.typ),
            ("level", &s.level),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                out.push(format!("label={part}:{v}"));
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// This node's copy of the swarm network a task attachment names.
pub fn overlay_record(a: &berth_swarm::model::TaskAttachment) -> crate::network::NetworkRecord {
    crate::network::NetworkRecord {
        id: a.network_id.clone(),
        name: a.name.clone(),
        driver: "overlay".into(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        subnet: a.subnet.clone(),
        gateway: a.gateway.to_string(),
        mtu: a.mtu,
        attachable: false,
        internal: a.internal,
        vni: Some(a.vni),
        vxlan_port: Some(a.port),
        ..crate::network::NetworkRecord::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_swarm::model::{HostPort, Protocol};
    use bollard_stubs::models::{Limit, TaskSpecContainerSpec, TaskSpecResources};
    use std::collections::HashMap;

    #[test]
    fn a_task_maps_onto_dockers_create_body() {
        let task = ContainerTask {
            log_driver: None,
            task_id: "t1".into(),
            name: "web.1.t1".into(),
            image: "busybox".into(),
            labels: HashMap::from([("k".to_string(), "v".to_string())]),
            spec: TaskSpecContainerSpec {
                command: Some(vec!["sh".into()]),
                args: Some(vec!["-c".into(), "true".into()]),
                env: Some(vec!["A=1".into()]),
                read_only: Some(true),
                groups: Some(vec!["audio".into()]),
                oom_score_adj: Some(100),
                ..TaskSpecContainerSpec::default()
            },
            resources: Some(TaskSpecResources {
                limits: Some(Limit {
                    memory_bytes: Some(1 << 20),
                    ..Limit::default()
                }),
                ..TaskSpecResources::default()
            }),
            ports: vec![HostPort {
                target: 80,
                published: 8080,
                protocol: Protocol::Udp,
            }],
            stop_timeout: 3,
            files: Vec::new(),
            networks: Vec::new(),
        };
        let body = create_body(&task);
        assert_eq!(body.entrypoint, Some(vec!["sh".to_string()]));
        assert_eq!(body.cmd.as_ref().map(Vec::len), Some(2));
        assert_eq!(body.stop_timeout, Some(3));
        let host = body.host_config.unwrap();
        assert_eq!(host.memory, Some(1 << 20));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.group_add, Some(vec!["audio".to_string()]));
        assert_eq!(host.oom_score_adj, Some(100));
        let ports = host.port_bindings.unwrap();
        let binding = ports["80/udp"].as_ref().unwrap();
        assert_eq!(binding[0].host_port.as_deref(), Some("8080"));
    }

    #[test]
    fn dns_search_privileges_swap_and_the_log_driver_reach_the_container() {
        let spec: TaskSpecContainerSpec = serde_json::from_value(serde_json::json!({
            "DNSConfig": { "Nameservers": ["10.0.0.2"], "Search": ["svc.local"], "Options": ["ndots:2"] },
            "Privileges": { "NoNewPrivileges": true, "Seccomp": { "Mode": "unconfined" },
                            "AppArmor": { "Mode": "disabled" },
                            "SELinuxContext": { "Disable": false, "User": "u", "Level": "s0" } },
        }))
        .unwrap();
        let task = ContainerTask {
            log_driver: Some(bollard_stubs::models::TaskSpecLogDriver {
                name: Some("json-file".into()),
                options: Some(HashMap::from([("max-size".to_string(), "1m".to_string())])),
            }),
            task_id: "t1".into(),
            name: "web.1.t1".into(),
            image: "busybox".into(),
            labels: HashMap::new(),
            spec,
            resources: Some(TaskSpecResources {
                limits: Some(Limit {
                    memory_bytes: Some(100),
                    ..Limit::default()
                }),
                swap_bytes: Some(50),
                memory_swappiness: Some(10),
                ..TaskSpecResources::default()
            }),
            ports: Vec::new(),
            stop_timeout: 10,
            files: Vec::new(),
            networks: Vec::new(),
        };
        let host = create_body(&task).host_config.unwrap();
        assert_eq!(host.dns_search, Some(vec!["svc.local".to_string()]));
        assert_eq!(host.dns_options, Some(vec!["ndots:2".to_string()]));
        assert_eq!(
            host.security_opt,
            Some(vec![
                "no-new-privileges".to_string(),
                "seccomp=unconfined".to_string(),
                "apparmor=unconfined".to_string(),
                "label=user:u".to_string(),
                "label=level:s0".to_string()
            ])
        );
        assert_eq!(host.memory_swap, Some(150), "the limit plus the swap");
        assert_eq!(host.memory_swappiness, Some(10));
        let log = host.log_config.unwrap();
        assert_eq!(log.typ.as_deref(), Some("json-file"));
    }
}
