//! Flags → `ServiceSpec`, as docker's CLI builds it for `service create`, and the flag groups
//! `create` and `update` share (`apply_common`; `edit.rs` has update's add/remove flags). Pure:
//! the environment is a parameter and nothing here talks to the daemon.

use std::collections::HashMap;

use bollard::models::{
    EndpointPortConfig, EndpointSpec, Limit, ResourceObject, ServiceSpec, ServiceSpecMode,
    ServiceSpecModeReplicated, ServiceSpecModeReplicatedJob, ServiceSpecRollbackConfig,
    ServiceSpecUpdateConfig, TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecDnsConfig,
    TaskSpecPlacement, TaskSpecResources, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};

use super::opts::{CommonFlags, CreateArgs};
use super::parse;

/// swarmkit's defaults, which docker's CLI fills in when a group of flags is first set.
const DEFAULT_RESTART_DELAY_NS: i64 = 5_000_000_000;
const DEFAULT_MONITOR_NS: i64 = 5_000_000_000;

/// The spec `service create` sends. `lookup` resolves a bare `-e KEY` from the environment.
pub fn create_spec(
    args: &CreateArgs,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<ServiceSpec, String> {
    let c = &args.common;
    let (image, cmd_args) = args
        .args
        .split_first()
        .ok_or("requires at least 1 argument")?;
    let mut env = Vec::new();
    for e in &args.env {
        env.push(crate::parse::env_value(e, &lookup)?);
    }
    let mode = service_mode(args)?;
    let ports: Vec<EndpointPortConfig> = args.publish.iter().flat_map(|p| p.0.clone()).collect();
    let mut spec = ServiceSpec {
        name: args.name.clone(),
        labels: non_empty_map(parse::to_map(&args.labels)),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(image.clone()),
                args: (!cmd_args.is_empty()).then(|| cmd_args.to_vec()),
                env: (!env.is_empty()).then(|| dedupe_env(env)),
                labels: non_empty_map(parse::to_map(&args.container_labels)),
                mounts: (!args.mounts.is_empty()).then(|| args.mounts.clone()),
                secrets: (!args.secrets.is_empty())
                    .then(|| super::secrets::secrets_of(&args.secrets)),
                configs: (!args.configs.is_empty())
                    .then(|| super::secrets::configs_of(&args.configs)),
                init: Some(false),
                dns_config: Some(TaskSpecContainerSpecDnsConfig::default()),
                ..Default::default()
            }),
            networks: (!args.networks.is_empty()).then(|| args.networks.clone()),
            placement: Some(TaskSpecPlacement {
                constraints: (!args.constraints.is_empty()).then(|| args.constraints.clone()),
                preferences: (!args.placement_prefs.is_empty())
                    .then(|| args.placement_prefs.clone()),
                ..Default::default()
            }),
            resources: Some(TaskSpecResources {
                limits: Some(Limit::default()),
                reservations: Some(ResourceObject::default()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        mode: Some(mode),
        endpoint_spec: Some(EndpointSpec {
            mode: Some(bollard::models::EndpointSpecModeEnum::VIP),
            ports: (!ports.is_empty()).then_some(ports),
        }),
        ..Default::default()
    };
    apply_common(&mut spec, c)?;
    if let Some(task) = spec.task_template.as_mut() {
        super::generic::edit(task, &args.generic_resources, &[]);
    }
    Ok(spec)
}

/// `--mode` with `--replicas` (default 1) and docker's refusals for global services.
fn service_mode(args: &CreateArgs) -> Result<ServiceSpecMode, String> {
    let c = &args.common;
    if args.max_concurrent.is_some() && args.mode != "replicated-job" {
        return Err("max-concurrent can only be used with replicated-job mode".into());
    }
    match args.mode.as_str() {
        // docker's: `--replicas` completions (default 1), `--max-concurrent` at once (default
        // as many as the completions).
        "replicated-job" => {
            let total = to_i64(c.replicas.unwrap_or(1));
            Ok(ServiceSpecMode {
                replicated_job: Some(ServiceSpecModeReplicatedJob {
                    max_concurrent: Some(args.max_concurrent.map_or(total, to_i64)),
                    total_completions: Some(total),
                }),
                ..Default::default()
            })
        }
        "global-job" => {
            if c.replicas.is_some() {
                return Err(
                    "replicas can only be used with replicated or replicated-job mode".into(),
                );
            }
            Ok(ServiceSpecMode {
                global_job: Some(HashMap::new()),
                ..Default::default()
            })
        }
        "global" => {
            if c.replicas.is_some() {
                return Err(
                    "replicas can only be used with replicated or replicated-job mode".into(),
                );
            }
            if c.max_replicas.unwrap_or(0) > 0 {
                return Err(
                    "replicas-max-per-node can only be used with replicated or replicated-job mode"
                        .into(),
                );
            }
            Ok(ServiceSpecMode {
                global: Some(HashMap::new()),
                ..Default::default()
            })
        }
        "replicated" => Ok(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(to_i64(c.replicas.unwrap_or(1))),
            }),
            ..Default::default()
        }),
        other => Err(format!(
            "unknown mode: {other}, only replicated and global supported"
        )),
    }
}

