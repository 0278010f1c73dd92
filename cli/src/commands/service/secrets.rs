//! `--secret`/`--config` (create) and `--secret-add/-rm`, `--config-add/-rm` (update): docker's
//! short form `NAME` and long form `source=NAME,target=T,uid=U,gid=G,mode=0400`, turned into
//! the spec's references by `secret_ref`/`config_ref` (reusable by anything that builds a spec
//! from names, such as a stack file); `resolve` fills each reference's id from the daemon, as
//! docker's CLI does before it sends the spec.

use std::collections::HashMap;

use anyhow::{bail, Result};
use bollard::models::{
    TaskSpecContainerSpec, TaskSpecContainerSpecConfigs, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecFile1, TaskSpecContainerSpecSecrets,
};
use bollard::query_parameters::{ListConfigsOptions, ListSecretsOptions};
use bollard::Docker;

/// Docker's file mode of a secret or config when none is given (`0444`).
pub const DEFAULT_MODE: u32 = 0o444;

/// One `--secret`/`--config` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// The secret's or config's name.
    pub source: String,
    /// The file name (relative to `/run/secrets` for secrets, to `/` for configs) or path.
    pub target: String,
    /// The file's owner.
    pub uid: String,
    /// The file's group.
    pub gid: String,
    /// The file's mode.
    pub mode: u32,
}

/// Parses one value as docker's `SecretOpt`/`ConfigOpt` do.
pub fn parse(s: &str) -> Result<FileRef, String> {
    let mut r = FileRef {
        source: String::new(),
        target: String::new(),
        uid: "0".into(),
        gid: "0".into(),
        mode: DEFAULT_MODE,
    };
    if !s.contains('=') {
        r.source = s.to_string();
    }
    for field in s.split(',').filter(|_| s.contains('=')) {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))?;
        match k.trim().to_lowercase().as_str() {
            "source" | "src" => r.source = v.to_string(),
            "target" => r.target = v.to_string(),
            "uid" => r.uid = v.to_string(),
            "gid" => r.gid = v.to_string(),
            "mode" => {
                r.mode =
                    u32::from_str_radix(v, 8).map_err(|_| format!("invalid mode specified: {v}"))?
            }
            other => return Err(format!("invalid field in secret request: {other}")),
        }
    }
    if r.source.is_empty() {
        return Err("source is required".into());
    }
    if r.target.is_empty() {
        r.target = r.source.clone();
    }
    Ok(r)
}

/// The spec's reference to secret `name` (its id filled later by `resolve`).
pub fn secret_ref(
    name: &str,
    target: &str,
    uid: &str,
    gid: &str,
    mode: u32,
) -> TaskSpecContainerSpecSecrets {
    TaskSpecContainerSpecSecrets {
        file: Some(TaskSpecContainerSpecFile {
            name: Some(target.to_string()),
            uid: Some(uid.to_string()),
            gid: Some(gid.to_string()),
            mode: Some(mode),
        }),
        secret_id: None,
        secret_name: Some(name.to_string()),
    }
}

/// The spec's reference to config `name` (its id filled later by `resolve`).
pub fn config_ref(
    name: &str,
    target: &str,
    uid: &str,
    gid: &str,
    mode: u32,
) -> TaskSpecContainerSpecConfigs {
    TaskSpecContainerSpecConfigs {
        file: Some(TaskSpecContainerSpecFile1 {
            name: Some(target.to_string()),
            uid: Some(uid.to_string()),
            gid: Some(gid.to_string()),
            mode: Some(mode),
        }),
        runtime: None,
        config_id: None,
        config_name: Some(name.to_string()),
    }
}

/// The references of `--secret` values.
pub fn secrets_of(refs: &[FileRef]) -> Vec<TaskSpecContainerSpecSecrets> {
    refs.iter()
        .map(|r| secret_ref(&r.source, &r.target, &r.uid, &r.gid, r.mode))
        .collect()
}

/// The references of `--config` values.
pub fn configs_of(refs: &[FileRef]) -> Vec<TaskSpecContainerSpecConfigs> {
    refs.iter()
        .map(|r| config_ref(&r.source, &r.target, &r.uid, &r.gid, r.mode))
        .collect()
}

