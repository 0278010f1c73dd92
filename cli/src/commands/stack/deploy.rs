//! `stack deploy` and `stack plan`: load the files, read what the swarm holds of the stack,
//! plan (plan.rs) and, for deploy, carry the plan out in order: networks, secrets, configs,
//! services created or updated, services pruned.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, Result};
use bollard::models::{ConfigSpec, NetworkCreateRequest, SecretSpec, ServiceSpec};
use bollard::query_parameters::{
    ListConfigsOptionsBuilder, ListSecretsOptionsBuilder, UpdateConfigOptionsBuilder,
    UpdateSecretOptionsBuilder, UpdateServiceOptions,
};
use bollard::Docker;
use serde_json::Value;

use super::plan::{self, Existing, Step};
use super::{check_name, namespace_filter, DeployArgs, PlanArgs, SourceArgs};
use crate::client::Client;
use crate::commands::service::{prepare_image, registry_auth, wait_on_service, with_default_tag};
use crate::compose::convert::{self, Desired};

/// The file's objects for the stack, warnings printed.
fn desired(source: &SourceArgs) -> Result<Desired> {
    check_name(&source.stack)?;
    let env = |k: &str| std::env::var(k).ok();
    let loaded = crate::compose::load(&source.compose_file, &env).map_err(anyhow::Error::msg)?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    let mut d = convert::convert(&source.stack, &loaded, &env).map_err(anyhow::Error::msg)?;
    // The tag docker's client adds (`busybox` → `busybox:latest`), before comparing.
    for spec in d.services.values_mut() {
        if let Some(image) = spec
            .pointer_mut("/TaskTemplate/ContainerSpec/Image")
            .filter(|i| i.is_string())
        {
            let tagged =
                crate::commands::service::with_default_tag(image.as_str().unwrap_or_default());
            *image = Value::String(tagged);
        }
    }
    Ok(d)
}

/// What the swarm holds of stack `stack`.
async fn existing(client: &Client, docker: &Docker, stack: &str) -> Result<Existing> {
    let services = crate::commands::service::read::list(client, &namespace_filter(stack)).await?;
    let mut out = Existing::default();
    let names = crate::commands::service::network::names_by_id(docker).await?;
    for s in services {
        let name = s
            .spec
            .as_ref()
            .and_then(|s| s.name.clone())
            .unwrap_or_default();
        let mut spec = s.spec.unwrap_or_default();
        crate::commands::service::network::name_targets(&mut spec, &names);
        let spec = serde_json::to_value(spec)?;
        let version = s.version.and_then(|v| v.index).unwrap_or(0);
        out.services
            .insert(name, (s.id.unwrap_or_default(), version, spec));
    }
    out.networks = names.into_values().collect();
    Ok(out)
}

/// Secrets and configs by name → id (asked only when the file has some: a daemon without
/// them still deploys the rest).
async fn file_objects(docker: &Docker, d: &Desired, out: &mut Existing) -> Result<()> {
    if wants(d, "Secrets") || !d.secrets.is_empty() {
        out.secrets = docker
            .list_secrets(Some(ListSecretsOptionsBuilder::new().build()))
            .await?
            .into_iter()
            .filter_map(|s| Some((s.spec?.name?, s.id?)))
            .collect();
    }
    if wants(d, "Configs") || !d.configs.is_empty() {
        out.configs = docker
            .list_configs(Some(ListConfigsOptionsBuilder::new().build()))
            .await?
            .into_iter()
            .filter_map(|c| Some((c.spec?.name?, c.id?)))
            .collect();
    }
    Ok(())
}

/// Whether a service refers to secrets (`key` = "Secrets") or configs.
fn wants(d: &Desired, key: &str) -> bool {
    d.services.values().any(|s| {
        s.pointer(&format!("/TaskTemplate/ContainerSpec/{key}"))
            .is_some()
    })
}

/// `berth stack plan`
pub async fn plan(client: &Client, docker: &Docker, a: PlanArgs) -> Result<i32> {
    let d = desired(&a.source)?;
    let mut have = existing(client, docker, &a.source.stack).await?;
    file_objects(docker, &d, &mut have).await?;
    let steps = plan::plan(&d, &have, a.source.prune).map_err(anyhow::Error::msg)?;
    print!("{}", plan::render(&a.source.stack, &steps));
    Ok(0)
}

