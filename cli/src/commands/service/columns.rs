//! `service ls` rows: docker's ID, NAME, MODE, REPLICAS (`2/3`, `(max N per node)`), IMAGE
//! and PORTS (ingress ports folded into ranges) under its template field names. Pure.

use bollard::models::{EndpointPortConfig, EndpointPortConfigPublishModeEnum, Service};
use serde_json::{json, Value};

use crate::commands::task::familiar_tagged;

/// One `service ls` row with docker's template field names.
pub fn row(s: &Service) -> Value {
    let spec = s.spec.clone().unwrap_or_default();
    let mode = spec.mode.clone().unwrap_or_default();
    let mode_name = if mode.global.is_some() {
        "global"
    } else if mode.replicated.is_some() {
        "replicated"
    } else if mode.replicated_job.is_some() {
        "replicated job"
    } else if mode.global_job.is_some() {
        "global job"
    } else {
        ""
    };
    let status = s.service_status.clone().unwrap_or_default();
    let (running, desired) = (
        status.running_tasks.unwrap_or(0),
        status.desired_tasks.unwrap_or(0),
    );
    let max = spec
        .task_template
        .as_ref()
        .and_then(|t| t.placement.as_ref())
        .and_then(|p| p.max_replicas)
        .unwrap_or(0);
    let completed = status.completed_tasks.unwrap_or(0);
    let replicas = if mode_name == "replicated" && max > 0 {
        format!("{running}/{desired} (max {max} per node)")
    } else if let Some(job) = &mode.replicated_job {
        let total = job.total_completions.unwrap_or(0);
        format!("{running}/{desired} ({completed}/{total} completed)")
    } else if mode.global_job.is_some() {
        // The tasks still to complete and those completed make the whole, as docker's sum.
        let total = desired + completed;
        format!("{running}/{desired} ({completed}/{total} completed)")
    } else {
        format!("{running}/{desired}")
    };
    let image = spec
        .task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    let ports = s
        .endpoint
        .as_ref()
        .and_then(|e| e.ports.clone())
        .unwrap_or_default();
    json!({
        "ID": s.id.as_deref().unwrap_or("").chars().take(12).collect::<String>(),
        "Name": spec.name.unwrap_or_default(),
        "Mode": mode_name,
        "Replicas": replicas,
        "Image": familiar_tagged(&image),
        "Ports": ports_column(ports),
    })
}

/// Docker's PORTS column: ingress ports as `*:published->target/proto`, consecutive ports
/// folded into ranges (`*:8080-8081->80-81/tcp`).
pub fn ports_column(mut ports: Vec<EndpointPortConfig>) -> String {
    let proto = |p: &EndpointPortConfig| p.protocol.map(|x| x.to_string()).unwrap_or_default();
    ports.sort_by(|a, b| {
        proto(a)
            .cmp(&proto(b))
            .then(a.published_port.cmp(&b.published_port))
    });
    let mut out = Vec::new();
    // (published start, published end, target start, target end, protocol)
    let mut range: Option<(i64, i64, i64, i64, String)> = None;
    for p in ports
        .iter()
        .filter(|p| p.publish_mode == Some(EndpointPortConfigPublishModeEnum::INGRESS))
    {
        let (published, target) = (p.published_port.unwrap_or(0), p.target_port.unwrap_or(0));
        if let Some(r) = range.as_mut() {
            let is_range = r.3 != r.2;
            let extends = r.4 == proto(p)
                && published - r.1 <= 1
                && target - r.3 <= 1
                && !(is_range && target <= r.3);
            if extends {
                (r.1, r.3) = (published, target);
                continue;
            }
        }
        out.extend(range.take().filter(|r| r.0 > 0).map(range_text));
        range = Some((published, published, target, target, proto(p)));
    }
    out.extend(range.filter(|r| r.0 > 0).map(range_text));
    out.join(", ")
}

