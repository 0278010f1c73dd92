//! `service inspect --pretty`: docker's human-readable layout of a service (same sections,
//! tabs and trailing spaces as its template). Pure.

use std::collections::HashMap;
use std::fmt::Write;

use bollard::models::{Service, ServiceSpecRollbackConfig, ServiceSpecUpdateConfig, TaskSpec};

use crate::commands::task::timestamp;
use crate::output::units::{self, go_duration};

/// The pretty text of one service; `networks` maps network IDs to names.
pub fn pretty_text(s: &Service, networks: &HashMap<String, String>) -> String {
    let spec = s.spec.clone().unwrap_or_default();
    let task = spec.task_template.clone().unwrap_or_default();
    let mut out = String::new();
    let _ = write!(
        out,
        "\nID:\t\t{}\nName:\t\t{}",
        s.id.as_deref().unwrap_or(""),
        spec.name.as_deref().unwrap_or("")
    );
    if let Some(labels) = spec.labels.as_ref().filter(|l| !l.is_empty()) {
        out.push_str("\nLabels:");
        for (k, v) in sorted(labels) {
            let _ = write!(out, "\n {k}{}", suffix("=", v));
        }
    }
    out.push_str("\nService Mode:");
    let mode = spec.mode.clone().unwrap_or_default();
    if mode.global.is_some() {
        out.push_str("\tGlobal");
    } else if let Some(r) = &mode.replicated {
        out.push_str("\tReplicated");
        if let Some(n) = r.replicas {
            let _ = write!(out, "\n Replicas:\t{n}");
        }
    }
    update_status(&mut out, s);
    placement(&mut out, &task);
    if let Some(u) = &spec.update_config {
        let view = ConfigView::from(u);
        update_config(&mut out, "UpdateConfig", "Update order:     ", &view);
    }
    if let Some(r) = &spec.rollback_config {
        let view = ConfigView::from(r);
        update_config(&mut out, "RollbackConfig", "Rollback order:   ", &view);
    }
    container(&mut out, &task);
    resources(&mut out, &task);
    endpoint(&mut out, s, &task, networks);
    out.push_str("\n\n");
    out
}

/// `text` then `value`, or nothing when `value` is empty (the template's `{{if $v}}`).
fn suffix(text: &str, value: &str) -> String {
    if value.is_empty() {
        String::new()
    } else {
        format!("{text}{value}")
    }
}

fn placement(out: &mut String, task: &TaskSpec) {
    out.push_str("\nPlacement:");
    let placement = task.placement.clone().unwrap_or_default();
    if let Some(c) = placement.constraints.as_ref().filter(|c| !c.is_empty()) {
        let _ = write!(out, "\n Constraints:\t[{}]", c.join(" "));
    }
    let prefs: Vec<String> = placement
        .preferences
        .iter()
        .flatten()
        .filter_map(|p| p.spread.as_ref())
        .map(|s| format!("spread={}", s.spread_descriptor.as_deref().unwrap_or("")))
        .collect();
    if !prefs.is_empty() {
        let _ = write!(out, "\n Preferences:   [{}]", prefs.join(" "));
    }
    if let Some(max) = placement.max_replicas.filter(|m| *m > 0) {
        let _ = write!(out, "\n Max Replicas Per Node:   {max}");
    }
}

fn container(out: &mut String, task: &TaskSpec) {
    let c = task.container_spec.clone().unwrap_or_default();
    let _ = write!(
        out,
        "\nContainerSpec:\n Image:\t\t{}",
        c.image.as_deref().unwrap_or("")
    );
    let words = |list: &[String]| list.iter().map(|a| format!("{a} ")).collect::<String>();
    if let Some(args) = c.args.as_ref().filter(|a| !a.is_empty()) {
        let _ = write!(out, "\n Args:\t\t{}", words(args));
    }
    if let Some(env) = c.env.as_ref().filter(|e| !e.is_empty()) {
        let _ = write!(out, "\n Env:\t\t{}", words(env));
    }
    if let Some(dir) = c.dir.as_deref().filter(|d| !d.is_empty()) {
        let _ = write!(out, "\n Dir:\t\t{dir}");
    }
    if let Some(init) = c.init {
        let _ = write!(out, "\n Init:\t\t{init}");
    }
    if let Some(user) = c.user.as_deref().filter(|u| !u.is_empty()) {
        let _ = write!(out, "\n User: {user}");
    }
    if let Some(mounts) = c.mounts.as_ref().filter(|m| !m.is_empty()) {
        out.push_str("\nMounts:");
        for m in mounts {
            let _ = write!(
                out,
                "\n Target:\t{}\n  Source:\t{}\n  ReadOnly:\t{}\n  Type:\t\t{}",
                m.target.as_deref().unwrap_or(""),
                m.source.as_deref().unwrap_or(""),
                m.read_only.unwrap_or(false),
                m.typ.map(|t| t.to_string()).unwrap_or_default()
            );
        }
    }
    if let Some(driver) = &task.log_driver {
        out.push_str("\nLog Driver:");
        if let Some(name) = driver.name.as_deref().filter(|n| !n.is_empty()) {
            let _ = write!(out, "\n Name:\t\t{name}");
        }
        if let Some(opts) = driver.options.as_ref().filter(|o| !o.is_empty()) {
            out.push_str("\n LogOpts:");
            for (k, v) in sorted(opts) {
                let _ = write!(out, "\n  {k}{}", suffix(":       ", v));
            }
        }
        out.push('\n');
    }
}