/// `--secret-rm`/`--secret-add` (and configs): references named in `rm` go, `add` ones are
/// appended, as docker's `updateSecrets`/`updateConfigs`.
pub fn update_refs(
    c: &mut TaskSpecContainerSpec,
    secrets: (&[FileRef], &[String]),
    configs: (&[FileRef], &[String]),
) {
    if !secrets.0.is_empty() || !secrets.1.is_empty() {
        let mut list = c.secrets.take().unwrap_or_default();
        list.retain(|s| {
            !s.secret_name
                .as_ref()
                .is_some_and(|n| secrets.1.contains(n))
        });
        list.extend(secrets_of(secrets.0));
        c.secrets = Some(list);
    }
    if !configs.0.is_empty() || !configs.1.is_empty() {
        let mut list = c.configs.take().unwrap_or_default();
        list.retain(|s| {
            !s.config_name
                .as_ref()
                .is_some_and(|n| configs.1.contains(n))
        });
        list.extend(configs_of(configs.0));
        c.configs = Some(list);
    }
}

/// Fills each reference's id from its name, refusing unknown names with docker's words.
pub async fn resolve(docker: &Docker, c: &mut TaskSpecContainerSpec) -> Result<()> {
    if let Some(refs) = c
        .secrets
        .as_mut()
        .filter(|s| s.iter().any(|r| r.secret_id.is_none()))
    {
        let wanted = refs.iter().filter_map(|r| r.secret_name.clone()).collect();
        let ids = ids_by_name(docker, "secret", wanted).await?;
        for r in refs.iter_mut().filter(|r| r.secret_id.is_none()) {
            r.secret_id = Some(id_of(&ids, "secret", r.secret_name.as_deref())?);
        }
    }
    if let Some(refs) = c
        .configs
        .as_mut()
        .filter(|s| s.iter().any(|r| r.config_id.is_none()))
    {
        let wanted = refs.iter().filter_map(|r| r.config_name.clone()).collect();
        let ids = ids_by_name(docker, "config", wanted).await?;
        for r in refs.iter_mut().filter(|r| r.config_id.is_none()) {
            r.config_id = Some(id_of(&ids, "config", r.config_name.as_deref())?);
        }
    }
    Ok(())
}

/// The ids of the secrets (`what` = "secret") or configs named `wanted`, by name.
async fn ids_by_name(
    docker: &Docker,
    what: &str,
    wanted: Vec<String>,
) -> Result<HashMap<String, String>> {
    let filters = Some(HashMap::from([("names".to_string(), wanted)]));
    Ok(if what == "secret" {
        let found = docker
            .list_secrets(Some(ListSecretsOptions { filters }))
            .await?;
        found
            .into_iter()
            .filter_map(|s| Some((s.spec?.name?, s.id?)))
            .collect()
    } else {
        let found = docker
            .list_configs(Some(ListConfigsOptions { filters }))
            .await?;
        found
            .into_iter()
            .filter_map(|s| Some((s.spec?.name?, s.id?)))
            .collect()
    })
}

/// The id of `name` in `ids`, or docker's "secret not found: NAME".
fn id_of(ids: &HashMap<String, String>, what: &str, name: Option<&str>) -> Result<String> {
    let name = name.unwrap_or_default();
    match ids.get(name) {
        Some(id) => Ok(id.clone()),
        None => bail!("{what} not found: {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_forms_parse_as_docker_reads_them() {
        let r = parse("db").unwrap();
        assert_eq!(
            (r.source.as_str(), r.target.as_str(), r.mode),
            ("db", "db", 0o444)
        );
        let r = parse("source=db,target=renamed,uid=10,gid=20,mode=0400").unwrap();
        assert_eq!(r.target, "renamed");
        assert_eq!(
            (r.uid.as_str(), r.gid.as_str(), r.mode),
            ("10", "20", 0o400)
        );
        assert_eq!(parse("target=x").unwrap_err(), "source is required");
        assert!(parse("source=a,mode=9")
            .unwrap_err()
            .contains("invalid mode"));
        assert!(parse("source=a,bogus=1").unwrap_err().contains("bogus"));
    }

    #[test]
    fn updates_remove_by_name_then_add() {
        let mut c = TaskSpecContainerSpec {
            secrets: Some(secrets_of(&[parse("a").unwrap(), parse("b").unwrap()])),
            ..Default::default()
        };
        update_refs(&mut c, (&[parse("c").unwrap()], &["a".into()]), (&[], &[]));
        let names: Vec<_> = c
            .secrets
            .unwrap()
            .iter()
            .filter_map(|s| s.secret_name.clone())
            .collect();
        assert_eq!(names, vec!["b".to_string(), "c".to_string()]);
        assert!(c.configs.is_none());
    }
}
