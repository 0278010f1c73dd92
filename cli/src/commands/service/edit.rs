//! `service update`'s changes to a spec read back from the daemon, as docker's CLI makes them:
//! `--*-add`/`--*-rm` on env, labels, constraints, placement preferences, mounts and published
//! ports, `--replicas`, `--force`, then the flags shared with `create`. Pure.

use std::collections::{BTreeMap, HashMap, HashSet};

use bollard::models::{
    EndpointPortConfig, EndpointSpec, Mount, ServiceSpec, TaskSpec, TaskSpecContainerSpec,
    TaskSpecPlacement,
};

use super::opts::UpdateArgs;
use super::parse;
use super::spec::{apply_common, env_key, to_i64};

/// Applies `service update`'s flags to `spec` (read from the daemon) in place.
pub fn update_spec(spec: &mut ServiceSpec, args: &UpdateArgs) -> Result<(), String> {
    if args.rollback && args.has_spec_changes() {
        return Err("other flags may not be combined with --rollback".into());
    }
    edit_map(&mut spec.labels, &args.label_rm, &args.label_add);
    if let Some(replicas) = args.common.replicas {
        match spec.mode.as_mut().and_then(|m| m.replicated.as_mut()) {
            Some(r) => r.replicas = Some(to_i64(replicas)),
            None => return Err("replicas can only be used with replicated mode".into()),
        }
    }
    if !args.publish_add.is_empty() || !args.publish_rm.is_empty() {
        let endpoint = spec.endpoint_spec.get_or_insert_with(EndpointSpec::default);
        let current = endpoint.ports.take().unwrap_or_default();
        endpoint.ports = Some(update_ports(current, args));
    }
    let task = spec.task_template.get_or_insert_with(TaskSpec::default);
    if args.force {
        task.force_update = Some(task.force_update.unwrap_or(0) + 1);
    }
    edit_placement(task, args);
    super::generic::edit(task, &args.generic_resource_add, &args.generic_resource_rm);
    if !args.network_add.is_empty() || !args.network_rm.is_empty() {
        let current = task.networks.take().unwrap_or_default();
        let updated = super::network::update(current, &args.network_add, &args.network_rm)?;
        task.networks = (!updated.is_empty()).then_some(updated);
    }
    let cspec = task
        .container_spec
        .get_or_insert_with(TaskSpecContainerSpec::default);
    edit_map(
        &mut cspec.labels,
        &args.container_label_rm,
        &args.container_label_add,
    );
    if let Some(image) = &args.image {
        cspec.image = Some(image.clone());
    }
    if let Some(words) = &args.args {
        cspec.args = Some(words.0.clone());
    }
    if !args.env_add.is_empty() || !args.env_rm.is_empty() {
        // A bare `KEY` takes its value from this shell's environment, as `create -e` does.
        let add = args
            .env_add
            .iter()
            .map(|e| crate::parse::env_value(e, |k| std::env::var(k).ok()))
            .collect::<Result<Vec<_>, _>>()?;
        let env = cspec.env.take().unwrap_or_default();
        cspec.env = Some(update_env(env, &args.env_rm, &add));
    }
    super::secrets::update_refs(
        cspec,
        (&args.secret_add, &args.secret_rm),
        (&args.config_add, &args.config_rm),
    );
    if !args.mount_add.is_empty() || !args.mount_rm.is_empty() {
        let mounts = cspec.mounts.take().unwrap_or_default();
        cspec.mounts = Some(update_mounts(mounts, &args.mount_add, &args.mount_rm)?);
    }
    apply_common(spec, &args.common)
}

/// `--constraint-add/-rm` (kept sorted) and `--placement-pref-add/-rm` (docker's rules).
fn edit_placement(task: &mut TaskSpec, args: &UpdateArgs) {
    if !args.constraint_add.is_empty() || !args.constraint_rm.is_empty() {
        let placement = task
            .placement
            .get_or_insert_with(TaskSpecPlacement::default);
        let mut constraints = placement.constraints.take().unwrap_or_default();
        constraints.extend(args.constraint_add.iter().cloned());
        constraints.retain(|c| !args.constraint_rm.contains(c));
        constraints.sort();
        placement.constraints = Some(constraints);
    }
    if !args.placement_pref_add.is_empty() || !args.placement_pref_rm.is_empty() {
        let placement = task
            .placement
            .get_or_insert_with(TaskSpecPlacement::default);
        let mut prefs = placement.preferences.take().unwrap_or_default();
        let spread = |p: &bollard::models::TaskSpecPlacementPreferences| {
            p.spread.as_ref().and_then(|s| s.spread_descriptor.clone())
        };
        let removed: Vec<_> = args.placement_pref_rm.iter().filter_map(spread).collect();
        prefs.retain(|p| spread(p).is_none_or(|d| !removed.contains(&d)));
        prefs.extend(args.placement_pref_add.iter().cloned());
        placement.preferences = Some(prefs);
    }
}

