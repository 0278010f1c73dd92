//! What a create needs from the host and from other containers before the record is written:
//! `container:` targets (they must exist; the record keeps their ids), `--volumes-from`
//! mounts, device nodes, cpusets the host has, ulimits within what berthd
//! may grant, sysctls the container may set. And at start, the namespaces it joins.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use super::settings::{NamespaceMode, RuntimeSettings};
use super::spec_runtime::{check_sysctl, SharedNamespaces};
use super::types::{ContainerRecord, HostSettings};
use crate::engine::volume::{MountKind, MountOrigin, MountSpec};
use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// CAP_SYS_RESOURCE: without it no container gets a hard rlimit above berthd's own.
const CAP_SYS_RESOURCE: u32 = 24;

impl Engine {
    /// Resolves and checks everything of `host` that depends on the host or other containers.
    pub(crate) async fn resolve_host_settings(&self, host: &mut HostSettings) -> Result<()> {
        for mode in [&mut host.runtime.pid_mode, &mut host.runtime.ipc_mode] {
            if let NamespaceMode::Container(key) = mode {
                *key = self.target_id(key)?;
            }
        }
        if let Some(key) = host.network_mode.strip_prefix("container:") {
            host.network_mode = format!("container:{}", self.target_id(key)?);
        }
        self.add_volumes_from(host).await?;
        for d in &mut host.runtime.devices {
            let md = std::fs::metadata(&d.path_on_host).map_err(|e| {
                EngineError::InvalidArgument(format!(
                    "error gathering device information while adding custom device {:?}: {e}",
                    d.path_on_host
                ))
            })?;
            let ft = md.file_type();
            if !(ft.is_char_device() || ft.is_block_device()) {
                return Err(EngineError::InvalidArgument(format!(
                    "error gathering device information while adding custom device {:?}: not a \
                     device node",
                    d.path_on_host
                )));
            }
            d.kind = if ft.is_char_device() { 'c' } else { 'b' };
            d.major = i64::from(libc::major(md.rdev()));
            d.minor = i64::from(libc::minor(md.rdev()));
            d.file_mode = md.mode() & 0o7777;
            (d.uid, d.gid) = (md.uid(), md.gid());
        }
        for d in host.runtime.blkio_throttle.all_mut() {
            let md = std::fs::metadata(&d.path).map_err(|e| {
                EngineError::InvalidArgument(format!(
                    "error gathering device information for the block I/O limit on {:?}: {e}",
                    d.path
                ))
            })?;
            if !md.file_type().is_block_device() {
                return Err(EngineError::InvalidArgument(format!(
                    "error gathering device information for the block I/O limit on {:?}: not a \
                     block device",
                    d.path
                )));
            }
            d.major = i64::from(libc::major(md.rdev()));
            d.minor = i64::from(libc::minor(md.rdev()));
        }
        let r = &host.runtime;
        check_cpusets(r)?;
        let may_raise = self.host.cap_bounding & (1 << CAP_SYS_RESOURCE) != 0;
        for u in &r.ulimits {
            if u.name == "nofile" && !may_raise && (u.hard < 0 || u.hard > self.host.nofile_hard) {
                return Err(EngineError::InvalidArgument(format!(
                    "ulimit nofile hard limit {} is above this host's {}: berthd runs without \
                     CAP_SYS_RESOURCE and cannot raise it",
                    u.hard, self.host.nofile_hard
                )));
            }
        }
        for key in r.sysctls.keys() {
            check_sysctl(key, r, &host.network_mode).map_err(EngineError::InvalidArgument)?;
        }
        Ok(())
    }

    /// Docker's warnings about `--oom-kill-disable`: discarded where the memory cgroup has no
    /// `memory.oom_control` (cgroup v2), risky without a memory limit.
    pub(crate) fn oom_kill_disable_warnings(&self, host: &mut HostSettings) -> Vec<String> {
        if !host.runtime.oom_kill_disable {
            return Vec::new();
        }
        let supported = self
            .paths
            .cgroups
            .memory
            .iter()
            .any(|m| m.join("memory.oom_control").exists());
        if !supported {
            host.runtime.oom_kill_disable = false;
            return vec![
                "Your kernel does not support OomKillDisable. OomKillDisable discarded.".into(),
            ];
        }
        if host.memory == 0 {
            return vec!["OOM killer is disabled for the container, but no memory limit is set,                 this can result in the system running out of resources."
                .into()];
        }
        Vec::new()
    }

    /// The id of a container another one refers to. A 400, not a 404: the docker CLI answers
    /// a 404 at create by pulling the image (as `check_networks` explains).
    fn target_id(&self, key: &str) -> Result<String> {
        self.lookup(key).map(|h| h.id.clone()).map_err(|e| match e {
            EngineError::NoSuchContainer(_) | EngineError::NotFound(_) => {
                EngineError::InvalidArgument(e.to_string())
            }
            other => other,
        })
    }