fn endpoint(out: &mut String, s: &Service, task: &TaskSpec, networks: &HashMap<String, String>) {
    let nets: String = task
        .networks
        .iter()
        .flatten()
        .filter_map(|n| n.target.clone())
        .map(|t| format!(" {}", networks.get(&t).cloned().unwrap_or(t)))
        .collect();
    if !nets.is_empty() {
        let _ = write!(out, "\nNetworks:{nets} ");
    }
    let spec = s.spec.as_ref().and_then(|s| s.endpoint_spec.as_ref());
    let mode = spec
        .and_then(|e| e.mode)
        .map(|m| m.to_string())
        .unwrap_or_default();
    let _ = write!(out, "\nEndpoint Mode:\t{mode}");
    let ports = s
        .endpoint
        .as_ref()
        .and_then(|e| e.ports.clone())
        .unwrap_or_default();
    if !ports.is_empty() {
        out.push_str("\nPorts:");
        for p in &ports {
            let _ = write!(
                out,
                "\n PublishedPort = {}\n  Protocol = {}\n  TargetPort = {}\n  PublishMode = {}",
                p.published_port.unwrap_or(0),
                p.protocol.map(|x| x.to_string()).unwrap_or_default(),
                p.target_port.unwrap_or(0),
                p.publish_mode.map(|x| x.to_string()).unwrap_or_default()
            );
        }
        out.push(' ');
    }
}

fn sorted(map: &HashMap<String, String>) -> Vec<(&String, &String)> {
    let mut pairs: Vec<_> = map.iter().collect();
    pairs.sort();
    pairs
}

fn update_status(out: &mut String, s: &Service) {
    let Some(status) = &s.update_status else {
        return;
    };
    let Some(state) = status
        .state
        .map(|x| x.to_string())
        .filter(|x| !x.is_empty())
    else {
        return;
    };
    let now = chrono::Utc::now().timestamp();
    let _ = write!(out, "\nUpdateStatus:\n State:\t\t{state}");
    if let Some(started) = timestamp(&status.started_at) {
        let _ = write!(out, "\n Started:\t{}", units::ago(started.timestamp(), now));
    }
    if let (Some(completed), "completed") = (timestamp(&status.completed_at), state.as_str()) {
        let _ = write!(
            out,
            "\n Completed:\t{}",
            units::ago(completed.timestamp(), now)
        );
    }
    let _ = write!(
        out,
        "\n Message:\t{}",
        status.message.as_deref().unwrap_or("")
    );
}

/// An update or rollback config, as printed (their enums differ, their layout does not).
struct ConfigView {
    parallelism: i64,
    delay: i64,
    failure_action: String,
    monitor: i64,
    max_failure_ratio: f64,
    order: String,
}

impl From<&ServiceSpecUpdateConfig> for ConfigView {
    fn from(u: &ServiceSpecUpdateConfig) -> Self {
        Self {
            parallelism: u.parallelism.unwrap_or(0),
            delay: u.delay.unwrap_or(0),
            failure_action: u.failure_action.map(|a| a.to_string()).unwrap_or_default(),
            monitor: u.monitor.unwrap_or(0),
            max_failure_ratio: u.max_failure_ratio.unwrap_or(0.0),
            order: u.order.map(|o| o.to_string()).unwrap_or_default(),
        }
    }
}

impl From<&ServiceSpecRollbackConfig> for ConfigView {
    fn from(r: &ServiceSpecRollbackConfig) -> Self {
        Self {
            parallelism: r.parallelism.unwrap_or(0),
            delay: r.delay.unwrap_or(0),
            failure_action: r.failure_action.map(|a| a.to_string()).unwrap_or_default(),
            monitor: r.monitor.unwrap_or(0),
            max_failure_ratio: r.max_failure_ratio.unwrap_or(0.0),
            order: r.order.map(|o| o.to_string()).unwrap_or_default(),
        }
    }
}

fn update_config(out: &mut String, title: &str, order_label: &str, c: &ConfigView) {
    let _ = write!(out, "\n{title}:\n Parallelism:\t{}", c.parallelism);
    if c.delay > 0 {
        let _ = write!(out, "\n Delay:\t\t{}", go_duration(c.delay));
    }
    let _ = write!(out, "\n On failure:\t{}", c.failure_action);
    if c.monitor > 0 {
        let _ = write!(out, "\n Monitoring Period: {}", go_duration(c.monitor));
    }
    let _ = write!(
        out,
        "\n Max failure ratio: {}\n {order_label} {}",
        c.max_failure_ratio, c.order
    );
}