/// `--env-rm KEY` drops KEY; `--env-add KEY=V` replaces KEY in place or appends it.
fn update_env(mut env: Vec<String>, remove: &[String], add: &[String]) -> Vec<String> {
    env.retain(|e| !remove.iter().any(|r| r == env_key(e)));
    for a in add {
        match env.iter_mut().find(|e| env_key(e) == env_key(a)) {
            Some(slot) => slot.clone_from(a),
            None => env.push(a.clone()),
        }
    }
    env
}

/// Docker's `updateMounts`: added mounts replace those on the same target, `--mount-rm`
/// removes by target; the result is sorted by source, then target.
fn update_mounts(
    current: Vec<Mount>,
    add: &[Mount],
    remove: &[String],
) -> Result<Vec<Mount>, String> {
    let mut by_target: BTreeMap<String, Mount> = BTreeMap::new();
    for m in add {
        let target = m.target.clone().unwrap_or_default();
        if by_target.insert(target, m.clone()).is_some() {
            return Err("duplicate mount target".into());
        }
    }
    for m in current {
        by_target
            .entry(m.target.clone().unwrap_or_default())
            .or_insert(m);
    }
    let mut mounts: Vec<Mount> = by_target
        .into_iter()
        .filter(|(target, _)| !remove.contains(target))
        .map(|(_, m)| m)
        .collect();
    mounts.sort_by(|a, b| (&a.source, &a.target).cmp(&(&b.source, &b.target)));
    Ok(mounts)
}

/// Docker's `updatePorts`: `--publish-rm` matches target port, protocol and mode; added ports
/// already present are skipped; the result is sorted by docker's `published:target/proto/mode`.
fn update_ports(current: Vec<EndpointPortConfig>, args: &UpdateArgs) -> Vec<EndpointPortConfig> {
    let removed: Vec<&EndpointPortConfig> = args.publish_rm.iter().flat_map(|p| &p.0).collect();
    let matches = |a: &EndpointPortConfig, b: &EndpointPortConfig| {
        a.target_port == b.target_port && proto(a) == proto(b) && mode(a) == mode(b)
    };
    let mut seen = HashSet::new();
    let mut ports: Vec<EndpointPortConfig> = current
        .into_iter()
        .filter(|p| seen.insert(port_key(p)))
        .filter(|p| !removed.iter().any(|r| matches(p, r)))
        .collect();
    for p in args.publish_add.iter().flat_map(|p| &p.0) {
        if seen.insert(port_key(p)) {
            ports.push(p.clone());
        }
    }
    ports.sort_by_key(port_key);
    ports
}

fn proto(p: &EndpointPortConfig) -> String {
    match p.protocol.map(|x| x.to_string()) {
        Some(s) if !s.is_empty() => s,
        _ => "tcp".into(),
    }
}

fn mode(p: &EndpointPortConfig) -> String {
    match p.publish_mode.map(|x| x.to_string()) {
        Some(s) if !s.is_empty() => s,
        _ => "ingress".into(),
    }
}

fn port_key(p: &EndpointPortConfig) -> String {
    let published = p.published_port.unwrap_or(0);
    let target = p.target_port.unwrap_or(0);
    format!("{published}:{target}/{}/{}", proto(p), mode(p))
}

