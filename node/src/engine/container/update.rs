//! `update`: new limits and restart policy for a container, applied to its cgroups at once
//! when it runs and kept in the record for its next start. A refused update changes nothing,
//! in the record or in memory.

use super::host_resolve::check_cpusets;
use super::settings::WeightDevice;
use super::types::RestartPolicy;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::runtime::cgroup_limits::{self, Limits};

/// `POST /containers/{id}/update`: each `Some` replaces the setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateContainer {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    /// CPU and memory-node lists, already checked for syntax.
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub blkio_weight_device: Vec<WeightDevice>,
    pub restart_policy: Option<(RestartPolicy, i64)>,
}

impl Engine {
    /// Applies `u`; returns Docker's warnings (for weights the kernel lacks).
    pub async fn update_container(&self, key: &str, u: UpdateContainer) -> Result<Vec<String>> {
        if u.nano_cpus.is_some_and(|n| n > 0) && u.cpu_quota.is_some_and(|q| q > 0) {
            return Err(EngineError::InvalidArgument(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set".into(),
            ));
        }
        let handle = self.lookup(key)?;
        let mut rec = handle.lock().await;
        if let Some((policy, _)) = u.restart_policy {
            if policy != RestartPolicy::No && rec.host.auto_remove {
                return Err(EngineError::InvalidArgument(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                ));
            }
        }
        // As moby's checks of the update's own values: the kernel refused a limit this low
        // with EBUSY once the container used more.
        if u.memory
            .is_some_and(|m| m != 0 && m < super::create::MIN_MEMORY)
        {
            return Err(EngineError::InvalidArgument(
                "Minimum memory limit allowed is 6MB".into(),
            ));
        }
        // Changed on a copy: the record changes only once every check passed.
        let mut h = rec.host.clone();
        let mem = u.memory.or(u.memory_swap.map(|_| h.memory));
        if let Some(m) = u.memory {
            h.memory = m;
        }
        if let Some(s) = u.memory_swap {
            h.memory_swap = s;
        }
        if h.memory > 0 && h.memory_swap > 0 && h.memory_swap < h.memory {
            return Err(EngineError::InvalidArgument(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            ));
        }
        if let Some(r) = u.memory_reservation {
            if r < 0 {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid memory reservation: {r}"
                )));
            }
            h.runtime.memory_reservation = r;
        }
        if h.memory > 0 && h.runtime.memory_reservation > h.memory {
            return Err(EngineError::InvalidArgument(
                "Minimum memory limit can not be less than memory reservation limit, see usage."
                    .into(),
            ));
        }
        if let Some(c) = &u.cpuset_cpus {
            h.runtime.cpuset_cpus.clone_from(c);
        }
        if let Some(m) = &u.cpuset_mems {
            h.runtime.cpuset_mems.clone_from(m);
        }
        check_cpusets(&h.runtime)?;
        let cpu = if let Some(n) = u.nano_cpus {
            h.nano_cpus = n;
            h.cpu_quota = 0;
            Some(if n > 0 {
                (n / 10_000, 100_000)
            } else {
                (-1, 100_000)
            })
        } else if let Some(q) = u.cpu_quota {
            h.cpu_quota = q;
            h.nano_cpus = 0;
            if let Some(p) = u.cpu_period {
                h.cpu_period = p;
            }
            let period = if h.cpu_period > 0 {
                h.cpu_period
            } else {
                100_000
            };
            Some((if q > 0 { q } else { -1 }, period))
        } else {
            None
        };
        if let Some(s) = u.cpu_shares {
            h.cpu_shares = s;
        }
        if let Some(p) = u.pids_limit {
            h.pids_limit = Some(p).filter(|p| *p > 0);
        }
        let (mut weight, mut devices) = (u.blkio_weight.unwrap_or(0), u.blkio_weight_device);
        let warnings = super::blkio_weight::check(&mut weight, &mut devices, || {
            super::blkio_weight::WeightSupport::of(&self.paths.cgroups.joined)
        })?;
        let blkio_weight = (weight > 0).then_some(weight);
        if let Some(w) = blkio_weight {
            h.runtime.blkio_weight = w;
        }
        if let Some((policy, max)) = u.restart_policy {
            h.restart_policy = policy;
            h.restart_max = max;
        }
        let swap = u.memory_swap.or(u.memory.map(|m| {
            if m > 0 && self.host.swap_accounting {
                m * 2
            } else {
                -1
            }
        }));
        let limits = Limits {
            memory: mem,
            memory_swap: if self.host.swap_accounting {
                swap
            } else {
                None
            },
            memory_reservation: u.memory_reservation,
            cpu_shares: u.cpu_shares.filter(|s| *s > 0),
            cpu_quota: cpu,
            cpuset_cpus: u.cpuset_cpus,
            cpuset_mems: u.cpuset_mems,
            pids: u.pids_limit,
            blkio_weight,
        };
        if rec.state.status.is_running() {
            let dirs =
                crate::runtime::cgroups::container_dirs(&self.paths.cgroups.all, &rec.cgroup_rel());
            cgroup_limits::apply(&dirs, &limits).map_err(|e| {
                EngineError::Internal(format!(
                    "Cannot update container {}: {}",
                    rec.id,
                    crate::error::io_error_text(&e)
                ))
            })?;
        }
        let before = std::mem::replace(&mut rec.host, h);
        if let Err(e) = self.records.put(&rec.id, &*rec) {
            rec.host = before;
            return Err(e);
        }
        self.container_event(&rec, "update", &[]);
        Ok(warnings)
    }
}
