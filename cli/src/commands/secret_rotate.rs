//! `berth secret rotate NAME --data-file F`: Docker's rotation (create a new secret, move every
//! service to it, remove the old one) as one command. The next version is a new secret named
//! `<base>-v<N>` (so `secret ls` shows both) labelled with its base name, its number and the
//! version it replaced; every service referencing the old one is updated through its own
//! update config with the reference's target, uid, gid and mode kept, and the command waits
//! for each to converge and for its tasks on the old version to stop. The old version stays until `berth secret rm` removes it.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Result};
use base64::Engine as _;
use bollard::models::{ServiceSpec, TaskState};
use bollard::query_parameters::{ListTasksOptionsBuilder, UpdateServiceOptions};
use bollard::Docker;
use clap::Args;
use serde_json::json;

use super::secret::{create_object, read_data, Kind};
use crate::client::Client;

/// How long old tasks get to stop once the update converged (their stop grace periods).
const OLD_TASKS_PATIENCE: Duration = Duration::from_secs(300);

/// The label naming the secret a version belongs to.
pub const LABEL_BASE: &str = "com.berth.secret.base";
/// The label holding a version's number (the first version has none and counts as 1).
pub const LABEL_VERSION: &str = "com.berth.secret.version";
/// The label naming the version a secret replaced.
pub const LABEL_PREVIOUS: &str = "com.berth.secret.previous";

/// `berth secret rotate`
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// File holding the new data, or - for STDIN
    #[arg(long = "data-file", value_name = "file")]
    pub data_file: String,
    /// Do not wait for the services to converge
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Suppress progress output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// SECRET (name or id of the version in use)
    pub name: String,
}

/// The base name and number of the version after `name` with `labels`.
pub fn next_version(
    name: &str,
    labels: &std::collections::HashMap<String, String>,
) -> (String, u64) {
    let base = labels
        .get(LABEL_BASE)
        .cloned()
        .unwrap_or_else(|| name.to_string());
    let current = labels
        .get(LABEL_VERSION)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1);
    (base, current + 1)
}

/// Points every reference of `spec` to secret `old_id` at the new version, keeping its file
/// target, owner and mode; whether any did.
pub fn repoint(spec: &mut ServiceSpec, old_id: &str, new: (&str, &str)) -> bool {
    let refs = spec
        .task_template
        .as_mut()
        .and_then(|t| t.container_spec.as_mut())
        .and_then(|c| c.secrets.as_mut());
    let mut changed = false;
    for r in refs.into_iter().flatten() {
        if r.secret_id.as_deref() == Some(old_id) {
            r.secret_id = Some(new.0.to_string());
            r.secret_name = Some(new.1.to_string());
            changed = true;
        }
    }
    changed
}

