//! A commit's config body (`POST /commit` with a `ContainerConfig`, docker-py's
//! `commit(conf=...)`): what it sets wins, and what it leaves unset comes from the container, as
//! moby's `merge` in `daemon/commit.go` fills it (lists and maps joined, the command only when
//! no entrypoint is given). And the container's config itself (`of_container`), which a
//! commit starts from and records as the image's `container_config`, as Docker's.

use serde_json::json;

use super::dockerfile::Healthcheck;
use crate::engine::container::types::ContainerRecord;
use crate::engine::image::RunConfig;
use crate::engine::volume::{MountKind, MountOrigin};

/// The container's `Config` as Docker's commit takes it (moby's `container.Config`): the
/// image's settings the container was made with, with the container's own over them.
pub fn of_container(rec: &ContainerRecord, image: &RunConfig) -> RunConfig {
    let c = &rec.config;
    let mut cfg = image.clone();
    cfg.entrypoint = (!c.entrypoint.is_empty()).then(|| c.entrypoint.clone());
    cfg.cmd = (!c.cmd.is_empty()).then(|| c.cmd.clone());
    cfg.env = c.env.clone();
    cfg.working_dir = c.working_dir.clone();
    cfg.user = c.user.clone();
    cfg.labels = c.labels.clone();
    cfg.stop_signal = c.stop_signal.clone();
    for p in &c.exposed_ports {
        cfg.exposed_ports.insert(p.clone(), json!({}));
    }
    // `Config.Volumes`: the image's and the run's anonymous ones (`-v /data`).
    for m in &rec.host.mounts {
        if m.origin == MountOrigin::Config && m.kind == MountKind::Volume {
            cfg.volumes.insert(m.target.clone(), json!({}));
        }
    }
    for (key, value) in [
        ("Hostname", json!(c.hostname)),
        ("Domainname", json!(c.domainname)),
        ("AttachStdin", json!(c.attach.stdin)),
        ("AttachStdout", json!(c.attach.stdout)),
        ("AttachStderr", json!(c.attach.stderr)),
        ("Tty", json!(c.tty)),
        ("OpenStdin", json!(c.open_stdin)),
        ("StdinOnce", json!(c.stdin_once)),
        ("Image", json!(c.image)),
    ] {
        cfg.extra.insert(key.into(), value);
    }
    match &c.healthcheck {
        // The builder's writer of a HEALTHCHECK, in Docker's JSON shape.
        Some(h) => super::config::set_healthcheck(
            &mut cfg,
            &Healthcheck {
                test: h.test.clone(),
                interval: h.interval,
                timeout: h.timeout,
                start_period: h.start_period,
                start_interval: h.start_interval,
                retries: h.retries,
            },
        ),
        None => {
            cfg.extra.remove("Healthcheck");
        }
    }
    match c.stop_timeout {
        Some(t) => cfg.extra.insert("StopTimeout".into(), json!(t)),
        None => cfg.extra.remove("StopTimeout"),
    };
    cfg
}

/// `user` (the body, with the commit's changes applied) completed from `container` (the
/// container's config as a commit without a body takes it).
pub fn merge(mut user: RunConfig, container: RunConfig) -> RunConfig {
    if user.user.is_empty() {
        user.user = container.user;
    }
    for (port, v) in container.exposed_ports {
        user.exposed_ports.entry(port).or_insert(v);
    }
    let key = |e: &str| e.split('=').next().unwrap_or_default().to_string();
    let given: Vec<String> = user.env.iter().map(|e| key(e)).collect();
    user.env.extend(
        container
            .env
            .into_iter()
            .filter(|e| !given.contains(&key(e))),
    );
    for (label, v) in container.labels {
        user.labels.entry(label).or_insert(v);
    }
    if user.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if user.cmd.as_ref().is_none_or(Vec::is_empty) {
            user.cmd = container.cmd;
        }
        if user.entrypoint.is_none() {
            user.entrypoint = container.entrypoint;
        }
    }
    merge_healthcheck(&mut user, container.extra.get("Healthcheck"));
    if user.working_dir.is_empty() {
        user.working_dir = container.working_dir;
    }
    for (path, v) in container.volumes {
        user.volumes.insert(path, v);
    }
    if user.stop_signal.as_deref().is_none_or(str::is_empty) {
        user.stop_signal = container.stop_signal;
    }
    user
}

/// The container's health check where the body has none, and its settings where the body's
/// leaves them at zero.
fn merge_healthcheck(user: &mut RunConfig, container: Option<&serde_json::Value>) {
    let Some(theirs) = container.filter(|c| c.is_object()) else {
        return;
    };
    let mine = user
        .extra
        .entry("Healthcheck")
        .or_insert_with(|| theirs.clone());
    let Some(mine) = mine.as_object_mut() else {
        return;
    };
    for field in ["Test", "Interval", "Timeout", "StartPeriod", "Retries"] {
        let unset = match mine.get(field) {
            None | Some(serde_json::Value::Null) => true,
            Some(serde_json::Value::Array(a)) => a.is_empty(),
            Some(v) => v.as_i64() == Some(0),
        };
        if unset {
            if let Some(v) = theirs.get(field) {
                mine.insert(field.into(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: serde_json::Value) -> RunConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_body_wins_and_the_container_fills_the_rest_as_mobys_merge() {
        let container = config(json!({"User": "app", "Env": ["A=1", "B=2"],
            "Cmd": ["sleep", "1"], "WorkingDir": "/w", "Labels": {"l": "c", "k": "c"},
            "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/v": {}}, "StopSignal": "SIGINT",
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5, "Retries": 2}}));
        let user = config(
            json!({"Env": ["B=3"], "Labels": {"k": "u"}, "Cmd": ["echo"],
            "ExposedPorts": {"81/tcp": {}}, "Healthcheck": {"Interval": 9}}),
        );
        let merged = serde_json::to_value(merge(user, container.clone())).unwrap();
        assert_eq!(merged["User"], "app");
        assert_eq!(merged["Env"], json!(["B=3", "A=1"]));
        assert_eq!(merged["Cmd"], json!(["echo"]));
        assert_eq!(merged["WorkingDir"], "/w");
        assert_eq!(merged["Labels"], json!({"k": "u", "l": "c"}));
        assert_eq!(merged["ExposedPorts"], json!({"80/tcp": {}, "81/tcp": {}}));
        assert_eq!(merged["Volumes"], json!({"/v": {}}));
        assert_eq!(merged["StopSignal"], "SIGINT");
        assert_eq!(
            merged["Healthcheck"],
            json!({"Test": ["CMD", "true"], "Interval": 9, "Retries": 2})
        );
        // An entrypoint given: the container's command is not carried over.
        let with_entry = merge(config(json!({"Entrypoint": ["/bin/x"]})), container.clone());
        assert_eq!(with_entry.cmd, None);
        // Nothing given: the container's config.
        let same = merge(RunConfig::default(), container.clone());
        assert_eq!(same.cmd, container.cmd);
        assert_eq!(same.env, container.env);
    }
}