/// `berth stack deploy`
pub async fn deploy(client: &Client, docker: &Docker, a: DeployArgs) -> Result<i32> {
    let stack = a.source.stack.clone();
    let mut d = desired(&a.source)?;
    let mut have = existing(client, docker, &stack).await?;
    file_objects(docker, &d, &mut have).await?;
    let steps = plan::plan(&d, &have, a.source.prune).map_err(anyhow::Error::msg)?;
    update_file_objects(docker, &d, &have).await?;
    // `--resolve-image always` (the default): an unchanged service whose tag now names
    // another image is updated, as docker's deploy of every service with the registry asked.
    let moved = if a.source.resolve_image == "always" {
        moved_images(docker, &steps, &d, &have).await
    } else {
        BTreeSet::new()
    };
    let mut touched = Vec::new();
    for step in &steps {
        match step {
            Step::CreateNetwork(n) => {
                println!("Creating network {n}");
                let body: NetworkCreateRequest =
                    serde_json::from_value(d.networks.get(n).cloned().unwrap_or_default())?;
                docker.create_network(body).await?;
            }
            Step::CreateSecret(n) => {
                println!("Creating secret {n}");
                let spec = secret_spec(n, d.secrets.get(n));
                let id = docker.create_secret(spec).await?.id;
                have.secrets.insert(n.clone(), id);
            }
            Step::CreateConfig(n) => {
                println!("Creating config {n}");
                let spec = config_spec(n, d.configs.get(n));
                let id = docker.create_config(spec).await?.id;
                have.configs.insert(n.clone(), id);
            }
            Step::CreateService(n) | Step::UpdateService { name: n, .. } | Step::Unchanged(n)
                if !matches!(step, Step::Unchanged(_)) || moved.contains(n) =>
            {
                let json = d.services.remove(n).unwrap_or_default();
                let json = with_ids(json, &have)?;
                let mut spec: ServiceSpec =
                    serde_json::from_value(json).map_err(|e| anyhow!("service {n}: {e}"))?;
                let resolve = match a.source.resolve_image.as_str() {
                    "never" => false,
                    "changed" => image_changed(step),
                    _ => true,
                };
                prepare_image(docker, &mut spec, resolve).await;
                if let Some((_, _, old)) = have.services.get(n) {
                    keep_from_existing(&mut spec, old, resolve);
                }
                let auth = registry_auth(&spec, a.with_registry_auth);
                if let Some((id, version, _)) = have.services.get(n) {
                    println!("Updating service {n} (id: {id})");
                    let options = UpdateServiceOptions {
                        version: i32::try_from(*version).unwrap_or(i32::MAX),
                        registry_auth_from: "spec".into(),
                        rollback: None,
                    };
                    let r = docker.update_service(id, spec, options, auth).await?;
                    r.warnings.iter().flatten().for_each(|w| eprintln!("{w}"));
                } else {
                    println!("Creating service {n}");
                    let r = docker.create_service(spec, auth).await?;
                    r.warnings.iter().flatten().for_each(|w| eprintln!("{w}"));
                }
                touched.push(n.clone());
            }
            // An unchanged service whose image did not move (the arm above takes the rest).
            Step::Unchanged(_) | Step::CreateService(_) | Step::UpdateService { .. } => {}
            Step::RemoveService(n) => {
                println!("Removing service {n}");
                docker.delete_service(n).await?;
            }
        }
    }
    if !a.detach {
        for n in &touched {
            wait_on_service(docker, n, a.quiet).await?;
        }
    }
    Ok(0)
}

/// As docker's deploy over an existing service: its `ForceUpdate` counter stays (a stack has
/// no `--force`), and when the registry is not asked and the file's image is the one it was
/// deployed from, the digest it is pinned to stays (else every update unpinned it).
fn keep_from_existing(spec: &mut ServiceSpec, old: &Value, resolved: bool) {
    let task = spec.task_template.get_or_insert_with(Default::default);
    task.force_update = old
        .pointer("/TaskTemplate/ForceUpdate")
        .and_then(Value::as_u64);
    if resolved {
        return;
    }
    let from = old
        .pointer("/Labels/com.docker.stack.image")
        .and_then(Value::as_str);
    let pinned = old
        .pointer("/TaskTemplate/ContainerSpec/Image")
        .and_then(Value::as_str);
    let asked = spec
        .labels
        .as_ref()
        .and_then(|l| l.get("com.docker.stack.image"))
        .map(String::as_str);
    if let (Some(from), Some(pinned), Some(asked)) = (from, pinned, asked) {
        if from == asked {
            if let Some(c) = task.container_spec.as_mut() {
                c.image = Some(pinned.to_string());
            }
        }
    }
}

/// The unchanged services whose image tag the registry now resolves to another digest than
/// the one the service is pinned to (a re-pushed `latest`); a registry that does not answer
/// moves nothing.
async fn moved_images(
    docker: &Docker,
    steps: &[Step],
    d: &Desired,
    have: &Existing,
) -> BTreeSet<String> {
    let image_at = |v: &Value| {
        v.pointer("/TaskTemplate/ContainerSpec/Image")
            .and_then(Value::as_str)
            .map(String::from)
    };
    let mut moved = BTreeSet::new();
    for step in steps {
        let Step::Unchanged(n) = step else { continue };
        let (Some(wanted), Some(pinned)) = (
            d.services.get(n).and_then(image_at),
            have.services.get(n).and_then(|(_, _, old)| image_at(old)),
        ) else {
            continue;
        };
        let Some((_, old_digest)) = pinned.split_once('@') else {
            continue;
        };
        let tagged = with_default_tag(&wanted);
        if let Ok(found) = docker.inspect_registry_image(&tagged, None).await {
            let digest = found.descriptor.digest.unwrap_or_default();
            if !digest.is_empty() && digest != old_digest {
                moved.insert(n.clone());
            }
        }
    }
    moved
}