/// The flags create and update share; a group (limits, restart, update config…) is touched
/// only when one of its flags was given, starting from swarmkit's defaults when absent.
pub(super) fn apply_common(spec: &mut ServiceSpec, c: &CommonFlags) -> Result<(), String> {
    let task = spec.task_template.get_or_insert_with(TaskSpec::default);
    if let Some(max) = c.max_replicas {
        task.placement
            .get_or_insert_with(TaskSpecPlacement::default)
            .max_replicas = non_zero(to_i64(max));
    }
    apply_resources(task, c);
    if c.restart_condition.is_some()
        || c.restart_delay.is_some()
        || c.restart_max_attempts.is_some()
        || c.restart_window.is_some()
    {
        let policy = task.restart_policy.get_or_insert(TaskSpecRestartPolicy {
            condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
            delay: Some(DEFAULT_RESTART_DELAY_NS),
            max_attempts: Some(0),
            window: None,
        });
        if let Some(condition) = &c.restart_condition {
            policy.condition = Some(enum_value(condition)?);
        }
        set(&mut policy.delay, c.restart_delay);
        set(&mut policy.max_attempts, c.restart_max_attempts.map(to_i64));
        set(&mut policy.window, c.restart_window);
    }
    let cspec = task
        .container_spec
        .get_or_insert_with(TaskSpecContainerSpec::default);
    set_text(&mut cspec.dir, &c.workdir);
    set_text(&mut cspec.user, &c.user);
    set_text(&mut cspec.hostname, &c.hostname);
    set_text(&mut cspec.stop_signal, &c.stop_signal);
    set(
        &mut cspec.command,
        c.entrypoint.as_ref().map(|w| w.0.clone()),
    );
    set(&mut cspec.stop_grace_period, c.stop_grace_period);
    set(&mut cspec.init, c.init);
    set(&mut cspec.tty, c.tty);
    set(&mut cspec.read_only, c.read_only);
    if let Some(mode) = &c.endpoint_mode {
        spec.endpoint_spec
            .get_or_insert_with(EndpointSpec::default)
            .mode = Some(enum_value(mode)?);
    }
    apply_update_config(spec, c)?;
    apply_rollback_config(spec, c)
}

/// `--limit-*` and `--reserve-*`: only the given values change.
fn apply_resources(task: &mut TaskSpec, c: &CommonFlags) {
    if c.limit_cpu.is_some() || c.limit_memory.is_some() || c.limit_pids.is_some() {
        let resources = task
            .resources
            .get_or_insert_with(TaskSpecResources::default);
        let limits = resources.limits.get_or_insert_with(Limit::default);
        set_non_zero(&mut limits.nano_cpus, c.limit_cpu);
        set_non_zero(&mut limits.memory_bytes, c.limit_memory);
        set_non_zero(&mut limits.pids, c.limit_pids);
    }
    if c.reserve_cpu.is_some() || c.reserve_memory.is_some() {
        let resources = task
            .resources
            .get_or_insert_with(TaskSpecResources::default);
        let reservations = resources
            .reservations
            .get_or_insert_with(ResourceObject::default);
        set_non_zero(&mut reservations.nano_cpus, c.reserve_cpu);
        set_non_zero(&mut reservations.memory_bytes, c.reserve_memory);
    }
}

fn apply_update_config(spec: &mut ServiceSpec, c: &CommonFlags) -> Result<(), String> {
    let given = c.update_parallelism.is_some()
        || c.update_delay.is_some()
        || c.update_monitor.is_some()
        || c.update_failure_action.is_some()
        || c.update_max_failure_ratio.is_some()
        || c.update_order.is_some();
    if !given {
        return Ok(());
    }
    let u = spec.update_config.get_or_insert(ServiceSpecUpdateConfig {
        parallelism: Some(1),
        delay: Some(0),
        failure_action: Some(bollard::models::ServiceSpecUpdateConfigFailureActionEnum::PAUSE),
        monitor: Some(DEFAULT_MONITOR_NS),
        max_failure_ratio: Some(0.0),
        order: Some(bollard::models::ServiceSpecUpdateConfigOrderEnum::STOP_FIRST),
    });
    set(&mut u.parallelism, c.update_parallelism.map(to_i64));
    set(&mut u.delay, c.update_delay);
    set(&mut u.monitor, c.update_monitor);
    set(
        &mut u.max_failure_ratio,
        c.update_max_failure_ratio.map(f64::from),
    );
    if let Some(a) = &c.update_failure_action {
        u.failure_action = Some(enum_value(a)?);
    }
    if let Some(o) = &c.update_order {
        u.order = Some(enum_value(o)?);
    }
    Ok(())
}

