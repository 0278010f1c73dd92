//! The swarm's half of turning a task into a container: name, labels (the spec's plus
//! Docker's swarm labels), image, host-mode ports and stop timeout, as the typed
//! `ContainerTask` the executor creates.

use bollard_stubs::models::{NodeDescription, TaskSpec, TaskSpecContainerSpec};

use std::collections::HashMap;

use super::template;
use crate::executor::{ContainerTask, TaskFile};
use crate::model::{
    target_path, ModelError, SecretKind, Task, LABEL_NODE_ID, LABEL_SERVICE_ID, LABEL_SERVICE_NAME,
    LABEL_TASK_ID, LABEL_TASK_NAME,
};

/// Docker's stop timeout when `StopGracePeriod` is unset.
const DEFAULT_STOP_SECONDS: i64 = 10;

/// The image a task runs, as its spec names it (possibly with a digest).
pub fn image_of(spec: &TaskSpec) -> Option<&str> {
    let c = spec.container_spec.as_ref()?;
    c.image.as_deref().filter(|i| !i.is_empty())
}

/// The stop timeout in whole seconds from `StopGracePeriod` (nanoseconds; Docker's default
/// 10 s).
pub fn stop_timeout(spec: &TaskSpecContainerSpec) -> i64 {
    spec.stop_grace_period.map_or(DEFAULT_STOP_SECONDS, |ns| {
        (ns + 999_999_999) / 1_000_000_000
    })
}

/// The container of `task`, running `image` (its local name) on the node `node` describes;
/// Docker's placeholders in its spec expanded (template.rs).
pub fn container_task(
    task: &Task<'_>,
    spec: &TaskSpec,
    image: String,
    node: &NodeDescription,
) -> Result<ContainerTask, ModelError> {
    let mut container = spec.container_spec.clone().unwrap_or_default();
    let name = task.container_name();
    let ctx = template_context(task, node);
    template::expand_spec(&mut container, &ctx).map_err(|e| ModelError::of(task.object, e))?;
    let resource_env = crate::generic_resources::env(&task.assigned_generic_resources());
    if !resource_env.is_empty() {
        container
            .env
            .get_or_insert_with(Vec::new)
            .extend(resource_env);
    }
    let mut labels = container.labels.clone().unwrap_or_default();
    for (k, v) in [
        (LABEL_SERVICE_NAME, task.service_name()),
        (LABEL_SERVICE_ID, task.service_id),
        (LABEL_TASK_ID, task.id()),
        (LABEL_TASK_NAME, name.as_str()),
        (LABEL_NODE_ID, task.node_id.unwrap_or("")),
    ] {
        labels.insert(k.to_string(), v.to_string());
    }
    Ok(ContainerTask {
        task_id: task.id().to_string(),
        name,
        image,
        labels,
        stop_timeout: stop_timeout(&container),
        spec: container,
        resources: spec.resources.clone(),
        log_driver: spec
            .log_driver
            .clone()
            .or_else(|| task.default_log_driver()),
        ports: task.host_ports()?,
        networks: task.attachments()?,
        files: Vec::new(),
    })
}

/// What Docker's placeholders name for `task` on the node `node` describes.
pub fn template_context(task: &Task<'_>, node: &NodeDescription) -> template::Context {
    let platform = node.platform.clone().unwrap_or_default();
    template::Context {
        service_id: task.service_id.to_string(),
        service_name: task.service_name().to_string(),
        node_id: task.node_id.unwrap_or("").to_string(),
        node_hostname: node.hostname.clone().unwrap_or_default(),
        node_os: platform.os.unwrap_or_default(),
        node_arch: platform.architecture.unwrap_or_default(),
        task_id: task.id().to_string(),
        task_name: task.container_name(),
        task_slot: task.slot.to_string(),
    }
}

/// The data of the secrets and configs this node received, by kind and id: (data, whether it
/// is a template).
pub type SecretStore = HashMap<(SecretKind, String), (Vec<u8>, bool)>;