    /// `--volumes-from name[:ro|:rw]`: the volumes and binds of another container, at the same
    /// paths, read-only as there unless the suffix says otherwise.
    async fn add_volumes_from(&self, host: &mut HostSettings) -> Result<()> {
        for spec in host.runtime.volumes_from.clone() {
            let (key, mode) = match spec.rsplit_once(':') {
                Some((k, m @ ("ro" | "rw"))) => (k, Some(m)),
                Some((_, m)) if !m.contains('/') => {
                    return Err(EngineError::InvalidArgument(format!(
                        "invalid mode for volumes-from: {m}"
                    )))
                }
                _ => (spec.as_str(), None),
            };
            let source = self.lookup(&self.target_id(key)?)?.snapshot().await;
            for m in source.host.mounts {
                let shareable = matches!(m.kind, MountKind::Volume | MountKind::Bind);
                if !shareable || host.mounts.iter().any(|own| own.target == m.target) {
                    continue;
                }
                let read_only = mode.map_or(m.read_only, |m| m == "ro");
                host.mounts.push(MountSpec {
                    read_only,
                    create_source: false,
                    no_copy: true,
                    origin: MountOrigin::VolumesFrom,
                    ..m
                });
            }
        }
        Ok(())
    }

    /// The namespaces of other containers `rec` joins, and the container whose hostname,
    /// hosts and resolv.conf it shares (network mode `container:`). Each must run.
    pub(crate) async fn shared_namespaces(
        &self,
        rec: &ContainerRecord,
    ) -> Result<(SharedNamespaces, Option<String>)> {
        let r = &rec.host.runtime;
        let mut shared = SharedNamespaces::default();
        if let NamespaceMode::Container(id) = &r.pid_mode {
            shared.pid = Some(self.namespace_of(id, "pid", "PID").await?);
        }
        match &r.ipc_mode {
            NamespaceMode::Container(id) => {
                let pid = self.running_pid(id, "IPC").await?;
                shared.ipc = Some(PathBuf::from(format!("/proc/{pid}/ns/ipc")));
                shared.shm = Some(PathBuf::from(format!("/proc/{pid}/root/dev/shm")));
            }
            NamespaceMode::Host => shared.shm = Some(PathBuf::from("/dev/shm")),
            NamespaceMode::Private => {}
        }
        let files_from = rec
            .host
            .network_mode
            .strip_prefix("container:")
            .map(String::from);
        if let Some(id) = &files_from {
            shared.net = Some(self.namespace_of(id, "net", "network namespace").await?);
        }
        Ok((shared, files_from))
    }

    async fn namespace_of(&self, id: &str, kind: &str, what: &str) -> Result<PathBuf> {
        let pid = self.running_pid(id, what).await?;
        Ok(PathBuf::from(format!("/proc/{pid}/ns/{kind}")))
    }

    async fn running_pid(&self, id: &str, what: &str) -> Result<i32> {
        let target = self.lookup(id)?.snapshot().await;
        if !target.state.status.is_running() || target.state.pid <= 0 {
            return Err(EngineError::Conflict(format!(
                "cannot join {what} of a non running container: {id}"
            )));
        }
        Ok(target.state.pid)
    }
}

/// Checks that every CPU (or memory node) of `list` is in the host's `online` list.
/// The container's CPUs and memory nodes must be ones the host has online (Docker's check).
pub(crate) fn check_cpusets(r: &RuntimeSettings) -> Result<()> {
    for (list, file, what) in [
        (&r.cpuset_cpus, "/sys/devices/system/cpu/online", "CPUs"),
        (
            &r.cpuset_mems,
            "/sys/devices/system/node/online",
            "Memory nodes",
        ),
    ] {
        check_available(
            list,
            &std::fs::read_to_string(file).unwrap_or_default(),
            what,
        )?;
    }
    Ok(())
}

fn check_available(list: &str, online: &str, what: &str) -> Result<()> {
    if list.is_empty() || online.trim().is_empty() {
        return Ok(());
    }
    let have = expand(online.trim());
    if expand(list).iter().all(|c| have.contains(c)) {
        Ok(())
    } else {
        Err(EngineError::InvalidArgument(format!(
            "Requested {what} are not available - requested {list}, available: {}",
            online.trim()
        )))
    }
}

fn expand(list: &str) -> Vec<u32> {
    list.split(',')
        .filter_map(|part| {
            let mut ends = part.splitn(2, '-').map(|n| n.trim().parse::<u32>().ok());
            match (ends.next().flatten(), ends.next()) {
                (Some(a), None) => Some(a..=a),
                (Some(a), Some(Some(b))) => Some(a..=b),
                _ => None,
            }
        })
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpusets_must_be_online() {
        assert!(check_available("0-1", "0-1\n", "CPUs").is_ok());
        assert!(check_available("0,1", "0-3", "CPUs").is_ok());
        let e = check_available("0-9", "0-1\n", "CPUs")
            .unwrap_err()
            .to_string();
        assert!(e.contains("requested 0-9, available: 0-1"), "{e}");
    }
}