fn apply_rollback_config(spec: &mut ServiceSpec, c: &CommonFlags) -> Result<(), String> {
    let given = c.rollback_parallelism.is_some()
        || c.rollback_delay.is_some()
        || c.rollback_monitor.is_some()
        || c.rollback_failure_action.is_some()
        || c.rollback_max_failure_ratio.is_some()
        || c.rollback_order.is_some();
    if !given {
        return Ok(());
    }
    let r = spec
        .rollback_config
        .get_or_insert(ServiceSpecRollbackConfig {
            parallelism: Some(1),
            delay: Some(0),
            failure_action: Some(
                bollard::models::ServiceSpecRollbackConfigFailureActionEnum::PAUSE,
            ),
            monitor: Some(DEFAULT_MONITOR_NS),
            max_failure_ratio: Some(0.0),
            order: Some(bollard::models::ServiceSpecRollbackConfigOrderEnum::STOP_FIRST),
        });
    set(&mut r.parallelism, c.rollback_parallelism.map(to_i64));
    set(&mut r.delay, c.rollback_delay);
    set(&mut r.monitor, c.rollback_monitor);
    set(
        &mut r.max_failure_ratio,
        c.rollback_max_failure_ratio.map(f64::from),
    );
    if let Some(a) = &c.rollback_failure_action {
        r.failure_action = Some(enum_value(a)?);
    }
    if let Some(o) = &c.rollback_order {
        r.order = Some(enum_value(o)?);
    }
    Ok(())
}

/// Docker's `makeEnv`: a later `KEY=…` replaces an earlier one and takes its place at the end.
fn dedupe_env(env: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    for e in env {
        if out.contains(&e) {
            continue;
        }
        let key = env_key(&e).to_string();
        out.retain(|cur| env_key(cur) != key);
        out.push(e);
    }
    out
}

/// The name part of `KEY=value`.
pub(super) fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

fn non_empty_map(m: HashMap<String, String>) -> Option<HashMap<String, String>> {
    (!m.is_empty()).then_some(m)
}

fn set<T>(field: &mut Option<T>, value: Option<T>) {
    if let Some(v) = value {
        *field = Some(v);
    }
}

/// Go omits empty strings; an empty flag value clears the field.
fn set_text(field: &mut Option<String>, value: &Option<String>) {
    if let Some(v) = value {
        *field = (!v.is_empty()).then(|| v.clone());
    }
}

/// Go omits zero numbers; a zero flag value clears the field.
fn set_non_zero(field: &mut Option<i64>, value: Option<i64>) {
    if let Some(v) = value {
        *field = non_zero(v);
    }
}

fn non_zero(v: i64) -> Option<i64> {
    (v != 0).then_some(v)
}