/// Runs `secret rotate`.
pub async fn rotate(client: &Client, a: RotateArgs) -> Result<i32> {
    let docker = client.docker()?;
    let old = docker.inspect_secret(&a.name).await?;
    let old_id = old.id.clone().unwrap_or_default();
    let old_spec = old.spec.unwrap_or_default();
    let old_name = old_spec.name.clone().unwrap_or_default();
    let mut labels = old_spec.labels.clone().unwrap_or_default();
    let (base, number) = next_version(&old_name, &labels);
    let new_name = format!("{base}-v{number}");
    labels.insert(LABEL_BASE.into(), base);
    labels.insert(LABEL_VERSION.into(), number.to_string());
    labels.insert(LABEL_PREVIOUS.into(), old_name.clone());
    let data = read_data(&a.data_file)?;
    let spec = json!({
        "Name": new_name,
        "Labels": labels,
        "Data": base64::engine::general_purpose::STANDARD.encode(&data),
    });
    let new_id = create_object(client, Kind::Secret, &spec).await?;
    println!("{new_name} {new_id}");
    let mut failed = Vec::new();
    for service in docker.list_services(None).await? {
        let mut spec = service.spec.clone().unwrap_or_default();
        if !repoint(&mut spec, &old_id, (&new_id, &new_name)) {
            continue;
        }
        let name = spec.name.clone().unwrap_or_default();
        let version = service.version.as_ref().and_then(|v| v.index).unwrap_or(0);
        let options = UpdateServiceOptions {
            version: i32::try_from(version).unwrap_or(i32::MAX),
            registry_auth_from: "spec".into(),
            rollback: None,
        };
        let id = service.id.clone().unwrap_or_default();
        if let Err(e) = docker.update_service(&id, spec, options, None).await {
            eprintln!("{name}: {}", client.describe(&e.into()));
            failed.push(name);
            continue;
        }
        println!("{name}");
        if !a.detach {
            let waited = async {
                super::service::wait_on_service(&docker, &id, a.quiet).await?;
                off_old_version(&docker, &id, &old_id).await
            };
            if let Err(e) = waited.await {
                eprintln!("{name}: {e:#}");
                failed.push(name);
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "{old_name} is still used by: {} (the new version {new_name} exists)",
            failed.join(", ")
        );
    }
    if !a.quiet {
        println!("{old_name} is no longer used; remove it with: berth secret rm {old_name}");
    }
    Ok(0)
}

/// Whether a task of this state may still run its container.
fn may_run(state: Option<TaskState>) -> bool {
    !matches!(
        state,
        Some(
            TaskState::COMPLETE
                | TaskState::SHUTDOWN
                | TaskState::FAILED
                | TaskState::REJECTED
                | TaskState::REMOVE
                | TaskState::ORPHANED
        )
    )
}

/// Waits until no task of the service that may still run uses secret `old_id`: the update's
/// convergence says the new tasks run, not that the old ones have stopped (they get their
/// stop grace period).
async fn off_old_version(docker: &Docker, service_id: &str, old_id: &str) -> Result<()> {
    let filters = HashMap::from([("service".to_string(), vec![service_id.to_string()])]);
    let deadline = tokio::time::Instant::now() + OLD_TASKS_PATIENCE;
    loop {
        let options = ListTasksOptionsBuilder::new().filters(&filters).build();
        let tasks = docker.list_tasks(Some(options)).await?;
        let on_old = tasks.iter().any(|t| {
            let refs = t
                .spec
                .as_ref()
                .and_then(|s| s.container_spec.as_ref())
                .and_then(|c| c.secrets.as_ref());
            may_run(t.status.as_ref().and_then(|s| s.state))
                && refs
                    .into_iter()
                    .flatten()
                    .any(|r| r.secret_id.as_deref() == Some(old_id))
        });
        if !on_old {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("tasks on the old version are still running");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{TaskSpec, TaskSpecContainerSpec};

    #[test]
    fn versions_count_up_from_the_base_name() {
        assert_eq!(next_version("db", &HashMap::new()), ("db".into(), 2));
        assert!(may_run(Some(TaskState::RUNNING)) && !may_run(Some(TaskState::SHUTDOWN)));
        let labels = HashMap::from([
            (LABEL_BASE.to_string(), "db".to_string()),
            (LABEL_VERSION.to_string(), "2".to_string()),
        ]);
        assert_eq!(next_version("db-v2", &labels), ("db".into(), 3));
    }

    #[test]
    fn repointing_keeps_the_target_owner_and_mode() {
        let r = crate::commands::service::secrets::secret_ref("db", "pw", "10", "20", 0o400);
        let mut old = r.clone();
        old.secret_id = Some("old".into());
        let other = crate::commands::service::secrets::secret_ref("x", "x", "0", "0", 0o444);
        let mut spec = ServiceSpec {
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    secrets: Some(vec![old, other]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(repoint(&mut spec, "old", ("new", "db-v2")));
        let refs = spec
            .task_template
            .unwrap()
            .container_spec
            .unwrap()
            .secrets
            .unwrap();
        assert_eq!(refs[0].secret_id.as_deref(), Some("new"));
        assert_eq!(refs[0].secret_name.as_deref(), Some("db-v2"));
        assert_eq!(refs[0].file, r.file);
        assert_eq!(refs[1].secret_name.as_deref(), Some("x"));
        let mut none = ServiceSpec::default();
        assert!(!repoint(&mut none, "old", ("new", "db-v2")));
    }
}