/// The spec of secret `name` from the file's object (Docker sets a secret's template driver
/// as a config's).
fn secret_spec(name: &str, o: Option<&convert::FileObject>) -> SecretSpec {
    let o = o.cloned().unwrap_or_else(empty_object);
    SecretSpec {
        name: Some(name.to_string()),
        labels: Some(o.labels.into_iter().collect()),
        data: Some(base64_of(&o.data)),
        templating: o.template_driver.map(|name| bollard::models::Driver {
            name,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The spec of config `name` from the file's object.
fn config_spec(name: &str, o: Option<&convert::FileObject>) -> ConfigSpec {
    let o = o.cloned().unwrap_or_else(empty_object);
    ConfigSpec {
        name: Some(name.to_string()),
        labels: Some(o.labels.into_iter().collect()),
        data: Some(base64_of(&o.data)),
        templating: o.template_driver.map(|name| bollard::models::Driver {
            name,
            ..Default::default()
        }),
    }
}

/// Docker's redeploy of the file's secrets and configs that exist already: each is updated
/// with the file's spec, so changed labels apply and changed data is the daemon's refusal
/// ("only updates to Labels are allowed"), not silence.
async fn update_file_objects(docker: &Docker, d: &Desired, have: &Existing) -> Result<()> {
    for (name, o) in &d.secrets {
        let Some(id) = have.secrets.get(name) else {
            continue;
        };
        let version = docker
            .inspect_secret(id)
            .await?
            .version
            .and_then(|v| v.index)
            .unwrap_or(0);
        let options = UpdateSecretOptionsBuilder::new()
            .version(i64::try_from(version).unwrap_or(i64::MAX))
            .build();
        docker
            .update_secret(id, secret_spec(name, Some(o)), options)
            .await
            .map_err(|e| anyhow!("failed to update secret {name}: {}", daemon_message(&e)))?;
    }
    for (name, o) in &d.configs {
        let Some(id) = have.configs.get(name) else {
            continue;
        };
        let version = docker
            .inspect_config(id)
            .await?
            .version
            .and_then(|v| v.index)
            .unwrap_or(0);
        let options = UpdateConfigOptionsBuilder::new()
            .version(i64::try_from(version).unwrap_or(i64::MAX))
            .build();
        docker
            .update_config(id, config_spec(name, Some(o)), options)
            .await
            .map_err(|e| anyhow!("failed to update config {name}: {}", daemon_message(&e)))?;
    }
    Ok(())
}

/// The daemon's own words for a refused request.
fn daemon_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn empty_object() -> convert::FileObject {
    convert::FileObject {
        data: Vec::new(),
        labels: BTreeMap::new(),
        template_driver: None,
    }
}

fn base64_of(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Whether an update changes the image (`--resolve-image changed`); a new service always does.
fn image_changed(step: &Step) -> bool {
    match step {
        Step::UpdateService { changes, .. } => changes
            .iter()
            .any(|c| c.path.ends_with("ContainerSpec.Image")),
        _ => true,
    }
}

/// The spec with each secret's and config's id filled in from its name.
fn with_ids(mut spec: Value, have: &Existing) -> Result<Value> {
    for (key, name_key, id_key, ids, what) in [
        ("Secrets", "SecretName", "SecretID", &have.secrets, "secret"),
        ("Configs", "ConfigName", "ConfigID", &have.configs, "config"),
    ] {
        let Some(list) = spec
            .pointer_mut(&format!("/TaskTemplate/ContainerSpec/{key}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for r in list {
            let name = r[name_key].as_str().unwrap_or_default().to_string();
            let id = ids
                .get(&name)
                .ok_or_else(|| anyhow!("{what} not found: {name}"))?;
            r[id_key] = Value::String(id.clone());
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(image: &str) -> ServiceSpec {
        serde_json::from_value(json!({
            "Labels": { "com.docker.stack.image": image },
            "TaskTemplate": { "ContainerSpec": { "Image": image } },
        }))
        .unwrap()
    }

    #[test]
    fn an_update_keeps_the_pinned_digest_of_an_unchanged_image_and_the_force_counter() {
        let pinned = format!("app:1@sha256:{}", "a".repeat(64));
        let old = json!({
            "Labels": { "com.docker.stack.image": "app:1" },
            "TaskTemplate": { "ContainerSpec": { "Image": pinned }, "ForceUpdate": 3 },
        });
        let image = |s: &ServiceSpec| {
            s.task_template
                .as_ref()
                .and_then(|t| t.container_spec.as_ref())
                .and_then(|c| c.image.clone())
                .unwrap()
        };
        let mut same = spec("app:1");
        keep_from_existing(&mut same, &old, false);
        assert_eq!(image(&same), pinned, "not unpinned by an unrelated update");
        assert_eq!(same.task_template.as_ref().unwrap().force_update, Some(3));
        let mut other = spec("app:2");
        keep_from_existing(&mut other, &old, false);
        assert_eq!(image(&other), "app:2", "a new image is the new one");
        let mut asked = spec("app:1");
        keep_from_existing(&mut asked, &old, true);
        assert_eq!(
            image(&asked),
            "app:1",
            "the registry was asked: its answer stands"
        );
    }
}