/// A count as the API's signed integer (saturating).
pub(super) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A bollard enum from its API spelling (the flag's allowed values are checked by clap).
fn enum_value<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("invalid value: {s}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::service::parse::{publish, shell_words};
    use crate::parse::ram_in_bytes as memory;

    fn create(args: &[&str]) -> CreateArgs {
        CreateArgs {
            mode: "replicated".into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn cspec(s: &ServiceSpec) -> &TaskSpecContainerSpec {
        s.task_template
            .as_ref()
            .unwrap()
            .container_spec
            .as_ref()
            .unwrap()
    }

    #[test]
    fn minimal_create_matches_docker_defaults() {
        let spec = create_spec(&create(&["busybox", "sleep", "60"]), |_| None).unwrap();
        let c = cspec(&spec);
        assert_eq!(c.image.as_deref(), Some("busybox"));
        assert_eq!(c.args, Some(vec!["sleep".to_string(), "60".to_string()]));
        assert_eq!(c.init, Some(false));
        assert_eq!(c.env, None);
        let mode = spec.mode.as_ref().unwrap();
        assert_eq!(mode.replicated.as_ref().unwrap().replicas, Some(1));
        let endpoint = spec.endpoint_spec.as_ref().unwrap();
        assert_eq!(
            endpoint.mode,
            Some(bollard::models::EndpointSpecModeEnum::VIP)
        );
        assert_eq!(endpoint.ports, None);
        let task = spec.task_template.as_ref().unwrap();
        assert_eq!(task.restart_policy, None);
        assert_eq!(spec.update_config, None);
        assert_eq!(
            task.resources.as_ref().unwrap().limits,
            Some(Limit::default())
        );
    }

    #[test]
    fn env_is_deduplicated_and_bare_names_read_from_the_environment() {
        let mut args = create(&["busybox"]);
        args.env = vec![
            "A=1".into(),
            "B=2".into(),
            "A=3".into(),
            "HOME".into(),
            "UNSET".into(),
        ];
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
        let spec = create_spec(&args, lookup).unwrap();
        assert_eq!(
            cspec(&spec).env,
            Some(vec![
                "B=2".into(),
                "A=3".into(),
                "HOME=/root".into(),
                "UNSET".into()
            ])
        );
    }

    #[test]
    fn global_mode_refuses_replica_flags() {
        let mut args = create(&["busybox"]);
        args.mode = "global".into();
        let spec = create_spec(&args, |_| None).unwrap();
        assert!(spec.mode.unwrap().global.is_some());
        args.common.replicas = Some(2);
        assert_eq!(
            create_spec(&args, |_| None).unwrap_err(),
            "replicas can only be used with replicated or replicated-job mode"
        );
        args.common.replicas = None;
        args.common.max_replicas = Some(1);
        assert!(create_spec(&args, |_| None).is_err());
    }

    #[test]
    fn flag_groups_start_from_swarmkit_defaults() {
        let mut args = create(&["busybox"]);
        args.common.restart_max_attempts = Some(3);
        args.common.update_order = Some("start-first".into());
        args.common.rollback_parallelism = Some(0);
        args.common.limit_memory = Some(memory("512M").unwrap());
        args.common.reserve_cpu = Some(250_000_000);
        args.common.stop_grace_period = Some(20_000_000_000);
        args.common.entrypoint = Some(shell_words("/bin/sh -c").unwrap());
        args.publish = vec![
            publish("8080:80").unwrap(),
            publish("9000-9001:90-91").unwrap(),
        ];
        args.placement_prefs = vec![parse::placement_pref("spread=node.id").unwrap()];
        let spec = create_spec(&args, |_| None).unwrap();
        let task = spec.task_template.as_ref().unwrap();
        let policy = task.restart_policy.as_ref().unwrap();
        assert_eq!(
            policy.condition,
            Some(TaskSpecRestartPolicyConditionEnum::ANY)
        );
        assert_eq!(
            (policy.delay, policy.max_attempts, policy.window),
            (Some(5_000_000_000), Some(3), None)
        );
        let update = spec.update_config.as_ref().unwrap();
        assert_eq!(update.parallelism, Some(1));
        assert_eq!(update.monitor, Some(5_000_000_000));
        assert_eq!(
            update.order,
            Some(bollard::models::ServiceSpecUpdateConfigOrderEnum::START_FIRST)
        );
        assert_eq!(
            update.failure_action,
            Some(bollard::models::ServiceSpecUpdateConfigFailureActionEnum::PAUSE)
        );
        assert_eq!(spec.rollback_config.as_ref().unwrap().parallelism, Some(0));
        let resources = task.resources.as_ref().unwrap();
        assert_eq!(
            resources.limits.as_ref().unwrap().memory_bytes,
            Some(536_870_912)
        );
        assert_eq!(
            resources.reservations.as_ref().unwrap().nano_cpus,
            Some(250_000_000)
        );
        assert_eq!(cspec(&spec).stop_grace_period, Some(20_000_000_000));
        assert_eq!(
            cspec(&spec).command,
            Some(vec!["/bin/sh".to_string(), "-c".to_string()])
        );
        assert_eq!(
            spec.endpoint_spec
                .as_ref()
                .unwrap()
                .ports
                .as_ref()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            task.placement
                .as_ref()
                .unwrap()
                .preferences
                .as_ref()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn empty_or_zero_values_clear_fields() {
        let mut spec = create_spec(&create(&["busybox"]), |_| None).unwrap();
        let flags = CommonFlags {
            workdir: Some(String::new()),
            limit_cpu: Some(0),
            ..Default::default()
        };
        cspec_mut(&mut spec).dir = Some("/srv".into());
        apply_common(&mut spec, &flags).unwrap();
        assert_eq!(cspec(&spec).dir, None);
        let limits = spec
            .task_template
            .unwrap()
            .resources
            .unwrap()
            .limits
            .unwrap();
        assert_eq!(limits.nano_cpus, None);
    }

    fn cspec_mut(s: &mut ServiceSpec) -> &mut TaskSpecContainerSpec {
        s.task_template
            .as_mut()
            .unwrap()
            .container_spec
            .as_mut()
            .unwrap()
    }
}