/// The files of a container's secret and config references, from the data the node holds;
/// templated ones expanded with `ctx` (the task's placeholders).
pub fn task_files(
    spec: &TaskSpecContainerSpec,
    store: &SecretStore,
    ctx: &template::Context,
) -> Result<Vec<TaskFile>, String> {
    let secrets = spec.secrets.iter().flatten().map(|r| {
        let f = r.file.clone().unwrap_or_default();
        let key = (SecretKind::Secret, r.secret_id.clone().unwrap_or_default());
        (key, r.secret_name.clone(), (f.name, f.uid, f.gid, f.mode))
    });
    let configs = spec.configs.iter().flatten().map(|r| {
        let f = r.file.clone().unwrap_or_default();
        let key = (SecretKind::Config, r.config_id.clone().unwrap_or_default());
        (key, r.config_name.clone(), (f.name, f.uid, f.gid, f.mode))
    });
    let mut files = Vec::new();
    for (key, name, (target, uid, gid, mode)) in secrets.chain(configs) {
        let kind = key.0;
        let name = name.unwrap_or_else(|| key.1.clone());
        let (data, templated) = store
            .get(&key)
            .ok_or_else(|| format!("{} {name} is not available on this node", kind.noun()))?;
        let data = if *templated {
            let text = std::str::from_utf8(data)
                .map_err(|_| format!("templated {} {name} is not UTF-8", kind.noun()))?;
            template::expand(text, ctx)
                .map_err(|e| format!("{} {name}: {e}", kind.noun()))?
                .into_bytes()
        } else {
            data.clone()
        };
        let number = |v: Option<String>| -> Result<u32, String> {
            let v = v.unwrap_or_default();
            if v.is_empty() {
                return Ok(0);
            }
            v.parse()
                .map_err(|_| format!("invalid owner {v:?} of {} {name}", kind.noun()))
        };
        files.push(TaskFile {
            secret: kind == SecretKind::Secret,
            target: target_path(kind, &target.unwrap_or_else(|| name.clone())),
            uid: number(uid)?,
            gid: number(gid)?,
            mode: mode.unwrap_or(0o444),
            data,
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DesiredState, TaskDoc, TaskState, TaskStatus};
    use berth_raft::Attrs;
    use chrono::Utc;
    use serde_json::{json, Value};

    /// Task `id` of service s1 made from `doc`, assigned to node n1.
    fn assigned(id: &str, doc: &TaskDoc) -> berth_raft::Object {
        let attrs = Attrs::Task {
            service_id: "s1".into(),
            node_id: Some("n1".into()),
            desired_state: DesiredState::Running,
        };
        let status = TaskStatus::new(TaskState::Assigned, "", None, Utc::now()).to_value();
        crate::fixtures::object(id, attrs, doc.to_value(), status)
    }

    #[test]
    fn a_tasks_container_carries_dockers_swarm_labels_ports_and_stop_timeout() {
        let template = json!({ "ContainerSpec": { "Image": "busybox@sha256:ab",
            "Labels": { "app": "web" }, "StopGracePeriod": 1_500_000_000u64 } });
        let doc = TaskDoc {
            slot: 3,
            service_name: "web".into(),
            template: template.clone(),
            host_ports: json!([{ "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host" }]),
            networks: json!(null),
            generic_resources: serde_json::Value::Null,
            job_iteration: None,
            log_driver: None,
        };
        let o = assigned("t9", &doc);
        let task = Task::parse(&o).unwrap();
        let spec = task.spec().unwrap();
        assert_eq!(image_of(&spec), Some("busybox@sha256:ab"));
        let c =
            container_task(&task, &spec, "busybox".into(), &NodeDescription::default()).unwrap();
        assert_eq!(c.name, "web.3.t9");
        assert_eq!(c.image, "busybox");
        assert_eq!(c.stop_timeout, 2, "1.5 s rounds up");
        assert_eq!(c.labels["app"], "web");
        assert_eq!(c.labels[LABEL_TASK_ID], "t9");
        assert_eq!(c.labels[LABEL_SERVICE_ID], "s1");
        assert_eq!(c.labels[LABEL_NODE_ID], "n1");
        assert_eq!(c.labels[LABEL_TASK_NAME], "web.3.t9");
        assert_eq!(c.ports.len(), 1);
        assert_eq!(stop_timeout(&TaskSpecContainerSpec::default()), 10);
    }

    #[test]
    fn a_task_logs_with_its_templates_driver_else_the_swarms_default_it_was_made_with() {
        let default: bollard_stubs::models::TaskSpecLogDriver =
            serde_json::from_value(json!({ "Name": "local", "Options": { "max-file": "2" } }))
                .unwrap();
        let driver_of = |template: Value| {
            let doc = TaskDoc {
                slot: 1,
                service_name: "web".into(),
                template,
                host_ports: Value::Null,
                networks: Value::Null,
                generic_resources: Value::Null,
                job_iteration: None,
                log_driver: Some(default.clone()),
            };
            let o = assigned("t1", &doc);
            let task = Task::parse(&o).unwrap();
            let spec = task.spec().unwrap();
            let c = container_task(&task, &spec, "busybox".into(), &NodeDescription::default());
            c.unwrap().log_driver.and_then(|d| d.name)
        };
        let image = json!({ "Image": "busybox" });
        assert_eq!(
            driver_of(json!({ "ContainerSpec": image })).as_deref(),
            Some("local")
        );
        let own = json!({ "ContainerSpec": image, "LogDriver": { "Name": "none" } });
        assert_eq!(driver_of(own).as_deref(), Some("none"));
    }

    #[test]
    fn a_templated_config_is_expanded_for_its_task_and_a_plain_one_is_not() {
        let spec: TaskSpecContainerSpec = serde_json::from_value(json!({
            "Configs": [
                { "ConfigID": "c1", "ConfigName": "app.conf", "File": { "Name": "/app.conf" } },
                { "ConfigID": "c2", "ConfigName": "raw", "File": { "Name": "/raw" } },
            ]
        }))
        .unwrap();
        let mut store = SecretStore::new();
        let text = b"name={{.Service.Name}} slot={{.Task.Slot}}".to_vec();
        store.insert((SecretKind::Config, "c1".into()), (text.clone(), true));
        store.insert((SecretKind::Config, "c2".into()), (text.clone(), false));
        let ctx = template::Context {
            service_name: "web".into(),
            task_slot: "2".into(),
            ..Default::default()
        };
        let files = task_files(&spec, &store, &ctx).unwrap();
        assert_eq!(files[0].data, b"name=web slot=2");
        assert_eq!(files[1].data, text);
        store.insert(
            (SecretKind::Config, "c1".into()),
            (b"{{.Service.Labels}}".to_vec(), true),
        );
        let e = task_files(&spec, &store, &ctx).unwrap_err();
        assert!(
            e.starts_with("config app.conf: template: unsupported placeholder"),
            "{e}"
        );
    }
}
