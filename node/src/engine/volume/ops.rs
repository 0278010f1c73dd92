//! Volume operations on the engine: create, list, inspect, remove, prune; and what container
//! create and remove need (anonymous volumes, copy-up, `rm -v`).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use chrono::{SecondsFormat, Utc};

use super::{local, MountKind, MountOrigin, MountSpec, VolumeFilters, VolumeRecord};
use crate::engine::Engine;

/// The label moby gives a volume made without a name (by a container or by an unnamed create).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
use crate::error::{EngineError, Result};

impl Engine {
    /// Where volumes live.
    pub fn volumes_root(&self) -> PathBuf {
        self.paths.data_root.join("volumes")
    }

    /// A volume's mount point on the host.
    pub fn volume_mountpoint(&self, name: &str) -> PathBuf {
        local::mountpoint(&self.volumes_root(), name)
    }

    /// Creates a volume (a generated name when `name` is empty). Creating an existing name
    /// returns it unchanged, as Docker does.
    pub fn create_volume(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<VolumeRecord> {
        let name = if name.is_empty() {
            hex::encode(rand::random::<[u8; 32]>())
        } else {
            validate_name(name)?;
            name.to_string()
        };
        if let Some(v) = self.volumes.get::<VolumeRecord>(&name)? {
            return Ok(v);
        }
        for key in options.keys() {
            match key.as_str() {
                "type" | "device" | "o" => {}
                // Docker's local driver honours `size` only on a data root with XFS project
                // quotas; berth keeps no quota controller, so it refuses as Docker does there.
                "size" => {
                    return Err(EngineError::InvalidArgument(
                        "quota size requested but no quota support".into(),
                    ))
                }
                _ => {
                    return Err(EngineError::InvalidArgument(format!(
                        "create {name}: invalid option: \"{key}\""
                    )))
                }
            }
        }
        let mut labels = labels;
        if anonymous {
            // moby's mark, which `volume ls --filter label=` finds and prune goes by.
            labels.insert(ANONYMOUS_LABEL.into(), String::new());
        }
        let v = VolumeRecord {
            name: name.clone(),
            driver: "local".into(),
            created_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            labels,
            options,
            anonymous,
        };
        local::create(&self.volumes_root(), &v)?;
        if let Err(e) = self.volumes.put(&name, &v) {
            let _ = local::destroy(&self.volumes_root(), &name);
            return Err(e);
        }
        self.events.emit(
            "volume",
            "create",
            &name,
            BTreeMap::from([("driver".to_string(), "local".to_string())]),
        );
        Ok(v)
    }

    /// A volume by name.
    pub fn inspect_volume(&self, name: &str) -> Result<VolumeRecord> {
        self.volumes
            .get::<VolumeRecord>(name)?
            .ok_or_else(|| EngineError::NotFound(format!("get {name}: no such volume")))
    }

    /// Volumes passing `f`, by name.
    pub async fn list_volumes(&self, f: &VolumeFilters) -> Result<Vec<VolumeRecord>> {
        let used = self.used_volumes().await;
        let mut out: Vec<VolumeRecord> = self
            .volumes
            .all::<VolumeRecord>()?
            .into_iter()
            .map(|(_, v)| v)
            .filter(|v| f.dangling.is_none_or(|d| d != used.contains(&v.name)))
            .filter(|v| f.name.is_empty() || f.name.iter().any(|n| v.name.contains(n.as_str())))
            .filter(|v| f.label.iter().all(|l| has_label(&v.labels, l)))
            .filter(|v| !f.label_not.iter().any(|l| has_label(&v.labels, l)))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Names of volumes some container (running or not) mounts.
    async fn used_volumes(&self) -> HashSet<String> {
        let mut used = HashSet::new();
        for h in self.handles() {
            for m in h.snapshot().await.host.mounts {
                if m.kind == MountKind::Volume {
                    used.insert(m.source);
                }
            }
        }
        used
    }

    /// Bytes a volume holds and how many containers use it (`system df`'s UsageData).
    pub async fn volume_usage(&self, name: &str) -> (u64, usize) {
        let size = local::usage(&self.volumes_root(), name).await;
        (size, self.volume_users(name).await.len())
    }

    async fn volume_users(&self, name: &str) -> Vec<String> {
        let mut ids = Vec::new();
        for h in self.handles() {
            let rec = h.snapshot().await;
            if rec
                .host
                .mounts
                .iter()
                .any(|m| m.kind == MountKind::Volume && m.source == name)
            {
                ids.push(rec.id);
            }
        }
        ids
    }

    /// Removes a volume; one a container uses is refused even with `force` (as in Docker,
    /// where force only ignores a missing volume).
    pub async fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        if self.volumes.get::<VolumeRecord>(name)?.is_none() {
            return if force {
                Ok(())
            } else {
                Err(EngineError::NotFound(format!("get {name}: no such volume")))
            };
        }
        let users = self.volume_users(name).await;
        if !users.is_empty() {
            return Err(EngineError::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        local::destroy(&self.volumes_root(), name)?;
        self.volumes.remove(name)?;
        self.events.emit(
            "volume",
            "destroy",
            name,
            BTreeMap::from([("driver".to_string(), "local".to_string())]),
        );
        Ok(())
    }

    /// Removes unused anonymous volumes (every unused one with `all`); names and bytes freed.
    /// Removes unused volumes passing `f` (anonymous ones only unless `all`).
    pub async fn prune_volumes(
        &self,
        all: bool,
        mut f: VolumeFilters,
    ) -> Result<(Vec<String>, u64)> {
        f.dangling = Some(true);
        let mut gone = Vec::new();
        let mut freed = 0;
        for v in self.list_volumes(&f).await? {
            if !all && !v.anonymous {
                continue;
            }
            let size = local::usage(&self.volumes_root(), &v.name).await;
            if self.remove_volume(&v.name, false).await.is_ok() {
                gone.push(v.name);
                freed += size;
            }
        }
        Ok((gone, freed))
    }

    /// For create: names anonymous volumes, adds the image's `Volumes` not already mounted,
    /// and makes every volume that does not exist. Returns the volumes made here.
    pub(crate) fn prepare_mounts(
        &self,
        mounts: &mut Vec<MountSpec>,
        image_volumes: &[String],
        volume_driver: &str,
    ) -> Result<Vec<String>> {
        for target in image_volumes {
            if !mounts.iter().any(|m| &m.target == target) {
                mounts.push(MountSpec {
                    kind: MountKind::Volume,
                    target: target.clone(),
                    ..Default::default()
                });
            }
        }
        // Resolved at the daemon's start, as moby resolves its root.
        let daemon_root = self.paths.data_root.to_string_lossy();
        let mut made = Vec::new();
        for m in mounts.iter_mut() {
            match m.kind {
                MountKind::Volume => {
                    let anonymous = m.source.is_empty();
                    if !matches!(volume_driver, "" | "local")
                        && matches!(m.origin, MountOrigin::Config | MountOrigin::Binds(_))
                    {
                        // `-v` and the image's volumes are made by `--volume-driver` (a
                        // `--mount` names its own); only `local` exists here.
                        let name = if anonymous {
                            hex::encode(rand::random::<[u8; 32]>())
                        } else {
                            m.source.clone()
                        };
                        return Err(EngineError::NotFound(format!(
                            "create {name}: error looking up volume plugin {volume_driver}: plugin \"{volume_driver}\" not found"
                        )));
                    }
                    let existed =
                        !anonymous && self.volumes.get::<VolumeRecord>(&m.source)?.is_some();
                    // An existing volume is used as it is: Docker checks only its driver.
                    let v = self.create_volume(
                        &m.source,
                        m.volume_labels.clone(),
                        m.volume_options.clone(),
                        anonymous,
                    )?;
                    if !existed {
                        made.push(v.name.clone());
                    }
                    local::ensure_mounted(&self.volumes_root(), &v)?;
                    m.source = v.name;
                }
                MountKind::Bind => {
                    super::mounts::daemon_root_propagation(m, &daemon_root)
                        .map_err(EngineError::InvalidArgument)?;
                    let src = std::path::Path::new(&m.source);
                    if !src.exists() {
                        if !m.create_source {
                            return Err(EngineError::InvalidArgument(format!(
                                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                                m.source
                            )));
                        }
                        std::fs::create_dir_all(src).map_err(|e| {
                            EngineError::io(format!("create bind source {}", m.source), e)
                        })?;
                    }
                }
                MountKind::Tmpfs => {}
            }
        }
        Ok(made)
    }

    /// Docker's copy-up: each empty volume mounted over a directory of the image gets that
    /// directory's content. The container must exist and not run.
    pub(crate) async fn copy_up(&self, id: &str, mounts: &[MountSpec]) -> Result<()> {
        // A subpath's emptiness is checked on the handle it is opened as, in the task.
        let wanted: Vec<&MountSpec> = mounts
            .iter()
            .filter(|m| m.kind == MountKind::Volume && !m.no_copy)
            .filter(|m| {
                !m.subpath.is_empty()
                    || super::mounts::is_empty_dir(&self.volume_mountpoint(&m.source))
            })
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let rootfs = self.rootfs(id).await?;
        let jobs: Vec<(String, String, std::path::PathBuf, String)> = wanted
            .into_iter()
            .map(|m| {
                let volume = self.volume_mountpoint(&m.source);
                (
                    m.target.clone(),
                    m.source.clone(),
                    volume,
                    m.subpath.clone(),
                )
            })
            .collect();
        tokio::task::spawn_blocking(move || {
            for (target, source, volume, subpath) in jobs {
                let failed =
                    |e| EngineError::io(format!("copy image content into volume {source}"), e);
                if subpath.is_empty() {
                    super::copy_up::copy_up(&rootfs.root, &target, &volume).map_err(failed)?;
                    continue;
                }
                // Docker copies into an existing, empty subpath directory; a missing one is
                // left alone (the start then fails on it).
                let Some(dst) = super::subpath::open_empty_dir(&volume, &subpath) else {
                    continue;
                };
                super::copy_up::copy_up_to(&rootfs.root, &target, dst).map_err(failed)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| EngineError::Internal(format!("copy-up task: {e}")))?
    }

    /// After a container is gone: with `rm -v`, its anonymous volumes go too.
    pub(crate) async fn remove_anonymous_volumes(&self, mounts: &[MountSpec]) {
        for m in mounts.iter().filter(|m| m.kind == MountKind::Volume) {
            if let Ok(Some(v)) = self.volumes.get::<VolumeRecord>(&m.source) {
                if v.anonymous {
                    if let Err(e) = self.remove_volume(&v.name, false).await {
                        tracing::warn!(volume = %v.name, error = %e, "removing anonymous volume failed");
                    }
                }
            }
        }
    }
}

/// Docker's rule for volume names.
fn validate_name(name: &str) -> Result<()> {
    let ok = name.len() >= 2
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(EngineError::InvalidArgument(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )))
    }
}

/// `key` or `key=value` against a volume's labels.
fn has_label(labels: &BTreeMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, val)) => labels.get(k).is_some_and(|x| x == val),
        None => labels.contains_key(filter),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names_follow_dockers_rule() {
        assert!(validate_name("data-1.x_y").is_ok());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name("x").is_err());
    }
}