/// `--label-rm` then `--label-add` on a label map (docker's `updateLabels`).
fn edit_map(map: &mut Option<HashMap<String, String>>, remove: &[String], add: &[String]) {
    if let Some(m) = map.as_mut() {
        for key in remove {
            m.remove(key);
        }
    }
    if !add.is_empty() {
        map.get_or_insert_with(HashMap::new)
            .extend(parse::to_map(add));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::service::mount;
    use crate::commands::service::parse::{placement_pref, publish, shell_words};

    fn base() -> ServiceSpec {
        ServiceSpec {
            name: Some("web".into()),
            labels: Some(HashMap::from([
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
            ])),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some("busybox".into()),
                    env: Some(vec!["KEEP=1".into(), "DROP=2".into(), "X=0".into()]),
                    mounts: Some(vec![
                        mount::parse("type=tmpfs,target=/t1").unwrap(),
                        mount::parse("type=tmpfs,target=/t2").unwrap(),
                    ]),
                    ..Default::default()
                }),
                placement: Some(TaskSpecPlacement {
                    constraints: Some(vec!["node.role==manager".into(), "z==1".into()]),
                    preferences: Some(vec![placement_pref("spread=a").unwrap()]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            mode: Some(bollard::models::ServiceSpecMode {
                replicated: Some(bollard::models::ServiceSpecModeReplicated { replicas: Some(1) }),
                ..Default::default()
            }),
            endpoint_spec: Some(EndpointSpec {
                mode: None,
                ports: Some(publish("5000:50").unwrap().0),
            }),
            ..Default::default()
        }
    }

    fn update(service: &str) -> UpdateArgs {
        UpdateArgs {
            service: service.into(),
            ..Default::default()
        }
    }

    #[test]
    fn env_labels_and_args_change_in_place() {
        let mut spec = base();
        let mut a = update("web");
        a.env_add = vec!["NEW=3".into(), "KEEP=9".into()];
        a.env_rm = vec!["DROP".into()];
        a.label_add = vec!["c=3".into()];
        a.label_rm = vec!["a".into()];
        a.image = Some("busybox:1.36".into());
        a.args = Some(shell_words("sleep 10").unwrap());
        update_spec(&mut spec, &a).unwrap();
        let c = spec
            .task_template
            .as_ref()
            .unwrap()
            .container_spec
            .as_ref()
            .unwrap();
        assert_eq!(
            c.env,
            Some(vec!["KEEP=9".into(), "X=0".into(), "NEW=3".into()])
        );
        assert_eq!(c.image.as_deref(), Some("busybox:1.36"));
        assert_eq!(c.args, Some(vec!["sleep".to_string(), "10".to_string()]));
        let labels = spec.labels.unwrap();
        assert_eq!(
            (labels.get("a"), labels["b"].as_str(), labels["c"].as_str()),
            (None, "2", "3")
        );
    }

    #[test]
    fn constraints_prefs_and_mounts_follow_docker() {
        let mut spec = base();
        let mut a = update("web");
        a.constraint_add = vec!["a==1".into()];
        a.constraint_rm = vec!["z==1".into()];
        a.placement_pref_add = vec![placement_pref("spread=b").unwrap()];
        a.placement_pref_rm = vec![placement_pref("spread=a").unwrap()];
        a.mount_add = vec![
            mount::parse("type=tmpfs,target=/t3").unwrap(),
            mount::parse("type=bind,source=/src,target=/t2").unwrap(),
        ];
        a.mount_rm = vec!["/t1".into()];
        update_spec(&mut spec, &a).unwrap();
        let task = spec.task_template.unwrap();
        let placement = task.placement.unwrap();
        assert_eq!(
            placement.constraints,
            Some(vec!["a==1".to_string(), "node.role==manager".to_string()])
        );
        assert_eq!(
            placement.preferences,
            Some(vec![placement_pref("spread=b").unwrap()])
        );
        let targets: Vec<_> = task
            .container_spec
            .unwrap()
            .mounts
            .unwrap()
            .into_iter()
            .map(|m| (m.source, m.target.unwrap()))
            .collect();
        assert_eq!(
            targets,
            vec![
                (None, "/t3".to_string()),
                (Some("/src".to_string()), "/t2".to_string())
            ]
        );
        let mut dup = update("web");
        dup.mount_add = vec![
            mount::parse("type=tmpfs,target=/x").unwrap(),
            mount::parse("type=tmpfs,target=/x").unwrap(),
        ];
        assert_eq!(
            update_spec(&mut base(), &dup).unwrap_err(),
            "duplicate mount target"
        );
    }

    #[test]
    fn ports_replicas_and_force() {
        let mut spec = base();
        let mut a = update("web");
        a.publish_add = vec![publish("5001:51").unwrap(), publish("5000:50").unwrap()];
        a.publish_rm = vec![publish("50").unwrap()];
        a.common.replicas = Some(4);
        a.force = true;
        update_spec(&mut spec, &a).unwrap();
        let ports = spec.endpoint_spec.unwrap().ports.unwrap();
        assert_eq!(
            ports
                .iter()
                .map(|p| (p.published_port, p.target_port))
                .collect::<Vec<_>>(),
            vec![(Some(5001), Some(51))]
        );
        assert_eq!(spec.mode.unwrap().replicated.unwrap().replicas, Some(4));
        assert_eq!(spec.task_template.unwrap().force_update, Some(1));
    }

    #[test]
    fn refusals() {
        let mut global = base();
        global.mode = Some(bollard::models::ServiceSpecMode {
            global: Some(HashMap::new()),
            ..Default::default()
        });
        let mut a = update("web");
        a.common.replicas = Some(2);
        assert_eq!(
            update_spec(&mut global, &a).unwrap_err(),
            "replicas can only be used with replicated mode"
        );
        let mut r = update("web");
        r.rollback = true;
        r.common.detach = true;
        assert!(update_spec(&mut base(), &r).is_ok());
        r.image = Some("x".into());
        assert_eq!(
            update_spec(&mut base(), &r).unwrap_err(),
            "other flags may not be combined with --rollback"
        );
    }

    #[test]
    fn a_bare_env_add_takes_the_value_from_this_shell() {
        // A name no other test or the environment uses.
        let name = "BERTH_TEST_ENV_ADD_FROM_SHELL";
        std::env::set_var(name, "from-shell");
        let mut spec = ServiceSpec {
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec::default()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let a = UpdateArgs {
            service: "web".into(),
            env_add: vec![name.into(), "BERTH_TEST_ENV_ADD_UNSET".into()],
            ..Default::default()
        };
        update_spec(&mut spec, &a).unwrap();
        let env = spec
            .task_template
            .unwrap()
            .container_spec
            .unwrap()
            .env
            .unwrap();
        assert_eq!(
            env,
            [
                format!("{name}=from-shell"),
                "BERTH_TEST_ENV_ADD_UNSET".to_string()
            ]
        );
    }
}