/// Docker prints "Resources:" whenever the spec has a resources object, then the non-zero parts.
fn resources(out: &mut String, task: &TaskSpec) {
    let Some(r) = &task.resources else { return };
    out.push_str("\nResources:");
    let cpus = |n: Option<i64>| n.unwrap_or(0) as f64 / 1e9;
    let memory = |m: Option<i64>| m.filter(|m| *m != 0).map(|m| units::bytes_size(m as f64));
    if let Some(res) = r
        .reservations
        .as_ref()
        .filter(|x| x.nano_cpus.unwrap_or(0) > 0 || x.memory_bytes.unwrap_or(0) > 0)
    {
        out.push_str("\n Reservations:");
        if cpus(res.nano_cpus) > 0.0 {
            let _ = write!(out, "\n  CPU:\t\t{}", cpus(res.nano_cpus));
        }
        if let Some(m) = memory(res.memory_bytes) {
            let _ = write!(out, "\n  Memory:\t{m}");
        }
    }
    let limits = r.limits.clone().unwrap_or_default();
    if limits.nano_cpus.unwrap_or(0) > 0
        || limits.memory_bytes.unwrap_or(0) > 0
        || limits.pids.unwrap_or(0) > 0
    {
        out.push_str("\n Limits:");
        if cpus(limits.nano_cpus) > 0.0 {
            let _ = write!(out, "\n  CPU:\t\t{}", cpus(limits.nano_cpus));
        }
        if let Some(m) = memory(limits.memory_bytes) {
            let _ = write!(out, "\n  Memory:\t{m}");
        }
    }
    if let Some(pids) = limits.pids.filter(|p| *p > 0) {
        let _ = write!(out, "\n  PIDs:\t\t{pids}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::service::parse::publish;
    use bollard::models::{
        EndpointSpec, EndpointSpecModeEnum, Limit, ServiceEndpoint, ServiceSpec, ServiceSpecMode,
        ServiceSpecModeReplicated, TaskSpecContainerSpec, TaskSpecResources,
    };

    #[test]
    fn pretty_layout_matches_docker_template() {
        let s = Service {
            id: Some("de179gar9d0o7ltdybungplod".into()),
            spec: Some(ServiceSpec {
                name: Some("my_service".into()),
                labels: Some(HashMap::from([("com.label".into(), "foo".into())])),
                mode: Some(ServiceSpecMode {
                    replicated: Some(ServiceSpecModeReplicated { replicas: Some(2) }),
                    ..Default::default()
                }),
                task_template: Some(TaskSpec {
                    container_spec: Some(TaskSpecContainerSpec {
                        image: Some("foo/bar@sha256:this_is_a_test".into()),
                        args: Some(vec!["sleep".into(), "1".into()]),
                        ..Default::default()
                    }),
                    resources: Some(TaskSpecResources {
                        limits: Some(Limit {
                            nano_cpus: Some(100_000_000_000),
                            memory_bytes: Some(10_485_760),
                            pids: Some(20),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                update_config: Some(ServiceSpecUpdateConfig {
                    parallelism: Some(1),
                    delay: Some(0),
                    monitor: Some(5_000_000_000),
                    max_failure_ratio: Some(0.0),
                    failure_action: Some(
                        bollard::models::ServiceSpecUpdateConfigFailureActionEnum::PAUSE,
                    ),
                    order: Some(bollard::models::ServiceSpecUpdateConfigOrderEnum::STOP_FIRST),
                }),
                endpoint_spec: Some(EndpointSpec {
                    mode: Some(EndpointSpecModeEnum::VIP),
                    ports: None,
                }),
                ..Default::default()
            }),
            endpoint: Some(ServiceEndpoint {
                ports: Some(publish("30000:5000").unwrap().0),
                ..Default::default()
            }),
            ..Default::default()
        };
        let want = [
            "",
            "ID:\t\tde179gar9d0o7ltdybungplod",
            "Name:\t\tmy_service",
            "Labels:",
            " com.label=foo",
            "Service Mode:\tReplicated",
            " Replicas:\t2",
            "Placement:",
            "UpdateConfig:",
            " Parallelism:\t1",
            " On failure:\tpause",
            " Monitoring Period: 5s",
            " Max failure ratio: 0",
            " Update order:      stop-first",
            "ContainerSpec:",
            " Image:\t\tfoo/bar@sha256:this_is_a_test",
            " Args:\t\tsleep 1 ",
            "Resources:",
            " Limits:",
            "  CPU:\t\t100",
            "  Memory:\t10MiB",
            "  PIDs:\t\t20",
            "Endpoint Mode:\tvip",
            "Ports:",
            " PublishedPort = 30000",
            "  Protocol = tcp",
            "  TargetPort = 5000",
            "  PublishMode = ingress ",
            "",
            "",
        ]
        .join("\n");
        assert_eq!(pretty_text(&s, &HashMap::new()), want);
    }
}