fn range_text((p0, p1, t0, t1, proto): (i64, i64, i64, i64, String)) -> String {
    let span = |a: i64, b: i64| {
        if b > a {
            format!("{a}-{b}")
        } else {
            a.to_string()
        }
    };
    format!("*:{}->{}/{proto}", span(p0, p1), span(t0, t1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::service::parse::publish;
    use bollard::models::{
        ServiceEndpoint, ServiceServiceStatus, ServiceSpec, ServiceSpecMode,
        ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec, TaskSpecPlacement,
    };

    fn ports(specs: &[&str]) -> Vec<EndpointPortConfig> {
        specs.iter().flat_map(|s| publish(s).unwrap().0).collect()
    }

    #[test]
    fn ports_fold_into_ranges_and_skip_host_mode() {
        assert_eq!(ports_column(ports(&["8080:80"])), "*:8080->80/tcp");
        assert_eq!(
            ports_column(ports(&[
                "7001:71/udp",
                "7000:70/udp",
                "8080:80",
                "published=9,target=9,mode=host"
            ])),
            "*:8080->80/tcp, *:7000-7001->70-71/udp"
        );
        assert_eq!(
            ports_column(ports(&["8080:80", "8082:82"])),
            "*:8080->80/tcp, *:8082->82/tcp"
        );
        assert_eq!(ports_column(ports(&["80"])), "");
        assert_eq!(ports_column(Vec::new()), "");
    }

    #[test]
    fn rows_use_docker_columns() {
        let s = Service {
            id: Some("vlnbpmrtih8l1ur7dvwbt0ce4".into()),
            spec: Some(ServiceSpec {
                name: Some("web".into()),
                mode: Some(ServiceSpecMode {
                    replicated: Some(ServiceSpecModeReplicated { replicas: Some(3) }),
                    ..Default::default()
                }),
                task_template: Some(TaskSpec {
                    container_spec: Some(TaskSpecContainerSpec {
                        image: Some("busybox:latest@sha256:abcd".into()),
                        ..Default::default()
                    }),
                    placement: Some(TaskSpecPlacement {
                        max_replicas: Some(2),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            endpoint: Some(ServiceEndpoint {
                ports: Some(ports(&["8080:80"])),
                ..Default::default()
            }),
            service_status: Some(ServiceServiceStatus {
                running_tasks: Some(2),
                desired_tasks: Some(3),
                completed_tasks: None,
            }),
            ..Default::default()
        };
        let r = row(&s);
        assert_eq!(r["ID"], "vlnbpmrtih8l");
        assert_eq!(r["Mode"], "replicated");
        assert_eq!(r["Replicas"], "2/3 (max 2 per node)");
        assert_eq!(r["Image"], "busybox:latest");
        assert_eq!(r["Ports"], "*:8080->80/tcp");
        assert_eq!(row(&Service::default())["Replicas"], "0/0");
    }

    #[test]
    fn job_rows_count_completions_as_docker_does() {
        use bollard::models::ServiceSpecModeReplicatedJob;
        let job = |mode: ServiceSpecMode, running, desired, completed| Service {
            spec: Some(ServiceSpec {
                mode: Some(mode),
                ..Default::default()
            }),
            service_status: Some(ServiceServiceStatus {
                running_tasks: Some(running),
                desired_tasks: Some(desired),
                completed_tasks: Some(completed),
            }),
            ..Default::default()
        };
        let replicated = ServiceSpecMode {
            replicated_job: Some(ServiceSpecModeReplicatedJob {
                max_concurrent: Some(2),
                total_completions: Some(3),
            }),
            ..Default::default()
        };
        // docker 20.10's rows for these jobs once done.
        let r = row(&job(replicated, 0, 2, 3));
        assert_eq!(
            (&r["Mode"], &r["Replicas"]),
            (&json!("replicated job"), &json!("0/2 (3/3 completed)"))
        );
        let global = ServiceSpecMode {
            global_job: Some(std::collections::HashMap::new()),
            ..Default::default()
        };
        let r = row(&job(global, 0, 0, 1));
        assert_eq!(
            (&r["Mode"], &r["Replicas"]),
            (&json!("global job"), &json!("0/0 (1/1 completed)"))
        );
    }
}
